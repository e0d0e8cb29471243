//! Deliveries give way to captures. A bin URL is what strangers hit, and its answer is what
//! they wait for; a delivery attempt is background work on a schedule measured in seconds.
//! While this node is answering captures faster than [`BUSY_CAPTURES`] a second, the worker
//! starts at most [`BUSY_ATTEMPTS`] attempts a second (a retry storm against a dead receiver
//! costs ~120 µs of CPU per attempt, so that is about a tenth of one core); the rest wait until
//! the captures calm down. Deliveries never stop: the allowance is a floor, not a pause.

use std::time::{Duration, Instant};

/// Captures a second above which the node counts as busy capturing.
pub const BUSY_CAPTURES: u64 = 2_000;
/// Attempts a second the worker may start while the node is busy capturing.
pub const BUSY_ATTEMPTS: f64 = 1_000.0;
/// How often the capture rate is judged, and the longest the worker waits for allowance.
pub const TICK: Duration = Duration::from_millis(100);
/// The most allowance that can build up: a tick's worth, so a pause never turns into a burst.
const BURST: f64 = BUSY_ATTEMPTS * 0.1;

/// The capture rate as last judged, and the attempts still allowed while it is high.
pub struct Pace {
    /// When the rate was last judged, and the captures counted then.
    sampled: Option<(Instant, u64)>,
    busy: bool,
    allowance: f64,
    /// When the allowance was last topped up.
    filled: Instant,
}

impl Pace {
    /// A pace that has seen no captures yet: unlimited.
    pub fn new(now: Instant) -> Pace {
        Pace {
            sampled: None,
            busy: false,
            allowance: BURST,
            filled: now,
        }
    }

    /// How many attempts the worker may start now (`usize::MAX` when the node is not busy),
    /// given the captures this node has answered so far.
    pub fn allowance(&mut self, now: Instant, captured: u64) -> usize {
        match self.sampled {
            None => self.sampled = Some((now, captured)),
            Some((then, before)) => {
                let span = now.saturating_duration_since(then);
                if span >= TICK {
                    let rate = captured.saturating_sub(before) as f64 / span.as_secs_f64();
                    self.busy = rate >= BUSY_CAPTURES as f64;
                    self.sampled = Some((now, captured));
                }
            }
        }
        let since = now.saturating_duration_since(self.filled).as_secs_f64();
        self.allowance = (self.allowance + since * BUSY_ATTEMPTS).min(BURST);
        self.filled = now;
        if self.busy {
            self.allowance as usize
        } else {
            usize::MAX
        }
    }

    /// Counts `n` attempts started.
    pub fn spend(&mut self, n: usize) {
        self.allowance = (self.allowance - n as f64).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_node_sends_without_limit() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        assert_eq!(p.allowance(t0, 0), usize::MAX);
        // 100 captures in a second is far below busy.
        assert_eq!(p.allowance(t0 + Duration::from_secs(1), 100), usize::MAX);
    }

    #[test]
    fn a_node_busy_capturing_starts_a_thousand_attempts_a_second() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        p.allowance(t0, 0);
        let mut started = 0;
        let mut captured = 0;
        // Ten seconds at 10,000 captures a second, the worker asking every millisecond.
        for ms in 1..=10_000u64 {
            captured += 10;
            let n = p.allowance(t0 + Duration::from_millis(ms), captured);
            if ms >= TICK.as_millis() as u64 {
                assert_ne!(n, usize::MAX, "busy from the first tick on, at {ms} ms");
                started += n;
                p.spend(n);
            }
        }
        // 9.9 s at 1,000 a second after the first tick, plus the one burst built up before.
        assert!((9_800..=10_000).contains(&started), "started {started}");
    }

    #[test]
    fn the_limit_lifts_when_captures_calm_down() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        p.allowance(t0, 0);
        assert_ne!(
            p.allowance(t0 + TICK, 1_000),
            usize::MAX,
            "10,000 a second is busy"
        );
        assert_ne!(
            p.allowance(t0 + TICK * 3 / 2, 1_000),
            usize::MAX,
            "judged once a tick"
        );
        assert_eq!(
            p.allowance(t0 + TICK * 2, 1_010),
            usize::MAX,
            "100 a second is not"
        );
    }

    #[test]
    fn a_long_pause_does_not_turn_into_a_burst() {
        let t0 = Instant::now();
        let mut p = Pace::new(t0);
        p.allowance(t0, 0);
        p.allowance(t0 + TICK, 10_000);
        p.spend(usize::MAX);
        // A minute without asking, still busy: one burst's worth, not 60,000.
        let n = p.allowance(t0 + Duration::from_secs(60), 10_000 + 600_000);
        assert_eq!(n, BURST as usize);
    }
}
