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
            .map(|d| crate::units::parse_duration(d.trim()))
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
    }
}
