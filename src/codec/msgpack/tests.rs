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
