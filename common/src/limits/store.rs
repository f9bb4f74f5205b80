//! The Redis side of the shared limits: one multiplexed connection per process, opened on
//! first use, every call bounded by `redis.timeout_ms`, and the Lua scripts that make each
//! check one atomic round trip (a GCRA rate check; a connection lease taken only while a
//! server's leases are under its budget).
//!
//! When a call fails or times out, Redis is taken for down for [`DOWN_FOR`]: calls fail at
//! once meanwhile (no request waits on a dead Redis), callers fall back to their local
//! share, and the next call after the pause tries to connect again.

use super::{Rate, Verdict};
use redis::Script;
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

/// How long a failed Redis is left alone before the next try.
const DOWN_FOR: Duration = Duration::from_secs(1);

/// GCRA (the generic cell rate algorithm, as governor runs it locally): the key holds the
/// theoretical arrival time (TAT) in microseconds of Redis's clock, so every process sees
/// one clock. A request is admitted when the TAT it would set is at most the period ahead.
/// KEYS[1]: the key. ARGV[1]: emission interval (period / count) in µs; ARGV[2]: count.
/// Returns {admitted (1/0), remaining burst, µs until admitted}.
static GCRA: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - period
if allow_at > now then
  return {0, 0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((now - allow_at) / interval), 0}
",
    )
});

/// A connection lease on a server: the sorted set holds one member per open connection
/// (fleet-wide), scored by when its lease runs out. Expired leases (a crashed process's)
/// are dropped first; a lease is granted only below the budget. When refused, a short
/// "wanted" flag tells the other processes to give back idle connections.
/// KEYS[1]: the set; KEYS[2]: the wanted flag. ARGV: budget, lease id, lease ttl in ms.
static TAKE_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', 1000)
  return 0
end
redis.call('ZADD', KEYS[1], string.format('%d', now + ttl), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
",
    )
});

/// Extends this process's leases (re-adding any that lapsed while Redis was away: the
/// connections are still open, so they count). KEYS[1]: the set. ARGV: ttl in ms, then ids.
static RENEW_LEASES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
local until_ms = string.format('%d', now + ttl)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], until_ms, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], ttl)
return #ARGV - 1
",
    )
});

/// Redis could not answer (down, slow, or refused the call).
#[derive(Debug, Clone, thiserror::Error)]
#[error("redis is unavailable: {0}")]
pub struct Unavailable(pub String);

/// The shared store of one process.
pub struct SharedStore {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    down_until: Mutex<Option<Instant>>,
    /// Whether the last call failed (for logging each change once).
    down: AtomicBool,
}

impl SharedStore {
    /// A store for `url` (nothing is connected until the first call).
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|error| anyhow::anyhow!("`redis.url` is not usable: {error}"))?;
        Ok(Self {
            client,
            prefix: prefix.to_owned(),
            timeout,
            connection: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            down: AtomicBool::new(false),
        })
    }

    /// `{prefix}{name}`: every key this store touches.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// One GCRA check of `rate` on `key`.
    pub async fn check_rate(&self, key: &str, rate: Rate) -> Result<Verdict, Unavailable> {
        let key = self.key(key);
        let (admitted, remaining, wait_us): (i64, i64, i64) = self
            .call(|mut connection| async move {
                GCRA.key(key)
                    .arg(rate.interval_micros())
                    .arg(rate.count)
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Ok(Verdict {
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            retry_after: (admitted == 0)
                .then(|| Duration::from_micros(u64::try_from(wait_us.max(1)).unwrap_or(1))),
        })
    }

    /// Takes a lease named `lease` in `set` if fewer than `budget` are held fleet-wide.
    pub async fn take_lease(
        &self,
        set: &str,
        budget: usize,
        lease: &str,
        ttl: Duration,
    ) -> Result<bool, Unavailable> {
        let (set, wanted) = (self.key(set), self.key(&format!("{set}:wanted")));
        let lease = lease.to_owned();
        let granted: i64 = self
            .call(|mut connection| async move {
                TAKE_LEASE
                    .key(set)
                    .key(wanted)
                    .arg(budget)
                    .arg(lease)
                    .arg(millis(ttl))
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        Ok(granted == 1)
    }

    /// Gives a lease back.
    pub async fn release_lease(&self, set: &str, lease: &str) -> Result<(), Unavailable> {
        let (set, lease) = (self.key(set), lease.to_owned());
        self.call(|mut connection| async move {
            redis::cmd("ZREM")
                .arg(set)
                .arg(lease)
                .query_async::<i64>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// Extends the leases named (this process's open connections).
    pub async fn renew_leases(
        &self,
        set: &str,
        leases: Vec<String>,
        ttl: Duration,
    ) -> Result<(), Unavailable> {
        if leases.is_empty() {
            return Ok(());
        }
        let set = self.key(set);
        self.call(|mut connection| async move {
            let mut invocation = RENEW_LEASES.key(set);
            invocation.arg(millis(ttl));
            for lease in leases {
                invocation.arg(lease);
            }
            invocation
                .invoke_async::<i64>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }

    /// Leases held fleet-wide in `set` (expired ones included until the next take).
    pub async fn leases_held(&self, set: &str) -> Result<usize, Unavailable> {
        let set = self.key(set);
        let count: i64 = self
            .call(|mut connection| async move {
                redis::cmd("ZCARD")
                    .arg(set)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// Whether another process was refused a lease in `set` within the last second.
    pub async fn lease_wanted(&self, set: &str) -> Result<bool, Unavailable> {
        let wanted = self.key(&format!("{set}:wanted"));
        let found: i64 = self
            .call(|mut connection| async move {
                redis::cmd("EXISTS")
                    .arg(wanted)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        Ok(found > 0)
    }

    /// Whether Redis answered the last call (false while it is taken for down).
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Runs one call on the shared connection, within the timeout; a failure marks Redis
    /// down for [`DOWN_FOR`].
    async fn call<T, F, Fut>(&self, work: F) -> Result<T, Unavailable>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match tokio::time::timeout(self.timeout, work(connection)).await {
            Ok(Ok(value)) => {
                self.mark_up();
                Ok(value)
            }
            Ok(Err(error)) => Err(self.mark_down(error.to_string()).await),
            Err(_) => Err(self.mark_down("timed out".into()).await),
        }
    }

    async fn connection(&self) -> Result<MultiplexedConnection, Unavailable> {
        if self
            .down_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some_and(|until| Instant::now() < until)
        {
            return Err(Unavailable("down; retrying shortly".into()));
        }
        let mut cached = self.connection.lock().await;
        if let Some(connection) = cached.as_ref() {
            return Ok(connection.clone());
        }
        let connect = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(self.timeout, connect).await {
            Ok(Ok(connection)) => {
                *cached = Some(connection.clone());
                Ok(connection)
            }
            Ok(Err(error)) => {
                drop(cached);
                Err(self.mark_down(error.to_string()).await)
            }
            Err(_) => {
                drop(cached);
                Err(self.mark_down("connecting timed out".into()).await)
            }
        }
    }

    fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("redis answers again: limits are shared across replicas again");
            metrics::gauge!("limits_redis_up").set(1.0);
        }
    }

    async fn mark_down(&self, reason: String) -> Unavailable {
        *self.connection.lock().await = None;
        *self
            .down_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now() + DOWN_FOR);
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                reason,
                "redis is unavailable: every limit falls back to this process's share"
            );
            metrics::gauge!("limits_redis_up").set(0.0);
        }
        metrics::counter!("limits_redis_errors_total").increment(1);
        Unavailable(reason)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
