//! Per-client limits on what a stranger can make a public hookbin do: captures per client
//! address (`--rate-limit`) and new bins per client address (`--bin-rate-limit`), each a token
//! bucket (governor, keyed by address) that allows a full period's worth at once. Over the limit,
//! the answer is `429` with `Retry-After`. The client address is the one a trusted proxy saw.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::WebError;

/// A number of events per period, as `--rate-limit 100/s` writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub per: Duration,
}

impl Rate {
    /// Reads `N/s`, `N/min` or `N/h`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        let bad = || format!("'{s}' is not a rate like 100/s, 600/min or 1000/h");
        let (n, unit) = s.trim().split_once('/').ok_or_else(bad)?;
        let count = n.trim().parse::<NonZeroU32>().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Rate { count, per })
    }

    fn quota(self) -> Quota {
        let period = (self.per / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(period)
            .expect("a non-zero period")
            .allow_burst(self.count)
    }
}

/// The limiters of one server.
pub struct RateLimits {
    captures: Option<DefaultKeyedRateLimiter<IpAddr>>,
    bins: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

fn check(
    limiter: &Option<DefaultKeyedRateLimiter<IpAddr>>,
    ip: IpAddr,
    what: &str,
) -> Result<(), WebError> {
    let Some(l) = limiter else { return Ok(()) };
    l.check_key(&ip).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        WebError::RateLimited {
            message: format!("too many {what} from {ip}; slow down"),
            retry_after: wait.as_secs() + 1,
        }
    })
}

impl RateLimits {
    pub fn new(captures: Option<Rate>, bins: Option<Rate>) -> RateLimits {
        RateLimits {
            captures: captures.map(|r| RateLimiter::keyed(r.quota())),
            bins: bins.map(|r| RateLimiter::keyed(r.quota())),
        }
    }

    /// May `ip` send a capture now?
    pub fn capture(&self, ip: IpAddr) -> Result<(), WebError> {
        check(&self.captures, ip, "requests")
    }

    /// May `ip` create a bin now?
    pub fn new_bin(&self, ip: IpAddr) -> Result<(), WebError> {
        check(&self.bins, ip, "new bins")
    }

    /// Forgets addresses whose buckets are full again, so memory follows the active clients.
    pub fn sweep(&self) {
        for l in [&self.captures, &self.bins].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_and_buckets_refuse_past_the_burst() {
        assert_eq!(
            Rate::parse("600/min").unwrap(),
            Rate {
                count: NonZeroU32::new(600).unwrap(),
                per: Duration::from_secs(60)
            }
        );
        assert!(Rate::parse("0/s").is_err());
        assert!(Rate::parse("fast").is_err());
        assert!(Rate::parse("5/week").is_err());
        let l = RateLimits::new(Some(Rate::parse("3/h").unwrap()), None);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            l.capture(a).unwrap();
        }
        match l.capture(a) {
            Err(WebError::RateLimited { retry_after, .. }) => {
                assert!((1..=1201).contains(&retry_after), "{retry_after}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        // Another client has its own bucket; bins are not limited here.
        l.capture(b).unwrap();
        l.new_bin(a).unwrap();
    }
}
