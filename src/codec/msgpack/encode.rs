//! Writing values as msgpack.

use rmpv::Value as Mp;

use super::FORMAT;
use crate::codec::{AttributePath, CodecError, Number, Type, Value};

/// The msgpack tree for `value` as type `ty`.
pub(super) fn to_mp(value: &Value, ty: &Type, path: &AttributePath) -> Result<Mp, CodecError> {
    let mismatch = || CodecError::mismatch(path, ty, value.kind());
    match (value, ty) {
        (Value::Null, _) => Ok(Mp::Nil),
        (Value::Unknown, _) => Ok(Mp::Ext(0, vec![0])),
        (_, Type::Dynamic) => {
            let inferred = value.infer_type();
            let inner = to_mp(value, &inferred, path)?;
            Ok(Mp::Array(vec![Mp::Binary(inferred.to_json()), inner]))
        }
        (Value::String(s), Type::String) => Ok(Mp::from(s.as_str())),
        (Value::Bool(b), Type::Bool) => Ok(Mp::Boolean(*b)),
        (Value::Number(n), Type::Number) => number_to_mp(n, path),
        (Value::List(items), Type::List(element)) | (Value::Set(items), Type::Set(element)) => {
            let items = items.iter().enumerate();
            items
                .map(|(i, item)| to_mp(item, element, &path.child_index(i)))
                .collect::<Result<_, _>>()
                .map(Mp::Array)
        }
        (Value::List(items) | Value::Set(items) | Value::Tuple(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(CodecError::mismatch(
                    path,
                    format!("a tuple of {} elements", types.len()),
                    format!("{} elements", items.len()),
                ));
            }
            let items = items.iter().zip(types).enumerate();
            items
                .map(|(i, (item, ty))| to_mp(item, ty, &path.child_index(i)))
                .collect::<Result<_, _>>()
                .map(Mp::Array)
        }
        (Value::Map(entries), Type::Map(element)) => entries
            .iter()
            .map(|(key, item)| {
                Ok((
                    Mp::from(key.as_str()),
                    to_mp(item, element, &path.child_key(key))?,
                ))
            })
            .collect::<Result<_, _>>()
            .map(Mp::Map),
        (Value::Object(attrs) | Value::Map(attrs), Type::Object(attr_types)) => {
            if let Some(extra) = attrs.keys().find(|name| !attr_types.contains_key(*name)) {
                return Err(CodecError::unsupported(path, extra));
            }
            attr_types
                .iter()
                .map(|(name, attr_type)| {
                    let attr = attrs.get(name).unwrap_or(&Value::Null);
                    Ok((
                        Mp::from(name.as_str()),
                        to_mp(attr, attr_type, &path.child_attr(name))?,
                    ))
                })
                .collect::<Result<_, _>>()
                .map(Mp::Map)
        }
        _ => Err(mismatch()),
    }
}

fn number_to_mp(number: &Number, path: &AttributePath) -> Result<Mp, CodecError> {
    match number {
        Number::Int(i) => Ok(Mp::from(*i)),
        Number::Float(f) if f.is_nan() => {
            Err(CodecError::malformed(FORMAT, path, "nan is not a number"))
        }
        Number::Float(f) => match Number::Float(*f).as_i64() {
            Some(i) => Ok(Mp::from(i)),
            None => Ok(Mp::F64(*f)),
        },
        Number::Big(text) if Number::parse(text).is_some() => Ok(Mp::from(text.as_str())),
        Number::Big(text) => Err(CodecError::malformed(
            FORMAT,
            path,
            format!("{text:?} is not a number"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{decode, encode};
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn round_trip(value: &Value, ty: &Type) -> Value {
        let bytes = encode(value, ty).unwrap();
        let back = decode(&bytes, ty).unwrap();
        assert!(
            back.equivalent(value),
            "{value:?} as {ty} came back as {back:?}"
        );
        back
    }

    fn key_type() -> Type {
        Type::object([("id", Type::String), ("n", Type::Number)])
    }

    fn every_type() -> Vec<(Type, Value)> {
        let key = |id: &str, n: i64| Value::object([("id", id.into()), ("n", n.into())]);
        vec![
            (Type::String, "héllo".into()),
            (Type::String, "".into()),
            (Type::Number, 42.into()),
            (Type::Number, (-129).into()),
            (Type::Number, i64::MIN.into()),
            (Type::Number, Value::Number(Number::Float(1.5))),
            (Type::Number, Value::Number(Number::Float(-1e300))),
            (Type::Number, Value::Number(Number::Big("1e400".into()))),
            (
                Type::Number,
                Value::Number(Number::Big("0.1000000000000000000001".into())),
            ),
            (Type::Bool, true.into()),
            (Type::Bool, false.into()),
            (
                Type::list(Type::String),
                Value::string_list(["a", "b", "a"]),
            ),
            (Type::list(Type::String), Value::List(vec![])),
            (Type::set(Type::String), Value::string_set(["x", "y"])),
            (
                Type::map(Type::Number),
                Value::Map([("k".to_owned(), 1.into())].into()),
            ),
            (Type::map(Type::String), Value::Map(BTreeMap::new())),
            (key_type(), key("a", 1)),
            (Type::object([]), Value::object([])),
            (
                Type::object([("key", key_type()), ("keys", Type::set(key_type()))]),
                Value::object([
                    ("key", key("a", 1)),
                    ("keys", Value::Set(vec![key("b", 2), key("c", 3)])),
                ]),
            ),
            (
                Type::Tuple(vec![Type::String, Type::Number, Type::list(Type::Bool)]),
                Value::Tuple(vec!["s".into(), 1.into(), Value::List(vec![true.into()])]),
            ),
            (Type::Tuple(vec![]), Value::Tuple(vec![])),
            (Type::Dynamic, "s".into()),
            (Type::Dynamic, 3.into()),
            (Type::Dynamic, key("d", 4)),
            (Type::Dynamic, Value::string_list(["a"])),
            (Type::Dynamic, Value::string_set(["a"])),
            (Type::Dynamic, Value::string_map([("k", "v")])),
            (Type::Dynamic, Value::Tuple(vec![true.into(), "x".into()])),
            (
                Type::object([("any", Type::Dynamic)]),
                Value::object([("any", key("e", 5))]),
            ),
        ]
    }

    #[test]
    fn round_trip_every_type() {
        for (ty, value) in every_type() {
            round_trip(&value, &ty);
        }
    }

    #[test]
    fn null_and_unknown_at_every_level() {
        for (ty, value) in every_type() {
            assert_eq!(round_trip(&Value::Null, &ty), Value::Null);
            assert_eq!(round_trip(&Value::Unknown, &ty), Value::Unknown);
            assert_eq!(encode(&Value::Null, &ty).unwrap(), [0xc0]);
            assert_eq!(encode(&Value::Unknown, &ty).unwrap(), [0xd4, 0, 0]);
            if let Value::Object(attrs) = &value {
                for name in attrs.keys() {
                    for inner in [Value::Null, Value::Unknown] {
                        let mut v = value.clone();
                        v.set_attr(name, inner.clone());
                        assert_eq!(round_trip(&v, &ty).attr(name), &inner);
                    }
                }
            }
        }
        let ty = Type::object([
            ("l", Type::list(Type::String)),
            ("s", Type::set(Type::Number)),
            ("m", Type::map(Type::Bool)),
            ("t", Type::Tuple(vec![Type::String, Type::Dynamic])),
            ("d", Type::Dynamic),
        ]);
        let v = Value::object([
            (
                "l",
                Value::List(vec![Value::Null, Value::Unknown, "a".into()]),
            ),
            ("s", Value::Set(vec![Value::Unknown, Value::Null])),
            (
                "m",
                Value::Map([("u".into(), Value::Unknown), ("n".into(), Value::Null)].into()),
            ),
            ("t", Value::Tuple(vec![Value::Unknown, Value::Null])),
            ("d", Value::List(vec![Value::Unknown, Value::Null])),
        ]);
        assert_eq!(round_trip(&v, &ty), v);
    }

    #[test]
    fn golden_object_bytes() {
        let ty = Type::object([("a", Type::String), ("b", Type::String)]);
        let v = Value::object([("a", Value::Null), ("b", Value::Unknown)]);
        assert_eq!(encode(&v, &ty).unwrap(), hex("82 a1 61 c0 a1 62 d4 00 00"));
        assert_eq!(decode(&hex("82 a1 62 d4 00 00 a1 61 c0"), &ty).unwrap(), v);
    }

    #[test]
    fn golden_bytes_captured_from_terraform() {
        let ty = Type::object([
            ("folder_id", Type::Number),
            ("force", Type::Bool),
            ("name", Type::String),
        ]);
        let mut bytes = hex("83 a9");
        bytes.extend(b"folder_id");
        bytes.extend(hex("01 a5"));
        bytes.extend(b"force");
        bytes.extend(hex("c2 a4"));
        bytes.extend(b"name");
        bytes.extend(hex("a4"));
        bytes.extend(b"demo");
        let v = Value::object([
            ("folder_id", 1.into()),
            ("force", false.into()),
            ("name", "demo".into()),
        ]);
        assert_eq!(decode(&bytes, &ty).unwrap(), v);
        assert_eq!(encode(&v, &ty).unwrap(), bytes);
    }

    #[test]
    fn encode_writes_every_attribute_sorted() {
        let ty = Type::object([("z", Type::String), ("a", Type::Number), ("m", Type::Bool)]);
        let v = Value::object([("z", "x".into())]);
        assert_eq!(
            encode(&v, &ty).unwrap(),
            hex("83 a1 61 c0 a1 6d c0 a1 7a a1 78")
        );
        let extra = Value::object([("z", "x".into()), ("nope", Value::Null)]);
        assert_eq!(
            encode(&extra, &ty).unwrap_err(),
            CodecError::UnsupportedAttribute {
                path: AttributePath::root(),
                name: "nope".into()
            }
        );
    }

    #[test]
    fn dynamic_values() {
        let bytes = encode(&"hi".into(), &Type::Dynamic).unwrap();
        let mut expected = hex("92 c4 08");
        expected.extend(br#""string""#);
        expected.extend(hex("a2 68 69"));
        assert_eq!(bytes, expected);

        // go-cty reads the type with DecodeBytes, which also takes a str.
        let mut as_str = hex("92 a8");
        as_str.extend(br#""string""#);
        as_str.extend(hex("a2 68 69"));
        assert_eq!(decode(&as_str, &Type::Dynamic).unwrap(), Value::from("hi"));

        let mixed = Value::List(vec!["a".into(), 1.into()]);
        let back = decode(&encode(&mixed, &Type::Dynamic).unwrap(), &Type::Dynamic).unwrap();
        assert_eq!(
            back,
            Value::Tuple(vec!["a".into(), 1.into()]),
            "mixed lists become tuples"
        );

        let mixed_map = Value::Map([("a".into(), 1.into()), ("b".into(), true.into())].into());
        let back = decode(&encode(&mixed_map, &Type::Dynamic).unwrap(), &Type::Dynamic).unwrap();
        assert_eq!(back, Value::object([("a", 1.into()), ("b", true.into())]));

        // A typed null inside a dynamic array.
        let mut typed_null = hex("92 c4 08");
        typed_null.extend(br#""number""#);
        typed_null.push(0xc0);
        assert_eq!(decode(&typed_null, &Type::Dynamic).unwrap(), Value::Null);

        for bad in [
            "91 c4 00",
            "93 c4 00 c0 c0",
            "a1 61",
            "92 01 c0",
            "92 c4 01 5b c0",
        ] {
            let err = decode(&hex(bad), &Type::Dynamic).unwrap_err();
            assert!(matches!(err, CodecError::Malformed { .. }), "{bad}: {err}");
        }
        let mut wrong_inner = hex("92 c4 08");
        wrong_inner.extend(br#""number""#);
        wrong_inner.push(0xc3);
        assert!(matches!(
            decode(&wrong_inner, &Type::Dynamic).unwrap_err(),
            CodecError::TypeMismatch { .. }
        ));
    }

    #[test]
    fn numbers_encode_like_go_cty() {
        let e = |n: Number| encode(&Value::Number(n), &Type::Number).unwrap();
        assert_eq!(e(Number::Int(1)), hex("01"));
        assert_eq!(e(Number::Int(-1)), hex("ff"));
        assert_eq!(e(Number::Int(300)), hex("cd 01 2c"));
        assert_eq!(e(Number::Float(1.0)), hex("01"));
        assert_eq!(e(Number::Float(-200.0)), hex("d1 ff 38"));
        assert_eq!(e(Number::Float(1.5)), hex("cb 3f f8 00 00 00 00 00 00"));
        let mut big_float = vec![0xcb];
        big_float.extend(1e19f64.to_be_bytes());
        assert_eq!(e(Number::Float(1e19)), big_float);
        assert_eq!(
            e(Number::Float(f64::INFINITY)),
            hex("cb 7f f0 00 00 00 00 00 00")
        );
        assert_eq!(e(Number::Big("1e400".into())), hex("a5 31 65 34 30 30"));
        assert!(encode(&Value::Number(Number::Float(f64::NAN)), &Type::Number).is_err());
        assert!(encode(&Value::Number(Number::Big("x".into())), &Type::Number).is_err());
    }
}
