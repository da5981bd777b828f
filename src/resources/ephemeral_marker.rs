//! The marker that names an ephemeral key on the vendor's side (SPEC §4a):
//! `<name> [keysmith-ephemeral expires=YYYY-MM-DDTHH:MM:SSZ]`.
//!
//! The marker is what lets a later Open delete a key that a crashed run never closed, and
//! nothing else: a key is taken for such a leftover only when its name ends with exactly this
//! form (one space, the literal text, a valid UTC time in whole seconds, the bracket) and the
//! time has passed. Everything here is checked: no input makes it panic or overflow.

use std::time::Duration;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The longest vendor-side name (Atlas `desc` is 1–250 characters).
pub(crate) const MAX_NAME_CHARS: usize = 250;

/// Everything of the marker before its time.
const OPEN: &str = " [keysmith-ephemeral expires=";
/// Everything of the marker after its time.
const CLOSE: &str = "]";
/// `YYYY-MM-DDTHH:MM:SSZ`.
const STAMP_LEN: usize = 20;

/// When a key opened at `now` with a `ttl` expires, in whole seconds.
///
/// # Errors
/// When the time is past what the marker can hold (year 9999).
pub(crate) fn expiry(now: OffsetDateTime, ttl: Duration) -> Result<OffsetDateTime, String> {
    let too_late =
        || "the key's expiry (now + ttl) is past the last time keysmith can represent".to_string();
    let ttl = time::Duration::try_from(ttl).map_err(|_| too_late())?;
    let expires = now
        .checked_to_offset(UtcOffset::UTC)
        .and_then(|t| t.checked_add(ttl))
        .ok_or_else(too_late)?;
    let expires = expires.replace_nanosecond(0).map_err(|_| too_late())?;
    if (0..=9999).contains(&expires.year()) {
        Ok(expires)
    } else {
        Err(too_late())
    }
}

/// `expires` as the marker writes it (`2026-07-01T12:00:00Z`); `None` outside years
/// 0000–9999 or for a time that is not UTC.
pub(crate) fn format_stamp(expires: OffsetDateTime) -> Option<String> {
    if expires.offset() != UtcOffset::UTC || !(0..=9999).contains(&expires.year()) {
        return None;
    }
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        expires.year(),
        u8::from(expires.month()),
        expires.day(),
        expires.hour(),
        expires.minute(),
        expires.second()
    ))
}

/// The vendor-side name of a key named `name` that expires at `expires`: `name`, shortened
/// by characters (never inside one) so that the whole is at most [`MAX_NAME_CHARS`], then
/// the marker.
///
/// # Errors
/// When `expires` cannot be written in the marker (see [`format_stamp`]).
pub(crate) fn marked_name(name: &str, expires: OffsetDateTime) -> Result<String, String> {
    let stamp = format_stamp(expires)
        .ok_or_else(|| "the key's expiry cannot be written as an RFC 3339 UTC time".to_string())?;
    let marker = format!("{OPEN}{stamp}{CLOSE}");
    let room = MAX_NAME_CHARS.saturating_sub(marker.chars().count());
    let mut marked: String = name.chars().take(room).collect();
    marked.push_str(&marker);
    Ok(marked)
}

/// The expiry a vendor-side name carries, when it ends with exactly the marker; `None` for
/// any other name (no marker, a malformed or impossible time, another spelling).
pub(crate) fn marked_expiry(name: &str) -> Option<OffsetDateTime> {
    let rest = name.strip_suffix(CLOSE)?;
    let split = rest.len().checked_sub(STAMP_LEN)?;
    if !rest.is_char_boundary(split) {
        return None;
    }
    let (head, stamp) = rest.split_at(split);
    head.strip_suffix(OPEN)?;
    parse_stamp(stamp)
}

/// Whether `name` is an ephemeral key's whose marked expiry is before `now`.
pub(crate) fn is_expired(name: &str, now: OffsetDateTime) -> bool {
    marked_expiry(name).is_some_and(|expires| expires < now)
}

/// Parses exactly `YYYY-MM-DDTHH:MM:SSZ` (upper-case `T` and `Z`, every digit present, a
/// real calendar date and time of day).
fn parse_stamp(stamp: &str) -> Option<OffsetDateTime> {
    let b = stamp.as_bytes();
    if b.len() != STAMP_LEN {
        return None;
    }
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'Z'),
    ];
    if separators.iter().any(|&(i, c)| b.get(i) != Some(&c)) {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u16> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0u16, |n, &d| {
            d.is_ascii_digit()
                .then(|| n.checked_mul(10)?.checked_add(u16::from(d - b'0')))
                .flatten()
        })
    };
    let year = i32::from(number(0, 4)?);
    let month = Month::try_from(u8::try_from(number(5, 7)?).ok()?).ok()?;
    let day = u8::try_from(number(8, 10)?).ok()?;
    let hour = u8::try_from(number(11, 13)?).ok()?;
    let minute = u8::try_from(number(14, 16)?).ok()?;
    let second = u8::try_from(number(17, 19)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T: OffsetDateTime = datetime!(2026-07-01 12:00:05 UTC);

    #[test]
    fn the_marker_has_exactly_the_specified_form() {
        assert_eq!(
            marked_name("ci deploy", T).unwrap(),
            "ci deploy [keysmith-ephemeral expires=2026-07-01T12:00:05Z]"
        );
        assert_eq!(
            marked_expiry("ci deploy [keysmith-ephemeral expires=2026-07-01T12:00:05Z]"),
            Some(T)
        );
        assert_eq!(
            format_stamp(datetime!(0001-02-03 04:05:06 UTC)).unwrap(),
            "0001-02-03T04:05:06Z"
        );
        // Not UTC, or past what four digits hold: no marker at all.
        assert_eq!(format_stamp(datetime!(2026-07-01 12:00:05 +1)), None);
        assert!(marked_name("k", datetime!(-0001-01-01 0:00 UTC)).is_err());
    }

    #[test]
    fn names_are_shortened_by_characters_to_250_in_all() {
        let marker_len = marked_name("", T).unwrap().chars().count();
        assert_eq!(marker_len, 50);
        for name in [
            "a".repeat(300),
            "é".repeat(300),
            "🔑".repeat(199),
            "x".repeat(200),
            "ü".repeat(201),
        ] {
            let marked = marked_name(&name, T).unwrap();
            let kept: String = name.chars().take(200).collect();
            assert!(marked.chars().count() <= MAX_NAME_CHARS, "{marked}");
            assert_eq!(
                marked,
                format!("{kept} [keysmith-ephemeral expires=2026-07-01T12:00:05Z]")
            );
            assert_eq!(marked_expiry(&marked), Some(T));
        }
        // Multi-byte names: 200 characters kept, more than 250 bytes in all, never cut inside one.
        let marked = marked_name(&"é".repeat(300), T).unwrap();
        assert_eq!(marked.chars().count(), 250);
        assert!(marked.len() > 250);
        // Short names are left whole.
        assert!(marked_name("short", T).unwrap().starts_with("short ["));
    }

    #[test]
    fn only_the_exact_marker_parses() {
        let good = " [keysmith-ephemeral expires=2026-07-01T12:00:05Z]";
        assert_eq!(marked_expiry(&format!("k{good}")), Some(T));
        assert_eq!(
            marked_expiry(good),
            Some(T),
            "the marker alone still is one"
        );
        for bad in [
            "k",
            "k [keysmith-ephemeral expires=2026-07-01T12:00:05Z] ",
            "k [keysmith-ephemeral expires=2026-07-01T12:00:05Z]]x",
            "k[keysmith-ephemeral expires=2026-07-01T12:00:05Z]",
            "k [keysmith-ephemeral  expires=2026-07-01T12:00:05Z]",
            "k [Keysmith-ephemeral expires=2026-07-01T12:00:05Z]",
            "k [keysmith-ephemeral expires=2026-07-01t12:00:05z]",
            "k [keysmith-ephemeral expires=2026-07-01T12:00:05+00:00]",
            "k [keysmith-ephemeral expires=2026-07-01T12:00:05.5Z]",
            "k [keysmith-ephemeral expires=2026-7-01T12:00:05Z]",
            "k [keysmith-ephemeral expires=2026-07-01 12:00:05Z]",
            "k [keysmith-ephemeral expires=2026-02-30T12:00:05Z]",
            "k [keysmith-ephemeral expires=2026-13-01T12:00:05Z]",
            "k [keysmith-ephemeral expires=2026-07-01T24:00:00Z]",
            "k [keysmith-ephemeral expires=2026-07-01T23:59:60Z]",
            "k [keysmith-ephemeral expires=+026-07-01T12:00:05Z]",
            "k [keysmith-ephemeral expires=２026-07-01T12:00:05Z]",
            "k [keysmith-ephemeral expires=]",
            "]",
            "",
            "é]",
            "ééééééééééé]",
            "éééééééééééa]",
        ] {
            assert_eq!(marked_expiry(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn expired_means_strictly_before_now() {
        let name = marked_name("k", T).unwrap();
        assert!(is_expired(&name, T + time::Duration::seconds(1)));
        assert!(!is_expired(&name, T));
        assert!(!is_expired(&name, T - time::Duration::hours(1)));
        assert!(!is_expired(
            "k [keysmith-ephemeral expires=2026-02-30T12:00:05Z]",
            T
        ));
        assert!(!is_expired("plain name", T));
    }

    #[test]
    fn expiry_is_now_plus_ttl_in_whole_seconds_and_never_overflows() {
        let now = datetime!(2026-07-01 12:00:05.75 UTC);
        assert_eq!(
            expiry(now, Duration::from_secs(3600)).unwrap(),
            datetime!(2026-07-01 13:00:05 UTC)
        );
        assert_eq!(
            expiry(now, Duration::from_millis(90_500)).unwrap(),
            datetime!(2026-07-01 12:01:36 UTC)
        );
        let offset = datetime!(2026-07-01 14:00:05 +2);
        assert_eq!(
            expiry(offset, Duration::from_secs(60)).unwrap(),
            datetime!(2026-07-01 12:01:05 UTC)
        );
        assert!(expiry(
            datetime!(9999-12-31 23:59:00 UTC),
            Duration::from_secs(3600)
        )
        .is_err());
        assert!(expiry(T, Duration::MAX).is_err());
        assert!(expiry(
            OffsetDateTime::new_utc(Date::MAX, Time::MIDNIGHT),
            Duration::from_secs(86_400)
        )
        .is_err());
    }
}
