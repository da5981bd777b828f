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
//! reserved marker `0xc1` reads as `nil` (as rmpv, which this module used before, does);
//! go-cty would reject it.
//!
//! Reading is two passes over the bytes, neither of which builds a msgpack tree: the first
//! checks that they are exactly one well-formed value within the nesting budget (so that
//! malformed input is refused as such, wherever a type mismatch might come first), the
//! second reads the value as its type. Writing goes straight to bytes. Paths are built only
//! for errors. (The tree, and a path per attribute, were most of the provider's CPU per
//! RPC: callgrind, issue 10.)

mod encode;
#[cfg(test)]
mod reference;

use std::collections::BTreeMap;

use super::{AttributePath, CodecError, Number, Trail, Type, Value};

const FORMAT: &str = "msgpack";

/// The nesting budget: one unit per value and one more per array, map, string or binary
/// body (and two per string or extension body), as rmpv counted it. This allows about 100
/// levels of arrays and maps, far beyond any schema, while keeping recursion well inside a
/// 2 MiB thread stack.
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
    let mut check = Reader::new(bytes);
    check
        .skip(u16::try_from(MAX_DEPTH).unwrap_or(u16::MAX))
        .map_err(|e| CodecError::malformed(FORMAT, &AttributePath::root(), e.message()))?;
    if !check.rest().is_empty() {
        return Err(CodecError::malformed(
            FORMAT,
            &AttributePath::root(),
            format!("{} trailing bytes after the value", check.rest().len()),
        ));
    }
    Reader::new(bytes).value(ty, &Trail::Root)
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
    let mut out = Vec::with_capacity(256);
    encode::write(value, ty, &Trail::Root, &mut out)?;
    Ok(out)
}

/// Why bytes are not one well-formed msgpack value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    /// The bytes end inside a value.
    Truncated,
    /// The nesting budget ran out.
    TooDeep,
}

impl Malformed {
    fn message(self) -> &'static str {
        match self {
            Malformed::Truncated => "truncated input",
            Malformed::TooDeep => "value nested too deeply",
        }
    }
}

/// One step down the nesting budget.
fn deeper(depth: u16) -> Result<u16, Malformed> {
    depth.checked_sub(1).ok_or(Malformed::TooDeep)
}

/// One msgpack item as read: a scalar whole, a string, binary or extension with its body,
/// an array or map with its length (its elements follow).
#[derive(Debug, Clone, Copy)]
enum Head<'a> {
    Nil,
    Bool(bool),
    /// Any integer marker, unsigned.
    Uint(u64),
    /// Any integer marker, signed.
    Int(i64),
    F32(f32),
    F64(f64),
    Str(&'a [u8]),
    Bin(&'a [u8]),
    Array(usize),
    Map(usize),
    Ext,
}

impl Head<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Head::Nil => "nil",
            Head::Bool(_) => "bool",
            Head::Uint(_) | Head::Int(_) => "integer",
            Head::F32(_) | Head::F64(_) => "float",
            Head::Str(_) => "string",
            Head::Bin(_) => "binary",
            Head::Array(_) => "array",
            Head::Map(_) => "map",
            Head::Ext => "extension",
        }
    }
}

/// A cursor over msgpack bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        let end = self.pos.checked_add(len).ok_or(Malformed::Truncated)?;
        let taken = self.bytes.get(self.pos..end).ok_or(Malformed::Truncated)?;
        self.pos = end;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        let byte = *self.bytes.get(self.pos).ok_or(Malformed::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// A big-endian length of 1, 2 or 4 bytes.
    fn len(&mut self, size: usize) -> Result<usize, Malformed> {
        let n = match size {
            1 => u32::from(self.byte()?),
            2 => u32::from(u16::from_be_bytes(self.array()?)),
            _ => u32::from_be_bytes(self.array()?),
        };
        usize::try_from(n).map_err(|_| Malformed::Truncated)
    }

    /// Pass one: skips one value, checking that it is complete and within `depth`, spending
    /// the budget exactly as rmpv's reader did (so the same inputs are refused as too deep).
    fn skip(&mut self, depth: u16) -> Result<(), Malformed> {
        let depth = deeper(depth)?;
        let marker = self.byte()?;
        match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0..=0xc3 => Ok(()),
            0xcc | 0xd0 => self.take(1).map(drop),
            0xcd | 0xd1 => self.take(2).map(drop),
            0xca | 0xce | 0xd2 => self.take(4).map(drop),
            0xcb | 0xcf | 0xd3 => self.take(8).map(drop),
            0xa0..=0xbf => self.skip_str(usize::from(marker & 0x1f), depth),
            0xd9 => {
                let len = self.len(1)?;
                self.skip_str(len, depth)
            }
            0xda => {
                let len = self.len(2)?;
                self.skip_str(len, depth)
            }
            0xdb => {
                let len = self.len(4)?;
                self.skip_str(len, depth)
            }
            0xc4 => {
                let len = self.len(1)?;
                self.skip_bin(len, depth)
            }
            0xc5 => {
                let len = self.len(2)?;
                self.skip_bin(len, depth)
            }
            0xc6 => {
                let len = self.len(4)?;
                self.skip_bin(len, depth)
            }
            0xd4 => self.skip_ext(1, depth),
            0xd5 => self.skip_ext(2, depth),
            0xd6 => self.skip_ext(4, depth),
            0xd7 => self.skip_ext(8, depth),
            0xd8 => self.skip_ext(16, depth),
            0xc7 => {
                let len = self.len(1)?;
                self.skip_ext(len, depth)
            }
            0xc8 => {
                let len = self.len(2)?;
                self.skip_ext(len, depth)
            }
            0xc9 => {
                let len = self.len(4)?;
                self.skip_ext(len, depth)
            }
            0x90..=0x9f => self.skip_items(usize::from(marker & 0x0f), depth),
            0xdc => {
                let len = self.len(2)?;
                self.skip_items(len, depth)
            }
            0xdd => {
                let len = self.len(4)?;
                self.skip_items(len, depth)
            }
            0x80..=0x8f => self.skip_items(usize::from(marker & 0x0f).saturating_mul(2), depth),
            0xde => {
                let len = self.len(2)?;
                self.skip_items(len.saturating_mul(2), depth)
            }
            0xdf => {
                let len = self.len(4)?;
                self.skip_items(len.saturating_mul(2), depth)
            }
        }
    }

    fn skip_str(&mut self, len: usize, depth: u16) -> Result<(), Malformed> {
        let depth = deeper(depth)?;
        self.skip_bin(len, depth)
    }

    fn skip_bin(&mut self, len: usize, depth: u16) -> Result<(), Malformed> {
        deeper(depth)?;
        self.take(len).map(drop)
    }

    fn skip_ext(&mut self, len: usize, depth: u16) -> Result<(), Malformed> {
        let depth = deeper(depth)?;
        self.take(1)?;
        self.skip_bin(len, depth)
    }

    fn skip_items(&mut self, count: usize, depth: u16) -> Result<(), Malformed> {
        let depth = deeper(depth)?;
        for _ in 0..count {
            self.skip(depth)?;
        }
        Ok(())
    }

    /// Reads one item's head (and the body of a string, binary or extension).
    fn head(&mut self) -> Result<Head<'a>, Malformed> {
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Head::Uint(u64::from(marker)),
            0xe0..=0xff => Head::Int(i64::from(i8::from_be_bytes([marker]))),
            0xc0 | 0xc1 => Head::Nil,
            0xc2 => Head::Bool(false),
            0xc3 => Head::Bool(true),
            0xcc => Head::Uint(u64::from(self.byte()?)),
            0xcd => Head::Uint(u64::from(u16::from_be_bytes(self.array()?))),
            0xce => Head::Uint(u64::from(u32::from_be_bytes(self.array()?))),
            0xcf => Head::Uint(u64::from_be_bytes(self.array()?)),
            0xd0 => Head::Int(i64::from(i8::from_be_bytes(self.array()?))),
            0xd1 => Head::Int(i64::from(i16::from_be_bytes(self.array()?))),
            0xd2 => Head::Int(i64::from(i32::from_be_bytes(self.array()?))),
            0xd3 => Head::Int(i64::from_be_bytes(self.array()?)),
            0xca => Head::F32(f32::from_be_bytes(self.array()?)),
            0xcb => Head::F64(f64::from_be_bytes(self.array()?)),
            0xa0..=0xbf => Head::Str(self.take(usize::from(marker & 0x1f))?),
            0xd9..=0xdb => {
                let len = self.len(1 << (marker - 0xd9))?;
                Head::Str(self.take(len)?)
            }
            0xc4..=0xc6 => {
                let len = self.len(1 << (marker - 0xc4))?;
                Head::Bin(self.take(len)?)
            }
            0xd4..=0xd8 => {
                self.take(1 + (1 << (marker - 0xd4)))?;
                Head::Ext
            }
            0xc7..=0xc9 => {
                let len = self.len(1 << (marker - 0xc7))?;
                self.take(1)?;
                self.take(len)?;
                Head::Ext
            }
            0x90..=0x9f => Head::Array(usize::from(marker & 0x0f)),
            0xdc => Head::Array(self.len(2)?),
            0xdd => Head::Array(self.len(4)?),
            0x80..=0x8f => Head::Map(usize::from(marker & 0x0f)),
            0xde => Head::Map(self.len(2)?),
            0xdf => Head::Map(self.len(4)?),
        })
    }

    /// A head in pass two, where the bytes are known to be well formed.
    fn head_at(&mut self, path: &Trail<'_>) -> Result<Head<'a>, CodecError> {
        self.head()
            .map_err(|e| CodecError::malformed(FORMAT, &path.path(), e.message()))
    }

    /// Room for `count` elements, but no more than the bytes left could hold.
    fn capacity(&self, count: usize) -> usize {
        count.min(self.rest().len())
    }

    /// Pass two: reads one value as type `ty`.
    fn value(&mut self, ty: &Type, path: &Trail<'_>) -> Result<Value, CodecError> {
        let head = self.head_at(path)?;
        self.typed(head, ty, path)
    }

    fn typed(&mut self, head: Head<'a>, ty: &Type, path: &Trail<'_>) -> Result<Value, CodecError> {
        let mismatch = |head: Head<'_>| CodecError::mismatch(&path.path(), ty, head.kind());
        match (head, ty) {
            (Head::Nil, _) => Ok(Value::Null),
            (Head::Ext, _) => Ok(Value::Unknown),
            (_, Type::Dynamic) => self.dynamic(head, path),
            (Head::Str(bytes) | Head::Bin(bytes), Type::String) => std::str::from_utf8(bytes)
                .map(|s| Value::String(s.to_owned()))
                .map_err(|_| malformed(path, "string is not valid utf-8")),
            (Head::Bool(b), Type::Bool) => Ok(Value::Bool(b)),
            (_, Type::Number) => number(head, path)
                .ok_or_else(|| mismatch(head))?
                .map(Value::Number),
            (Head::Array(count), Type::List(element)) => {
                self.items(count, element, path).map(Value::List)
            }
            (Head::Array(count), Type::Set(element)) => {
                self.items(count, element, path).map(Value::Set)
            }
            (Head::Array(count), Type::Tuple(types)) => {
                if count != types.len() {
                    return Err(CodecError::mismatch(
                        &path.path(),
                        format!("a tuple of {} elements", types.len()),
                        format!("an array of {count} elements"),
                    ));
                }
                let mut items = Vec::with_capacity(count);
                for (i, ty) in types.iter().enumerate() {
                    items.push(self.value(ty, &path.index(i))?);
                }
                Ok(Value::Tuple(items))
            }
            (Head::Map(count), Type::Map(element)) => {
                let mut entries = Entries::with_capacity(self.capacity(count));
                for _ in 0..count {
                    let key = self.map_key(path)?;
                    let item = self.value(element, &path.key(key))?;
                    entries
                        .insert(key, item)
                        .map_err(|()| duplicate(path, key))?;
                }
                Ok(Value::Map(entries.into_map()))
            }
            (Head::Map(count), Type::Object(attr_types)) => {
                let mut attrs = Entries::with_capacity(self.capacity(count).min(attr_types.len()));
                // Terraform sends attributes sorted, as the type's are: find each key's type
                // by walking both in step, and look it up only when a key is out of order.
                let mut in_step = attr_types.iter().peekable();
                for _ in 0..count {
                    let key = self.map_key(path)?;
                    while in_step.next_if(|(name, _)| name.as_str() < key).is_some() {}
                    let attr_type = match in_step.next_if(|(name, _)| name.as_str() == key) {
                        Some((_, ty)) => Some(ty),
                        None => attr_types.get(key),
                    };
                    let Some(attr_type) = attr_type else {
                        return Err(CodecError::unsupported(&path.path(), key));
                    };
                    let item = self.value(attr_type, &path.attr(key))?;
                    attrs.insert(key, item).map_err(|()| duplicate(path, key))?;
                }
                if attrs.len() != attr_types.len() {
                    return Err(CodecError::attribute_count(
                        &path.path(),
                        attr_types.len(),
                        attrs.len(),
                    ));
                }
                Ok(Value::Object(attrs.into_map()))
            }
            (head, _) => Err(mismatch(head)),
        }
    }

    fn items(
        &mut self,
        count: usize,
        ty: &Type,
        path: &Trail<'_>,
    ) -> Result<Vec<Value>, CodecError> {
        let mut items = Vec::with_capacity(self.capacity(count));
        for i in 0..count {
            items.push(self.value(ty, &path.index(i))?);
        }
        Ok(items)
    }

    fn map_key(&mut self, path: &Trail<'_>) -> Result<&'a str, CodecError> {
        match self.head_at(path)? {
            Head::Str(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| malformed(path, "map key is not valid utf-8")),
            other => Err(malformed(
                path,
                format!("map key must be a string, found {}", other.kind()),
            )),
        }
    }

    /// A known `dynamic` value: `[type JSON as bin (or str), value]`.
    fn dynamic(&mut self, head: Head<'a>, path: &Trail<'_>) -> Result<Value, CodecError> {
        let count = match head {
            Head::Array(count) => count,
            other => {
                return Err(malformed(
                    path,
                    format!(
                        "a dynamic value must be a 2-element array, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        if count != 2 {
            return Err(malformed(
                path,
                format!("a dynamic value must be a 2-element array, found {count} elements"),
            ));
        }
        let type_json = match self.head_at(path)? {
            Head::Bin(bytes) | Head::Str(bytes) => bytes,
            other => {
                return Err(malformed(
                    path,
                    format!("dynamic type must be bytes, found {}", other.kind()),
                ))
            }
        };
        let ty = Type::from_json(type_json)
            .map_err(|e| malformed(path, format!("dynamic type: {e}")))?;
        self.value(&ty, path)
    }
}

/// The entries of a map or object as they are read: a vector while the keys come sorted
/// (as Terraform sends them), built into a map in one go at the end; a map, inserted into
/// one by one, from the first key out of order. (Inserting every entry was the largest part
/// of reading an object: callgrind, issue 10.)
enum Entries {
    Sorted(Vec<(String, Value)>),
    Unsorted(BTreeMap<String, Value>),
}

impl Entries {
    fn with_capacity(capacity: usize) -> Self {
        Entries::Sorted(Vec::with_capacity(capacity))
    }

    fn len(&self) -> usize {
        match self {
            Entries::Sorted(entries) => entries.len(),
            Entries::Unsorted(entries) => entries.len(),
        }
    }

    /// Adds an entry; `Err` when the key is already there.
    fn insert(&mut self, key: &str, value: Value) -> Result<(), ()> {
        if let Entries::Sorted(entries) = self {
            match entries.last() {
                Some((last, _)) if last.as_str() >= key => {
                    *self = Entries::Unsorted(std::mem::take(entries).into_iter().collect());
                }
                _ => {
                    entries.push((key.to_owned(), value));
                    return Ok(());
                }
            }
        }
        match self {
            Entries::Unsorted(entries) => match entries.insert(key.to_owned(), value) {
                Some(_) => Err(()),
                None => Ok(()),
            },
            Entries::Sorted(_) => Err(()),
        }
    }

    fn into_map(self) -> BTreeMap<String, Value> {
        match self {
            // Keys strictly increasing: the map is built without a search per entry.
            Entries::Sorted(entries) => entries.into_iter().collect(),
            Entries::Unsorted(entries) => entries,
        }
    }
}

/// A number from any msgpack integer, float or decimal string; `None` for other kinds.
fn number(head: Head<'_>, path: &Trail<'_>) -> Option<Result<Number, CodecError>> {
    let number = match head {
        Head::Uint(u) => match i64::try_from(u) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Big(u.to_string()),
        },
        Head::Int(i) => Number::Int(i),
        Head::F32(f) => Number::Float(f64::from(f)),
        Head::F64(f) => Number::Float(f),
        Head::Str(bytes) => {
            let message = match std::str::from_utf8(bytes) {
                Ok(text) => match Number::parse(text) {
                    Some(number) => return Some(Ok(number)),
                    // The text is left out: it may be a secret in the wrong place.
                    None => {
                        return Some(Err(CodecError::mismatch(
                            &path.path(),
                            Type::Number,
                            "a string that is not a number",
                        )))
                    }
                },
                Err(_) => "string is not valid utf-8",
            };
            return Some(Err(malformed(path, message)));
        }
        _ => return None,
    };
    if matches!(number, Number::Float(f) if f.is_nan()) {
        return Some(Err(malformed(path, "nan is not a number")));
    }
    Some(Ok(number))
}

fn malformed(path: &Trail<'_>, message: impl Into<String>) -> CodecError {
    CodecError::malformed(FORMAT, &path.path(), message)
}

fn duplicate(path: &Trail<'_>, key: &str) -> CodecError {
    malformed(path, format!("duplicate key {key:?}"))
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

/// The two-pass reader and the direct writer against the rmpv-based ones they replaced.
#[cfg(test)]
mod same_as_rmpv {
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
            out.push((Value::String("x".repeat(len)), Type::String));
        }
        for len in [0, 15, 16, 65_535, 65_536] {
            out.push((
                Value::List((0..len).map(|i| Value::from(i as i64)).collect()),
                Type::list(Type::Number),
            ));
            out.push((
                Value::Map(
                    (0..len.min(300))
                        .map(|i| (format!("k{i}"), Value::Bool(i % 2 == 0)))
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
        for depth in 60..80 {
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
        deep_types.push((0..70).fold(Type::String, |ty, _| Type::list(ty)));
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
}
