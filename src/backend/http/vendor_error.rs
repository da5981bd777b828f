//! Vendor error bodies: the one place where an HTTP status and body become a [`BackendError`].

use http::header::{HeaderMap, CONTENT_TYPE};
use http::StatusCode;

use super::{BackendError, Redactor, VENDOR_TEXT_MAX};

/// An error as a vendor's JSON error body describes it, extracted by an [`ErrorParser`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorError {
    /// The vendor's error code (Atlas `errorCode`).
    pub code: Option<String>,
    /// The vendor's message.
    pub message: String,
    /// The request field at fault, in the vendor's words.
    pub field: Option<String>,
}

/// A vendor hook that reads the vendor's JSON error shape; `None` when the body is not in
/// that shape (the generic reading then applies: `detail`, `message`, `error_description`,
/// `error`, `reason`).
pub type ErrorParser = fn(status: u16, body: &serde_json::Value) -> Option<VendorError>;

/// What [`error_from_response`] needs besides the response.
#[derive(Debug, Clone, Copy)]
pub struct ErrorContext<'a> {
    /// What was asked for, for [`BackendError::NotFound`].
    pub what: &'a str,
    /// The vendor's error-body hook.
    pub parser: Option<ErrorParser>,
    /// Attempts made, for [`BackendError::RateLimited`].
    pub attempts: u32,
    /// The secrets to redact from the vendor's text.
    pub redactor: &'a Redactor,
}

/// Maps a non-success status and its body to a [`BackendError`]: 404 → `NotFound`,
/// 401 → `Unauthenticated`, 403 → `PermissionDenied`, 400/409/422 → `Invalid`,
/// 429 → `RateLimited`, anything else → `Http`. The message is the vendor's (via the hook,
/// else common JSON fields, else a plain-text body). An HTML page or a malformed or truncated
/// JSON body is a `BadResponse` with a short clean excerpt, whatever the status: a 404 from a
/// web server that is not the API must not read as "already deleted". Every text taken from
/// the body is cleaned and redacted ([`Redactor::clean`]) and at most
/// [`VENDOR_TEXT_MAX`] characters long.
pub fn error_from_response(
    vendor: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &ErrorContext<'_>,
) -> BackendError {
    classify(vendor, status, headers, body, ctx, true)
}

/// [`error_from_response`], where a 404 is [`BackendError::NotFound`] only when
/// `not_found_means_object` (else the vendor removed the route: [`BackendError::Http`] with
/// its message, see [`super::Request::route_may_be_gone`]).
pub(super) fn classify(
    vendor: &'static str,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    ctx: &ErrorContext<'_>,
    not_found_means_object: bool,
) -> BackendError {
    let code = status.as_u16();
    let bad = |message: String| BackendError::BadResponse {
        vendor,
        status: code,
        message,
    };
    let trimmed = body.trim_ascii();
    let parsed = if trimmed.is_empty() {
        VendorError {
            code: None,
            message: status
                .canonical_reason()
                .unwrap_or("no message")
                .to_lowercase(),
            field: None,
        }
    } else if looks_like_html(trimmed, headers) {
        return bad(format!(
            "expected a JSON error, got an HTML page: «{}»",
            excerpt(trimmed, 160, ctx.redactor)
        ));
    } else if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") || is_json(headers) {
        match serde_json::from_slice::<serde_json::Value>(trimmed) {
            Ok(value) => ctx
                .parser
                .and_then(|p| p(code, &value))
                .unwrap_or_else(|| generic_vendor_error(&value)),
            Err(_) => {
                return bad(format!(
                    "malformed or truncated JSON error body: «{}»",
                    excerpt(trimmed, 160, ctx.redactor)
                ))
            }
        }
    } else {
        VendorError {
            code: None,
            message: excerpt(trimmed, 500, ctx.redactor),
            field: None,
        }
    };
    let clean = |text: &str, max: usize| ctx.redactor.clean(text, max);
    let message = clean(&parsed.message, VENDOR_TEXT_MAX);
    let vendor_code = parsed.code.as_deref().map(|c| clean(c, 100));
    let field = parsed.field.as_deref().map(|f| clean(f, 100));
    match code {
        404 if not_found_means_object => BackendError::NotFound {
            what: ctx.what.to_string(),
        },
        401 => BackendError::Unauthenticated {
            vendor,
            status: code,
            message,
        },
        403 => BackendError::PermissionDenied {
            vendor,
            status: code,
            message,
        },
        400 | 409 | 422 => BackendError::Invalid {
            vendor,
            status: code,
            code: vendor_code,
            message,
            field,
        },
        429 => BackendError::RateLimited {
            vendor,
            attempts: ctx.attempts,
            message,
        },
        _ => BackendError::Http {
            vendor,
            status: code,
            code: vendor_code,
            message,
        },
    }
}

/// The common ways APIs put a message in JSON: `detail`, `message`, `error_description`,
/// `error` (a string, or an object with `message`), `reason`, `msg`; else the compact JSON.
fn generic_vendor_error(value: &serde_json::Value) -> VendorError {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(serde_json::Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let nested = value
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let message = text("detail")
        .or_else(|| text("message"))
        .or_else(|| text("error_description"))
        .or(nested)
        .or_else(|| text("error"))
        .or_else(|| text("reason"))
        .or_else(|| text("msg"));
    let code = text("errorCode")
        .or_else(|| text("code"))
        .or_else(|| text("error_description").and_then(|_| text("error")));
    match message {
        Some(m) => VendorError {
            code,
            message: m,
            field: None,
        },
        None => VendorError {
            code,
            message: value.to_string(),
            field: None,
        },
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
}

pub(super) fn looks_like_html(body: &[u8], headers: &HeaderMap) -> bool {
    let ct_html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("html"));
    let start: Vec<u8> = body
        .trim_ascii_start()
        .iter()
        .take(15)
        .map(u8::to_ascii_lowercase)
        .collect();
    ct_html
        || start.starts_with(b"<!doctype html")
        || start.starts_with(b"<html")
        || start.starts_with(b"<head")
        || start.starts_with(b"<body")
}

/// A short, single-line, printable excerpt of a body for error messages: an HTML page gives
/// its `<title>` (or its text without tags, scripts and styles); escapes and control
/// characters are dropped, whitespace collapsed, secrets redacted ([`Redactor::clean`]), and
/// the result cut to `max_chars` with `…`.
pub fn excerpt(body: &[u8], max_chars: usize, redactor: &Redactor) -> String {
    // Only the start of a huge body can end up in the excerpt.
    let head = &body[..body.len().min(256 * 1024)];
    let text = String::from_utf8_lossy(head);
    if looks_like_html(head, &HeaderMap::new()) || text.trim_start().starts_with('<') {
        let lower = text.to_ascii_lowercase();
        if let (Some(start), Some(end)) = (lower.find("<title"), lower.find("</title>")) {
            if let Some(gt) = lower[start..].find('>') {
                let inner = &text[start + gt + 1..end.max(start + gt + 1)];
                let title = redactor.clean(inner, max_chars);
                if !title.is_empty() {
                    return title;
                }
            }
        }
        return redactor.clean(&strip_tags(&text), max_chars);
    }
    redactor.clean(&text, max_chars)
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if bytes[i] == b'<' {
            // Skip whole script/style elements, then any tag.
            let rest = &lower[i..];
            let skip_to = if rest.starts_with("<script") {
                rest.find("</script>").map(|p| p + "</script>".len())
            } else if rest.starts_with("<style") {
                rest.find("</style>").map(|p| p + "</style>".len())
            } else {
                rest.find('>').map(|p| p + 1)
            };
            match skip_to {
                Some(n) => {
                    i += n;
                    out.push(' ');
                    continue;
                }
                None => break,
            }
        }
        let ch_len = html[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&html[i..i + ch_len]);
        i += ch_len;
    }
    out
}
