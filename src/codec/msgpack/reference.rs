//! The rmpv-based reader and writer that [`super::decode`] and [`super::encode`] replaced,
//! kept for tests only: the new ones must accept, reject and produce exactly what these did.

use rmpv::Value as Mp;

use super::{FORMAT, MAX_DEPTH};
use crate::codec::{AttributePath, CodecError, Entries, Key, Number, Type, Value};

pub(super) fn decode(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
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
pub(super) fn encode(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let root = AttributePath::root();
    let mp = to_mp(value, ty, &root)?;
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
            .map(|s| Value::String(s.into()))
            .ok_or_else(|| CodecError::malformed(FORMAT, path, "string is not valid utf-8")),
        (Mp::Binary(bytes), Type::String) => String::from_utf8(bytes.clone())
            .map(|s| Value::String(s.into()))
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
            let mut entries = Entries::new();
            for (key, item) in pairs {
                let key = map_key(key, path)?;
                let item = from_mp(item, element, &path.child_key(key))?;
                if entries.insert(Key::from(key), item).is_some() {
                    return Err(duplicate(path, key));
                }
            }
            Ok(Value::Map(entries))
        }
        (Mp::Map(pairs), Type::Object(attr_types)) => {
            let mut attrs = Entries::new();
            for (key, item) in pairs {
                let key = map_key(key, path)?;
                let Some(attr_type) = attr_types.get(key) else {
                    return Err(CodecError::unsupported(path, key));
                };
                let item = from_mp(item, attr_type, &path.child_attr(key))?;
                if attrs.insert(Key::from(key), item).is_some() {
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

fn to_mp(value: &Value, ty: &Type, path: &AttributePath) -> Result<Mp, CodecError> {
    let mismatch = || CodecError::mismatch(path, ty, value.kind());
    match (value, ty) {
        (Value::Null, _) => Ok(Mp::Nil),
        (Value::Unknown, _) => Ok(Mp::Ext(0, vec![0])),
        (_, Type::Dynamic) => {
            let inferred = value.infer_type();
            let inner = to_mp(value, &inferred, path)?;
            Ok(Mp::Array(vec![Mp::Binary(inferred.to_json()), inner]))
        }
        (Value::String(s), Type::String) => Ok(Mp::from(s.as_str())),
        (Value::Bool(b), Type::Bool) => Ok(Mp::Boolean(*b)),
        (Value::Number(n), Type::Number) => number_to_mp(n, path),
        (Value::List(items), Type::List(element)) | (Value::Set(items), Type::Set(element)) => {
            let items = items.iter().enumerate();
            items
                .map(|(i, item)| to_mp(item, element, &path.child_index(i)))
                .collect::<Result<_, _>>()
                .map(Mp::Array)
        }
        (Value::List(items) | Value::Set(items) | Value::Tuple(items), Type::Tuple(types)) => {
            if items.len() != types.len() {
                return Err(CodecError::mismatch(
                    path,
                    format!("a tuple of {} elements", types.len()),
                    format!("{} elements", items.len()),
                ));
            }
            let items = items.iter().zip(types).enumerate();
            items
                .map(|(i, (item, ty))| to_mp(item, ty, &path.child_index(i)))
                .collect::<Result<_, _>>()
                .map(Mp::Array)
        }
        (Value::Map(entries), Type::Map(element)) => entries
            .iter()
            .map(|(key, item)| {
                Ok((
                    Mp::from(key.as_str()),
                    to_mp(item, element, &path.child_key(key))?,
                ))
            })
            .collect::<Result<_, _>>()
            .map(Mp::Map),
        (Value::Object(attrs) | Value::Map(attrs), Type::Object(attr_types)) => {
            if let Some(extra) = attrs
                .keys()
                .find(|name| !attr_types.contains_key(name.as_str()))
            {
                return Err(CodecError::unsupported(path, extra));
            }
            attr_types
                .iter()
                .map(|(name, attr_type)| {
                    let attr = attrs.get(name.as_str()).unwrap_or(&Value::Null);
                    Ok((
                        Mp::from(name.as_str()),
                        to_mp(attr, attr_type, &path.child_attr(name))?,
                    ))
                })
                .collect::<Result<_, _>>()
                .map(Mp::Map)
        }
        _ => Err(mismatch()),
    }
}

fn number_to_mp(number: &Number, path: &AttributePath) -> Result<Mp, CodecError> {
    match number {
        Number::Int(i) => Ok(Mp::from(*i)),
        Number::Float(f) if f.is_nan() => {
            Err(CodecError::malformed(FORMAT, path, "nan is not a number"))
        }
        Number::Float(f) => match Number::Float(*f).as_i64() {
            Some(i) => Ok(Mp::from(i)),
            None => Ok(Mp::F64(*f)),
        },
        Number::Big(text) if Number::parse(text).is_some() => Ok(Mp::from(text.as_str())),
        Number::Big(text) => Err(CodecError::malformed(
            FORMAT,
            path,
            format!("{text:?} is not a number"),
        )),
    }
}
