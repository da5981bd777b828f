//! Durations in Go/Terraform syntax: a sequence of number+unit (`"30s"`, `"90m"`,
//! `"1h30m"`, `"1.5h"`), units `s`, `m`, `h`.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
