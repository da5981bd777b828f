//! Terraform (cty) types and their JSON form, as used in schemas.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value as Json;

use super::{AttributePath, CodecError};

/// A Terraform type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    /// `string`
    String,
    /// `number`
    Number,
    /// `bool`
    Bool,
    /// `dynamic` (any type, chosen by the value)
    Dynamic,
    /// `list(T)`
    List(Box<Type>),
    /// `set(T)`
    Set(Box<Type>),
    /// `map(T)`
    Map(Box<Type>),
    /// `object({...})`
    Object(BTreeMap<String, Type>),
    /// `tuple([...])`
    Tuple(Vec<Type>),
}

impl Type {
    /// `list(element)`.
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }

    /// `set(element)`.
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }

    /// `map(element)`.
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }

    /// `object({name = type, …})`.
    pub fn object<'a, I: IntoIterator<Item = (&'a str, Type)>>(attrs: I) -> Type {
        Type::Object(
            attrs
                .into_iter()
                .map(|(name, ty)| (name.to_owned(), ty))
                .collect(),
        )
    }

    /// The type in cty's JSON form: `"string"`, `["list","string"]`,
    /// `["object",{"a":"string"}]`, `["tuple",["bool"]]`, `"dynamic"`.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a `serde_json::Value` cannot fail.
        serde_json::to_vec(&self.to_json_value()).unwrap_or_default()
    }

    fn to_json_value(&self) -> Json {
        let pair = |kind: &str, inner: Json| Json::Array(vec![Json::from(kind), inner]);
        match self {
            Type::String => Json::from("string"),
            Type::Number => Json::from("number"),
            Type::Bool => Json::from("bool"),
            Type::Dynamic => Json::from("dynamic"),
            Type::List(t) => pair("list", t.to_json_value()),
            Type::Set(t) => pair("set", t.to_json_value()),
            Type::Map(t) => pair("map", t.to_json_value()),
            Type::Object(attrs) => pair(
                "object",
                Json::Object(
                    attrs
                        .iter()
                        .map(|(name, ty)| (name.clone(), ty.to_json_value()))
                        .collect(),
                ),
            ),
            Type::Tuple(elems) => pair(
                "tuple",
                Json::Array(elems.iter().map(Type::to_json_value).collect()),
            ),
        }
    }

    /// Parses cty's type JSON. The optional-attribute list of an object type
    /// (`["object",{…},["opt"]]`) is accepted and ignored; capsule types are rejected.
    pub fn from_json(bytes: &[u8]) -> Result<Type, CodecError> {
        let json: Json = serde_json::from_slice(bytes).map_err(|e| type_error(e.to_string()))?;
        Type::from_json_value(&json)
    }

    /// Like [`Type::from_json`], from parsed JSON.
    pub(crate) fn from_json_value(json: &Json) -> Result<Type, CodecError> {
        match json {
            Json::String(name) => match name.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(type_error(format!("unknown primitive type {other:?}"))),
            },
            Json::Array(items) => {
                let Some(Json::String(kind)) = items.first() else {
                    return Err(type_error("a type array must start with its kind"));
                };
                let args = &items[1..];
                match (kind.as_str(), args) {
                    ("list", [t]) => Ok(Type::list(Type::from_json_value(t)?)),
                    ("set", [t]) => Ok(Type::set(Type::from_json_value(t)?)),
                    ("map", [t]) => Ok(Type::map(Type::from_json_value(t)?)),
                    ("object", [Json::Object(attrs)])
                    | ("object", [Json::Object(attrs), Json::Array(_)]) => attrs
                        .iter()
                        .map(|(name, t)| Ok((name.clone(), Type::from_json_value(t)?)))
                        .collect::<Result<_, CodecError>>()
                        .map(Type::Object),
                    ("tuple", [Json::Array(elems)]) => elems
                        .iter()
                        .map(Type::from_json_value)
                        .collect::<Result<_, _>>()
                        .map(Type::Tuple),
                    (kind, _) => Err(type_error(format!("invalid {kind:?} type"))),
                }
            }
            _ => Err(type_error("a type must be a string or an array")),
        }
    }

    /// The element type of a `list`, `set` or `map`; `None` for any other type.
    pub fn element_type(&self) -> Option<&Type> {
        match self {
            Type::List(t) | Type::Set(t) | Type::Map(t) => Some(t),
            _ => None,
        }
    }
}

fn type_error(message: impl Into<String>) -> CodecError {
    CodecError::malformed("json", &AttributePath::root(), message)
}

/// The most specific type that both `a` and `b` fit, treating `dynamic` as "anything"
/// (the type inferred for a null or unknown value). `None` when they have none.
pub(crate) fn unify(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Dynamic, t) | (t, Type::Dynamic) => Some(t.clone()),
        (Type::List(x), Type::List(y)) => unify(x, y).map(Type::list),
        (Type::Set(x), Type::Set(y)) => unify(x, y).map(Type::set),
        (Type::Map(x), Type::Map(y)) => unify(x, y).map(Type::map),
        (Type::Object(x), Type::Object(y)) if x.keys().eq(y.keys()) => x
            .iter()
            .zip(y.values())
            .map(|((name, tx), ty)| Some((name.clone(), unify(tx, ty)?)))
            .collect::<Option<_>>()
            .map(Type::Object),
        (Type::Tuple(x), Type::Tuple(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .map(|(tx, ty)| unify(tx, ty))
            .collect::<Option<_>>()
            .map(Type::Tuple),
        (x, y) if x == y => Some(x.clone()),
        _ => None,
    }
}

/// cty's friendly names: `string`, `list of string`, `map of number`, `object`, `tuple`.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(t) => write!(f, "list of {t}"),
            Type::Set(t) => write!(f, "set of {t}"),
            Type::Map(t) => write!(f, "map of {t}"),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_type() -> Vec<Type> {
        vec![
            Type::String,
            Type::Number,
            Type::Bool,
            Type::Dynamic,
            Type::list(Type::String),
            Type::set(Type::Number),
            Type::map(Type::Bool),
            Type::object([]),
            Type::object([("a", Type::String), ("b", Type::list(Type::Dynamic))]),
            Type::Tuple(vec![]),
            Type::Tuple(vec![Type::String, Type::object([("x", Type::Number)])]),
            Type::list(Type::set(Type::map(Type::object([(
                "deep",
                Type::Tuple(vec![Type::Bool]),
            )])))),
        ]
    }

    #[test]
    fn json_round_trip_for_every_type() {
        for ty in every_type() {
            let json = ty.to_json();
            assert_eq!(
                Type::from_json(&json).unwrap(),
                ty,
                "{}",
                String::from_utf8_lossy(&json)
            );
        }
    }

    #[test]
    fn json_matches_cty() {
        let cases = [
            (Type::String, r#""string""#),
            (Type::Number, r#""number""#),
            (Type::Bool, r#""bool""#),
            (Type::Dynamic, r#""dynamic""#),
            (Type::list(Type::String), r#"["list","string"]"#),
            (Type::set(Type::String), r#"["set","string"]"#),
            (Type::map(Type::Number), r#"["map","number"]"#),
            (
                Type::object([("b", Type::Bool), ("a", Type::String)]),
                r#"["object",{"a":"string","b":"bool"}]"#,
            ),
            (
                Type::Tuple(vec![Type::String, Type::Number]),
                r#"["tuple",["string","number"]]"#,
            ),
        ];
        for (ty, json) in cases {
            assert_eq!(String::from_utf8(ty.to_json()).unwrap(), json);
        }
    }

    #[test]
    fn optional_attribute_list_is_accepted() {
        let ty = Type::from_json(br#"["object",{"a":"string","b":"number"},["b"]]"#).unwrap();
        assert_eq!(ty, Type::object([("a", Type::String), ("b", Type::Number)]));
    }

    #[test]
    fn invalid_type_json_is_rejected() {
        for bad in [
            &b""[..],
            b"nope",
            b"\"str\"",
            b"42",
            b"[]",
            b"[\"list\"]",
            b"[\"list\",\"string\",\"string\"]",
            b"[\"object\",[\"string\"]]",
            b"[\"tuple\",{}]",
            b"[\"capsule\",\"x\"]",
            b"[1,2]",
            b"[\"list\",\"strin",
        ] {
            let err = Type::from_json(bad).unwrap_err();
            assert!(
                matches!(err, CodecError::Malformed { format: "json", .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn deeply_nested_type_json_does_not_overflow() {
        let json = "[\"list\",".repeat(10_000) + "\"string\"" + &"]".repeat(10_000);
        assert!(Type::from_json(json.as_bytes()).is_err());
    }

    #[test]
    fn friendly_names() {
        assert_eq!(Type::String.to_string(), "string");
        assert_eq!(Type::Dynamic.to_string(), "dynamic");
        assert_eq!(Type::list(Type::String).to_string(), "list of string");
        assert_eq!(Type::map(Type::Number).to_string(), "map of number");
        assert_eq!(
            Type::set(Type::list(Type::Bool)).to_string(),
            "set of list of bool"
        );
        assert_eq!(Type::object([("a", Type::String)]).to_string(), "object");
        assert_eq!(Type::Tuple(vec![]).to_string(), "tuple");
    }

    #[test]
    fn element_type() {
        assert_eq!(Type::list(Type::String).element_type(), Some(&Type::String));
        assert_eq!(Type::map(Type::Bool).element_type(), Some(&Type::Bool));
        assert_eq!(Type::object([]).element_type(), None);
    }

    #[test]
    fn unify_treats_dynamic_as_a_wildcard() {
        let obj = |t: Type| Type::object([("a", t)]);
        assert_eq!(
            unify(&obj(Type::Dynamic), &obj(Type::String)),
            Some(obj(Type::String))
        );
        assert_eq!(unify(&Type::String, &Type::Number), None);
        assert_eq!(
            unify(&obj(Type::String), &Type::object([("b", Type::String)])),
            None
        );
        assert_eq!(
            unify(&Type::list(Type::Dynamic), &Type::list(Type::Bool)),
            Some(Type::list(Type::Bool))
        );
        assert_eq!(
            unify(
                &Type::Tuple(vec![Type::Dynamic, Type::Number]),
                &Type::Tuple(vec![Type::String, Type::Dynamic])
            ),
            Some(Type::Tuple(vec![Type::String, Type::Number]))
        );
        assert_eq!(
            unify(&Type::Tuple(vec![]), &Type::Tuple(vec![Type::Bool])),
            None
        );
    }
}
