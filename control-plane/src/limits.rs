//! Per-client-IP rate limits of unauthenticated endpoints (self-serve signup), with
//! governor's GCRA: a burst of the hourly quota, refilled evenly over the hour.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;

pub struct IpLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

/// Above this many tracked IPs, forget those whose quota has fully refilled.
const RETAIN_ABOVE: usize = 10_000;

impl IpLimiter {
    pub fn per_hour(count: u32) -> Self {
        let count = NonZeroU32::new(count).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_hour(count)),
        }
    }

    /// `Ok` when `ip` may go on; otherwise the seconds until it may.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        if self.limiter.len() > RETAIN_ABOVE {
            self.limiter.retain_recent();
        }
        // Without a peer address (never on TCP) all such requests share one bucket.
        let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        self.limiter.check_key(&ip).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_per_ip() {
        let limiter = IpLimiter::per_hour(2);
        let a = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let b = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).expect_err("third is refused");
        assert!((1..=1800).contains(&wait), "{wait}");
        assert!(limiter.check(b).is_ok());
    }
}
