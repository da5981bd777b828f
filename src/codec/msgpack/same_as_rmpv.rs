//! The two-pass reader and the direct writer against the rmpv-based ones they replaced.

use super::*;

fn hex(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

fn types() -> Vec<Type> {
    let key = Type::object([("id", Type::String), ("n", Type::Number)]);
    vec![
        Type::String,
        Type::Number,
        Type::Bool,
        Type::Dynamic,
        key.clone(),
        Type::list(Type::String),
        Type::set(key.clone()),
        Type::map(Type::Number),
        Type::Tuple(vec![Type::Bool, Type::String]),
        Type::object([
            ("keys", Type::list(key)),
            ("tags", Type::map(Type::String)),
            ("any", Type::Dynamic),
            ("pair", Type::Tuple(vec![Type::Bool, Type::Number])),
        ]),
    ]
}

fn values() -> Vec<(Value, Type)> {
    let mut out = Vec::new();
    for i in [
        0,
        1,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        u32::MAX as i64,
        u32::MAX as i64 + 1,
        i64::MAX,
        -1,
        -32,
        -33,
        -128,
        -129,
        -32_768,
        -32_769,
        i32::MIN as i64,
        i32::MIN as i64 - 1,
        i64::MIN,
    ] {
        out.push((Value::from(i), Type::Number));
    }
    for f in [0.5, -0.0, 1e300, -2.0, 3.0e18, 1e19, f64::INFINITY] {
        out.push((Value::Number(Number::Float(f)), Type::Number));
    }
    out.push((Value::Number(Number::Big("1e400".into())), Type::Number));
    for len in [0, 1, 31, 32, 255, 256, 65_535, 65_536] {
        out.push((Value::String("x".repeat(len).into()), Type::String));
    }
    for len in [0, 15, 16, 65_535, 65_536] {
        out.push((
            Value::List((0..len).map(|i| Value::from(i as i64)).collect()),
            Type::list(Type::Number),
        ));
        out.push((
            Value::Map(
                (0..len.min(300))
                    .map(|i| (Key::from(format!("k{i}")), Value::Bool(i % 2 == 0)))
                    .collect(),
            ),
            Type::map(Type::Bool),
        ));
    }
    let key = |id: &str| Value::object([("id", id.into()), ("n", 1.into())]);
    out.push((
        Value::object([
            ("keys", Value::List(vec![key("a"), key("b")])),
            ("tags", Value::string_map([("env", "prod")])),
            ("any", Value::List(vec!["a".into(), 2.into()])),
            ("pair", Value::Tuple(vec![true.into(), Value::Unknown])),
        ]),
        types().pop().unwrap(),
    ));
    out.push((key("x"), Type::Dynamic));
    out.push((Value::string_set(["a", "b"]), Type::Dynamic));
    out
}

#[test]
fn writes_the_same_bytes() {
    for (value, ty) in values() {
        assert_eq!(
            encode(&value, &ty),
            reference::encode(&value, &ty),
            "{value:?} as {ty}"
        );
    }
    for (value, ty) in [
        (Value::from("a"), Type::Number),
        (Value::Number(Number::Float(f64::NAN)), Type::Number),
        (Value::Number(Number::Big("x".into())), Type::Number),
        (Value::string_list(["a"]), Type::set(Type::String)),
        (
            Value::object([("nope", Value::Null)]),
            Type::object([("a", Type::String)]),
        ),
        (
            Value::List(vec![1.into()]),
            Type::Tuple(vec![Type::Number, Type::Number]),
        ),
    ] {
        assert_eq!(encode(&value, &ty), reference::encode(&value, &ty));
    }
}

/// Every prefix, every one-byte change and every appended byte of good encodings, read
/// as every type, decodes (or fails) exactly as before.
#[test]
fn reads_every_mutation_the_same() {
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for (value, ty) in values() {
        let bytes = encode(&value, &ty).unwrap();
        if bytes.len() > 200 {
            inputs.push(bytes);
            continue;
        }
        for len in 0..bytes.len() {
            inputs.push(bytes[..len].to_vec());
        }
        for i in 0..bytes.len() {
            for b in [
                0x00, 0x7f, 0x80, 0x91, 0xa1, 0xc0, 0xc1, 0xc4, 0xd4, 0xdc, 0xff,
            ] {
                let mut changed = bytes.clone();
                changed[i] = b;
                inputs.push(changed);
            }
        }
        let mut longer = bytes.clone();
        longer.push(0xc0);
        inputs.push(longer);
        inputs.push(bytes);
    }
    for bytes in [
        "dd ff ff ff ff",
        "df ff ff ff ff",
        "db ff ff ff ff",
        "c9 ff ff ff ff 00",
        "92 a8 22 73 74 72 69 6e 67 22 a2 68 69",
        "92 c4 08 22 6e 75 6d 62 65 72 22 c0",
        "91 c4 00",
        "93 c4 00 c0 c0",
        "92 01 c0",
        "92 c4 01 5b c0",
        "82 a1 61 c0 a1 61 c0",
        "81 01 c0",
        "81 a1 ff c0",
        "a1 ff",
        "c4 01 ff",
        "a3 31 2e 35",
        "cf ff ff ff ff ff ff ff ff",
        "cb 7f f8 00 00 00 00 00 00",
        "ca 7f c0 00 00",
    ] {
        inputs.push(hex(bytes));
    }
    // Around the budget's edge too, where a value of a deep enough type is refused as too
    // deep even though it is complete (the one-pass read must not accept it).
    for depth in (60..80).chain(85..=105) {
        let mut bytes = vec![0x91; depth];
        bytes.extend(hex("a1 61"));
        inputs.push(bytes);
        let mut bytes = [0x81, 0xa1, 0x61].repeat(depth);
        bytes.push(0xc0);
        inputs.push(bytes);
        let mut bytes = vec![0x91; depth];
        bytes.extend(hex("d4 00 00"));
        inputs.push(bytes);
        let mut bytes = vec![0x91; depth];
        bytes.extend(hex("c4 00"));
        inputs.push(bytes);
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..5_000 {
        let len = (state % 20) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        inputs.push(bytes);
    }
    let mut deep_types = types();
    for levels in [70, 90, 99, 120] {
        deep_types.push((0..levels).fold(Type::String, |ty, _| Type::list(ty)));
    }
    deep_types.push((0..70).fold(Type::Dynamic, |ty, _| Type::map(ty)));
    for bytes in &inputs {
        for ty in &deep_types {
            assert_eq!(
                decode(bytes, ty),
                reference::decode(bytes, ty),
                "{:02x?} as {ty}",
                bytes
            );
        }
    }
}
