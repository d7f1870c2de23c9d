//! Byte sizes: plain bytes, or a number with a binary or decimal unit.

use crate::ParseError;

/// The binary units [`format_size`] writes, largest first.
const BINARY: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];

fn unit_bytes(unit: &str) -> Option<u64> {
    Some(match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return None,
    })
}

/// A byte size: a non-negative number (fractions allowed) and an optional unit, with optional
/// blanks: `1048576`, `512KiB`, `1.5 KB`, `64MiB`, `1GB`, `2g`. Decimal units (`KB`, `MB`, `GB`,
/// `TB`) are powers of 1000, binary ones (`KiB`..`TiB`, or `k`, `m`, `g`, `t` alone) of 1024; any
/// case. Fractional results are truncated to whole bytes.
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let bad = |reason: String| ParseError::Size {
        text: text.to_owned(),
        reason,
    };
    let s = text.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(bad(if s.is_empty() {
            "empty".into()
        } else {
            "expected a number first".into()
        }));
    }
    let mult = unit_bytes(unit).ok_or_else(|| bad(format!("unknown unit {unit}")))?;
    // Whole numbers are multiplied exactly; only fractions go through floating point.
    if let Ok(n) = number.parse::<u64>() {
        return n.checked_mul(mult).ok_or_else(|| bad("too large".into()));
    }
    let n: f64 = number.parse().map_err(|_| bad(format!("{number} is not a number")))?;
    let v = n * mult as f64;
    if v >= u64::MAX as f64 {
        return Err(bad("too large".into()));
    }
    Ok(v as u64)
}

/// The exact form of a size in the largest binary unit that divides it (`64MiB`, `1536KiB`), or
/// plain bytes (`1000`). [`parse_size`] reads it back to the same number.
pub fn format_size(bytes: u64) -> String {
    match BINARY
        .iter()
        .find(|(_, size)| bytes != 0 && bytes.is_multiple_of(*size))
    {
        Some((unit, size)) => format!("{}{unit}", bytes / size),
        None => bytes.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Formats `bytes`, parses it back and checks the value survives.
    fn round_trip(bytes: u64) {
        let text = format_size(bytes);
        assert_eq!(parse_size(&text), Ok(bytes), "{text}");
    }

    #[test]
    fn sizes() {
        let ok = [
            ("1024", 1024),
            ("0", 0),
            ("32MiB", 32 << 20),
            ("64mib", 64 << 20),
            ("1.5 KB", 1500),
            ("1GB", 1_000_000_000),
            ("2g", 2 << 30),
            ("10 B", 10),
            (" 3TiB ", 3 << 40),
            ("0.5KiB", 512),
        ];
        for (text, bytes) in ok {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        let errors = [
            ("", "empty"),
            ("lots", "expected a number first"),
            ("-1", "expected a number first"),
            ("1x", "unknown unit x"),
            ("1.2.3", "1.2.3 is not a number"),
            ("16777216TiB", "too large"),
            ("1e30", "unknown unit e30"),
        ];
        for (text, reason) in errors {
            assert_eq!(parse_size(text).unwrap_err().reason(), reason, "{text}");
        }
        assert_eq!(
            parse_size("1x").unwrap_err().to_string(),
            "bad size \"1x\": unknown unit x"
        );
        assert_eq!(format_size(32 << 20), "32MiB");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(1 << 10), "1KiB");
        assert_eq!(format_size(1000), "1000");
        for bytes in [0, 1, 1023, 1024, 1 << 40, u64::MAX, u64::MAX - (u64::MAX % (1 << 30))] {
            round_trip(bytes);
        }
    }

    proptest! {
        #[test]
        fn format_then_parse(bytes in any::<u64>()) {
            round_trip(bytes);
        }

        #[test]
        fn binary_multiples(n in 0u64..(1 << 20), shift in prop::sample::select(vec![10u32, 20, 30, 40])) {
            round_trip(n << shift);
        }

        #[test]
        fn never_panics(text in "\\PC{0,12}") {
            let _ = parse_size(&text);
        }
    }
}
