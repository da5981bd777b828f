//! cty's JSON value encoding, as found in `RawState.json` (UpgradeResourceState,
//! MoveResourceState): the stored attributes object as written by an older schema.
//!
//! - objects and maps are JSON objects, lists, sets and tuples JSON arrays;
//! - numbers keep their exact text: integers that fit `i64` become [`Number::Int`],
//!   others [`Number::Big`];
//! - as in go-cty, a string attribute also takes a JSON number or bool (as its text), a
//!   number a numeric string, and a bool the strings `"true"`/`"false"`;
//! - reading an object, attributes missing from the JSON become null and attributes the
//!   type lacks are dropped (they belong to an older schema);
//! - a known `dynamic` value is `{"value": …, "type": …}`;
//! - unknown values have no JSON form.

mod parse;
mod to_msgpack;

pub use self::to_msgpack::to_msgpack;

use std::collections::BTreeMap;

use self::parse::Json;
use super::value::decimal_parts;
use super::{in_step, AttributePath, CodecError, Entries, Key, Number, Trail, Type, Value};

const FORMAT: &str = "json";

/// Decodes cty JSON as a value of type `ty`. Empty input is a null value.
///
/// # Errors
///
/// [`CodecError::Malformed`] for text that is not one JSON document (or a `dynamic`
/// wrapper that is not `{"value", "type"}`), [`CodecError::TypeMismatch`] when the
/// document does not fit `ty`.
pub fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    let json = parse::parse(bytes)
        .map_err(|message| CodecError::malformed(FORMAT, &AttributePath::root(), message))?;
    from_json(json, ty, &Trail::Root)
}

/// Encodes `value` as cty JSON of type `ty`: objects carry every attribute of `ty` (absent
/// ones as `null`), a `dynamic` value is written as `{"value": …, "type": …}` with its
/// [inferred](Value::infer_type) type. Under a tuple type a list or set value is accepted,
/// and under an object type a map value, as in [`super::msgpack::encode`].
///
/// # Errors
///
/// [`CodecError::Malformed`] for unknown values and numbers JSON cannot hold (NaN,
/// infinities), [`CodecError::TypeMismatch`] when the value does not fit `ty`,
/// [`CodecError::UnsupportedAttribute`] for object attributes `ty` lacks.
pub fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    write(value, ty, &Trail::Root, &mut out)?;
    Ok(out)
}

/// Converts the parsed document (consumed: its strings move into the value) to a value of
/// type `ty`.
fn from_json(json: Json, ty: &Type, path: &Trail<'_>) -> Result<Value, CodecError> {
    let mismatch = |json: &Json| CodecError::mismatch(&path.path(), ty, json.kind());
    let number = |text: &str, found: &str| {
        Number::parse(text)
            .map(Value::Number)
            .ok_or_else(|| CodecError::mismatch(&path.path(), ty, found))
    };
    match (json, ty) {
        (Json::Null, _) => Ok(Value::Null),
        (json, Type::Dynamic) => from_dynamic(json, path),
        (Json::String(s) | Json::Number(s), Type::String) => Ok(Value::String(s.into())),
        (Json::Bool(b), Type::String) => Ok(Value::String(b.to_string().into())),
        (Json::Number(text), Type::Number) => number(&text, "a number out of range"),
        (Json::String(text), Type::Number) => number(&text, "a string that is not a number"),
        (Json::Bool(b), Type::Bool) => Ok(Value::Bool(b)),
        (Json::String(s), Type::Bool) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (Json::Array(items), Type::List(element)) => {
            from_json_items(items, element, path).map(Value::List)
        }
        (Json::Array(items), Type::Set(element)) => {
            from_json_items(items, element, path).map(Value::Set)
        }
        (Json::Array(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(CodecError::mismatch(
                    &path.path(),
                    format!("a tuple of {} elements", types.len()),
                    format!("an array of {} elements", items.len()),
                ));
            }
            let items = items.into_iter().zip(types).enumerate();
            items
                .map(|(i, (item, ty))| from_json(item, ty, &path.index(i)))
                .collect::<Result<_, _>>()
                .map(Value::Tuple)
        }
        (Json::Object(members), Type::Map(element)) => {
            let mut entries = Entries::with_capacity(members.len());
            for (key, item) in members {
                // As with Go's encoding/json, a repeated key overrides the earlier one.
                let item = from_json(item, element, &path.key(&key))?;
                entries.insert(key, item);
            }
            Ok(Value::Map(entries))
        }
        (Json::Object(members), Type::Object(attr_types)) => {
            from_json_object(members, attr_types, path).map(Value::Object)
        }
        (json, _) => Err(mismatch(&json)),
    }
}

/// An object's attributes: every attribute of the type (absent ones null), each from the
/// last member of its name; members the type lacks are ignored.
fn from_json_object(
    mut members: Vec<(Key, Json)>,
    attr_types: &BTreeMap<String, Type>,
    path: &Trail<'_>,
) -> Result<Entries, CodecError> {
    // Terraform writes keys sorted, so this stable sort is rarely needed; equal keys keep
    // their document order, and the last of them wins below.
    if !members.is_sorted_by(|a, b| a.0 <= b.0) {
        members.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let mut members = members.into_iter().peekable();
    let mut attrs = Vec::with_capacity(attr_types.len());
    for (name, attr_type) in attr_types {
        while members
            .next_if(|(key, _)| key.as_str() < name.as_str())
            .is_some()
        {}
        let mut found = None;
        while let Some(member) = members.next_if(|(key, _)| key == name) {
            found = Some(member);
        }
        attrs.push(match found {
            Some((key, item)) => {
                let item = from_json(item, attr_type, &path.attr(&key))?;
                (key, item)
            }
            None => (Key::from(name.as_str()), Value::Null),
        });
    }
    // In the type's order, which is the keys' (both compare bytes), and each once: the map
    // takes them as they are. Collecting them instead sorted them again, for 2.8 K
    // instructions per state (callgrind, plan of 300 keys).
    Ok(Entries::from_sorted_store_unchecked(attrs))
}

fn from_json_items(
    items: Vec<Json>,
    ty: &Type,
    path: &Trail<'_>,
) -> Result<Vec<Value>, CodecError> {
    let items = items.into_iter().enumerate();
    items
        .map(|(i, item)| from_json(item, ty, &path.index(i)))
        .collect()
}

/// A known `dynamic` value: `{"value": …, "type": …}`.
fn from_dynamic(json: Json, path: &Trail<'_>) -> Result<Value, CodecError> {
    let malformed = |message: String| CodecError::malformed(FORMAT, &path.path(), message);
    let members = match json {
        Json::Object(members) => members,
        other => {
            return Err(malformed(format!(
                "a dynamic value must be an object with \"value\" and \"type\", found {}",
                other.kind()
            )))
        }
    };
    let (mut value, mut ty) = (None, None);
    for (key, member) in members {
        match key.as_str() {
            "value" => value = Some(member),
            "type" => ty = Some(member),
            other => {
                return Err(malformed(format!(
                    "unexpected key {other:?} in a dynamic value"
                )))
            }
        }
    }
    let (Some(value), Some(ty)) = (value, ty) else {
        return Err(malformed(
            "a dynamic value needs both \"value\" and \"type\"".to_owned(),
        ));
    };
    let ty = Type::from_json_value(&to_serde(&ty))
        .map_err(|e| malformed(format!("dynamic type: {e}")))?;
    from_json(value, &ty, path)
}

/// The document as a `serde_json::Value`, to hand a type to [`Type::from_json_value`].
/// Numbers become null: no type JSON contains one.
fn to_serde(json: &Json) -> serde_json::Value {
    match json {
        Json::Null | Json::Number(_) => serde_json::Value::Null,
        Json::Bool(b) => serde_json::Value::Bool(*b),
        Json::String(s) => serde_json::Value::String(s.clone()),
        Json::Array(items) => serde_json::Value::Array(items.iter().map(to_serde).collect()),
        Json::Object(members) => serde_json::Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), to_serde(v)))
                .collect(),
        ),
    }
}

fn write(value: &Value, ty: &Type, path: &Trail<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match (value, ty) {
        (Value::Null, _) => out.extend(b"null"),
        (Value::Unknown, _) => {
            return Err(CodecError::malformed(
                FORMAT,
                &path.path(),
                "unknown values have no json form",
            ))
        }
        (_, Type::Dynamic) => {
            let inferred = value.infer_type();
            out.extend(br#"{"value":"#);
            write(value, &inferred, path, out)?;
            out.extend(br#","type":"#);
            out.extend(inferred.to_json());
            out.push(b'}');
        }
        (Value::String(s), Type::String) => write_string(s, out),
        (Value::Bool(b), Type::Bool) => out.extend(if *b { &b"true"[..] } else { b"false" }),
        (Value::Number(n), Type::Number) => write_number(n, path, out)?,
        (Value::List(items), Type::List(element)) | (Value::Set(items), Type::Set(element)) => {
            write_array(items.iter().map(|item| (item, &**element)), path, out)?;
        }
        (Value::List(items) | Value::Set(items) | Value::Tuple(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(CodecError::mismatch(
                    &path.path(),
                    format!("a tuple of {} elements", types.len()),
                    format!("{} elements", items.len()),
                ));
            }
            write_array(items.iter().zip(types), path, out)?;
        }
        (Value::Map(entries), Type::Map(element)) => {
            write_members(
                entries.iter().map(|(k, v)| (k.as_str(), v, &**element)),
                path,
                false,
                out,
            )?;
        }
        (Value::Object(attrs) | Value::Map(attrs), Type::Object(attr_types)) => {
            if let Some(extra) = in_step::first_extra(attrs, attr_types) {
                return Err(CodecError::unsupported(&path.path(), extra));
            }
            write_members(in_step::attributes(attrs, attr_types), path, true, out)?;
        }
        _ => return Err(CodecError::mismatch(&path.path(), ty, value.kind())),
    }
    Ok(())
}

fn write_array<'a>(
    items: impl Iterator<Item = (&'a Value, &'a Type)>,
    path: &Trail<'_>,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.push(b'[');
    for (i, (item, ty)) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(item, ty, &path.index(i), out)?;
    }
    out.push(b']');
    Ok(())
}

fn write_members<'a>(
    members: impl Iterator<Item = (&'a str, &'a Value, &'a Type)>,
    path: &Trail<'_>,
    attributes: bool,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.push(b'{');
    for (i, (key, item, ty)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(key, out);
        out.push(b':');
        let path = if attributes {
            path.attr(key)
        } else {
            path.key(key)
        };
        write(item, ty, &path, out)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn write_number(number: &Number, path: &Trail<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let invalid = |what: &str| {
        CodecError::malformed(FORMAT, &path.path(), format!("{what} has no json form"))
    };
    match number {
        Number::Int(i) => out.extend(i.to_string().as_bytes()),
        Number::Float(f) if f.is_nan() => return Err(invalid("nan")),
        Number::Float(f) if f.is_infinite() => return Err(invalid("infinity")),
        Number::Float(f) => out.extend(f.to_string().as_bytes()),
        Number::Big(text) if parse::is_json_number(text) => out.extend(text.as_bytes()),
        Number::Big(text) => match decimal_parts(text) {
            // Text such as "+5", ".5" or "5.": write the same number in JSON syntax.
            Some((_, digits, _)) if digits.is_empty() => out.push(b'0'),
            Some((negative, digits, exponent)) => {
                let sign = if negative { "-" } else { "" };
                out.extend(format!("{sign}{digits}e{exponent}").as_bytes());
            }
            None => return Err(invalid(&format!("{text:?}"))),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &Value, ty: &Type) -> String {
        String::from_utf8(encode(value, ty).unwrap()).unwrap()
    }

    fn read(json: &str, ty: &Type) -> Value {
        decode(json.as_bytes(), ty).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn key_type() -> Type {
        Type::object([("id", Type::String), ("n", Type::Number)])
    }

    fn key(id: &str, n: i64) -> Value {
        Value::object([("id", id.into()), ("n", n.into())])
    }

    #[test]
    fn round_trip_every_type() {
        let cases = vec![
            (Type::String, Value::from("hé \"q\" \n \u{1}")),
            (Type::Number, 42.into()),
            (Type::Number, i64::MIN.into()),
            (Type::Number, Value::Number(Number::Float(1.5))),
            (Type::Number, Value::Number(Number::Float(1e-7))),
            (
                Type::Number,
                Value::Number(Number::Big("123456789012345678901234567890".into())),
            ),
            (
                Type::Number,
                Value::Number(Number::Big("1.0000000000000000000001".into())),
            ),
            (Type::Bool, true.into()),
            (Type::list(Type::String), Value::string_list(["a", "b"])),
            (Type::set(Type::String), Value::string_set(["b", "a"])),
            (
                Type::map(Type::Number),
                Value::Map([("k".into(), 1.into())].into_iter().collect()),
            ),
            (key_type(), key("a", 1)),
            (
                Type::object([("key", key_type()), ("keys", Type::list(key_type()))]),
                Value::object([
                    ("key", key("a", 1)),
                    ("keys", Value::List(vec![key("b", 2)])),
                ]),
            ),
            (
                Type::Tuple(vec![Type::String, Type::Bool]),
                Value::Tuple(vec!["s".into(), false.into()]),
            ),
            (Type::Dynamic, "s".into()),
            (Type::Dynamic, key("d", 1)),
            (Type::Dynamic, Value::string_set(["a"])),
            (Type::Dynamic, Value::Tuple(vec![1.into(), "a".into()])),
        ];
        for (ty, value) in cases {
            let back = read(&text(&value, &ty), &ty);
            assert!(
                back.equivalent(&value),
                "{value:?} as {ty} came back as {back:?}"
            );
            assert_eq!(read(&text(&Value::Null, &ty), &ty), Value::Null);
        }
    }

    #[test]
    fn golden_text() {
        let ty = Type::object([
            ("b", Type::Bool),
            ("a", Type::String),
            ("n", Type::Number),
            ("m", Type::map(Type::String)),
            ("l", Type::list(Type::Number)),
        ]);
        let value = Value::object([
            ("b", true.into()),
            ("n", Value::Number(Number::Float(2.0))),
            ("m", Value::string_map([("k\"", "v")])),
            (
                "l",
                Value::List(vec![1.into(), Value::Number(Number::Float(0.5))]),
            ),
        ]);
        assert_eq!(
            text(&value, &ty),
            r#"{"a":null,"b":true,"l":[1,0.5],"m":{"k\"":"v"},"n":2}"#
        );
        assert_eq!(
            text(&"x".into(), &Type::Dynamic),
            r#"{"value":"x","type":"string"}"#
        );
        assert_eq!(
            text(&Value::object([("a", 1.into())]), &Type::Dynamic),
            r#"{"value":{"a":1},"type":["object",{"a":"number"}]}"#
        );
    }

    #[test]
    fn big_numbers_stay_exact() {
        let v = read("12345678901234567890123", &Type::Number);
        assert_eq!(
            v,
            Value::Number(Number::Big("12345678901234567890123".into()))
        );
        assert_eq!(read("-9223372036854775808", &Type::Number), i64::MIN.into());
        assert_eq!(read("7", &Type::Number), 7.into());
        assert_eq!(
            read("0.1", &Type::Number),
            Value::Number(Number::Big("0.1".into()))
        );
        let n = |text: &str| {
            String::from_utf8(
                encode(&Value::Number(Number::Big(text.into())), &Type::Number).unwrap(),
            )
            .unwrap()
        };
        assert_eq!(n("1e400"), "1e400");
        assert_eq!(n("+5"), "5e0");
        assert_eq!(n(".5"), "5e-1");
        assert_eq!(n("-0.0"), "-0.0");
        assert_eq!(n("-.0"), "0");
        assert_eq!(n("-12.50"), "-12.50");
        for bad in [
            Number::Float(f64::NAN),
            Number::Float(f64::INFINITY),
            Number::Big("inf".into()),
            Number::Big("x".into()),
        ] {
            assert!(encode(&Value::Number(bad), &Type::Number).is_err());
        }
    }

    #[test]
    fn lenient_primitives_like_go_cty() {
        assert_eq!(read("12", &Type::String), "12".into());
        assert_eq!(read("true", &Type::String), "true".into());
        assert_eq!(
            read(r#""12.5""#, &Type::Number),
            Value::Number(Number::Big("12.5".into()))
        );
        assert_eq!(read(r#""false""#, &Type::Bool), false.into());
        let err = decode(br#""abc""#, &Type::Number).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at (root): expected number, found a string that is not a number"
        );
        assert!(decode(br#""yes""#, &Type::Bool).is_err());
        assert!(decode(b"1", &Type::Bool).is_err());
        assert!(decode(b"[]", &Type::String).is_err());
    }

    #[test]
    fn state_from_an_older_schema() {
        let ty = Type::object([
            ("id", Type::String),
            ("name", Type::String),
            ("tags", Type::map(Type::String)),
        ]);
        let v = read(
            r#"{"id":"k1","removed_attr":[1,2,{"x":true}],"tags":{"a":"b"}}"#,
            &ty,
        );
        assert_eq!(
            v,
            Value::object([
                ("id", "k1".into()),
                ("name", Value::Null),
                ("tags", Value::string_map([("a", "b")])),
            ])
        );
        // Members out of order, a repeated attribute (the last wins), escapes between runs
        // of plain text.
        let v = read(
            r#"{"name":"first","zzz":1,"id":"k1","name":"se\"c\u00e9ond\n","tags":null}"#,
            &ty,
        );
        assert_eq!(
            v,
            Value::object([
                ("id", "k1".into()),
                ("name", "se\"c\u{e9}ond\n".into()),
                ("tags", Value::Null),
            ])
        );
        assert_eq!(read("null", &ty), Value::Null);
        assert_eq!(read("", &ty), Value::Null);
        assert_eq!(
            read(
                r#"{"m":{"a":"1","a":"2"}}"#,
                &Type::object([("m", Type::map(Type::String))])
            )
            .attr("m"),
            &Value::string_map([("a", "2")])
        );
    }

    #[test]
    fn dynamic_wrapper() {
        let v = read(
            r#"{"type":["list","string"],"value":["a","b"]}"#,
            &Type::Dynamic,
        );
        assert_eq!(v, Value::string_list(["a", "b"]));
        let ty = Type::object([("any", Type::Dynamic)]);
        assert_eq!(
            read(r#"{"any":null}"#, &ty),
            Value::object([("any", Value::Null)])
        );
        for bad in [
            r#""x""#,
            r#"{"value":"x"}"#,
            r#"{"type":"string"}"#,
            r#"{"value":"x","type":"string","extra":1}"#,
            r#"{"value":"x","type":"strin"}"#,
            r#"{"value":"x","type":1}"#,
        ] {
            let err = decode(bad.as_bytes(), &Type::Dynamic).unwrap_err();
            assert!(matches!(err, CodecError::Malformed { .. }), "{bad}: {err}");
        }
        let err = decode(br#"{"value":"x","type":"number"}"#, &Type::Dynamic).unwrap_err();
        assert!(matches!(err, CodecError::TypeMismatch { .. }), "{err}");
    }

    #[test]
    fn encode_rejects_unknown_and_foreign_attributes() {
        let err = encode(&Value::object([("id", Value::Unknown)]), &key_type()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "malformed json at id: unknown values have no json form"
        );
        let err = encode(&Value::object([("zz", Value::Null)]), &key_type()).unwrap_err();
        assert_eq!(
            err,
            CodecError::UnsupportedAttribute {
                path: AttributePath::root(),
                name: "zz".into()
            }
        );
        assert_eq!(
            text(&Value::object([]), &key_type()),
            r#"{"id":null,"n":null}"#
        );
    }

    #[test]
    fn type_mismatches_carry_the_path() {
        let ty = Type::object([
            ("keys", Type::list(key_type())),
            ("tags", Type::map(Type::Bool)),
        ]);
        let err = decode(br#"{"keys":[{"id":"a"},{"id":{}}]}"#, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "at keys[1].id: expected string, found object"
        );
        let err = decode(br#"{"tags":{"env":[]}}"#, &ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"at tags["env"]: expected bool, found array"#
        );
        let err = decode(br#"["a"]"#, &Type::Tuple(vec![Type::String, Type::String])).unwrap_err();
        assert!(matches!(err, CodecError::TypeMismatch { .. }));
        let err = encode(
            &Value::object([("keys", Value::List(vec![key("a", 1), Value::from(3)]))]),
            &ty,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "at keys[1]: expected object, found number");
        let err = encode(
            &Value::object([("tags", Value::string_map([("k", "v")]))]),
            &ty,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"at tags["k"]: expected bool, found string"#
        );
    }

    #[test]
    fn malformed_and_truncated_input_is_rejected() {
        let ty = Type::object([("keys", Type::list(key_type())), ("any", Type::Dynamic)]);
        let value = Value::object([
            ("keys", Value::List(vec![key("a\u{e9}\\", 12345)])),
            ("any", Value::string_map([("k", "v")])),
        ]);
        let bytes = encode(&value, &ty).unwrap();
        for len in 1..bytes.len() {
            assert!(
                decode(&bytes[..len], &ty).is_err(),
                "{}",
                String::from_utf8_lossy(&bytes[..len])
            );
        }
        assert_eq!(decode(&bytes, &ty).unwrap(), value);
        assert!(matches!(
            decode(b"{} x", &ty),
            Err(CodecError::Malformed { format: "json", .. })
        ));
        assert!(decode("[".repeat(50_000).as_bytes(), &Type::Dynamic).is_err());
    }
}
