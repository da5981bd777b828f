//! The server side of HTTP Digest access authentication (RFC 7616 / RFC 2617) as MongoDB Atlas
//! offers it: algorithm MD5, `qop="auth"`, realm `MMS Public API`.
//!
//! The server issues random nonces and remembers each with an expiry and the nonce counts
//! (`nc`) already used with it. A request is accepted when its `response` equals
//! `MD5(HA1:nonce:nc:cnonce:qop:HA2)` with `HA1 = MD5(username:realm:password)` and
//! `HA2 = MD5(method:request-uri)`, its `uri` is the request's own target, and its nonce is one
//! this server issued, not expired, with an `nc` not seen before for that nonce (so a nonce can
//! be reused with increasing counts, also when concurrent requests arrive out of order). A
//! correct response with an expired, unknown or replayed nonce is answered with a new
//! challenge carrying `stale=true`, as the RFC says, so clients retry without re-prompting.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use md5::{Digest as _, Md5};

/// The realm MongoDB Atlas announces.
pub(crate) const ATLAS_REALM: &str = "MMS Public API";

/// At most this many live nonces are remembered; the oldest are forgotten first.
const MAX_NONCES: usize = 100_000;

/// The nonces this server issued.
#[derive(Debug)]
pub(crate) struct NonceBook {
    ttl: Duration,
    nonces: Mutex<HashMap<String, NonceEntry>>,
}

#[derive(Debug)]
struct NonceEntry {
    expires: Instant,
    used: HashSet<u32>,
}

/// What the book says about a nonce and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NonceStatus {
    /// Issued here, not expired, count not used before (now recorded).
    Fresh,
    /// Expired, never issued here, or the count was already used.
    Stale,
}

impl NonceBook {
    /// A book whose nonces expire `ttl` after issue.
    pub(crate) fn new(ttl: Duration) -> NonceBook {
        NonceBook {
            ttl,
            nonces: Mutex::new(HashMap::new()),
        }
    }

    /// Issues and remembers a new random nonce.
    pub(crate) fn issue(&self) -> String {
        let nonce =
            base64::engine::general_purpose::STANDARD.encode(super::store::random_bytes::<24>());
        let now = Instant::now();
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        if nonces.len() >= MAX_NONCES / 2 {
            nonces.retain(|_, e| e.expires > now);
        }
        if nonces.len() >= MAX_NONCES {
            if let Some(oldest) = nonces
                .iter()
                .min_by_key(|(_, e)| e.expires)
                .map(|(k, _)| k.clone())
            {
                nonces.remove(&oldest);
            }
        }
        nonces.insert(
            nonce.clone(),
            NonceEntry {
                expires: now + self.ttl,
                used: HashSet::new(),
            },
        );
        nonce
    }

    /// Checks a nonce and count, recording the count when the nonce is fresh.
    pub(crate) fn check_and_record(&self, nonce: &str, nc: u32) -> NonceStatus {
        let now = Instant::now();
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        match nonces.get_mut(nonce) {
            Some(entry) if entry.expires <= now => {
                nonces.remove(nonce);
                NonceStatus::Stale
            }
            Some(entry) => {
                if entry.used.insert(nc) {
                    NonceStatus::Fresh
                } else {
                    NonceStatus::Stale
                }
            }
            None => NonceStatus::Stale,
        }
    }
}

/// The parameters of an `Authorization: Digest …` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DigestParams {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`: the request target the client signed.
    pub uri: String,
    /// `response`: the hex digest.
    pub response: String,
    /// `qop`, if sent.
    pub qop: Option<String>,
    /// `nc`, if sent (8 hex digits).
    pub nc: Option<String>,
    /// `cnonce`, if sent.
    pub cnonce: Option<String>,
    /// `algorithm`, if sent.
    pub algorithm: Option<String>,
}

/// Parses the value of an `Authorization` header of scheme Digest (scheme included).
/// Returns `None` for another scheme or a malformed or incomplete header.
pub(crate) fn parse_authorization(value: &str) -> Option<DigestParams> {
    let value = value.trim_start();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace())?;
    if !scheme.eq_ignore_ascii_case("digest") {
        return None;
    }
    let mut params = DigestParams::default();
    let (mut username, mut realm, mut nonce, mut uri, mut response) =
        (None, None, None, None, None);
    for (name, val) in parse_auth_params(rest)? {
        match name.to_ascii_lowercase().as_str() {
            "username" => username = Some(val),
            "realm" => realm = Some(val),
            "nonce" => nonce = Some(val),
            "uri" => uri = Some(val),
            "response" => response = Some(val),
            "qop" => params.qop = Some(val),
            "nc" => params.nc = Some(val),
            "cnonce" => params.cnonce = Some(val),
            "algorithm" => params.algorithm = Some(val),
            _ => {}
        }
    }
    params.username = username?;
    params.realm = realm?;
    params.nonce = nonce?;
    params.uri = uri?;
    params.response = response?;
    Some(params)
}

/// Splits `name=value, name="quoted \" value", …` into pairs; `None` when malformed.
fn parse_auth_params(input: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_ascii_whitespace() {
                break;
            }
            name.push(c);
            chars.next();
        }
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || name.is_empty() {
            return None;
        }
        while matches!(chars.peek(), Some(c) if c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' || c.is_ascii_whitespace() {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        out.push((name, value));
    }
}

/// Lowercase hex MD5 of `input`.
pub(crate) fn md5_hex(input: &str) -> String {
    hex::encode(Md5::digest(input.as_bytes()))
}

/// The `response` a client must send for `qop=auth`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn expected_response(
    username: &str,
    realm: &str,
    password: &str,
    method: &str,
    uri: &str,
    nonce: &str,
    nc: &str,
    cnonce: &str,
) -> String {
    let ha1 = md5_hex(&format!("{username}:{realm}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
}

/// The value of the `WWW-Authenticate` header of a challenge, in Atlas's form.
pub(crate) fn challenge(realm: &str, nonce: &str, stale: bool) -> String {
    format!(
        "Digest realm=\"{realm}\", domain=\"\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\", stale={stale}"
    )
}

/// The outcome of checking a Digest `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Authenticated as this username.
    Accepted(String),
    /// Not authenticated; challenge again, with `stale` as given.
    Challenge {
        /// The credentials were right but the nonce was not usable.
        stale: bool,
    },
}

/// Checks an `Authorization` header value against the request's method and target.
/// `password_of` returns the password of a username, or `None` for an unknown user.
pub(crate) fn verify(
    book: &NonceBook,
    realm: &str,
    method: &str,
    request_uri: &str,
    header: &str,
    password_of: impl FnOnce(&str) -> Option<String>,
) -> Verdict {
    let deny = Verdict::Challenge { stale: false };
    let Some(p) = parse_authorization(header) else {
        return deny;
    };
    let algorithm_ok = p
        .algorithm
        .as_deref()
        .is_none_or(|a| a.eq_ignore_ascii_case("MD5"));
    let qop_ok = p
        .qop
        .as_deref()
        .is_some_and(|q| q.eq_ignore_ascii_case("auth"));
    if p.realm != realm || !algorithm_ok || !qop_ok || p.uri != request_uri {
        return deny;
    }
    let (Some(nc), Some(cnonce)) = (p.nc.as_deref(), p.cnonce.as_deref()) else {
        return deny;
    };
    let Ok(count) = u32::from_str_radix(nc, 16) else {
        return deny;
    };
    if nc.len() != 8 {
        return deny;
    }
    let Some(password) = password_of(&p.username) else {
        return deny;
    };
    let expected = expected_response(
        &p.username,
        realm,
        &password,
        method,
        &p.uri,
        &p.nonce,
        nc,
        cnonce,
    );
    if !constant_time_eq(
        expected.as_bytes(),
        p.response.to_ascii_lowercase().as_bytes(),
    ) {
        return deny;
    }
    match book.check_and_record(&p.nonce, count) {
        NonceStatus::Fresh => Verdict::Accepted(p.username),
        NonceStatus::Stale => Verdict::Challenge { stale: true },
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, pass: &str, method: &str, uri: &str, nonce: &str, nc: &str) -> String {
        let cnonce = "0a4f113b";
        let response = expected_response(user, ATLAS_REALM, pass, method, uri, nonce, nc, cnonce);
        format!(
            "Digest username=\"{user}\", realm=\"{ATLAS_REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
             algorithm=MD5, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
        )
    }

    fn lookup(user: &str) -> Option<String> {
        (user == "abcdefgh").then(|| "secret-key".to_owned())
    }

    #[test]
    fn rfc_2617_example_response() {
        // RFC 2617 §3.5: Mufasa / "Circle Of Life".
        let r = expected_response(
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "00000001",
            "0a4f113b",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn parses_quoted_and_token_values() {
        let p = parse_authorization(
            r#"Digest username="a\"b", realm="MMS Public API", nonce="n,1", uri="/x?y=1", response="ab", qop=auth, nc=00000001, cnonce="c""#,
        )
        .unwrap();
        assert_eq!(p.username, "a\"b");
        assert_eq!(p.nonce, "n,1");
        assert_eq!(p.uri, "/x?y=1");
        assert_eq!(p.qop.as_deref(), Some("auth"));
        assert_eq!(p.nc.as_deref(), Some("00000001"));
        assert!(parse_authorization("Basic YTpi").is_none());
        assert!(parse_authorization("Digest username=\"unterminated").is_none());
        assert!(parse_authorization("Digest").is_none());
        assert!(parse_authorization("Digest realm=\"r\"").is_none());
    }

    #[test]
    fn accepts_a_correct_response_and_increasing_counts() {
        let book = NonceBook::new(Duration::from_secs(60));
        let nonce = book.issue();
        let uri = "/api/atlas/v2/orgs?pageNum=1";
        for nc in ["00000001", "00000003", "00000002"] {
            let h = header("abcdefgh", "secret-key", "GET", uri, &nonce, nc);
            assert_eq!(
                verify(&book, ATLAS_REALM, "GET", uri, &h, lookup),
                Verdict::Accepted("abcdefgh".into())
            );
        }
        // Replayed count: stale.
        let h = header("abcdefgh", "secret-key", "GET", uri, &nonce, "00000002");
        assert_eq!(
            verify(&book, ATLAS_REALM, "GET", uri, &h, lookup),
            Verdict::Challenge { stale: true }
        );
    }

    #[test]
    fn refuses_wrong_password_method_uri_user_and_realm() {
        let book = NonceBook::new(Duration::from_secs(60));
        let nonce = book.issue();
        let uri = "/api/atlas/v2/orgs";
        let deny = Verdict::Challenge { stale: false };
        let h = header("abcdefgh", "wrong", "GET", uri, &nonce, "00000001");
        assert_eq!(verify(&book, ATLAS_REALM, "GET", uri, &h, lookup), deny);
        let h = header("abcdefgh", "secret-key", "POST", uri, &nonce, "00000001");
        assert_eq!(verify(&book, ATLAS_REALM, "GET", uri, &h, lookup), deny);
        let h = header(
            "abcdefgh",
            "secret-key",
            "GET",
            "/other",
            &nonce,
            "00000001",
        );
        assert_eq!(verify(&book, ATLAS_REALM, "GET", uri, &h, lookup), deny);
        let h = header("zzzzzzzz", "secret-key", "GET", uri, &nonce, "00000001");
        assert_eq!(verify(&book, ATLAS_REALM, "GET", uri, &h, lookup), deny);
        let h = header("abcdefgh", "secret-key", "GET", uri, &nonce, "00000001")
            .replace(ATLAS_REALM, "Other");
        assert_eq!(verify(&book, ATLAS_REALM, "GET", uri, &h, lookup), deny);
        // A failed attempt does not burn the count.
        let h = header("abcdefgh", "secret-key", "GET", uri, &nonce, "00000001");
        assert_eq!(
            verify(&book, ATLAS_REALM, "GET", uri, &h, lookup),
            Verdict::Accepted("abcdefgh".into())
        );
    }

    #[test]
    fn expired_and_unknown_nonces_are_stale() {
        let book = NonceBook::new(Duration::from_millis(0));
        let nonce = book.issue();
        let uri = "/api/atlas/v2/orgs";
        let h = header("abcdefgh", "secret-key", "GET", uri, &nonce, "00000001");
        assert_eq!(
            verify(&book, ATLAS_REALM, "GET", uri, &h, lookup),
            Verdict::Challenge { stale: true }
        );
        let h = header(
            "abcdefgh",
            "secret-key",
            "GET",
            uri,
            "never-issued",
            "00000001",
        );
        assert_eq!(
            verify(&book, ATLAS_REALM, "GET", uri, &h, lookup),
            Verdict::Challenge { stale: true }
        );
    }

    #[test]
    fn challenge_has_atlas_shape() {
        assert_eq!(
            challenge(ATLAS_REALM, "abc", false),
            "Digest realm=\"MMS Public API\", domain=\"\", nonce=\"abc\", algorithm=MD5, qop=\"auth\", stale=false"
        );
    }
}
