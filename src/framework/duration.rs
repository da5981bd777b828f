//! Durations in Go/Terraform syntax: a sequence of number+unit (`"30s"`, `"90m"`,
//! `"1h30m"`, `"1.5h"`), units `s`, `m`, `h`.

use std::time::Duration;

/// The longest duration any setting accepts: 876,000 hours (100 years, SPEC §3).
pub const MAX_DURATION: Duration = Duration::from_secs(876_000 * 3600);

/// Parses a duration; the error says what is wrong in words a user understands.
///
/// # Errors
/// When the text is empty, has no unit, an unknown unit, or a malformed number.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("a duration must not be empty".into());
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?} has a number without a unit (use s, m or h)"))?;
        if number_len == 0 {
            return Err(format!(
                "{text:?} is not a duration: expected a number followed by s, m or h, like \"30s\" or \"1h30m\""
            ));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("{text:?} has a malformed number"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "{text:?} has unknown unit {other:?}: use s, m or h, like \"30s\", \"90m\" or \"720h\""
                ))
            }
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 1e12 {
        return Err(format!("{text:?} is too long a duration"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// Parses a duration that must lie in `min..=max`; the error names the bounds.
///
/// # Errors
/// As [`parse_duration`], and when the duration is out of bounds.
pub fn parse_duration_within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < min || d > max || (min.is_zero() && d.is_zero()) {
        let min_text = if min.is_zero() {
            "greater than zero".to_string()
        } else {
            format!("at least {}", show(min))
        };
        let shown = text.trim();
        return Err(format!(
            "{shown:?} is out of range: a duration here is {min_text} and at most {}",
            show(max)
        ));
    }
    Ok(d)
}

/// `90m` → `"1h30m"`-style text, whole seconds.
fn show(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if sec > 0 || out.is_empty() {
        out.push_str(&format!("{sec}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_enforced_with_their_values_named() {
        let max = Duration::from_secs(876_000 * 3600);
        assert!(parse_duration_within("720h", Duration::ZERO, max).is_ok());
        let zero = parse_duration_within("0s", Duration::ZERO, max).unwrap_err();
        assert!(zero.contains("greater than zero"), "{zero}");
        let huge = parse_duration_within("87600000h", Duration::ZERO, max).unwrap_err();
        assert!(huge.contains("at most 876000h"), "{huge}");
        let ttl = parse_duration_within("30s", Duration::from_secs(60), Duration::from_secs(86400))
            .unwrap_err();
        assert!(
            ttl.contains("at least 1m") && ttl.contains("at most 24h"),
            "{ttl}"
        );
    }

    #[test]
    fn accepts_go_syntax() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_anything_else() {
        for bad in [
            "",
            "30",
            "30 seconds",
            "h",
            "1d",
            "-5s",
            "1h30",
            "s30",
            "1..5s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        #[test]
        fn any_text_is_a_duration_or_an_error(text in ".{0,40}", digits in "[0-9.]{1,30}[smh]{0,2}") {
            let _ = parse_duration(&text);
            let _ = parse_duration(&digits);
            let _ = parse_duration_within(&digits, Duration::ZERO, Duration::from_secs(876_000 * 3600));
        }

        #[test]
        fn hours_minutes_seconds_add_up(h in 0u64..1000, m in 0u64..1000, s in 0u64..1000) {
            let text = format!("{h}h{m}m{s}s");
            proptest::prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(h * 3600 + m * 60 + s)));
        }
    }
}
