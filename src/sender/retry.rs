//! The retry schedule: the delays between delivery attempts, parsed from `5s,5m,30m,2h`, with a
//! little jitter so that many failed deliveries do not all retry in the same instant.

use std::time::Duration;

/// The schedule used when none is given: seven retries over about a day.
pub const DEFAULT: &str = "5s,5m,30m,2h,5h,10h,10h";

/// Delays between attempts; `len() + 1` is the maximum number of attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// Parses a comma-separated list of durations (`500ms`, `5s`, `2m`, `1h`, `1d`); an empty
    /// string means never retry.
    pub fn parse(s: &str) -> Result<RetrySchedule, String> {
        if s.trim().is_empty() {
            return Ok(RetrySchedule(Vec::new()));
        }
        s.split(',')
            .map(|d| parse_duration(d.trim()))
            .collect::<Result<_, _>>()
            .map(RetrySchedule)
    }

    /// Most attempts a delivery gets, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.0.len() as u32 + 1
    }

    /// The wait before the next attempt after `attempts_made` attempts, or `None` when they are
    /// used up. `jitter` in [0, 1) stretches the delay by up to 10%; `retry_after` (a receiver's
    /// Retry-After) is honoured when longer, up to a day.
    pub fn next_delay(
        &self,
        attempts_made: u32,
        jitter: f64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let base = *self.0.get(attempts_made.checked_sub(1)? as usize)?;
        let delay = base.mul_f64(1.0 + 0.1 * jitter.clamp(0.0, 1.0));
        let cap = Duration::from_secs(24 * 3600);
        Some(match retry_after {
            Some(ra) if ra > delay => ra.min(cap),
            _ => delay,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_default_schedule() {
        let s = RetrySchedule::parse(DEFAULT).unwrap();
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(s.next_delay(1, 0.0, None), Some(Duration::from_secs(5)));
        assert_eq!(s.next_delay(2, 0.0, None), Some(Duration::from_secs(300)));
        assert_eq!(s.next_delay(7, 0.0, None), Some(Duration::from_secs(36000)));
        assert_eq!(s.next_delay(8, 0.0, None), None);
        assert_eq!(s.next_delay(0, 0.0, None), None);
    }

    #[test]
    fn jitter_stretches_at_most_ten_percent_and_retry_after_wins_when_longer() {
        let s = RetrySchedule::parse("10s").unwrap();
        assert_eq!(
            s.next_delay(1, 0.5, None),
            Some(Duration::from_millis(10_500))
        );
        assert_eq!(s.next_delay(1, 7.0, None), Some(Duration::from_secs(11)));
        assert_eq!(
            s.next_delay(1, 0.0, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            s.next_delay(1, 0.0, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            s.next_delay(1, 0.0, Some(Duration::from_secs(10 * 86400))),
            Some(Duration::from_secs(86400))
        );
    }

    #[test]
    fn rejects_bad_input_clearly() {
        assert!(RetrySchedule::parse("5s,,1m").is_err());
        assert!(RetrySchedule::parse("5").unwrap_err().contains("no unit"));
        assert!(RetrySchedule::parse("fast").is_err());
        assert_eq!(RetrySchedule::parse("").unwrap().max_attempts(), 1);
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
    }
}
