//! Vendor text made safe to show: every secret a client knows is redacted from it, and
//! control characters and terminal escapes are removed.
//!
//! Vendors and the proxies in front of them sometimes quote a request back in an error body,
//! `Authorization` header included, and error bodies are printed on terminals and in CI logs.
//! So every text that comes from a vendor goes through [`Redactor::clean`] before it becomes
//! part of an error: first the escapes and control characters go (a secret interleaved with
//! NULs must not survive as a secret once they are dropped), then every known secret is
//! replaced by `[redacted]`, then the text is cut.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::RwLock;

use base64::Engine as _;

/// The longest vendor text an error carries, in characters.
pub const VENDOR_TEXT_MAX: usize = 2_000;

/// What stands in for a secret in vendor text.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this are not redacted: they would match ordinary words. Every
/// credential the four vendors issue is far longer.
const MIN_SECRET_LEN: usize = 6;

/// Every secret one client has seen: the credentials it was configured with, in each encoding
/// it sends them (raw, HTTP Basic's base64), and every secret a vendor answered with (created
/// keys, access tokens). Shared by the clones of an [`super::HttpClient`].
#[derive(Default)]
pub struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole. A set, so that
    /// remembering each of a thousand created keys' secrets costs a lookup, not a scan and a
    /// sort of all the others (6 K instructions per key at 300 keys, and growing; issue 10).
    secrets: RwLock<BTreeSet<(Reverse<usize>, String)>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.secrets.read().map(|s| s.len()).unwrap_or_default();
        f.debug_struct("Redactor").field("secrets", &count).finish()
    }
}

impl Redactor {
    /// Remembers `secret` (raw).
    pub fn add(&self, secret: &str) {
        let secret = secret.trim();
        if secret.chars().count() < MIN_SECRET_LEN {
            return;
        }
        let mut secrets = self.secrets.write().unwrap_or_else(|e| e.into_inner());
        secrets.insert((Reverse(secret.len()), secret.to_string()));
    }

    /// Remembers an HTTP Basic credential: the password, and `base64(username:password)` as
    /// it is sent.
    pub fn add_basic(&self, username: &str, password: &str) {
        self.add(password);
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
        self.add(&encoded);
    }

    /// `text` with every known secret replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let secrets = self.secrets.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_string();
        for (_, secret) in secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Vendor text ready to show: escapes, control and bidirectional-override characters
    /// removed, whitespace collapsed to single spaces, secrets redacted, cut to `max_chars`
    /// (at most [`VENDOR_TEXT_MAX`]) with `…`.
    pub fn clean(&self, text: &str, max_chars: usize) -> String {
        let max_chars = max_chars.min(VENDOR_TEXT_MAX);
        // Enough printable text that a secret straddling the cut is still seen whole.
        let longest = self
            .secrets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .first()
            .map_or(0, |(_, s)| s.chars().count());
        let printable = strip_escapes(text, max_chars + longest + 1);
        let redacted = self.redact(&printable);
        cut(&redacted, max_chars)
    }
}

/// `text` without terminal escape sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`,
/// and two-character `ESC x`), control characters, or characters that reorder text on screen,
/// with runs of whitespace as one space and no leading or trailing space; at most `limit`
/// characters of it (the rest of `text` is not even looked at).
pub fn strip_escapes(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len().min(limit.saturating_mul(4)));
    let mut count = 0;
    let mut chars = text.chars().peekable();
    let mut last_space = true;
    while let Some(ch) = chars.next() {
        if count >= limit {
            break;
        }
        if ch == '\u{1b}' || ch == '\u{9b}' {
            skip_escape(ch, &mut chars);
            continue;
        }
        let ch = if ch.is_whitespace() { ' ' } else { ch };
        if ch.is_control() || is_reordering(ch) {
            continue;
        }
        if ch == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(ch);
        count += 1;
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Skips the rest of an escape sequence that started with `first`.
fn skip_escape(first: char, chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    let csi = if first == '\u{9b}' {
        true
    } else {
        match chars.next() {
            Some('[') => true,
            Some(']') => {
                // OSC: up to BEL or ST (ESC \).
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        if chars.peek() == Some(&'\\') {
                            chars.next();
                        }
                        break;
                    }
                }
                return;
            }
            // ESC and one more character (e.g. `ESC c`, a reset).
            _ => return,
        }
    };
    if csi {
        // Parameters and intermediates, then one final byte in `@`..=`~`.
        for c in chars.by_ref() {
            if ('@'..='~').contains(&c) {
                break;
            }
        }
    }
}

/// Unicode characters that change how surrounding text is displayed (bidirectional
/// embeddings, overrides and isolates, zero-width joiners and marks).
fn is_reordering(ch: char) -> bool {
    matches!(ch,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// `text` cut to `max_chars` characters, ending with `…` when cut.
fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_string(),
        Some((end, _)) => {
            let mut out = text[..end].trim_end().to_string();
            out.push('…');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_raw_and_as_basic_credentials() {
        let r = Redactor::default();
        r.add("sk-very-secret-key");
        r.add_basic("key-id", "basic-password-1");
        r.add("abc"); // too short to redact
        let basic = base64::engine::general_purpose::STANDARD.encode("key-id:basic-password-1");
        let text = format!(
            "echo: Authorization: Bearer sk-very-secret-key / Basic {basic} / basic-password-1 / abc"
        );
        let clean = r.clean(&text, 500);
        assert!(!clean.contains("sk-very-secret-key"), "{clean}");
        assert!(!clean.contains(&basic), "{clean}");
        assert!(!clean.contains("basic-password-1"), "{clean}");
        assert!(clean.contains("Bearer [redacted]"), "{clean}");
        assert!(clean.contains("abc"));
    }

    #[test]
    fn a_secret_holding_another_is_redacted_whole_and_each_is_kept_once() {
        let r = Redactor::default();
        r.add("inner-secret");
        r.add("prefix-inner-secret-suffix");
        r.add("inner-secret");
        assert_eq!(format!("{r:?}"), "Redactor { secrets: 2 }");
        assert_eq!(
            r.redact("a prefix-inner-secret-suffix and an inner-secret"),
            "a [redacted] and an [redacted]"
        );
    }

    #[test]
    fn escapes_and_controls_go_before_redaction() {
        let r = Redactor::default();
        r.add("topsecret99");
        let text =
            "\u{1b}[32mApply complete!\u{1b}[0m top\0sec\u{7}ret99 \u{1b}]0;title\u{7}x\u{202e}y";
        let clean = r.clean(text, 500);
        assert_eq!(clean, "Apply complete! [redacted] xy");
    }

    #[test]
    fn long_text_is_cut() {
        let r = Redactor::default();
        let long = "é".repeat(5_000);
        let clean = r.clean(&long, usize::MAX);
        assert_eq!(clean.chars().count(), VENDOR_TEXT_MAX + 1);
        assert!(clean.ends_with('…'));
        assert_eq!(r.clean("short", 10), "short");
    }
}
