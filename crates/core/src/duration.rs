//! Durations as the config writes them: `"250ms"`, `"5s"`, `"1m30s"`, `"1h"`, `"0"`.

use std::time::Duration;

/// Why a duration string was refused; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    pub message: String,
    /// Byte offset in the string where the problem starts.
    pub offset: usize,
}

const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a sequence of `<number><unit>` parts (units ns, us, ms, s, m, h, d; decimals
/// allowed, e.g. `"1.5s"`). A bare `"0"` is zero; any other number needs a unit, because a
/// bare `5` is ambiguous between seconds and milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = |offset: usize, message: String| Err(DurationError { message, offset });
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return err(
            0,
            "empty duration; write e.g. \"500ms\", \"10s\" or \"1m30s\"".into(),
        );
    }
    let bytes = s.as_bytes();
    let mut total: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &s[start..i];
        if number.is_empty() {
            return err(start, format!("expected a number at `{}`", &s[start..]));
        }
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit = &s[unit_start..i];
        if unit.is_empty() {
            return err(
                unit_start,
                format!("`{number}` has no unit; write e.g. \"{number}s\" or \"{number}ms\""),
            );
        }
        let Some(&(_, nanos_per)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return err(
                unit_start,
                format!("unknown unit `{unit}`; use one of ns, us, ms, s, m, h, d"),
            );
        };
        let value: f64 = match number.parse() {
            Ok(v) => v,
            Err(_) => return err(start, format!("`{number}` is not a number")),
        };
        let nanos = value * nanos_per as f64;
        if !nanos.is_finite() || nanos > 1e20 {
            return err(start, format!("`{number}{unit}` is too long"));
        }
        total += nanos.round() as u128;
    }
    let secs = (total / 1_000_000_000) as u64;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// The shortest exact text `parse_duration` reads back as `d` (`"1m30s"`, `"250ms"`).
pub fn format_duration(d: Duration) -> String {
    let mut nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for &(unit, per) in UNITS.iter().rev() {
        let per = per as u128;
        if nanos >= per {
            out.push_str(&format!("{}{unit}", nanos / per));
            nanos %= per;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn refuses_with_a_reason() {
        assert!(parse_duration("5").unwrap_err().message.contains("no unit"));
        assert!(parse_duration("5 years").is_err());
        assert!(
            parse_duration("5y")
                .unwrap_err()
                .message
                .contains("unknown unit `y`")
        );
        assert!(parse_duration("").is_err());
        assert!(
            parse_duration("ms")
                .unwrap_err()
                .message
                .contains("expected a number")
        );
    }

    #[test]
    fn format_round_trips() {
        for ms in [0u64, 1, 250, 1000, 90_000, 3_600_000, 86_400_001] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{ms}ms");
        }
    }
}
