//! Checking values against types, and inferring a type from a value (for `dynamic`).

use super::types::unify;
use super::{in_step, AttributePath, CodecError, Entries, Type, Value};

impl Value {
    /// Checks that the value conforms to `ty`: null and unknown conform to any type, any
    /// value conforms to `dynamic`, collections must match their kind (a list is not a
    /// set), and objects must carry exactly the type's attributes.
    ///
    /// # Errors
    ///
    /// [`CodecError::TypeMismatch`] or [`CodecError::UnsupportedAttribute`], with the path
    /// of the first offending part.
    pub fn conform(&self, ty: &Type) -> Result<(), CodecError> {
        self.conform_at(ty, &AttributePath::root())
    }

    fn conform_at(&self, ty: &Type, path: &AttributePath) -> Result<(), CodecError> {
        match (self, ty) {
            (Value::Null | Value::Unknown, _)
            | (_, Type::Dynamic)
            | (Value::Bool(_), Type::Bool)
            | (Value::Number(_), Type::Number)
            | (Value::String(_), Type::String) => Ok(()),
            (Value::List(items), Type::List(element)) | (Value::Set(items), Type::Set(element)) => {
                items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| item.conform_at(element, &path.child_index(i)))
            }
            (Value::Map(entries), Type::Map(element)) => entries
                .iter()
                .try_for_each(|(key, item)| item.conform_at(element, &path.child_key(key))),
            (Value::Object(attrs), Type::Object(attr_types)) => {
                if let Some(extra) = in_step::first_extra(attrs, attr_types) {
                    return Err(CodecError::unsupported(path, extra));
                }
                attr_types.iter().try_for_each(|(name, attr_type)| {
                    let path = path.child_attr(name);
                    match attrs.get(name.as_str()) {
                        Some(attr) => attr.conform_at(attr_type, &path),
                        None => Err(CodecError::mismatch(&path, attr_type, "no attribute")),
                    }
                })
            }
            (Value::Tuple(items), Type::Tuple(types)) => {
                if items.len() != types.len() {
                    return Err(CodecError::mismatch(
                        path,
                        format!("a tuple of {} elements", types.len()),
                        format!("a tuple of {} elements", items.len()),
                    ));
                }
                items
                    .iter()
                    .zip(types)
                    .enumerate()
                    .try_for_each(|(i, (item, ty))| item.conform_at(ty, &path.child_index(i)))
            }
            _ => Err(CodecError::mismatch(path, ty, self.kind())),
        }
    }

    /// The type of the value, for encoding it where the schema says `dynamic`.
    ///
    /// Null and unknown values give `dynamic` (they encode the same under any type).
    /// Lists, sets and maps give `list(T)`, `set(T)` and `map(T)` where `T` is the most
    /// specific type every element fits (`dynamic` when all are null or unknown, or the
    /// collection is empty). When the elements share no type, as with `["a", 1]`, lists
    /// and sets give a tuple type and maps an object type instead: cty collections hold one
    /// element type, so that is the only form Terraform can decode.
    pub fn infer_type(&self) -> Type {
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(items) => common_type(items.iter())
                .map(Type::list)
                .unwrap_or_else(|| tuple_type(items)),
            Value::Set(items) => common_type(items.iter())
                .map(Type::set)
                .unwrap_or_else(|| tuple_type(items)),
            Value::Map(entries) => common_type(entries.values())
                .map(Type::map)
                .unwrap_or_else(|| object_type(entries)),
            Value::Object(attrs) => object_type(attrs),
            Value::Tuple(items) => tuple_type(items),
        }
    }
}

fn common_type<'a>(mut items: impl Iterator<Item = &'a Value>) -> Option<Type> {
    items.try_fold(Type::Dynamic, |acc, item| unify(&acc, &item.infer_type()))
}

fn tuple_type(items: &[Value]) -> Type {
    Type::Tuple(items.iter().map(Value::infer_type).collect())
}

fn object_type(attrs: &Entries) -> Type {
    Type::Object(
        attrs
            .iter()
            .map(|(name, value)| (name.to_string(), value.infer_type()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PathStep;

    fn keys_type() -> Type {
        Type::object([
            ("name", Type::String),
            ("tags", Type::map(Type::String)),
            ("roles", Type::set(Type::String)),
            (
                "keys",
                Type::list(Type::object([("id", Type::Number), ("on", Type::Bool)])),
            ),
            ("pair", Type::Tuple(vec![Type::String, Type::Number])),
            ("any", Type::Dynamic),
        ])
    }

    fn keys_value() -> Value {
        Value::object([
            ("name", "n".into()),
            ("tags", Value::string_map([("env", "prod")])),
            ("roles", Value::string_set(["admin"])),
            (
                "keys",
                Value::List(vec![Value::object([("id", 1.into()), ("on", true.into())])]),
            ),
            ("pair", Value::Tuple(vec!["a".into(), 2.into()])),
            ("any", Value::string_list(["x"])),
        ])
    }

    #[test]
    fn conforming_values() {
        let ty = keys_type();
        keys_value().conform(&ty).unwrap();
        Value::Null.conform(&ty).unwrap();
        Value::Unknown.conform(&ty).unwrap();
        let mut partly_unknown = keys_value();
        partly_unknown.set_attr("keys", Value::List(vec![Value::Unknown, Value::Null]));
        partly_unknown.set_attr("tags", Value::Unknown);
        partly_unknown.conform(&ty).unwrap();
        Value::from(1).conform(&Type::Dynamic).unwrap();
    }

    #[test]
    fn mismatches_carry_the_path() {
        let ty = keys_type();
        let mut v = keys_value();
        v.set_attr(
            "keys",
            Value::List(vec![Value::object([
                ("id", 1.into()),
                ("on", "yes".into()),
            ])]),
        );
        let err = v.conform(&ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at keys[0].on: expected bool, found string"
        );

        let mut v = keys_value();
        v.set_attr(
            "tags",
            Value::Map([("env".into(), 3.into())].into_iter().collect()),
        );
        assert_eq!(
            v.conform(&ty).unwrap_err().to_string(),
            r#"at tags["env"]: expected string, found number"#
        );

        let mut v = keys_value();
        v.set_attr("roles", Value::string_list(["admin"]));
        assert_eq!(
            v.conform(&ty).unwrap_err().to_string(),
            "at roles: expected set of string, found list"
        );

        let mut v = keys_value();
        v.set_attr("pair", Value::Tuple(vec!["a".into()]));
        assert!(matches!(
            v.conform(&ty).unwrap_err(),
            CodecError::TypeMismatch { path, .. } if path == AttributePath::attr("pair")
        ));
    }

    #[test]
    fn objects_need_exactly_their_attributes() {
        let ty = keys_type();
        let Value::Object(mut attrs) = keys_value() else {
            unreachable!()
        };
        attrs.remove("name");
        let err = Value::Object(attrs.clone()).conform(&ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at name: expected string, found no attribute"
        );

        attrs.insert("name".into(), Value::Null);
        attrs.insert("bogus".into(), Value::Null);
        let err = Value::Object(attrs).conform(&ty).unwrap_err();
        assert_eq!(
            err,
            CodecError::UnsupportedAttribute {
                path: AttributePath::root(),
                name: "bogus".into()
            }
        );
    }

    #[test]
    fn set_elements_are_indexed_by_position() {
        let err = Value::Set(vec!["a".into(), true.into()])
            .conform(&Type::set(Type::String))
            .unwrap_err();
        assert_eq!(err.path().steps, vec![PathStep::Index(1)]);
    }

    #[test]
    fn inferred_types() {
        assert_eq!(Value::Null.infer_type(), Type::Dynamic);
        assert_eq!(Value::from("s").infer_type(), Type::String);
        assert_eq!(
            Value::List(vec![Value::Null, "a".into()]).infer_type(),
            Type::list(Type::String)
        );
        assert_eq!(Value::List(vec![]).infer_type(), Type::list(Type::Dynamic));
        assert_eq!(
            Value::List(vec!["a".into(), 1.into()]).infer_type(),
            Type::Tuple(vec![Type::String, Type::Number])
        );
        assert_eq!(
            Value::Set(vec![true.into(), "b".into()]).infer_type(),
            Type::Tuple(vec![Type::Bool, Type::String])
        );
        assert_eq!(
            Value::string_set(["a"]).infer_type(),
            Type::set(Type::String)
        );
        assert_eq!(
            Value::Map(
                [("a".into(), 1.into()), ("b".into(), "x".into())]
                    .into_iter()
                    .collect()
            )
            .infer_type(),
            Type::object([("a", Type::Number), ("b", Type::String)])
        );
        assert_eq!(
            Value::string_map([("a", "x")]).infer_type(),
            Type::map(Type::String)
        );
        let objects = Value::List(vec![
            Value::object([("a", Value::Null), ("b", 1.into())]),
            Value::object([("a", "s".into()), ("b", Value::Unknown)]),
        ]);
        let ty = objects.infer_type();
        assert_eq!(
            ty,
            Type::list(Type::object([("a", Type::String), ("b", Type::Number)]))
        );
        objects.conform(&ty).unwrap();
        keys_value().conform(&keys_value().infer_type()).unwrap();
    }
}
