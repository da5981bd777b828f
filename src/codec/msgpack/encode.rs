//! Writing values as msgpack, straight to bytes, in the smallest form of each item (as rmpv,
//! which this module used before, and go-cty's encoder write them).

use super::FORMAT;
use crate::codec::{in_step, CodecError, Number, Trail, Type, Value};

/// Appends `value` as type `ty` to `out`. On error, `out` holds a partial value.
pub(super) fn write(
    value: &Value,
    ty: &Type,
    path: &Trail<'_>,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match (value, ty) {
        (Value::Null, _) => out.push(0xc0),
        (Value::Unknown, _) => out.extend_from_slice(&[0xd4, 0, 0]),
        (_, Type::Dynamic) => {
            let inferred = value.infer_type();
            out.push(0x92);
            write_bin(out, &inferred.to_json(), path)?;
            write(value, &inferred, path, out)?;
        }
        (Value::String(s), Type::String) => write_str(out, s, path)?,
        (Value::Bool(b), Type::Bool) => out.push(if *b { 0xc3 } else { 0xc2 }),
        (Value::Number(n), Type::Number) => write_number(out, n, path)?,
        (Value::List(items), Type::List(element)) | (Value::Set(items), Type::Set(element)) => {
            write_array_len(out, items.len(), path)?;
            for (i, item) in items.iter().enumerate() {
                write(item, element, &path.index(i), out)?;
            }
        }
        (Value::List(items) | Value::Set(items) | Value::Tuple(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(CodecError::mismatch(
                    &path.path(),
                    format!("a tuple of {} elements", types.len()),
                    format!("{} elements", items.len()),
                ));
            }
            write_array_len(out, items.len(), path)?;
            for (i, (item, ty)) in items.iter().zip(types).enumerate() {
                write(item, ty, &path.index(i), out)?;
            }
        }
        (Value::Map(entries), Type::Map(element)) => {
            write_map_len(out, entries.len(), path)?;
            for (key, item) in entries {
                write_str(out, key, path)?;
                write(item, element, &path.key(key), out)?;
            }
        }
        (Value::Object(attrs) | Value::Map(attrs), Type::Object(attr_types)) => {
            if let Some(extra) = in_step::first_extra(attrs, attr_types) {
                return Err(CodecError::unsupported(&path.path(), extra));
            }
            write_map_len(out, attr_types.len(), path)?;
            for (name, attr, attr_type) in in_step::attributes(attrs, attr_types) {
                write_str(out, name, path)?;
                write(attr, attr_type, &path.attr(name), out)?;
            }
        }
        _ => return Err(CodecError::mismatch(&path.path(), ty, value.kind())),
    }
    Ok(())
}

pub(in crate::codec) fn write_number(
    out: &mut Vec<u8>,
    number: &Number,
    path: &Trail<'_>,
) -> Result<(), CodecError> {
    match number {
        Number::Int(i) => write_int(out, *i),
        Number::Float(f) if f.is_nan() => return Err(malformed(path, "nan is not a number")),
        Number::Float(f) => match Number::Float(*f).as_i64() {
            Some(i) => write_int(out, i),
            None => {
                out.push(0xcb);
                out.extend_from_slice(&f.to_be_bytes());
            }
        },
        Number::Big(text) if Number::parse(text).is_some() => write_str(out, text, path)?,
        Number::Big(text) => return Err(malformed(path, format!("{text:?} is not a number"))),
    }
    Ok(())
}

/// An integer in its smallest form: positive ones unsigned, negative ones signed.
fn write_int(out: &mut Vec<u8>, i: i64) {
    if let Ok(u) = u64::try_from(i) {
        if u < 0x80 {
            out.push(u as u8);
        } else if let Ok(u) = u8::try_from(u) {
            out.extend_from_slice(&[0xcc, u]);
        } else if let Ok(u) = u16::try_from(u) {
            out.push(0xcd);
            out.extend_from_slice(&u.to_be_bytes());
        } else if let Ok(u) = u32::try_from(u) {
            out.push(0xce);
            out.extend_from_slice(&u.to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        // Negative fixint: the byte is the value's two's complement.
        out.extend_from_slice(&(i as i8).to_be_bytes());
    } else if let Ok(s) = i8::try_from(i) {
        out.push(0xd0);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(s) = i16::try_from(i) {
        out.push(0xd1);
        out.extend_from_slice(&s.to_be_bytes());
    } else if let Ok(s) = i32::try_from(i) {
        out.push(0xd2);
        out.extend_from_slice(&s.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

pub(in crate::codec) fn write_str(
    out: &mut Vec<u8>,
    s: &str,
    path: &Trail<'_>,
) -> Result<(), CodecError> {
    if s.len() < 32 {
        out.push(0xa0 | s.len() as u8);
    } else {
        write_len(out, s.len(), Some(0xd9), 0xda, 0xdb, path)?;
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_bin(out: &mut Vec<u8>, bytes: &[u8], path: &Trail<'_>) -> Result<(), CodecError> {
    write_len(out, bytes.len(), Some(0xc4), 0xc5, 0xc6, path)?;
    out.extend_from_slice(bytes);
    Ok(())
}

pub(in crate::codec) fn write_array_len(
    out: &mut Vec<u8>,
    len: usize,
    path: &Trail<'_>,
) -> Result<(), CodecError> {
    if len < 16 {
        out.push(0x90 | len as u8);
        Ok(())
    } else {
        write_len(out, len, None, 0xdc, 0xdd, path)
    }
}

pub(in crate::codec) fn write_map_len(
    out: &mut Vec<u8>,
    len: usize,
    path: &Trail<'_>,
) -> Result<(), CodecError> {
    if len < 16 {
        out.push(0x80 | len as u8);
        Ok(())
    } else {
        write_len(out, len, None, 0xde, 0xdf, path)
    }
}

/// A length in the 8-bit form (if the item has one), else the 16- or 32-bit form.
fn write_len(
    out: &mut Vec<u8>,
    len: usize,
    m8: Option<u8>,
    m16: u8,
    m32: u8,
    path: &Trail<'_>,
) -> Result<(), CodecError> {
    if let (Some(m8), Ok(n)) = (m8, u8::try_from(len)) {
        out.extend_from_slice(&[m8, n]);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(m16);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(len) {
        out.push(m32);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        return Err(malformed(
            path,
            format!("{len} items are more than msgpack can hold"),
        ));
    }
    Ok(())
}

fn malformed(path: &Trail<'_>, message: impl Into<String>) -> CodecError {
    CodecError::malformed(FORMAT, &path.path(), message)
}

#[cfg(test)]
mod tests {

    use super::super::{decode, encode};
    use super::*;
    use crate::codec::{AttributePath, Entries};

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
                Value::Map([("k".into(), 1.into())].into_iter().collect()),
            ),
            (Type::map(Type::String), Value::Map(Entries::new())),
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
                Value::Map(
                    [("u".into(), Value::Unknown), ("n".into(), Value::Null)]
                        .into_iter()
                        .collect(),
                ),
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

        let mixed_map = Value::Map(
            [("a".into(), 1.into()), ("b".into(), true.into())]
                .into_iter()
                .collect(),
        );
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
