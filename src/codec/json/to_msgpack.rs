//! cty JSON straight to msgpack, for a state that needs no upgrade.
//!
//! UpgradeResourceState gets every resource's stored state as JSON and answers it as
//! msgpack, three times per key in a destroy (refresh, plan and apply each start a provider).
//! Through a value, that took 29 K instructions per state: the JSON parsed to a tree (13 K),
//! the tree made a value (8 K), the value written (7 K), then freed (callgrind, issue 10).
//! Terraform writes state JSON with every attribute, in order, so most states can be copied
//! across item by item. [`to_msgpack`] does that, and gives up (`None`) on anything else:
//! a `dynamic` or tuple type, an attribute missing, extra or out of order, a map's keys out
//! of order, a value of another JSON kind than its type's (which the full path converts), or
//! malformed JSON. The caller then takes the full path, which gives the same bytes or the
//! error; a property test holds the two to the same answer on any input.

use std::borrow::Cow;

use super::parse::Parser;
use crate::codec::msgpack::encode::{write_array_len, write_map_len, write_number, write_str};
use crate::codec::{CodecError, Number, Trail, Type};

/// The msgpack of the JSON `bytes` as type `ty`, when it can be copied across as it stands;
/// `None` when the full path must decide.
pub fn to_msgpack(bytes: &[u8], ty: &Type) -> Option<Vec<u8>> {
    let mut parser = Parser::new(bytes);
    let mut out = Vec::with_capacity(bytes.len());
    item(&mut parser, ty, &mut out)?;
    parser.skip_whitespace();
    parser.at_end().then_some(out)
}

/// Copies the item at the reader, of type `ty`, to `out`. The recursion follows the type,
/// which has no `dynamic` part here, so it is as deep as the schema and no deeper.
fn item<'a>(parser: &mut Parser<'a>, ty: &Type, out: &mut Vec<u8>) -> Option<()> {
    parser.skip_whitespace();
    let root = &Trail::Root;
    match (parser.peek()?, ty) {
        (b'n', _) => {
            parser.eat_word("null").then_some(())?;
            out.push(0xc0);
        }
        (_, Type::Dynamic | Type::Tuple(_)) => return None,
        (b'"', Type::String) => write_str(out, &parser.text().ok()?, root).ok()?,
        (b'-' | b'0'..=b'9', Type::Number) => {
            let text = parser.number().ok()?;
            write_number(out, &Number::parse(&text)?, root).ok()?;
        }
        (b't', Type::Bool) => {
            parser.eat_word("true").then_some(())?;
            out.push(0xc3);
        }
        (b'f', Type::Bool) => {
            parser.eat_word("false").then_some(())?;
            out.push(0xc2);
        }
        (b'[', Type::List(element) | Type::Set(element)) => {
            parser.eat(b'[');
            let start = out.len();
            let mut count = 0;
            let mut more = !closes(parser, b']');
            while more {
                item(parser, element, out)?;
                count += 1;
                more = next(parser, b']')?;
            }
            head_before(out, start, write_array_len, count)?;
        }
        (b'{', Type::Map(element)) => {
            parser.eat(b'{');
            let start = out.len();
            let mut count = 0;
            let mut last: Option<Cow<'a, str>> = None;
            let mut more = !closes(parser, b'}');
            while more {
                let key = member_name(parser)?;
                // In strictly increasing order, as the map a value would hold writes them.
                if last.as_deref().is_some_and(|last| last >= &*key) {
                    return None;
                }
                write_str(out, &key, root).ok()?;
                item(parser, element, out)?;
                last = Some(key);
                count += 1;
                more = next(parser, b'}')?;
            }
            head_before(out, start, write_map_len, count)?;
        }
        (b'{', Type::Object(attr_types)) => {
            parser.eat(b'{');
            write_map_len(out, attr_types.len(), root).ok()?;
            let mut more = !closes(parser, b'}');
            for (name, attr_type) in attr_types {
                // Every attribute, in the type's order.
                if !more || !is_member(parser, name)? {
                    return None;
                }
                write_str(out, name, root).ok()?;
                item(parser, attr_type, out)?;
                more = next(parser, b'}')?;
            }
            if more {
                return None;
            }
        }
        _ => return None,
    }
    Some(())
}

/// The signature of the msgpack writers of array and map headers.
type WriteLen = fn(&mut Vec<u8>, usize, &Trail<'_>) -> Result<(), CodecError>;

/// Puts the header of a collection of `count` items, written by `write_len`, before the
/// items written from `start` on (their number is known only once they are read).
fn head_before(out: &mut Vec<u8>, start: usize, write_len: WriteLen, count: usize) -> Option<()> {
    let mut head = Vec::with_capacity(5);
    write_len(&mut head, count, &Trail::Root).ok()?;
    out.splice(start..start, head);
    Some(())
}

/// Whether the collection just opened closes at once (reading the `close` if so).
fn closes(parser: &mut Parser<'_>, close: u8) -> bool {
    parser.skip_whitespace();
    parser.eat(close)
}

/// After an element: `Some(true)` past a comma, `Some(false)` past the `close`.
fn next(parser: &mut Parser<'_>, close: u8) -> Option<bool> {
    parser.skip_whitespace();
    if parser.eat(b',') {
        Some(true)
    } else if parser.eat(close) {
        Some(false)
    } else {
        None
    }
}

/// Whether the next member is `name` (reading its name and colon). Terraform spells names
/// plainly, so that is tried first: a twentieth of the instructions of reading the name and
/// comparing it (callgrind, issue 10: 415 per member of an UpgradeResourceState, 15 per key).
fn is_member(parser: &mut Parser<'_>, name: &str) -> Option<bool> {
    parser.skip_whitespace();
    if parser.eat_plain_string(name) {
        parser.skip_whitespace();
        return parser.eat(b':').then_some(true);
    }
    Some(member_name(parser)? == name)
}

/// A member's name and the colon after it.
fn member_name<'a>(parser: &mut Parser<'a>) -> Option<Cow<'a, str>> {
    parser.skip_whitespace();
    if parser.peek() != Some(b'"') {
        return None;
    }
    let name = parser.text().ok()?;
    parser.skip_whitespace();
    parser.eat(b':').then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{json, msgpack};
    use std::collections::BTreeMap;

    fn ty() -> Type {
        Type::Object(BTreeMap::from([
            ("id".to_string(), Type::String),
            ("n".to_string(), Type::Number),
            ("on".to_string(), Type::Bool),
            ("roles".to_string(), Type::set(Type::String)),
            ("tags".to_string(), Type::map(Type::list(Type::String))),
        ]))
    }

    fn through_a_value(bytes: &str, ty: &Type) -> Vec<u8> {
        let value = json::decode(bytes.as_bytes(), ty).unwrap();
        msgpack::encode(&value, ty).unwrap()
    }

    #[test]
    fn a_state_as_terraform_writes_it_is_copied_across() {
        let state = r#"{"id":"k-\"1\"","n":-12.5,"on":true,"roles":["A","B"],"tags":{"a":[],"b":["x\ny",null]}}"#;
        let copied = to_msgpack(state.as_bytes(), &ty()).expect("copied");
        assert_eq!(copied, through_a_value(state, &ty()));
        let nulls = r#"{"id":null,"n":null,"on":false,"roles":null,"tags":{}}"#;
        assert_eq!(
            to_msgpack(nulls.as_bytes(), &ty()),
            Some(through_a_value(nulls, &ty()))
        );
        assert_eq!(to_msgpack(b" null ", &ty()), Some(vec![0xc0]));
        // Names spelt with escapes or spaced out read as the plain ones do.
        let spelt = r#"{ "\u0069d" : "a", "n":1, "o\u006e":true, "roles" :[], "tags": {} }"#;
        let plain = r#"{"id":"a","n":1,"on":true,"roles":[],"tags":{}}"#;
        assert_eq!(
            to_msgpack(spelt.as_bytes(), &ty()),
            Some(through_a_value(plain, &ty()))
        );
        // A name cut short or run on is another name.
        for other in [
            r#"{"i":"a","n":1,"on":true,"roles":[],"tags":{}}"#,
            r#"{"idx":"a","n":1,"on":true,"roles":[],"tags":{}}"#,
            r#"{"id"#,
        ] {
            assert_eq!(to_msgpack(other.as_bytes(), &ty()), None, "{other}");
        }
    }

    #[test]
    fn what_a_value_would_reorder_convert_or_refuse_is_left_to_it() {
        for state in [
            // Out of order, missing, extra or repeated attributes.
            r#"{"n":1,"id":"a","on":true,"roles":[],"tags":{}}"#,
            r#"{"id":"a","n":1,"on":true,"roles":[]}"#,
            r#"{"id":"a","n":1,"on":true,"roles":[],"tags":{},"zz":1}"#,
            r#"{"id":"a","id":"b","n":1,"on":true,"roles":[],"tags":{}}"#,
            // A map's keys out of order or repeated.
            r#"{"id":"a","n":1,"on":true,"roles":[],"tags":{"b":[],"a":[]}}"#,
            r#"{"id":"a","n":1,"on":true,"roles":[],"tags":{"a":[],"a":["x"]}}"#,
            // Kinds the full path converts: a number as a string, a string from a bool.
            r#"{"id":true,"n":"1","on":"true","roles":[],"tags":{}}"#,
        ] {
            assert_eq!(to_msgpack(state.as_bytes(), &ty()), None, "{state}");
            // The full path reads each of them.
            json::decode(state.as_bytes(), &ty()).unwrap();
        }
        for broken in [
            "",
            "{",
            r#"{"id":"a","n":1,"on":true,"roles":[],"tags":{}} x"#,
            r#"{"id":"a","n":01,"on":true,"roles":[],"tags":{}}"#,
            r#"{"id":"a","n":1,"on":tru,"roles":[],"tags":{}}"#,
            r#"{"id":"a","n":1,"on":true,"roles":[,],"tags":{}}"#,
        ] {
            assert_eq!(to_msgpack(broken.as_bytes(), &ty()), None, "{broken}");
        }
        assert_eq!(
            to_msgpack(br#"{"value":1,"type":"number"}"#, &Type::Dynamic),
            None
        );
    }
}
