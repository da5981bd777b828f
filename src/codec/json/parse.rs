//! A small strict JSON reader that keeps numbers as their text, so that integers of any
//! size and long decimals survive exactly (serde_json would round them to `f64` unless
//! its crate-wide `arbitrary_precision` feature were on).

use std::borrow::Cow;

use crate::codec::Key;

/// A parsed JSON document.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Json {
    Null,
    Bool(bool),
    /// A number, as its text (valid JSON number syntax).
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members in document order; duplicates are kept.
    Object(Vec<(Key, Json)>),
}

impl Json {
    /// A short name of the kind, for error messages.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// How deeply arrays and objects may nest (serde_json's default limit).
const MAX_DEPTH: usize = 128;

/// Parses one JSON document, with nothing but whitespace after it.
pub(super) fn parse(bytes: &[u8]) -> Result<Json, String> {
    let mut parser = Parser {
        bytes,
        pos: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos < bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(value)
}

/// Whether `text` is a number in JSON's syntax.
pub(super) fn is_json_number(text: &str) -> bool {
    let mut parser = Parser {
        bytes: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    parser.number().is_ok() && parser.pos == text.len()
}

/// A reader of JSON text, item by item.
pub(super) struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A reader at the start of `bytes`.
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Parser {
            bytes,
            pos: 0,
            depth: 0,
        }
    }

    /// Whether all of the bytes are read.
    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn error(&self, what: &str) -> String {
        if self.pos >= self.bytes.len() {
            format!("{what} at end of input")
        } else {
            format!("{what} at byte {}", self.pos)
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub(super) fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    pub(super) fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.pos += 1;
        }
        found
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.eat_word(word) {
            Ok(value)
        } else {
            Err(self.error("expected a value"))
        }
    }

    /// Reads `word` (`null`, `true` or `false`) if it is next.
    pub(super) fn eat_word(&mut self, word: &str) -> bool {
        let found = self
            .bytes
            .get(self.pos..)
            .is_some_and(|rest| rest.starts_with(word.as_bytes()));
        if found {
            self.pos += word.len();
        }
        found
    }

    /// Reads the string `"text"` if it is next, spelt as it stands: `text` holds no byte a
    /// JSON string must escape, and the string no escape. (Any other spelling of the same
    /// text is left for [`Parser::text`].)
    pub(super) fn eat_plain_string(&mut self, text: &str) -> bool {
        if plain_run(text.as_bytes()) != text.len() {
            return false;
        }
        let end = self.pos + text.len() + 1;
        let found = self.bytes.get(self.pos) == Some(&b'"')
            && self.bytes.get(self.pos + 1..end) == Some(text.as_bytes())
            && self.bytes.get(end) == Some(&b'"');
        if found {
            self.pos = end + 1;
        }
        found
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_whitespace();
        match self.peek() {
            Some(b'n') => self.literal("null", Json::Null),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'"') => self.string().map(Json::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Json::Number),
            Some(b'[') => self.nested(Self::array),
            Some(b'{') => self.nested(Self::object),
            _ => Err(self.error("expected a value")),
        }
    }

    fn nested(&mut self, read: fn(&mut Self) -> Result<Json, String>) -> Result<Json, String> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        self.depth += 1;
        self.pos += 1; // the opening bracket
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn array(&mut self) -> Result<Json, String> {
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.eat(b']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_whitespace();
            if self.eat(b']') {
                return Ok(Json::Array(items));
            }
            if !self.eat(b',') {
                return Err(self.error("expected ',' or ']'"));
            }
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        // Room for a typical object at once (growing from 4 was 3 reallocations per state).
        let mut members = Vec::with_capacity(16);
        self.skip_whitespace();
        if self.eat(b'}') {
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.key()?;
            self.skip_whitespace();
            if !self.eat(b':') {
                return Err(self.error("expected ':'"));
            }
            members.push((key, self.value()?));
            self.skip_whitespace();
            if self.eat(b'}') {
                return Ok(Json::Object(members));
            }
            if !self.eat(b',') {
                return Err(self.error("expected ',' or '}'"));
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, returned as text.
    pub(super) fn number(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.eat(b'-');
        if !self.eat(b'0') && self.digits() == 0 {
            return Err(self.error("invalid number"));
        }
        if self.eat(b'.') && self.digits() == 0 {
            return Err(self.error("invalid number"));
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        // Only ASCII was consumed.
        Ok(String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned())
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A member name: taken straight from the bytes when it has no escape (a name of up to
    /// 24 bytes then allocates nothing), else read as any string.
    pub(super) fn key(&mut self) -> Result<Key, String> {
        Ok(match self.text()? {
            Cow::Borrowed(key) => Key::from(key),
            Cow::Owned(key) => Key::from(key),
        })
    }

    /// The string at the reader (at its opening quote): borrowed from the bytes when it has
    /// no escape, else read with its escapes undone.
    pub(super) fn text(&mut self) -> Result<Cow<'a, str>, String> {
        let bytes = self.bytes;
        let rest = bytes.get(self.pos + 1..).unwrap_or_default();
        let run = plain_run(rest);
        if rest.get(run) != Some(&b'"') {
            return self.string().map(Cow::Owned);
        }
        let text =
            std::str::from_utf8(&rest[..run]).map_err(|_| self.error("invalid utf-8 in string"))?;
        self.pos += run + 2;
        Ok(Cow::Borrowed(text))
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            // Copy the run of plain bytes up to the next quote, escape or control character.
            let rest = &self.bytes[self.pos..];
            let run = plain_run(rest);
            out.extend_from_slice(&rest[..run]);
            self.pos += run;
            let Some(byte) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape()?;
                            out.extend(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return Err(self.error("invalid escape")),
                    };
                    self.pos += 1;
                    out.push(escaped as u8);
                }
                0..=0x1f => return Err(self.error("control character in string")),
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("invalid utf-8 in string"))
    }

    /// The character of a `\u` escape (after the `u`), joining surrogate pairs.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let high = self.hex4()?;
        let code = match high {
            0xd800..=0xdbff => {
                if !(self.eat(b'\\') && self.eat(b'u')) {
                    return Err(self.error("unpaired surrogate"));
                }
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(self.error("unpaired surrogate"));
                }
                0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(self.error("unpaired surrogate")),
            _ => high,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode escape"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("invalid unicode escape"))?;
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| self.error("invalid unicode escape"))
    }
}

/// The length of the run of plain string bytes at the start of `bytes`: up to the next
/// quote, escape or control character.
fn plain_run(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .unwrap_or(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Json {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn parses_every_kind() {
        assert_eq!(ok(" null "), Json::Null);
        assert_eq!(ok("true"), Json::Bool(true));
        assert_eq!(ok("false"), Json::Bool(false));
        assert_eq!(ok("-0.5e+10"), Json::Number("-0.5e+10".into()));
        assert_eq!(
            ok("123456789012345678901234567890"),
            Json::Number("123456789012345678901234567890".into())
        );
        assert_eq!(
            ok(r#""a\"\\\/\b\f\n\r\t""#),
            Json::String("a\"\\/\u{8}\u{c}\n\r\t".into())
        );
        assert_eq!(ok(r#""\u00e9\ud83d\ude00é""#), Json::String("é😀é".into()));
        assert_eq!(
            ok(r#"[1, {"a": [], "a": {}}]"#),
            Json::Array(vec![
                Json::Number("1".into()),
                Json::Object(vec![
                    ("a".into(), Json::Array(vec![])),
                    ("a".into(), Json::Object(vec![]))
                ]),
            ])
        );
        assert_eq!(ok("[ ]").kind(), "array");
        assert_eq!(ok("{ }").kind(), "object");
    }

    #[test]
    fn reads_member_names_with_and_without_escapes() {
        let long = "a_member_name_longer_than_24_bytes";
        let text = format!(r#"{{"id": 1, "\u00e9t\u00e9": 2, "{long}": 3, "été": 4, "a\"b": 5}}"#);
        let Json::Object(members) = ok(&text) else {
            panic!("not an object");
        };
        let names: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["id", "été", long, "été", "a\"b"]);
        // A name cut short, or not UTF-8, is refused as a string would be.
        assert!(parse(br#"{"abc"#).is_err());
        assert!(parse(b"{\"\xff\": 1}").is_err());
        assert!(parse(b"{\"a\x01\": 1}").is_err());
    }

    #[test]
    fn rejects_invalid_documents() {
        for bad in [
            "",
            " ",
            "nul",
            "tru",
            "[",
            "[1,]",
            "[1 2]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:2}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "\"abc",
            "\"\\x\"",
            "\"\\u12\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"a\nb\"",
            "1 2",
            "[]]",
            "NaN",
            "Infinity",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(parse(b"\"\xff\"").is_err());
        assert_eq!(
            parse(b"[1,").unwrap_err(),
            "expected a value at end of input"
        );
    }

    #[test]
    fn limits_nesting() {
        let deep = "[".repeat(100_000);
        assert!(parse(deep.as_bytes())
            .unwrap_err()
            .contains("nested too deeply"));
        let fine = "[".repeat(100) + &"]".repeat(100);
        assert!(parse(fine.as_bytes()).is_ok());
    }

    #[test]
    fn json_number_syntax() {
        for good in ["0", "-0", "12", "1.5", "1e5", "1E-5", "-1.25e+3"] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in ["", "+1", ".5", "5.", "01", "1e", "inf", "1 "] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
