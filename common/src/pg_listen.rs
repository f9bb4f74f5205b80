//! Follows one Postgres `NOTIFY` channel on a dedicated connection, reconnecting with
//! backoff, and hands what it hears to the caller as [`FeedEvent`]s. The tenant runtime's
//! change feed and the provisioner worker's wake-ups (jobs, Stripe events: [`wake_on`]) are
//! built on it.
//!
//! A notification sent while the session is down is lost, so every (re)connect is reported
//! as [`FeedEvent::Listening`]: the caller treats it as "anything may have happened".

use futures_util::StreamExt as _;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A session that listened at least this long was healthy: the backoff starts over. One
/// cut right after `LISTEN` keeps doubling it, so a flapping connection does not
/// reconnect (and make every runtime drop its registry) ten times a second.
const STABLE_SESSION: Duration = Duration::from_secs(30);

/// What a followed channel tells its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedEvent {
    /// `LISTEN` is in place (first time or after a reconnect): earlier events may be missed.
    Listening,
    /// One notification's payload.
    Notification(String),
    /// The session ended; a reconnect follows after a backoff.
    Lost,
}

/// Which channel to follow, on which database, named how in `pg_stat_activity`.
#[derive(Debug, Clone)]
pub struct Channel {
    pub database_url: String,
    pub channel: &'static str,
    pub application_name: &'static str,
}

/// Follows `channel` in the background; the returned `Notify` holds a permit whenever
/// something may have been announced since its owner last looked (a notification, or a
/// reconnect after which notifications may have been missed).
pub fn wake_on(channel: Channel, shutdown: &CancellationToken) -> Arc<Notify> {
    let wake = Arc::new(Notify::new());
    let (events, mut received) = mpsc::unbounded_channel();
    tokio::spawn(follow(channel, events, shutdown.clone()));
    let notify = wake.clone();
    tokio::spawn(async move {
        while let Some(event) = received.recv().await {
            if event != FeedEvent::Lost {
                notify.notify_one();
            }
        }
    });
    wake
}

/// Follows `channel` until `shutdown` (or until `events` has no receiver), reconnecting
/// with backoff from 100 ms to 5 s.
pub async fn follow(
    channel: Channel,
    events: mpsc::UnboundedSender<FeedEvent>,
    shutdown: CancellationToken,
) {
    let mut backoff = FIRST_BACKOFF;
    while !shutdown.is_cancelled() && !events.is_closed() {
        let session_started = std::time::Instant::now();
        match listen(&channel, &events, &shutdown).await {
            Ok(()) => return,
            Err(Session { listened, error }) => {
                tracing::warn!(
                    channel = channel.channel,
                    error = format!("{error:#}"),
                    "notification feed lost"
                );
                if listened {
                    if session_started.elapsed() >= STABLE_SESSION {
                        backoff = FIRST_BACKOFF;
                    }
                    let _ = events.send(FeedEvent::Lost);
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Why one session ended, and whether it had started listening.
struct Session {
    listened: bool,
    error: anyhow::Error,
}

impl Session {
    fn before_listening(error: impl Into<anyhow::Error>) -> Self {
        Self {
            listened: false,
            error: error.into(),
        }
    }
}

/// One session: connect, LISTEN, forward notifications until the connection ends (Err) or
/// shutdown (Ok).
async fn listen(
    channel: &Channel,
    events: &mpsc::UnboundedSender<FeedEvent>,
    shutdown: &CancellationToken,
) -> Result<(), Session> {
    let mut config: tokio_postgres::Config = channel
        .database_url
        .parse()
        .map_err(Session::before_listening)?;
    // Keepalives notice a half-open connection within about a minute; the default
    // (two hours) would leave the feed silently deaf.
    config
        .application_name(channel.application_name)
        .connect_timeout(Duration::from_secs(5))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    let (client, mut connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(Session::before_listening)?;
    let forward = events.clone();
    let mut driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message? {
                let _ = forward.send(FeedEvent::Notification(notification.payload().to_owned()));
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    });
    if let Err(error) = client
        .batch_execute(&format!("LISTEN {}", channel.channel))
        .await
    {
        driver.abort();
        return Err(Session::before_listening(error));
    }
    let _ = events.send(FeedEvent::Listening);
    tracing::debug!(channel = channel.channel, "listening");
    let ended = tokio::select! {
        () = shutdown.cancelled() => {
            driver.abort();
            return Ok(());
        }
        () = events.closed() => {
            driver.abort();
            return Ok(());
        }
        ended = &mut driver => ended,
    };
    let error = match ended {
        Ok(Ok(())) => anyhow::anyhow!("the database closed the connection"),
        Ok(Err(error)) => error.into(),
        Err(join) => join.into(),
    };
    Err(Session {
        listened: true,
        error,
    })
}
