//! Values: known, null or unknown, for every Terraform type.

use std::fmt;

use compact_str::CompactString;

/// A map key or object attribute name. Names of up to 24 bytes, as every attribute name
/// is, are held inline: building and dropping objects allocates nothing for them (a
/// `String` per key was a quarter of the provider's allocations per RPC: callgrind,
/// issue 10). It derefs to `str` and orders as `str` does.
pub type Key = compact_str::CompactString;

/// The entries of a map or the attributes of an object, sorted by key: one vector, searched
/// by bisection. Terraform sends attributes sorted, so a decoded object is built by
/// appending, with one allocation (a `BTreeMap` sorted them again and allocated a node per
/// eleven: callgrind, issue 10).
pub type Entries = litemap::LiteMap<Key, Value>;

/// A Terraform number. Terraform numbers are arbitrary precision; the wire carries an
/// integer, a float, or a decimal string for values neither can hold exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Number {
    /// An exact integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Any other number, as its decimal text.
    Big(String),
}

impl Number {
    /// Parses a decimal number as go-cty does for numbers sent as strings: an optional
    /// sign, digits with an optional fraction and exponent, or `inf`. Integer text that
    /// fits an `i64` becomes [`Number::Int`], infinities [`Number::Float`], anything
    /// else [`Number::Big`] holding the text as given. `None` when the text is not a
    /// number.
    pub fn parse(text: &str) -> Option<Number> {
        if let Ok(i) = text.parse::<i64>() {
            return Some(Number::Int(i));
        }
        let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
        if unsigned.eq_ignore_ascii_case("inf") {
            let inf = if text.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
            return Some(Number::Float(inf));
        }
        decimal_parts(text).map(|_| Number::Big(text.to_owned()))
    }

    /// The number as an `i64` when it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            // 2^63 is exactly representable; the range is [-2^63, 2^63).
            Number::Float(f)
                if f.fract() == 0.0 && *f >= -(2f64.powi(63)) && *f < 2f64.powi(63) =>
            {
                Some(*f as i64)
            }
            Number::Float(_) => None,
            Number::Big(text) => text.parse().ok(),
        }
    }

    /// The number as the nearest `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Int(i) => Some(*i as f64),
            Number::Float(f) => Some(*f),
            Number::Big(text) => text.parse().ok(),
        }
    }

    /// Numeric equality: `Int(1)` equals `Float(1.0)` and `Big("1.0")`. A float compares
    /// by its shortest decimal form, so `Float(0.1)` equals `Big("0.1")`.
    pub fn equivalent(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b,
            _ => match (self.canonical(), other.canonical()) {
                (Some(a), Some(b)) => a == b,
                // Infinities (and text that is not a number) have no canonical form.
                _ => matches!((self.as_f64(), other.as_f64()),
                    (Some(a), Some(b)) if a.is_infinite() && a == b),
            },
        }
    }

    fn canonical(&self) -> Option<(bool, String, i64)> {
        match self {
            Number::Int(i) => decimal_parts(&i.to_string()),
            Number::Float(f) if f.is_finite() => decimal_parts(&format!("{f:e}")),
            Number::Float(_) => None,
            Number::Big(text) => decimal_parts(text),
        }
    }
}

/// Splits decimal text into (negative, significant digits, exponent) with no leading or
/// trailing zeros in the digits, so that equal numbers give equal parts. `None` when the
/// text is not `[sign] digits [. digits] [(e|E) [sign] digits]` with at least one digit.
pub(crate) fn decimal_parts(text: &str) -> Option<(bool, String, i64)> {
    let negative = text.starts_with('-');
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp = &unsigned[at + 1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            (&unsigned[..at], exp.parse::<i64>().ok()?)
        }
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let significant = digits.trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let trailing = (digits.len() - significant.len()) as i64;
    let exponent = exponent
        .checked_sub(fraction.len() as i64)?
        .checked_add(trailing)?;
    Some((negative, significant.to_owned(), exponent))
}

/// Decimal text in go-cty's style: integers plainly, floats without exponent, `+Inf`/`-Inf`.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) if x.is_nan() => f.write_str("NaN"),
            Number::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "+Inf" } else { "-Inf" })
            }
            Number::Float(x) => write!(f, "{x}"),
            Number::Big(text) => f.write_str(text),
        }
    }
}

/// A Terraform value. Objects hold every attribute of their type once decoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Null, of any type.
    #[default]
    Null,
    /// Not yet known (planned), of any type. Refinements are dropped on decode.
    Unknown,
    /// A bool.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string; those of up to 24 bytes (ids, names, dates, roles) are held inline, without
    /// an allocation of their own.
    String(CompactString),
    /// A list.
    List(Vec<Value>),
    /// A set (element order carries no meaning).
    Set(Vec<Value>),
    /// A map.
    Map(Entries),
    /// An object.
    Object(Entries),
    /// A tuple.
    Tuple(Vec<Value>),
}

/// What [`Value::attr`] returns for a missing attribute.
static NULL: Value = Value::Null;

impl Value {
    /// Whether the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether the value itself is unknown (elements are not inspected).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// Whether the value is wholly known: not unknown, and no unknown anywhere inside.
    pub fn is_known(&self) -> bool {
        !self.contains_unknown()
    }

    /// Whether the value is unknown or holds an unknown at any depth.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                items.iter().any(Value::contains_unknown)
            }
            Value::Map(entries) | Value::Object(entries) => {
                entries.values().any(Value::contains_unknown)
            }
            _ => false,
        }
    }

    /// The string, when this is a known string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, when this is a known bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as an `i64`, when this is a known whole number in range (including a
    /// float with no fraction and decimal text that parses as an `i64`).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    /// The number as the nearest `f64`, when this is a known number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    /// An object's attribute; [`Value::Null`] when this is not an object or lacks it.
    pub fn attr(&self, name: &str) -> &Value {
        match self {
            Value::Object(attrs) => attrs.get(name).unwrap_or(&NULL),
            _ => &NULL,
        }
    }

    /// Sets an object's attribute; does nothing when this is not an object.
    pub fn set_attr(&mut self, name: &str, value: impl Into<Value>) {
        if let Value::Object(attrs) = self {
            attrs.insert(Key::from(name), value.into());
        }
    }

    /// The elements of a list, set or tuple; empty for anything else.
    pub fn elements(&self) -> &[Value] {
        match self {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => items,
            _ => &[],
        }
    }

    /// The entries of a map or the attributes of an object.
    pub fn entries(&self) -> Option<&Entries> {
        match self {
            Value::Map(entries) | Value::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// The strings of a known list or set of known strings; `None` when this is null,
    /// unknown, not a list or set, or any element is not a known string.
    pub fn strings(&self) -> Option<Vec<&str>> {
        match self {
            Value::List(items) | Value::Set(items) => items.iter().map(Value::as_str).collect(),
            _ => None,
        }
    }

    /// A string, or null for `None`.
    pub fn opt_string(s: Option<impl Into<CompactString>>) -> Value {
        s.map_or(Value::Null, |s| Value::String(s.into()))
    }

    /// A set of strings.
    pub fn string_set<I: IntoIterator<Item = S>, S: Into<CompactString>>(items: I) -> Value {
        Value::Set(items.into_iter().map(|s| Value::String(s.into())).collect())
    }

    /// A list of strings.
    pub fn string_list<I: IntoIterator<Item = S>, S: Into<CompactString>>(items: I) -> Value {
        Value::List(items.into_iter().map(|s| Value::String(s.into())).collect())
    }

    /// A map of strings.
    pub fn string_map<I, K, V>(entries: I) -> Value
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<Key>,
        V: Into<CompactString>,
    {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), Value::String(v.into())))
                .collect(),
        )
    }

    /// An object from its attributes. Objects that conform to a type hold every attribute
    /// of that type; list the null ones too.
    pub fn object<'a, I: IntoIterator<Item = (&'a str, Value)>>(attrs: I) -> Value {
        Value::Object(
            attrs
                .into_iter()
                .map(|(name, value)| (Key::from(name), value))
                .collect(),
        )
    }

    /// Like `==`, except that sets compare as unordered multisets (at any depth) and
    /// numbers compare numerically ([`Number::equivalent`]).
    pub fn equivalent(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => a.equivalent(b),
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.equivalent(y))
            }
            (Value::Set(a), Value::Set(b)) => same_multiset(a, b),
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.equivalent(vb))
            }
            _ => self == other,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown => "unknown",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
        }
    }
}

/// Whether `a` and `b` hold equivalent elements, each as often, in any order.
fn same_multiset(a: &[Value], b: &[Value]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| {
        let found = (0..b.len()).find(|&j| !used[j] && x.equivalent(&b[j]));
        found.map(|j| used[j] = true).is_some()
    })
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(text: &str) -> Number {
        Number::Big(text.to_owned())
    }

    #[test]
    fn number_parse() {
        assert_eq!(Number::parse("42"), Some(Number::Int(42)));
        assert_eq!(Number::parse("-7"), Some(Number::Int(-7)));
        assert_eq!(Number::parse("+7"), Some(Number::Int(7)));
        assert_eq!(Number::parse("1.5"), Some(big("1.5")));
        assert_eq!(Number::parse("-1e400"), Some(big("-1e400")));
        assert_eq!(Number::parse(".5"), Some(big(".5")));
        assert_eq!(Number::parse("5."), Some(big("5.")));
        assert_eq!(
            Number::parse("123456789012345678901234567890"),
            Some(big("123456789012345678901234567890"))
        );
        assert_eq!(
            Number::parse("-inf"),
            Some(Number::Float(f64::NEG_INFINITY))
        );
        assert_eq!(Number::parse("Inf"), Some(Number::Float(f64::INFINITY)));
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "0x10", "1_000", " 1", "1.2.3", "NaN", "1e5x",
        ] {
            assert_eq!(Number::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn number_conversions() {
        assert_eq!(Number::Int(-3).as_i64(), Some(-3));
        assert_eq!(Number::Float(4.0).as_i64(), Some(4));
        assert_eq!(Number::Float(4.5).as_i64(), None);
        assert_eq!(Number::Float(1e19).as_i64(), None);
        assert_eq!(
            Number::Float(-9223372036854775808.0).as_i64(),
            Some(i64::MIN)
        );
        assert_eq!(Number::Float(f64::NAN).as_i64(), None);
        assert_eq!(Number::Float(f64::INFINITY).as_i64(), None);
        assert_eq!(big("12").as_i64(), Some(12));
        assert_eq!(big("1e400").as_i64(), None);
        assert_eq!(Number::Int(2).as_f64(), Some(2.0));
        assert_eq!(big("2.5").as_f64(), Some(2.5));
        assert_eq!(big("x").as_f64(), None);
    }

    #[test]
    fn number_equivalence() {
        assert!(Number::Int(1).equivalent(&Number::Float(1.0)));
        assert!(Number::Float(1.0).equivalent(&Number::Int(1)));
        assert!(Number::Int(1).equivalent(&big("1.000")));
        assert!(Number::Int(100).equivalent(&big("1e2")));
        assert!(Number::Float(0.1).equivalent(&big("0.1")));
        assert!(Number::Float(-0.0).equivalent(&Number::Int(0)));
        assert!(big("0.00").equivalent(&big("-0")));
        assert!(big("12.5e-1").equivalent(&Number::Float(1.25)));
        assert!(Number::Float(f64::INFINITY).equivalent(&Number::Float(f64::INFINITY)));
        assert!(Number::Float(f64::INFINITY).equivalent(&big("inf")));
        assert!(!Number::Int(1).equivalent(&Number::Float(1.5)));
        assert!(!Number::Int(1).equivalent(&Number::Int(2)));
        assert!(!Number::Int(-1).equivalent(&big("1")));
        assert!(!Number::Float(0.1).equivalent(&big("0.1000000000000000000001")));
        assert!(!big("x").equivalent(&big("x1")));
    }

    #[test]
    fn number_display() {
        assert_eq!(Number::Int(-12).to_string(), "-12");
        assert_eq!(Number::Float(1.0).to_string(), "1");
        assert_eq!(Number::Float(1.5).to_string(), "1.5");
        assert_eq!(Number::Float(1e-7).to_string(), "0.0000001");
        assert_eq!(Number::Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Number::Float(f64::NEG_INFINITY).to_string(), "-Inf");
        assert_eq!(big("1e400").to_string(), "1e400");
    }

    #[test]
    fn null_unknown_known() {
        assert!(Value::Null.is_null() && Value::Null.is_known());
        assert!(Value::Unknown.is_unknown() && !Value::Unknown.is_known());
        let nested = Value::object([(
            "a",
            Value::List(vec![Value::Map(Entries::from_iter([(
                "k".into(),
                Value::Unknown,
            )]))]),
        )]);
        assert!(!nested.is_unknown());
        assert!(nested.contains_unknown());
        assert!(!nested.is_known());
        assert!(Value::Set(vec![Value::from("a"), Value::Null]).is_known());
        assert!(Value::Tuple(vec![Value::Unknown]).contains_unknown());
        assert_eq!(Value::default(), Value::Null);
    }

    #[test]
    fn scalar_accessors() {
        assert_eq!(Value::from("x").as_str(), Some("x"));
        assert_eq!(Value::from(String::from("y")).as_str(), Some("y"));
        assert_eq!(Value::Null.as_str(), None);
        assert_eq!(Value::from(true).as_bool(), Some(true));
        assert_eq!(Value::from("true").as_bool(), None);
        assert_eq!(Value::from(7).as_i64(), Some(7));
        assert_eq!(Value::Number(Number::Float(3.0)).as_i64(), Some(3));
        assert_eq!(Value::Number(big("99")).as_i64(), Some(99));
        assert_eq!(Value::from("7").as_i64(), None);
        assert_eq!(Value::from(7).as_f64(), Some(7.0));
        assert_eq!(Value::Unknown.as_f64(), None);
        assert_eq!(Value::from(Number::Float(0.5)).as_f64(), Some(0.5));
    }

    #[test]
    fn object_accessors() {
        let mut obj = Value::object([("name", "n".into()), ("count", 2.into())]);
        assert_eq!(obj.attr("name").as_str(), Some("n"));
        assert!(obj.attr("missing").is_null());
        assert!(Value::from("s").attr("name").is_null());
        obj.set_attr("name", "m");
        obj.set_attr("extra", Value::Unknown);
        assert_eq!(obj.attr("name"), &Value::from("m"));
        assert!(obj.attr("extra").is_unknown());
        assert_eq!(obj.entries().map(Entries::len), Some(3));

        let mut not_object = Value::string_list(["a"]);
        not_object.set_attr("x", true);
        assert_eq!(not_object, Value::string_list(["a"]));
        assert_eq!(Value::Null.entries(), None);
    }

    #[test]
    fn collection_accessors() {
        assert_eq!(Value::string_list(["a", "b"]).elements().len(), 2);
        assert_eq!(Value::Tuple(vec![Value::Null]).elements().len(), 1);
        assert!(Value::string_map([("k", "v")]).elements().is_empty());
        assert!(Value::Null.elements().is_empty());

        assert_eq!(
            Value::string_set(["b", "a"]).strings(),
            Some(vec!["b", "a"])
        );
        assert_eq!(
            Value::string_list(vec![String::from("x")]).strings(),
            Some(vec!["x"])
        );
        assert_eq!(Value::List(vec![]).strings(), Some(vec![]));
        assert_eq!(Value::Null.strings(), None);
        assert_eq!(Value::Unknown.strings(), None);
        assert_eq!(Value::List(vec!["a".into(), Value::Null]).strings(), None);
        assert_eq!(
            Value::List(vec!["a".into(), Value::Unknown]).strings(),
            None
        );
        assert_eq!(Value::Tuple(vec!["a".into()]).strings(), None);

        let map = Value::string_map([("k", "v")]);
        assert_eq!(map.entries().unwrap().get("k"), Some(&Value::from("v")));
        assert!(map.attr("k").is_null(), "maps have entries, not attributes");
    }

    #[test]
    fn constructors() {
        assert_eq!(Value::opt_string(Some("a")), Value::from("a"));
        assert_eq!(Value::opt_string(None::<String>), Value::Null);
        assert_eq!(
            Value::string_set(["a"]),
            Value::Set(vec![Value::String("a".into())])
        );
        assert_eq!(
            Value::object([("a", Value::Null)]),
            Value::Object(Entries::from_iter([("a".into(), Value::Null)]))
        );
        let from_literal: Value = 5.into();
        assert_eq!(from_literal, Value::Number(Number::Int(5)));
    }

    #[test]
    fn equivalence() {
        let set_ab = Value::string_set(["a", "b"]);
        let set_ba = Value::string_set(["b", "a"]);
        assert_ne!(set_ab, set_ba);
        assert!(set_ab.equivalent(&set_ba));
        assert!(!Value::string_list(["a", "b"]).equivalent(&Value::string_list(["b", "a"])));
        assert!(!set_ab.equivalent(&Value::string_set(["a", "a"])));
        assert!(!set_ab.equivalent(&Value::string_set(["a"])));
        assert!(!set_ab.equivalent(&Value::string_list(["a", "b"])));

        let obj = |tags: Value, n: Value| Value::object([("tags", tags), ("n", n)]);
        assert!(obj(set_ab.clone(), Value::from(1))
            .equivalent(&obj(set_ba.clone(), Value::Number(Number::Float(1.0)))));
        assert!(!obj(set_ab.clone(), 1.into()).equivalent(&obj(set_ba, 2.into())));
        assert!(!obj(Value::Null, 1.into()).equivalent(&Value::object([("n", 1.into())])));

        let nested_a = Value::Set(vec![set_ab.clone(), Value::string_set(["c"])]);
        let nested_b = Value::Set(vec![
            Value::string_set(["c"]),
            Value::string_set(["b", "a"]),
        ]);
        assert!(nested_a.equivalent(&nested_b));
        assert!(Value::Null.equivalent(&Value::Null));
        assert!(Value::Unknown.equivalent(&Value::Unknown));
        assert!(!Value::Null.equivalent(&Value::Unknown));
        assert!(!Value::Map(Entries::new()).equivalent(&Value::Object(Entries::new())));
        assert!(Value::Tuple(vec![1.into()])
            .equivalent(&Value::Tuple(vec![Value::Number(Number::Float(1.0))])));
    }
}
