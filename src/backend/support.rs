//! Small pieces the vendor clients share: client-side checks of values that go into URL
//! paths, notes appended to errors, and the bounds every paginated listing keeps.

use std::collections::HashSet;

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

/// Appends `note` to the message of `error` (what an ambiguous create ends with, and what a
/// reconciliation found out).
pub(crate) fn annotate(error: BackendError, note: &str) -> BackendError {
    use BackendError as E;
    match error {
        E::Transport { vendor, message } => E::Transport {
            vendor,
            message: message + note,
        },
        E::Http {
            vendor,
            status,
            code,
            message,
        } => E::Http {
            vendor,
            status,
            code,
            message: message + note,
        },
        E::BadResponse {
            vendor,
            status,
            message,
        } => E::BadResponse {
            vendor,
            status,
            message: message + note,
        },
        E::RateLimited {
            vendor,
            attempts,
            message,
        } => E::RateLimited {
            vendor,
            attempts,
            message: message + note,
        },
        E::Interrupted { vendor, message } => E::Interrupted {
            vendor,
            message: message + note,
        },
        E::Unauthenticated {
            vendor,
            status,
            message,
        } => E::Unauthenticated {
            vendor,
            status,
            message: message + note,
        },
        E::PermissionDenied {
            vendor,
            status,
            message,
        } => E::PermissionDenied {
            vendor,
            status,
            message: message + note,
        },
        E::Invalid {
            vendor,
            status,
            code,
            message,
            field,
        } => E::Invalid {
            vendor,
            status,
            code,
            message: message + note,
            field,
        },
        E::Config { vendor, message } => E::Config {
            vendor,
            message: message + note,
        },
        E::NotFound { what } => E::NotFound { what: what + note },
        E::NotSupported { vendor, operation } => E::NotSupported {
            vendor,
            operation: operation + note,
        },
    }
}

/// The most items one listing may hold; a longer one is an error naming the endpoint.
pub(crate) const MAX_LISTING_ITEMS: usize = 100_000;

/// The pages of one listing as they are read: duplicates dropped, and an error when the
/// listing passes [`MAX_LISTING_ITEMS`] or a full page brings nothing new (pagination that
/// does not advance), so that a misbehaving vendor can never make a listing endless.
pub(crate) struct Pages<T> {
    vendor: &'static str,
    endpoint: String,
    seen: HashSet<String>,
    items: Vec<T>,
    pages: usize,
}

impl<T> Pages<T> {
    /// An empty listing of `endpoint` (e.g. `GET /api/atlas/v2/orgs/…/apiKeys`).
    pub fn new(vendor: &'static str, endpoint: impl Into<String>) -> Self {
        Pages {
            vendor,
            endpoint: endpoint.into(),
            seen: HashSet::new(),
            items: Vec::new(),
            pages: 0,
        }
    }

    /// Adds one page of `page_size` requested items. `Ok(true)` when the next page should be
    /// read (this one was full and brought new items).
    pub fn add(
        &mut self,
        page: Vec<T>,
        page_size: usize,
        id: impl Fn(&T) -> &str,
    ) -> Result<bool, BackendError> {
        self.pages += 1;
        let count = page.len();
        let mut new = 0;
        for item in page {
            if self.seen.insert(id(&item).to_ascii_lowercase()) {
                new += 1;
                self.items.push(item);
            }
        }
        if self.items.len() > MAX_LISTING_ITEMS {
            return Err(BackendError::BadResponse {
                vendor: self.vendor,
                status: 200,
                message: format!(
                    "the listing {} passed {MAX_LISTING_ITEMS} items after {} pages; keysmith stopped reading it",
                    self.endpoint, self.pages
                ),
            });
        }
        if count < page_size || count == 0 {
            return Ok(false);
        }
        if new == 0 {
            return Err(BackendError::BadResponse {
                vendor: self.vendor,
                status: 200,
                message: format!(
                    "page {} of the listing {} repeats earlier items; its pagination does not advance",
                    self.pages, self.endpoint
                ),
            });
        }
        Ok(true)
    }

    /// The last item added, if any (the cursor of cursor-paginated listings).
    pub fn last(&self) -> Option<&T> {
        self.items.last()
    }

    /// Every item, in listing order.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_checked() {
        assert!(check_segment("x", "id", "5f1a-B_c.d~").is_ok());
        for bad in ["", "a/b", "a?b", "..", "a b", "a%2F", "é"] {
            let err = check_segment("x", "id", bad).unwrap_err();
            assert!(
                matches!(err, BackendError::Invalid { status: 0, .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn listings_are_bounded() {
        let ids = |from: usize, n: usize| (from..from + n).map(|i| i.to_string()).collect();
        let mut pages: Pages<String> = Pages::new("x", "GET /things");
        assert!(pages.add(ids(0, 10), 10, |s| s).unwrap());
        assert!(!pages.add(ids(10, 3), 10, |s| s).unwrap());
        assert_eq!(pages.into_items().len(), 13);
        // A full page of nothing new: pagination does not advance.
        let mut pages: Pages<String> = Pages::new("x", "GET /things");
        assert!(pages.add(ids(0, 10), 10, |s| s).unwrap());
        let err = pages.add(ids(0, 10), 10, |s| s).unwrap_err();
        assert!(err.to_string().contains("GET /things"), "{err}");
        // Pages that keep bringing new items stop at the bound.
        let mut pages: Pages<String> = Pages::new("x", "GET /endless");
        let mut from = 0;
        let err = loop {
            match pages.add(ids(from, 1000), 1000, |s| s) {
                Ok(more) => assert!(more),
                Err(e) => break e,
            }
            from += 1000;
        };
        assert!(from <= MAX_LISTING_ITEMS, "stopped after {from}");
        assert!(err.to_string().contains("GET /endless"), "{err}");
        assert!(err.to_string().contains("100000"), "{err}");
    }
}
