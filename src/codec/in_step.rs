//! An object value's attributes against its type's, walked in step.
//!
//! Both are sorted by name, so one pass over each pairs them with one comparison per step,
//! where looking every name up in the other map searched it per attribute. (Those
//! searches were most of encoding an object: callgrind, issue 10.)

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::iter::Peekable;

use super::{Entries, Type, Value};

/// What an attribute absent from the value is taken as.
static NULL: Value = Value::Null;

/// Advances `sorted` (entries in strictly increasing name order) past the names before
/// `name`, and takes the entry of that name when it is next; `None` leaves `sorted` at the
/// first name after it. One comparison of bytes per step: the order of UTF-8 bytes is the
/// order of `str`, so `name` need not be checked to be UTF-8 first.
pub(crate) fn seek<'a, N, T>(
    sorted: &mut Peekable<impl Iterator<Item = (&'a N, T)>>,
    name: &[u8],
) -> Option<(&'a N, T)>
where
    N: AsRef<str> + ?Sized + 'a,
{
    while let Some((next, _)) = sorted.peek() {
        match next.as_ref().as_bytes().cmp(name) {
            Ordering::Less => {
                sorted.next();
            }
            Ordering::Equal => return sorted.next(),
            Ordering::Greater => return None,
        }
    }
    None
}

/// Whether `attrs` has exactly the names of `types`, as every object decoded from its type
/// has: one comparison of names per attribute, with no search.
fn same_names<T>(attrs: &Entries, types: &BTreeMap<String, T>) -> bool {
    attrs.len() == types.len()
        && attrs
            .keys()
            .zip(types.keys())
            .all(|(key, name)| key.as_str() == name.as_str())
}

/// The first (smallest) of `attrs`' names that `types` lacks. An object with exactly its
/// type's names, the usual one, is settled by comparing them in step (searching was a third
/// of every encode: callgrind, issue 10).
pub(crate) fn first_extra<'a, T>(
    attrs: &'a Entries,
    types: &BTreeMap<String, T>,
) -> Option<&'a str> {
    if same_names(attrs, types) {
        return None;
    }
    let mut names = types.iter().peekable();
    attrs
        .keys()
        .find(|key| seek(&mut names, key.as_bytes()).is_none())
        .map(|key| key.as_str())
}

/// Every attribute of `types` with its value in `attrs` (null when absent), in name order.
/// Names `types` lacks are skipped: check them with [`first_extra`] first.
pub(crate) fn attributes<'a>(
    attrs: &'a Entries,
    types: &'a BTreeMap<String, Type>,
) -> impl Iterator<Item = (&'a str, &'a Value, &'a Type)> {
    let mut values = attrs.iter().peekable();
    types.iter().map(move |(name, ty)| {
        let value = seek(&mut values, name.as_bytes()).map_or(&NULL, |(_, value)| value);
        (name.as_str(), value, ty)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Key;

    fn object(names: &[&str]) -> Entries {
        names
            .iter()
            .map(|n| (Key::from(*n), Value::from(*n)))
            .collect()
    }

    fn types(names: &[&str]) -> BTreeMap<String, Type> {
        names
            .iter()
            .map(|n| ((*n).to_owned(), Type::String))
            .collect()
    }

    #[test]
    fn pairs_every_attribute_of_the_type_with_its_value_or_null() {
        let attrs = object(&["b", "d", "zz"]);
        let types = types(&["a", "b", "c", "d", "e"]);
        let paired: Vec<_> = attributes(&attrs, &types)
            .map(|(name, value, _)| (name, value.as_str()))
            .collect();
        assert_eq!(
            paired,
            [
                ("a", None),
                ("b", Some("b")),
                ("c", None),
                ("d", Some("d")),
                ("e", None)
            ]
        );
    }

    #[test]
    fn finds_the_smallest_name_the_type_lacks() {
        let types = types(&["b", "d"]);
        assert_eq!(first_extra(&object(&[]), &types), None);
        assert_eq!(first_extra(&object(&["b", "d"]), &types), None);
        assert_eq!(first_extra(&object(&["d"]), &types), None);
        assert_eq!(first_extra(&object(&["a", "b", "z"]), &types), Some("a"));
        assert_eq!(first_extra(&object(&["b", "c", "z"]), &types), Some("c"));
        assert_eq!(first_extra(&object(&["b", "d", "e"]), &types), Some("e"));
        assert_eq!(
            first_extra(&object(&["x"]), &BTreeMap::<String, Type>::new()),
            Some("x")
        );
    }

    #[test]
    fn agrees_with_looking_each_name_up() {
        // Every subset of five names as the value's, against every subset as the type's.
        let all = ["a", "ab", "b", "ba", "c"];
        let subset = |bits: u32| -> Vec<&str> {
            all.iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, n)| *n)
                .collect()
        };
        for a in 0..32 {
            for t in 0..32 {
                let (attrs, types) = (object(&subset(a)), types(&subset(t)));
                let looked_up = attrs.keys().find(|k| !types.contains_key(k.as_str()));
                assert_eq!(first_extra(&attrs, &types), looked_up.map(Key::as_str));
                let paired: Vec<_> = attributes(&attrs, &types).map(|(n, v, _)| (n, v)).collect();
                let expected: Vec<_> = types
                    .keys()
                    .map(|n| (n.as_str(), attrs.get(n.as_str()).unwrap_or(&NULL)))
                    .collect();
                assert_eq!(paired, expected);
                assert_eq!(same_names(&attrs, &types), a == t, "{a} {t}");
            }
        }
    }
}
