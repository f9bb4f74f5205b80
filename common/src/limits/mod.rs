//! Limits that must hold for the whole fleet, not per process: a tenant's request rate, the
//! per-IP signup and sign-in limits (rates, here), and a server's connection budget (whose
//! leases live in `tenant_runtime::registry::budget`, on [`SharedStore`]).
//!
//! Two implementations, chosen at start by `redis.url`:
//! - **shared** ([`SharedStore`]): the state is kept in Redis, one atomic Lua script per
//!   check (GCRA for rates), so every replica draws on one quota;
//! - **local**: governor's in-memory GCRA with the quota divided by `limits.replicas`
//!   ([`Limits::local_share`]: rounded down, at least 1), so N processes together never
//!   allow more than the limit.
//!
//! Redis configured but not answering: the check **fails open to the local share** (a
//! warning when it goes, `limits_redis_errors_total` and the gauge `limits_redis_up`),
//! since refusing every request because the cache is down would turn a Redis outage into
//! a platform outage, and the local share still bounds the fleet by the limit. Both answer
//! with the same [`Verdict`], so callers send the same headers and 429 either way.

mod store;

pub use store::{SharedStore, Unavailable};

use crate::api_error::{ApiError, ApiResult};
use crate::config::Settings;
use actix_web::http::StatusCode;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::fmt::Display;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// `count` requests per `period`, with a burst of `count` (a quota refilled evenly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub fn per_minute(count: u32) -> Self {
        Self {
            count: count.max(1),
            period: Duration::from_secs(60),
        }
    }

    pub fn per_hour(count: u32) -> Self {
        Self {
            count: count.max(1),
            period: Duration::from_secs(3600),
        }
    }

    /// The same period with `count` replaced (for a process's share).
    pub fn with_count(self, count: u32) -> Self {
        Self {
            count: count.max(1),
            ..self
        }
    }

    /// The time between two requests at the steady rate, in µs (at least 1).
    fn interval_micros(self) -> u64 {
        let period = u64::try_from(self.period.as_micros()).unwrap_or(u64::MAX);
        (period / u64::from(self.count.max(1))).max(1)
    }

    /// Governor's quota of this rate.
    pub fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.count).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(Duration::from_micros(self.interval_micros()))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Requests still allowed at once after this one.
    pub remaining: u32,
    /// `Some(wait)`: refused, allowed again after `wait`.
    pub retry_after: Option<Duration>,
}

impl Verdict {
    pub fn admitted(&self) -> bool {
        self.retry_after.is_none()
    }

    /// Whole seconds to put in `Retry-After` (rounded up, at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.map_or(0, |wait| {
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// A governor answer, as a verdict.
    pub fn from_governor<S>(
        answer: Result<S, governor::NotUntil<governor::clock::QuantaInstant>>,
        remaining: impl FnOnce(&S) -> u32,
    ) -> Self {
        match answer {
            Ok(snapshot) => Self {
                remaining: remaining(&snapshot),
                retry_after: None,
            },
            Err(not_until) => Self {
                remaining: 0,
                retry_after: Some(not_until.wait_time_from(DefaultClock::default().now())),
            },
        }
    }
}

/// How this process enforces fleet-wide limits: through Redis, or by its share.
#[derive(Clone)]
pub struct Limits {
    shared: Option<Arc<SharedStore>>,
    replicas: u32,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("shared", &self.shared.is_some())
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl Limits {
    /// From `redis.*` and `limits.*` (the URL was validated at load).
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let shared = match &settings.redis.url {
            Some(url) => Some(Arc::new(SharedStore::new(
                url.expose(),
                &settings.redis.key_prefix,
                Duration::from_millis(settings.redis.timeout_ms),
            )?)),
            None => None,
        };
        Ok(Self {
            shared,
            replicas: settings.limits.replicas.max(1),
        })
    }

    /// Per-process limits only, split across `replicas`.
    pub fn local(replicas: u32) -> Self {
        Self {
            shared: None,
            replicas: replicas.max(1),
        }
    }

    /// The Redis store, when one is configured.
    pub fn shared(&self) -> Option<&Arc<SharedStore>> {
        self.shared.as_ref()
    }

    pub fn replicas(&self) -> u32 {
        self.replicas
    }

    /// This process's share of a fleet-wide `limit`: divided by the replicas, rounded down
    /// (so the fleet together never exceeds the limit), at least 1.
    pub fn local_share(&self, limit: u32) -> u32 {
        (limit / self.replicas).max(1)
    }

    /// The same for a count of connections.
    pub fn local_share_of(&self, budget: usize) -> usize {
        (budget / self.replicas as usize).max(1)
    }

    /// Checks `rate` on `key` in Redis; without Redis, or when it does not answer, asks
    /// `local` (the caller's limiter holding this process's share).
    pub async fn check(
        &self,
        limit: &'static str,
        key: &str,
        rate: Rate,
        local: impl FnOnce() -> Verdict,
    ) -> Verdict {
        let Some(shared) = &self.shared else {
            return local();
        };
        match shared
            .check_rate(&format!("rate:{limit}:{key}"), rate)
            .await
        {
            Ok(verdict) => verdict,
            Err(_) => {
                metrics::counter!("limits_local_fallbacks_total", "limit" => limit).increment(1);
                local()
            }
        }
    }

    /// A keyed limiter of `rate` named `limit` (in metrics and Redis keys).
    pub fn keyed<K>(&self, limit: &'static str, rate: Rate) -> KeyedLimiter<K>
    where
        K: Hash + Eq + Clone + Display,
    {
        KeyedLimiter {
            limit,
            rate,
            limits: self.clone(),
            local: DefaultKeyedRateLimiter::keyed(
                rate.with_count(self.local_share(rate.count)).quota(),
            ),
        }
    }
}

/// A rate limit per key (a client IP): shared in Redis, else this process's share.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limit: &'static str,
    rate: Rate,
    limits: Limits,
    local: DefaultKeyedRateLimiter<K>,
}

/// Above this many tracked keys, the local limiter forgets those whose quota refilled.
const RETAIN_ABOVE: usize = 10_000;

impl<K: Hash + Eq + Clone + Display> KeyedLimiter<K> {
    /// One request of `key`.
    pub async fn check(&self, key: &K) -> Verdict {
        let local = || {
            if self.local.len() > RETAIN_ABOVE {
                self.local.retain_recent();
            }
            Verdict::from_governor(self.local.check_key(key), |_| 0)
        };
        self.limits
            .check(self.limit, &key.to_string(), self.rate, local)
            .await
    }

    /// The limit as configured for the fleet.
    pub fn rate(&self) -> Rate {
        self.rate
    }
}

/// A per-client-IP limit of an unauthenticated endpoint (signup, sign-in).
pub struct IpLimiter {
    limiter: KeyedLimiter<IpAddr>,
    /// Says what was refused, in the 429's detail ("too many signups from this address").
    refusal: &'static str,
}

impl IpLimiter {
    pub fn new(limits: &Limits, limit: &'static str, rate: Rate, refusal: &'static str) -> Self {
        Self {
            limiter: limits.keyed(limit, rate),
            refusal,
        }
    }

    /// `Ok` when `ip` may go on; otherwise 429 `rate_limited` with `Retry-After`. Without
    /// a peer address (never on TCP) all such requests share one bucket.
    pub async fn check(&self, ip: Option<IpAddr>) -> ApiResult<()> {
        let ip = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let verdict = self.limiter.check(&ip).await;
        if verdict.admitted() {
            return Ok(());
        }
        Err(ApiError::retry_later(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            self.refusal,
            verdict.retry_after_secs(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_the_limit_divided_by_the_replicas_rounded_down_and_at_least_one() {
        let limits = Limits::local(3);
        assert_eq!(limits.local_share(600), 200);
        assert_eq!(limits.local_share(10), 3);
        assert_eq!(limits.local_share(2), 1);
        assert_eq!(Limits::local(1).local_share(7), 7);
        assert_eq!(limits.local_share_of(40), 13);
        assert_eq!(limits.local_share_of(1), 1);
    }

    #[test]
    fn a_rate_spreads_its_count_evenly_over_its_period() {
        assert_eq!(Rate::per_minute(600).interval_micros(), 100_000);
        assert_eq!(Rate::per_hour(10).interval_micros(), 360_000_000);
        assert_eq!(Rate::per_minute(0).count, 1);
    }

    #[tokio::test]
    async fn the_local_limiter_allows_only_this_process_share() {
        let limiter = Limits::local(2).keyed::<u32>("test", Rate::per_hour(4));
        assert!(limiter.check(&1).await.admitted());
        assert!(limiter.check(&1).await.admitted());
        let refused = limiter.check(&1).await;
        assert!(!refused.admitted());
        assert!(
            (1..=1800).contains(&refused.retry_after_secs()),
            "{refused:?}"
        );
        assert!(
            limiter.check(&2).await.admitted(),
            "another key has its own"
        );
    }
}
