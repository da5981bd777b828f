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

pub(in crate::codec) mod encode;
#[cfg(test)]
mod reference;

use super::{in_step, AttributePath, CodecError, Entries, Key, Number, Trail, Type, Value};

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
    // One pass is enough when it succeeds: it reads no `dynamic` part (whose values bring
    // their own types) and opens at most BOUNDED_LEVELS collections, so a value it reads
    // whole is complete and far within the nesting budget. Anything else is read again in
    // two passes below, so that errors come out the same.
    let mut reader = Reader::one_pass(bytes);
    if let Ok(value) = reader.value(ty, &Trail::Root) {
        if reader.rest().is_empty() {
            return Ok(value);
        }
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
    // Room for a resource's state at once (from 256, a key's grew twice per encode); the
    // bytes are copied into the gRPC message, so the room is not kept.
    let mut out = Vec::with_capacity(1024);
    encode::write(value, ty, &Trail::Root, &mut out)?;
    Ok(out)
}

/// How many collections, objects or tuples one pass opens, nested, before it leaves the
/// value to two: a value nested this deep spends at most `2 × 90 + 3` units of the budget
/// (two per array or map, three for a string at the bottom), within [`MAX_DEPTH`].
///
/// The one pass counts as it reads. It used to check the whole type first (no `dynamic`, no
/// deeper than this), which was 1.2 K instructions per decode, 2 % of an apply (callgrind,
/// 300 keys, issue 10).
const BOUNDED_LEVELS: usize = 90;

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
    /// In a one-pass read, how many more collections, objects or tuples may open; `None` in
    /// the second of two passes, whose first has bounded the nesting.
    levels: Option<usize>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            levels: None,
        }
    }

    /// A reader for the one pass, which gives up on a `dynamic` part or past
    /// [`BOUNDED_LEVELS`].
    fn one_pass(bytes: &'a [u8]) -> Self {
        Reader {
            levels: Some(BOUNDED_LEVELS),
            ..Reader::new(bytes)
        }
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

    /// Reads one value as type `ty`. In the one pass, a `dynamic` part or a collection past
    /// [`BOUNDED_LEVELS`] is an error, which leaves the value to two passes.
    fn value(&mut self, ty: &Type, path: &Trail<'_>) -> Result<Value, CodecError> {
        if let Some(levels) = self.levels {
            let leave = || malformed(path, "left to two passes");
            match ty {
                Type::Dynamic => return Err(leave()),
                Type::List(_) | Type::Set(_) | Type::Map(_) | Type::Object(_) | Type::Tuple(_) => {
                    self.levels = Some(levels.checked_sub(1).ok_or_else(leave)?);
                    let value = self
                        .head_at(path)
                        .and_then(|head| self.typed(head, ty, path));
                    self.levels = Some(levels);
                    return value;
                }
                Type::String | Type::Number | Type::Bool => {}
            }
        }
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
                .map(|s| Value::String(s.into()))
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
                    add(&mut entries, key, item).map_err(|()| duplicate(path, key))?;
                }
                Ok(Value::Map(entries))
            }
            (Head::Map(count), Type::Object(attr_types)) => {
                // Terraform sends attributes sorted, as the type's are: find each key's type
                // by walking both in step, comparing bytes (a key equal to a name is valid
                // UTF-8), and look it up only when a key is out of order. Keys in step are
                // strictly increasing, so their entries are pushed as they come; from the
                // first key out of order on, each is added in its place.
                let mut sorted = Vec::with_capacity(self.capacity(count).min(attr_types.len()));
                let mut unsorted: Option<Entries> = None;
                let mut in_step = attr_types.iter().peekable();
                for _ in 0..count {
                    let raw = self.map_key_bytes(path)?;
                    let (key, attr_type) = match in_step::seek(&mut in_step, raw) {
                        Some((name, ty)) => (name.as_str(), ty),
                        None => {
                            let key = utf8_key(raw, path)?;
                            let Some(ty) = attr_types.get(key) else {
                                return Err(CodecError::unsupported(&path.path(), key));
                            };
                            if unsorted.is_none() {
                                let entries = std::mem::take(&mut sorted);
                                unsorted = Some(Entries::from_sorted_store_unchecked(entries));
                            }
                            (key, ty)
                        }
                    };
                    let item = self.value(attr_type, &path.attr(key))?;
                    match &mut unsorted {
                        None => sorted.push((Key::from(key), item)),
                        Some(attrs) => {
                            add(attrs, key, item).map_err(|()| duplicate(path, key))?;
                        }
                    }
                }
                let attrs =
                    unsorted.unwrap_or_else(|| Entries::from_sorted_store_unchecked(sorted));
                if attrs.len() != attr_types.len() {
                    return Err(CodecError::attribute_count(
                        &path.path(),
                        attr_types.len(),
                        attrs.len(),
                    ));
                }
                Ok(Value::Object(attrs))
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
        let bytes = self.map_key_bytes(path)?;
        utf8_key(bytes, path)
    }

    /// A map key's bytes, not yet checked to be UTF-8.
    fn map_key_bytes(&mut self, path: &Trail<'_>) -> Result<&'a [u8], CodecError> {
        match self.head_at(path)? {
            Head::Str(bytes) => Ok(bytes),
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

/// Adds an entry as it is read: appended while the keys come sorted (as Terraform sends them),
/// else inserted in its place. `Err` when the key is already there.
fn add(entries: &mut Entries, key: &str, value: Value) -> Result<(), ()> {
    match entries.try_append(Key::from(key), value) {
        None => Ok(()),
        Some((key, value)) => match entries.try_insert(key, value) {
            None => Ok(()),
            Some(_) => Err(()),
        },
    }
}

fn utf8_key<'a>(bytes: &'a [u8], path: &Trail<'_>) -> Result<&'a str, CodecError> {
    std::str::from_utf8(bytes).map_err(|_| malformed(path, "map key is not valid utf-8"))
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
mod tests;

#[cfg(test)]
mod same_as_rmpv;
