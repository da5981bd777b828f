//! Small pieces the vendor clients share: client-side checks of values that go into URL
//! paths, notes appended to errors, and the bookkeeping of creates whose outcome was lost
//! (the time window in which they may have taken effect, the ids a client created itself,
//! and the fences that keep a reconciliation from mistaking a sibling's create for a lost one).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::http::Response;
use super::BackendError;

/// A [`BackendError::Invalid`] raised before any request (status 0).
pub(crate) fn invalid(
    vendor: &'static str,
    field: &str,
    message: impl Into<String>,
) -> BackendError {
    BackendError::Invalid {
        vendor,
        status: 0,
        code: None,
        message: message.into(),
        field: Some(field.to_string()),
    }
}

/// `s` cut to `max` characters with `…`.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Checks an id that goes into a URL path as one segment: non-empty, at most 128
/// characters, only ASCII letters, digits and `-_.~` (every id these vendors issue fits),
/// so it can neither change the path nor need escaping.
pub(crate) fn check_segment(
    vendor: &'static str,
    field: &str,
    value: &str,
) -> Result<(), BackendError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value != "."
        && value != ".."
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            vendor,
            field,
            format!(
                "{field} must be a non-empty id of letters, digits and -_.~, got {:?}",
                shorten(value, 40)
            ),
        ))
    }
}

/// Checks that a required text is not blank.
pub(crate) fn check_not_blank(
    vendor: &'static str,
    field: &str,
    value: &str,
) -> Result<(), BackendError> {
    if value.trim().is_empty() {
        Err(invalid(vendor, field, format!("{field} must not be empty")))
    } else {
        Ok(())
    }
}

/// Appends `note` to the message of `error` (the kinds an ambiguous create ends with, plus
/// the ones a reconciliation can add).
pub(crate) fn annotate(error: BackendError, note: &str) -> BackendError {
    match error {
        BackendError::Transport { vendor, message } => BackendError::Transport {
            vendor,
            message: message + note,
        },
        BackendError::Http {
            vendor,
            status,
            code,
            message,
        } => BackendError::Http {
            vendor,
            status,
            code,
            message: message + note,
        },
        BackendError::BadResponse {
            vendor,
            status,
            message,
        } => BackendError::BadResponse {
            vendor,
            status,
            message: message + note,
        },
        BackendError::RateLimited {
            vendor,
            attempts,
            message,
        } => BackendError::RateLimited {
            vendor,
            attempts,
            message: message + note,
        },
        other => other,
    }
}

/// Parses an RFC 3339 timestamp.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

/// The server's clock minus ours, in seconds, from a response's `Date` header.
pub(crate) fn clock_offset(resp: &Response) -> Option<i64> {
    resp.server_date()
        .map(|server| (server - OffsetDateTime::now_utc()).whole_seconds())
}

/// When a create whose outcome was lost was in flight, by the local clock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CreateWindow {
    /// Just before the request was sent.
    pub sent: OffsetDateTime,
    /// When it failed.
    pub failed: OffsetDateTime,
}

impl CreateWindow {
    /// Slack either side when the server's clock is known (its `Date` header has whole
    /// seconds and the creation time may be rounded).
    const CALIBRATED_MARGIN: i64 = 3;
    /// Slack either side when it is not.
    const UNCALIBRATED_MARGIN: i64 = 300;

    /// Whether an object the server says was created at `created` (Unix seconds, server
    /// clock) may come from this create, given the server clock offset when known.
    pub fn contains(&self, created: i64, offset: Option<i64>) -> bool {
        let (offset, margin) = match offset {
            Some(o) => (o, Self::CALIBRATED_MARGIN),
            None => (0, Self::UNCALIBRATED_MARGIN),
        };
        let from = self.sent.unix_timestamp() + offset - margin;
        let to = self.failed.unix_timestamp() + offset + margin;
        (from..=to).contains(&created)
    }

    /// [`Self::contains`] for an RFC 3339 creation time; `false` when there is none.
    pub fn contains_time(&self, created: Option<&str>, offset: Option<i64>) -> bool {
        created
            .and_then(parse_time)
            .is_some_and(|t| self.contains(t.unix_timestamp(), offset))
    }
}

/// How long to wait before each look at a listing while reconciling (eventually consistent
/// listings may show a new object late): at once, then after 2 and 4 × `initial` backoff.
pub(crate) fn look_delays(initial: Duration) -> [Duration; 3] {
    [Duration::ZERO, initial * 2, initial * 4]
}

/// Ids of objects a client created itself (never reconciliation candidates).
#[derive(Debug, Default)]
pub(crate) struct OwnIds(Mutex<HashSet<String>>);

impl OwnIds {
    /// Remembers `id`.
    pub fn insert(&self, id: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_ascii_lowercase());
    }

    /// Whether `id` was remembered.
    pub fn contains(&self, id: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&id.to_ascii_lowercase())
    }
}

/// A fence between creates of one name (held shared) and the reconciliation of a lost one
/// (held exclusively), so that a sibling's create is never in flight while candidates are
/// picked.
pub(crate) type Fence = Arc<tokio::sync::RwLock<()>>;

/// Fences by key (scope and name).
#[derive(Debug, Default)]
pub(crate) struct Fences(Mutex<HashMap<String, Fence>>);

impl Fences {
    /// The fence of `key`.
    pub fn get(&self, key: String) -> Fence {
        let mut fences = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Drop fences nobody holds any more, so the map stays small.
        fences.retain(|_, f| Arc::strong_count(f) > 1);
        Arc::clone(fences.entry(key).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_and_windows() {
        assert!(check_segment("x", "id", "5f1a-B_c.d~").is_ok());
        for bad in ["", "a/b", "a?b", "..", "a b", "a%2F", "é"] {
            let err = check_segment("x", "id", bad).unwrap_err();
            assert!(
                matches!(err, BackendError::Invalid { status: 0, .. }),
                "{bad}"
            );
        }
        let now = OffsetDateTime::now_utc();
        let w = CreateWindow {
            sent: now,
            failed: now + Duration::from_secs(2),
        };
        let t = now.unix_timestamp();
        assert!(w.contains(t + 1, Some(0)));
        assert!(w.contains(t + 100, Some(100)));
        assert!(!w.contains(t + 10, Some(0)));
        assert!(w.contains(t + 10, None));
        assert!(w.contains_time(Some(&now.format(&Rfc3339).unwrap()), Some(0)));
        assert!(!w.contains_time(None, Some(0)));
        assert!(!w.contains_time(Some("yesterday"), None));
    }
}
