//! The msgpack form of `DynamicValue`, as go-cty v1.18 (`cty/msgpack`) reads and writes it.
//!
//! - null is `nil`; unknown is written as ext type 0 (`d4 00 00`) and any extension type
//!   of any length is read as unknown (refinements, ext type 12, are dropped);
//! - numbers are written as an integer when whole and in `i64` range, else a float64, and
//!   [`Number::Big`] as its decimal string; any integer, float or decimal string is read;
//! - lists, sets and tuples are arrays; maps are maps with string keys;
//! - objects are maps with their keys sorted, always carrying every attribute of the type;
//! - a known `dynamic` value is `[bin(type JSON), value]`; a null or unknown one is plain
//!   `nil` or ext. When writing, the type is [inferred](Value::infer_type) from the value.
//!
//! Strings are taken as they are: unlike go-cty, no Unicode normalization is applied. The
//! reserved marker `0xc1` reads as `nil` (rmpv's behaviour); go-cty would reject it.

mod encode;

use std::collections::BTreeMap;

use rmpv::Value as Mp;

use super::{AttributePath, CodecError, Number, Type, Value};

const FORMAT: &str = "msgpack";

/// The nesting budget handed to rmpv: it spends one unit per value and one more per
/// array, map, string or binary body, so this allows about 100 levels of arrays and maps,
/// far beyond any schema, while keeping recursion well inside a 2 MiB thread stack.
const MAX_DEPTH: usize = 200;

/// Decodes msgpack bytes as a value of type `ty`. Empty input is a null value (Terraform
/// sends and accepts that for an absent `DynamicValue`).
///
/// # Errors
///
/// [`CodecError::Malformed`] for bytes that are not one complete msgpack value,
/// [`CodecError::TypeMismatch`] when the value does not fit `ty` (including objects that
/// lack attributes), [`CodecError::UnsupportedAttribute`] for object keys `ty` lacks.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let root = AttributePath::root();
    let mut rest = bytes;
    let mp = rmpv::decode::read_value_with_max_depth(&mut rest, MAX_DEPTH).map_err(|e| {
        let message = match e {
            rmpv::decode::Error::DepthLimitExceeded => "value nested too deeply".to_owned(),
            rmpv::decode::Error::InvalidMarkerRead(io)
            | rmpv::decode::Error::InvalidDataRead(io)
                if io.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                "truncated input".to_owned()
            }
            other => other.to_string().to_lowercase(),
        };
        CodecError::malformed(FORMAT, &root, message)
    })?;
    if !rest.is_empty() {
        return Err(CodecError::malformed(
            FORMAT,
            &root,
            format!("{} trailing bytes after the value", rest.len()),
        ));
    }
    from_mp(&mp, ty, &root)
}

/// Encodes `value` as msgpack of type `ty`, the way go-cty does.
///
/// Objects are written with every attribute of `ty` (absent ones as `nil`). Under a
/// tuple type a list or set value is accepted, and under an object type a map value,
/// because that is how [`Value::infer_type`] types collections of mixed elements.
///
/// # Errors
///
/// [`CodecError::TypeMismatch`] when the value does not fit `ty`,
/// [`CodecError::UnsupportedAttribute`] for object attributes `ty` lacks, and
/// [`CodecError::Malformed`] for a number that cannot be written (NaN, invalid text).
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let root = AttributePath::root();
    let mp = encode::to_mp(value, ty, &root)?;
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &mp)
        .map_err(|e| CodecError::malformed(FORMAT, &root, e.to_string().to_lowercase()))?;
    Ok(out)
}

fn from_mp(mp: &Mp, ty: &Type, path: &AttributePath) -> Result<Value, CodecError> {
    let mismatch = || CodecError::mismatch(path, ty, kind(mp));
    match (mp, ty) {
        (Mp::Nil, _) => Ok(Value::Null),
        (Mp::Ext(..), _) => Ok(Value::Unknown),
        (_, Type::Dynamic) => from_dynamic(mp, path),
        (Mp::String(s), Type::String) => s
            .as_str()
            .map(|s| Value::String(s.to_owned()))
            .ok_or_else(|| CodecError::malformed(FORMAT, path, "string is not valid utf-8")),
        (Mp::Binary(bytes), Type::String) => String::from_utf8(bytes.clone())
            .map(Value::String)
            .map_err(|_| CodecError::malformed(FORMAT, path, "string is not valid utf-8")),
        (Mp::Boolean(b), Type::Bool) => Ok(Value::Bool(*b)),
        (_, Type::Number) => from_mp_number(mp, path)
            .ok_or_else(mismatch)?
            .map(Value::Number),
        (Mp::Array(items), Type::List(element)) => {
            from_mp_items(items, element, path).map(Value::List)
        }
        (Mp::Array(items), Type::Set(element)) => {
            from_mp_items(items, element, path).map(Value::Set)
        }
        (Mp::Array(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(CodecError::mismatch(
                    path,
                    format!("a tuple of {} elements", types.len()),
                    format!("an array of {} elements", items.len()),
                ));
            }
            let items = items.iter().zip(types).enumerate();
            items
                .map(|(i, (item, ty))| from_mp(item, ty, &path.child_index(i)))
                .collect::<Result<_, _>>()
                .map(Value::Tuple)
        }
        (Mp::Map(pairs), Type::Map(element)) => {
            let mut entries = BTreeMap::new();
            for (key, item) in pairs {
                let key = map_key(key, path)?;
                let item = from_mp(item, element, &path.child_key(key))?;
                if entries.insert(key.to_owned(), item).is_some() {
                    return Err(duplicate(path, key));
                }
            }
            Ok(Value::Map(entries))
        }
        (Mp::Map(pairs), Type::Object(attr_types)) => {
            let mut attrs = BTreeMap::new();
            for (key, item) in pairs {
                let key = map_key(key, path)?;
                let Some(attr_type) = attr_types.get(key) else {
                    return Err(CodecError::unsupported(path, key));
                };
                let item = from_mp(item, attr_type, &path.child_attr(key))?;
                if attrs.insert(key.to_owned(), item).is_some() {
                    return Err(duplicate(path, key));
                }
            }
            if attrs.len() != attr_types.len() {
                return Err(CodecError::attribute_count(
                    path,
                    attr_types.len(),
                    attrs.len(),
                ));
            }
            Ok(Value::Object(attrs))
        }
        _ => Err(mismatch()),
    }
}

fn from_mp_items(items: &[Mp], ty: &Type, path: &AttributePath) -> Result<Vec<Value>, CodecError> {
    let items = items.iter().enumerate();
    items
        .map(|(i, item)| from_mp(item, ty, &path.child_index(i)))
        .collect()
}

/// A number from any msgpack integer, float or decimal string; `None` for other kinds.
fn from_mp_number(mp: &Mp, path: &AttributePath) -> Option<Result<Number, CodecError>> {
    let number = match mp {
        Mp::Integer(i) => match (i.as_i64(), i.as_u64()) {
            (Some(i), _) => Number::Int(i),
            (None, Some(u)) => Number::Big(u.to_string()),
            (None, None) => return None,
        },
        Mp::F32(f) => Number::Float(f64::from(*f)),
        Mp::F64(f) => Number::Float(*f),
        Mp::String(s) => {
            let message = match s.as_str() {
                Some(text) => match Number::parse(text) {
                    Some(number) => return Some(Ok(number)),
                    // The text is left out: it may be a secret in the wrong place.
                    None => {
                        return Some(Err(CodecError::mismatch(
                            path,
                            Type::Number,
                            "a string that is not a number",
                        )))
                    }
                },
                None => "string is not valid utf-8",
            };
            return Some(Err(CodecError::malformed(FORMAT, path, message)));
        }
        _ => return None,
    };
    if matches!(number, Number::Float(f) if f.is_nan()) {
        return Some(Err(CodecError::malformed(
            FORMAT,
            path,
            "nan is not a number",
        )));
    }
    Some(Ok(number))
}

/// A known `dynamic` value: `[type JSON as bin (or str), value]`.
fn from_dynamic(mp: &Mp, path: &AttributePath) -> Result<Value, CodecError> {
    let malformed = |message: String| CodecError::malformed(FORMAT, path, message);
    let Mp::Array(pair) = mp else {
        return Err(malformed(format!(
            "a dynamic value must be a 2-element array, found {}",
            kind(mp)
        )));
    };
    let [type_json, inner] = pair.as_slice() else {
        return Err(malformed(format!(
            "a dynamic value must be a 2-element array, found {} elements",
            pair.len()
        )));
    };
    let type_json = match type_json {
        Mp::Binary(bytes) => bytes.as_slice(),
        Mp::String(s) => s.as_bytes(),
        other => {
            return Err(malformed(format!(
                "dynamic type must be bytes, found {}",
                kind(other)
            )))
        }
    };
    let ty = Type::from_json(type_json).map_err(|e| malformed(format!("dynamic type: {e}")))?;
    from_mp(inner, &ty, path)
}

fn map_key<'a>(key: &'a Mp, path: &AttributePath) -> Result<&'a str, CodecError> {
    match key {
        Mp::String(s) => s
            .as_str()
            .ok_or_else(|| CodecError::malformed(FORMAT, path, "map key is not valid utf-8")),
        other => Err(CodecError::malformed(
            FORMAT,
            path,
            format!("map key must be a string, found {}", kind(other)),
        )),
    }
}

fn duplicate(path: &AttributePath, key: &str) -> CodecError {
    CodecError::malformed(FORMAT, path, format!("duplicate key {key:?}"))
}

fn kind(mp: &Mp) -> &'static str {
    match mp {
        Mp::Nil => "nil",
        Mp::Boolean(_) => "bool",
        Mp::Integer(_) => "integer",
        Mp::F32(_) | Mp::F64(_) => "float",
        Mp::String(_) => "string",
        Mp::Binary(_) => "binary",
        Mp::Array(_) => "array",
        Mp::Map(_) => "map",
        Mp::Ext(..) => "extension",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::PathStep;

    fn hex(text: &str) -> Vec<u8> {
        text.split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect()
    }

    fn key_type() -> Type {
        Type::object([("id", Type::String), ("n", Type::Number)])
    }

    #[test]
    fn any_extension_decodes_as_unknown() {
        for bytes in [
            "d4 00 00",                                              // fixext1, what go-cty writes
            "d4 0c 01",                                              // fixext1, type 12
            "d5 00 00 00",                                           // fixext2
            "d6 0c 81 01 c2 00",                                     // fixext4
            "d7 05 00 00 00 00 00 00 00 00",                         // fixext8
            "d8 0c 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00", // fixext16
            "c7 00 00",                                              // ext8, empty
            "c7 07 0c 82 01 c2 02 a2 61 62", // ext8, refined: not null, prefix "ab"
            "c8 00 03 0c 81 01 c2",          // ext16
            "c9 00 00 00 03 0c 81 01 c2",    // ext32
            "c7 01 ff 00",                   // negative extension type
        ] {
            for ty in [
                Type::String,
                Type::Number,
                key_type(),
                Type::Dynamic,
                Type::list(Type::Bool),
            ] {
                assert_eq!(
                    decode(&hex(bytes), &ty).unwrap(),
                    Value::Unknown,
                    "{bytes} as {ty}"
                );
            }
        }
        let ty = Type::object([("a", Type::String), ("b", Type::list(Type::Number))]);
        let bytes = hex("82 a1 61 c7 07 0c 82 01 c2 02 a2 61 62 a1 62 91 d6 0c 81 01 c2 00");
        assert_eq!(
            decode(&bytes, &ty).unwrap(),
            Value::object([
                ("a", Value::Unknown),
                ("b", Value::List(vec![Value::Unknown]))
            ])
        );
    }

    #[test]
    fn empty_input_is_null() {
        assert_eq!(decode(&[], &key_type()).unwrap(), Value::Null);
    }

    #[test]
    fn every_number_form_decodes() {
        let n = |bytes: &str| decode(&hex(bytes), &Type::Number).unwrap();
        let int = |i: i64| Value::Number(Number::Int(i));
        assert_eq!(n("05"), int(5));
        assert_eq!(n("ff"), int(-1));
        assert_eq!(n("d0 80"), int(-128));
        assert_eq!(n("d1 80 00"), int(-32768));
        assert_eq!(n("d2 80 00 00 00"), int(-2147483648));
        assert_eq!(n("d3 80 00 00 00 00 00 00 00"), int(i64::MIN));
        assert_eq!(n("cc ff"), int(255));
        assert_eq!(n("cd ff ff"), int(65535));
        assert_eq!(n("ce ff ff ff ff"), int(4294967295));
        assert_eq!(n("cf 7f ff ff ff ff ff ff ff"), int(i64::MAX));
        assert_eq!(
            n("cf ff ff ff ff ff ff ff ff"),
            Value::Number(Number::Big("18446744073709551615".into()))
        );
        assert_eq!(n("ca 3f c0 00 00"), Value::Number(Number::Float(1.5)));
        assert_eq!(
            n("cb 3f f8 00 00 00 00 00 00"),
            Value::Number(Number::Float(1.5))
        );
        assert_eq!(n("a2 31 32"), int(12));
        assert_eq!(n("a3 31 2e 35"), Value::Number(Number::Big("1.5".into())));
        assert!(decode(&hex("a3 61 62 63"), &Type::Number).is_err());
        assert!(
            decode(&hex("cb 7f f8 00 00 00 00 00 00"), &Type::Number).is_err(),
            "nan"
        );
        assert!(decode(&hex("c3"), &Type::Number).is_err());
    }

    #[test]
    fn incomplete_and_extra_object_keys_are_rejected() {
        let ty = Type::object([
            ("a", Type::String),
            ("b", Type::String),
            ("c", Type::String),
        ]);
        let err = decode(&hex("82 a1 61 c0 a1 62 c0"), &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at (root): expected an object with 3 attributes, found an object with 2 attributes"
        );
        assert!(matches!(
            decode(&hex("80"), &ty),
            Err(CodecError::TypeMismatch { .. })
        ));

        let err = decode(&hex("84 a1 61 c0 a1 62 c0 a1 63 c0 a1 64 c0"), &ty).unwrap_err();
        assert_eq!(
            err,
            CodecError::UnsupportedAttribute {
                path: AttributePath::root(),
                name: "d".into()
            }
        );
        let nested = Type::object([("o", ty.clone())]);
        let err = decode(&hex("81 a1 6f 83 a1 61 c0 a1 62 c0 a1 7a c0"), &nested).unwrap_err();
        assert_eq!(
            err,
            CodecError::UnsupportedAttribute {
                path: AttributePath::attr("o"),
                name: "z".into()
            }
        );
        let err = decode(&hex("83 a1 61 c0 a1 62 c0 a1 61 c0"), &ty).unwrap_err();
        assert!(err.to_string().contains("duplicate key \"a\""), "{err}");
        assert!(decode(&hex("81 01 c0"), &ty).is_err(), "integer key");
    }

    #[test]
    fn type_mismatches_carry_the_path() {
        let ty = Type::object([
            ("keys", Type::list(key_type())),
            ("tags", Type::map(Type::String)),
            ("pair", Type::Tuple(vec![Type::Bool, Type::Bool])),
        ]);
        let key = |id: Value| Value::object([("id", id), ("n", 1.into())]);
        let good = Value::object([
            ("keys", Value::List(vec![key("a".into()), key("b".into())])),
            ("tags", Value::string_map([("env", "prod")])),
            ("pair", Value::Tuple(vec![true.into(), false.into()])),
        ]);
        let bytes = encode(&good, &ty).unwrap();

        let mut bad = good.clone();
        bad.set_attr("keys", Value::List(vec![key("a".into()), key(true.into())]));
        let err = encode(&bad, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at keys[1].id: expected string, found bool"
        );
        // The same value written with its own (inferred) type, read with the schema type.
        let bytes_bad = encode(&bad, &bad.infer_type()).unwrap();
        let err = decode(&bytes_bad, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at keys[1].id: expected string, found bool"
        );

        let wrong_tag_type = Type::object([
            ("keys", Type::list(key_type())),
            ("tags", Type::map(Type::Number)),
            ("pair", Type::Tuple(vec![Type::Bool, Type::Bool])),
        ]);
        let err = decode(&bytes, &wrong_tag_type).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"at tags["env"]: expected number, found a string that is not a number"#
        );

        let wrong_key_type = Type::object([
            (
                "keys",
                Type::list(Type::object([("id", Type::Number), ("n", Type::Number)])),
            ),
            ("tags", Type::map(Type::String)),
            ("pair", Type::Tuple(vec![Type::Bool, Type::Bool])),
        ]);
        let err = decode(&bytes, &wrong_key_type).unwrap_err();
        assert_eq!(
            err.path().steps,
            vec![
                PathStep::Attribute("keys".into()),
                PathStep::Index(0),
                PathStep::Attribute("id".into())
            ]
        );

        let short_pair = Type::object([
            ("keys", Type::list(key_type())),
            ("tags", Type::map(Type::String)),
            ("pair", Type::Tuple(vec![Type::Bool])),
        ]);
        assert!(matches!(
            decode(&bytes, &short_pair).unwrap_err(),
            CodecError::TypeMismatch { path, .. } if path == AttributePath::attr("pair")
        ));

        assert!(encode(&Value::string_list(["a"]), &Type::set(Type::String)).is_err());
        assert!(encode(&Value::from("a"), &Type::Number).is_err());
        assert!(decode(&hex("a1 61"), &Type::Bool).is_err());
        assert!(decode(&hex("91 c0"), &Type::map(Type::String)).is_err());
        assert!(decode(&hex("80"), &Type::list(Type::String)).is_err());
    }

    #[test]
    fn malformed_bytes_are_rejected() {
        assert!(decode(&hex("a2 61"), &Type::String).is_err());
        assert!(
            decode(&hex("a1 ff"), &Type::String).is_err(),
            "invalid utf-8"
        );
        assert!(
            decode(&hex("c4 01 ff"), &Type::String).is_err(),
            "invalid utf-8 bin"
        );
        assert_eq!(
            decode(&hex("c4 01 61"), &Type::String).unwrap(),
            Value::from("a")
        );
        // rmpv reads the reserved marker 0xc1 as nil; go-cty would reject it.
        assert_eq!(decode(&hex("c1"), &Type::String).unwrap(), Value::Null);
        let err = decode(&hex("c0 c0"), &Type::String).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed msgpack at (root): 1 trailing bytes after the value"
        );
    }

    #[test]
    fn truncated_bytes_are_rejected() {
        let ty = Type::object([
            ("name", Type::String),
            ("n", Type::Number),
            ("f", Type::Number),
            ("keys", Type::list(key_type())),
            ("any", Type::Dynamic),
        ]);
        let value = Value::object([
            ("name", "a fairly long name".into()),
            ("n", 1_000_000_000_000.into()),
            ("f", Value::Number(Number::Float(0.25))),
            (
                "keys",
                Value::List(vec![Value::object([
                    ("id", "x".into()),
                    ("n", Value::Unknown),
                ])]),
            ),
            ("any", Value::string_map([("k", "v")])),
        ]);
        let bytes = encode(&value, &ty).unwrap();
        for len in 1..bytes.len() {
            let err = decode(&bytes[..len], &ty).unwrap_err();
            assert!(matches!(err, CodecError::Malformed { .. }), "{len}: {err}");
        }
        assert_eq!(decode(&bytes, &ty).unwrap(), value);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        // Huge declared lengths with no data behind them.
        for bytes in [
            "dd ff ff ff ff",
            "df ff ff ff ff",
            "db ff ff ff ff",
            "c9 ff ff ff ff 00",
        ] {
            assert!(decode(&hex(bytes), &Type::list(Type::String)).is_err());
        }
        // Deep nesting: about 100 levels are accepted, more are refused.
        let nested = |depth: usize| {
            let ty = (0..depth).fold(Type::String, |ty, _| Type::list(ty));
            let mut bytes = vec![0x91; depth];
            bytes.extend(hex("a1 61"));
            decode(&bytes, &ty)
        };
        assert!(nested(90).is_ok());
        let err = nested(150).unwrap_err();
        assert!(err.to_string().contains("nested too deeply"), "{err}");
        let deep = vec![0x91; 100_000];
        assert!(decode(&deep, &Type::Dynamic).is_err());
        assert!(decode(&deep, &Type::list(Type::String)).is_err());
        let mut deep_dynamic = Vec::new();
        for _ in 0..10_000 {
            deep_dynamic.extend(hex("92 c4 09"));
            deep_dynamic.extend(br#""dynamic""#);
        }
        assert!(decode(&deep_dynamic, &Type::Dynamic).is_err());
        // Pseudo-random garbage against several types.
        let types = [
            Type::String,
            key_type(),
            Type::Dynamic,
            Type::list(Type::map(Type::Number)),
        ];
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            let len = (state % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            for ty in &types {
                let _ = decode(&bytes, ty);
            }
        }
    }
}
