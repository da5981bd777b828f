//! Property tests of the value decoders: whatever bytes Terraform (or a corrupted state
//! file) sends, decoding returns a value or an error, never a panic; and what we encode
//! decodes to the same value.

use proptest::prelude::*;

use super::{json, msgpack, Key, Number, Type, Value};

fn types() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::String),
        Just(Type::Number),
        Just(Type::Bool),
        Just(Type::Dynamic),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            proptest::collection::btree_map("[a-z_]{1,8}", inner.clone(), 0..4)
                .prop_map(Type::Object),
            proptest::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

/// A known value of type `ty` (or null).
fn value_of(ty: &Type) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::String | Type::Dynamic => any::<String>()
            .prop_map(|s| Value::String(s.into()))
            .boxed(),
        Type::Number => prop_oneof![
            any::<i64>().prop_map(|i| Value::Number(Number::Int(i))),
            (-1e15f64..1e15).prop_map(|f| Value::Number(Number::Float(f))),
        ]
        .boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::List(element) => proptest::collection::vec(value_of(element), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(element) => proptest::collection::vec(value_of(element), 0..4)
            .prop_map(Value::Set)
            .boxed(),
        Type::Map(element) => proptest::collection::btree_map(".{0,6}", value_of(element), 0..4)
            .prop_map(|entries| {
                Value::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Key::from(k), v))
                        .collect(),
                )
            })
            .boxed(),
        Type::Object(attrs) => {
            let fields: Vec<BoxedStrategy<(Key, Value)>> = attrs
                .iter()
                .map(|(name, ty)| {
                    let name = Key::from(name.as_str());
                    value_of(ty).prop_map(move |v| (name.clone(), v)).boxed()
                })
                .collect();
            fields
                .prop_map(|fields| Value::Object(fields.into_iter().collect()))
                .boxed()
        }
        Type::Tuple(elements) => elements
            .iter()
            .map(value_of)
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 6 => known].boxed()
}

/// Whether `ty` has no `dynamic` or tuple part, which [`json::to_msgpack`] leaves to the full
/// path.
fn copyable(ty: &Type) -> bool {
    match ty {
        Type::String | Type::Number | Type::Bool => true,
        Type::Dynamic | Type::Tuple(_) => false,
        Type::List(element) | Type::Set(element) | Type::Map(element) => copyable(element),
        Type::Object(attrs) => attrs.values().all(copyable),
    }
}

/// What the full path makes of JSON `bytes`: the value, written as msgpack.
fn through_a_value(bytes: &[u8], ty: &Type) -> Option<Vec<u8>> {
    json::decode(bytes, ty)
        .and_then(|value| msgpack::encode(&value, ty))
        .ok()
}

fn typed_values() -> impl Strategy<Value = (Type, Value)> {
    types().prop_flat_map(|ty| {
        let values = value_of(&ty);
        (Just(ty), values)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(ty in types(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = msgpack::decode(&bytes, &ty);
        let _ = json::decode(&bytes, &ty);
    }

    #[test]
    fn encodings_round_trip_and_corruption_never_panics(
        (ty, value) in typed_values(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        for (encode, decode) in [
            (msgpack::encode as fn(&Value, &Type) -> _, msgpack::decode as fn(&[u8], &Type) -> _),
            (json::encode, json::decode),
        ] {
            let Ok(bytes) = encode(&value, &ty) else { continue };
            if let Ok(back) = decode(&bytes, &ty) {
                prop_assert!(back.equivalent(&value), "{value:?} came back as {back:?}");
            }
            if !bytes.is_empty() {
                let _ = decode(&bytes[..cut.index(bytes.len())], &ty);
                let mut flipped = bytes.clone();
                flipped[flip.index(bytes.len())] = byte;
                let _ = decode(&flipped, &ty);
            }
        }
    }

    #[test]
    fn json_copied_to_msgpack_is_what_a_value_would_write(
        (ty, value) in typed_values(),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let Ok(bytes) = json::encode(&value, &ty) else { return Ok(()) };
        let copied = json::to_msgpack(&bytes, &ty);
        // What the encoder writes is always copied across, unless the type has a part the
        // copy leaves to the full path.
        prop_assert!(copied.is_some() || !copyable(&ty), "{ty:?} {value:?} was not copied");
        if let Some(copied) = copied {
            prop_assert_eq!(Some(copied), through_a_value(&bytes, &ty));
        }
        // Cut or damaged JSON: copied only when the full path reads the same from it.
        let mut flipped = bytes.clone();
        if !flipped.is_empty() {
            flipped[flip.index(bytes.len())] = byte;
        }
        for damaged in [&bytes[..cut.index(bytes.len().max(1))], &flipped[..]] {
            if let Some(copied) = json::to_msgpack(damaged, &ty) {
                prop_assert_eq!(Some(copied), through_a_value(damaged, &ty), "{:?}", String::from_utf8_lossy(damaged));
            }
        }
    }
}
