//! Durations and sizes as people write them in flags and query strings (`30s`, `10MiB`),
//! parsed with checked arithmetic: a value too large to represent is an error that says so.

use std::time::Duration;

/// Parses one duration such as `250ms`, `5s`, `2m`, `1h` or `1d`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let too_long = || format!("'{s}' is too long: at most {MAX_DAYS}d");
    let n: u64 = match digits.parse() {
        Ok(n) => n,
        Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => return Err(too_long()),
        Err(_) => {
            return Err(format!(
                "'{s}' is not a duration: use a number with ms, s, m, h or d, like 30s"
            ));
        }
    };
    let millis_per: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("'{s}' has no unit: use ms, s, m, h or d, like 30s")),
    };
    match n.checked_mul(millis_per) {
        Some(ms) if ms <= MAX_DAYS * 86_400_000 => Ok(Duration::from_millis(ms)),
        _ => Err(too_long()),
    }
}

/// The longest duration [`parse_duration`] takes (about a century): anything longer is a typo,
/// and every duration must stay far from overflowing when added to a clock reading.
const MAX_DAYS: u64 = 36_500;

/// Parses a byte size such as `1048576`, `512K`, `10MiB` or `1G` (binary multiples).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("'{s}' is not a size: expected a number of bytes like 1048576 or 10MiB")
    })?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}' (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_refuse_overflow() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(
            parse_duration("36500d"),
            Ok(Duration::from_secs(36_500 * 86_400))
        );
        for huge in [
            "36501d",
            "18446744073709551615d",
            "99999999999999999999s",
            "213503982335d",
        ] {
            let err = parse_duration(huge).unwrap_err();
            assert!(err.contains("too long"), "{huge}: {err}");
        }
        assert!(parse_duration("5").unwrap_err().contains("no unit"));
    }

    #[test]
    fn sizes_accept_plain_bytes_and_binary_suffixes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
