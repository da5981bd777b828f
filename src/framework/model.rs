//! Typed models of resource objects: [`model!`] declares a resource's attributes once, as
//! the fields of a struct, and derives from them
//!
//! - an enum with one variant per attribute (`name()` is the attribute's name in the
//!   schema, `path()` its [`AttributePath`](crate::codec::AttributePath)), for the tables of
//!   rules and the diagnostics that name an attribute;
//! - the struct with one [`Value`](crate::codec::Value) per attribute (a `Value`, not a
//!   Rust type, because null and unknown mean something at plan time), converted from an
//!   object value (attributes it lacks read as null) and back to one that holds every
//!   attribute.
//!
//! A misspelt attribute is then a compile error instead of a silent null, and the schema
//! builds its attributes from the same enum, so the name is written once.

/// Declares a model struct and its attribute enum; see the [module documentation](self).
///
/// ```ignore
/// model! {
///     /// What the struct is.
///     pub(crate) struct OrgModel, attributes OrgAttr {
///         /// What the field is.
///         id: Id,
///         name: Name,
///     }
/// }
/// ```
#[macro_export]
macro_rules! model {
    (
        $(#[$meta:meta])*
        $vis:vis struct $model:ident, attributes $attr:ident {
            $( $(#[$field_meta:meta])* $field:ident : $variant:ident ),+ $(,)?
        }
    ) => {
        #[doc = concat!("The attributes of [`", stringify!($model), "`], one per field.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(dead_code)]
        $vis enum $attr {
            $(
                #[doc = concat!("`", stringify!($field), "`")]
                $variant,
            )+
        }

        #[allow(dead_code)]
        impl $attr {
            /// Every attribute, in declaration order.
            pub const ALL: &'static [$attr] = &[$($attr::$variant),+];

            /// The attribute's name in the schema.
            pub const fn name(self) -> &'static str {
                match self {
                    $($attr::$variant => stringify!($field),)+
                }
            }

            /// The path of the attribute at the top of the object.
            pub fn path(self) -> $crate::codec::AttributePath {
                $crate::codec::AttributePath::attr(self.name())
            }
        }

        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq)]
        $vis struct $model {
            $( $(#[$field_meta])* pub $field: $crate::codec::Value, )+
        }

        #[allow(dead_code)]
        impl $model {
            /// The value of attribute `attr`.
            pub fn get(&self, attr: $attr) -> &$crate::codec::Value {
                match attr {
                    $($attr::$variant => &self.$field,)+
                }
            }

            /// The value of attribute `attr`, to change it.
            pub fn get_mut(&mut self, attr: $attr) -> &mut $crate::codec::Value {
                match attr {
                    $($attr::$variant => &mut self.$field,)+
                }
            }
        }

        impl From<$crate::codec::Value> for $model {
            /// The object's attributes (anything else, null included, is all nulls).
            fn from(value: $crate::codec::Value) -> Self {
                let mut model = $model::default();
                if let $crate::codec::Value::Object(attrs) = value {
                    // One pass over the map, moving each value out (removing the attributes
                    // one by one searched and rebalanced the map for each).
                    for (name, value) in attrs {
                        match name.as_str() {
                            $( stringify!($field) => model.$field = value, )+
                            _ => {}
                        }
                    }
                }
                model
            }
        }

        impl From<&$crate::codec::Value> for $model {
            /// The object's attributes, cloned (anything else, null included, is all nulls).
            fn from(value: &$crate::codec::Value) -> Self {
                let mut model = $model::default();
                if let $crate::codec::Value::Object(attrs) = value {
                    // One pass over the attributes, as for an owned value.
                    for (name, value) in attrs.iter() {
                        match name.as_str() {
                            $( stringify!($field) => model.$field = value.clone(), )+
                            _ => {}
                        }
                    }
                }
                model
            }
        }

        impl From<$model> for $crate::codec::Value {
            /// An object holding every attribute.
            fn from(model: $model) -> Self {
                const NAMES: &[&str] = &[$(stringify!($field)),+];
                // The fields in name order, worked out at compile time: the object is then
                // built in one pass, without sorting its attributes on every conversion.
                const ORDER: [usize; NAMES.len()] =
                    $crate::framework::model::name_order::<{ NAMES.len() }>(NAMES);
                let mut fields = [$(model.$field),+];
                let mut attrs = Vec::with_capacity(NAMES.len());
                for &i in &ORDER {
                    if let (Some(name), Some(value)) = (NAMES.get(i), fields.get_mut(i)) {
                        attrs.push(($crate::codec::Key::const_new(name), std::mem::take(value)));
                    }
                }
                $crate::codec::Value::Object(
                    $crate::codec::Entries::from_sorted_store_unchecked(attrs),
                )
            }
        }
    };
}

/// The indices of `names` in the order of the names (as `str`s order), for [`model!`] to
/// build objects in key order. Evaluated at compile time; the names must be distinct.
pub const fn name_order<const N: usize>(names: &[&str]) -> [usize; N] {
    assert!(names.len() == N, "one index per name");
    let mut order = [0; N];
    let mut i = 0;
    while i < N {
        order[i] = i;
        i += 1;
    }
    // Insertion sort: a model has a few dozen fields at most.
    let mut i = 1;
    while i < N {
        let mut j = i;
        while j > 0 && precedes(names[order[j]], names[order[j - 1]]) {
            let earlier = order[j - 1];
            order[j - 1] = order[j];
            order[j] = earlier;
            j -= 1;
        }
        i += 1;
    }
    let mut i = 1;
    while i < N {
        assert!(
            precedes(names[order[i - 1]], names[order[i]]),
            "names must be distinct"
        );
        i += 1;
    }
    order
}

/// Whether `a` sorts strictly before `b`, comparing bytes as `str`'s `Ord` does.
const fn precedes(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut i = 0;
    while i < a.len() && i < b.len() {
        if a[i] != b[i] {
            return a[i] < b[i];
        }
        i += 1;
    }
    a.len() < b.len()
}

/// Test support: `names` sorted, to compare a model's attributes with its schema's.
#[cfg(test)]
pub(crate) fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    names
}

#[cfg(test)]
mod tests {
    use crate::codec::{AttributePath, Value};

    crate::model! {
        /// A model for the tests.
        struct Thing, attributes ThingAttr {
            /// An id.
            id: Id,
            display_name: DisplayName,
        }
    }

    #[test]
    fn orders_names_as_strings_order() {
        let names = ["id", "display_name", "a", "ab", "b", "Z", "é", "aa"];
        let order: [usize; 8] = super::name_order(&names);
        let ordered: Vec<&str> = order.iter().map(|&i| names[i]).collect();
        assert_eq!(ordered, super::sorted(names));
        let value = Value::from(Thing {
            id: Value::from("x"),
            display_name: Value::from("y"),
        });
        let keys: Vec<&str> = value
            .entries()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, ["display_name", "id"]);
        assert_eq!(value.attr("display_name"), &Value::from("y"));
    }

    #[test]
    fn names_paths_and_conversions() {
        assert_eq!(ThingAttr::DisplayName.name(), "display_name");
        assert_eq!(ThingAttr::Id.path(), AttributePath::attr("id"));
        assert_eq!(ThingAttr::ALL, &[ThingAttr::Id, ThingAttr::DisplayName]);

        let value = Value::object([("id", Value::from("a")), ("other", Value::from("x"))]);
        let thing = Thing::from(&value);
        assert_eq!(thing.id, Value::from("a"));
        assert_eq!(thing.display_name, Value::Null);
        assert_eq!(Thing::from(value), thing);
        assert_eq!(Thing::from(Value::Null), Thing::default());
        assert_eq!(Thing::from(Value::Unknown), Thing::default());

        let mut thing = thing;
        *thing.get_mut(ThingAttr::DisplayName) = Value::Unknown;
        assert_eq!(thing.get(ThingAttr::DisplayName), &Value::Unknown);
        // Back to an object with every attribute, and nothing else.
        assert_eq!(
            Value::from(thing),
            Value::object([("id", Value::from("a")), ("display_name", Value::Unknown)])
        );
    }
}
