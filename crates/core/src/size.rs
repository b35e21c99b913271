//! Sizes as the config writes them: `"10MiB"`, `"512KB"`, `"1.5GiB"`, `"64M"`, `"4096B"`,
//! or a plain number of bytes.

/// Why a size string was refused; the message is shown to the user as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizeError {
    pub message: String,
    /// Byte offset in the string where the problem starts.
    pub offset: usize,
}

/// The units, matched without regard to case (`kib` is `KiB`): decimal `KB`, `MB`, `GB`,
/// `TB` and binary `KiB`, `MiB`, `GiB`, `TiB`.
const UNITS: &[(&str, u64)] = &[
    ("B", 1),
    ("KB", 1_000),
    ("KiB", 1 << 10),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
    ("TB", 1_000_000_000_000),
    ("TiB", 1 << 40),
];

/// The one-letter units of `ulimit` and systemd (`"64M"`): binary. Read, never written.
const SHORT_UNITS: &[(&str, u64)] = &[
    ("K", 1 << 10),
    ("M", 1 << 20),
    ("G", 1 << 30),
    ("T", 1 << 40),
];

/// Parses `<number><unit>` (a decimal number, one unit of [`UNITS`], spaces allowed between
/// them) or a bare whole number of bytes. The result is rounded down to a whole byte.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let err = |offset: usize, message: String| Err(SizeError { message, offset });
    let lead = text.len() - text.trim_start().len();
    let s = text.trim();
    if s.is_empty() {
        return err(0, "empty size; write e.g. \"10MiB\" or \"512KB\"".into());
    }
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number = &s[..end];
    if number.is_empty() {
        return err(lead, format!("expected a number at `{s}`"));
    }
    let value: f64 = match number.parse() {
        Ok(v) => v,
        Err(_) => return err(lead, format!("`{number}` is not a number")),
    };
    let unit_at = end + (s.len() - end - s[end..].trim_start().len());
    let unit = &s[unit_at..];
    let per = if unit.is_empty() {
        if number.contains('.') {
            return err(
                lead,
                format!("`{number}` bytes is not a whole number; add a unit, e.g. \"{number}MiB\""),
            );
        }
        1
    } else {
        match UNITS
            .iter()
            .chain(SHORT_UNITS)
            .find(|(u, _)| u.eq_ignore_ascii_case(unit))
        {
            Some(&(_, per)) => per,
            None => {
                return err(
                    lead + unit_at,
                    format!(
                        "unknown unit `{unit}`; use one of B, KB, KiB, MB, MiB, GB, GiB, TB, \
                         TiB (K, M, G and T are KiB, MiB, GiB and TiB)"
                    ),
                );
            }
        }
    };
    let bytes = value * per as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return err(lead, format!("`{s}` is too large"));
    }
    Ok(bytes as u64)
}

/// The shortest exact text [`parse_size`] reads back as `bytes`: `"10MiB"`, `"1500KB"`,
/// `"4097B"`.
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".into();
    }
    UNITS
        .iter()
        .rev()
        .find(|(_, per)| bytes.is_multiple_of(*per))
        .map(|(unit, per)| format!("{}{unit}", bytes / per))
        .unwrap_or_else(|| format!("{bytes}B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_plain_bytes() {
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("10 MiB"), Ok(10 << 20));
        assert_eq!(parse_size("10mib"), Ok(10 << 20));
        assert_eq!(parse_size("512KB"), Ok(512_000));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size(" 7 B "), Ok(7));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("8k"), Ok(8 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("2TB"), Ok(2_000_000_000_000));
    }

    #[test]
    fn refuses_with_a_reason_and_a_place() {
        let e = parse_size("10MB!").unwrap_err();
        assert!(e.message.contains("unknown unit `MB!`"), "{e:?}");
        assert_eq!(e.offset, 2);
        let e = parse_size("10 parsecs").unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(parse_size("").unwrap_err().message.contains("empty"));
        assert!(
            parse_size("MiB")
                .unwrap_err()
                .message
                .contains("expected a number")
        );
        assert!(
            parse_size("1.2.3MiB")
                .unwrap_err()
                .message
                .contains("not a number")
        );
        assert!(
            parse_size("1.5")
                .unwrap_err()
                .message
                .contains("whole number")
        );
        assert!(
            parse_size("99999999999GiB")
                .unwrap_err()
                .message
                .contains("too large")
        );
    }

    #[test]
    fn format_round_trips() {
        for b in [
            1u64,
            999,
            1000,
            1024,
            4096,
            1_500_000,
            10 << 20,
            3 << 30,
            4097,
        ] {
            assert_eq!(parse_size(&format_size(b)), Ok(b), "{b}");
        }
        assert_eq!(format_size(10 << 20), "10MiB");
        assert_eq!(format_size(1_500_000), "1500KB");
        assert_eq!(format_size(4097), "4097B");
    }
}
