//! Every request's head read within a deadline, not only a connection's first one.
//!
//! actix-http times the head of a connection's first request (`client_request_timeout`)
//! and a kept-alive connection left idle (`keep_alive`), but as soon as one byte of a later
//! request arrives neither timer runs: a client could hold a connection for ever by sending
//! one whole request and then the next one's head a byte at a time (slowloris on a
//! kept-alive connection). [`HeadDeadline`] wraps each accepted connection and gives every
//! request the same bound: from its first byte, its head (up to the empty line that ends
//! it) must arrive within the deadline, or reading fails with `TimedOut` and actix drops the
//! connection.
//!
//! It looks at the bytes only to find where a head ends. What follows it (the body, and
//! anything read while the answer is still owed) is not timed here; the server writing its
//! answer marks the start of the next request.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A connection whose request heads must each arrive within `limit` of their first byte.
#[derive(Debug)]
pub struct HeadDeadline<Io> {
    io: Io,
    limit: Duration,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// No request under way: the next byte read starts a head.
    Between,
    /// Reading a head that must be whole by `timer`'s deadline.
    Head {
        timer: Pin<Box<Sleep>>,
        end: HeadEnd,
    },
    /// The head is in: its body and the answer follow, untimed, until the server writes.
    Answering,
}

impl<Io> HeadDeadline<Io> {
    pub fn new(io: Io, limit: Duration) -> Self {
        Self {
            io,
            limit,
            phase: Phase::Between,
        }
    }

    /// Follows the head through `bytes` just read; `Err(TimedOut)` when the head is still
    /// not whole past its deadline.
    fn saw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if matches!(self.phase, Phase::Between) {
            // Most heads arrive whole in their first read: no timer is made for those.
            let mut end = HeadEnd::default();
            self.phase = if end.found_in(bytes) {
                Phase::Answering
            } else {
                Phase::Head {
                    timer: Box::pin(tokio::time::sleep(self.limit)),
                    end,
                }
            };
            return Ok(());
        }
        if let Phase::Head { timer, end } = &mut self.phase {
            if end.found_in(bytes) {
                self.phase = Phase::Answering;
            } else if timer.deadline() <= Instant::now() {
                return Err(too_slow(self.limit));
            }
        }
        Ok(())
    }

    /// Waiting for more of a head: fails once its deadline has passed, and otherwise makes
    /// sure the task wakes when it does (a client that sends nothing more is cut too).
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Phase::Head { timer, .. } = &mut self.phase
            && timer.as_mut().poll(cx).is_ready()
        {
            return Err(too_slow(self.limit));
        }
        Ok(())
    }

    /// The server answers: whatever the client sends next is a new request.
    fn answered(&mut self) {
        self.phase = Phase::Between;
    }
}

fn too_slow(limit: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("a request head took longer than {limit:?}"),
    )
}

impl<Io: AsyncRead + Unpin> AsyncRead for HeadDeadline<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => Poll::Ready(this.saw(&buf.filled()[before..])),
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => match this.poll_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for HeadDeadline<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.answered();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.answered();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Finds the empty line that ends a head across reads: two line feeds with nothing but
/// carriage returns between them. Laxer than HTTP's `CRLF CRLF` on purpose: it only decides
/// when to stop the clock, and a head the parser then refuses is answered 400 anyway.
#[derive(Debug, Default)]
struct HeadEnd {
    line_feeds: u8,
}

impl HeadEnd {
    fn found_in(&mut self, bytes: &[u8]) -> bool {
        for &byte in bytes {
            match byte {
                b'\n' => {
                    self.line_feeds += 1;
                    if self.line_feeds == 2 {
                        return true;
                    }
                }
                b'\r' => {}
                _ => self.line_feeds = 0,
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    #[test]
    fn a_head_ends_at_the_first_empty_line_even_split_across_reads() {
        let mut end = HeadEnd::default();
        assert!(!end.found_in(b"GET / HTTP/1.1\r\nHost: a\r"));
        assert!(!end.found_in(b"\n\r"));
        assert!(end.found_in(b"\nbody"));
        assert!(HeadEnd::default().found_in(b"GET / HTTP/1.1\n\n"));
        assert!(!HeadEnd::default().found_in(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    }

    /// The deadline the tests give: short, real time (a paused clock needs tokio's
    /// `test-util`, which would rebuild every crate's tests with another tokio).
    const LIMIT: Duration = Duration::from_millis(300);

    /// A pair of connected streams: the wrapped server side and the client side.
    fn connection() -> (
        HeadDeadline<tokio::io::DuplexStream>,
        tokio::io::DuplexStream,
    ) {
        let (server, client) = tokio::io::duplex(1024);
        (HeadDeadline::new(server, LIMIT), client)
    }

    /// Sends `bytes` from the client and reads them all on the server side.
    async fn pass(
        client: &mut tokio::io::DuplexStream,
        server: &mut HeadDeadline<tokio::io::DuplexStream>,
        bytes: &[u8],
    ) -> io::Result<()> {
        client.write_all(bytes).await?;
        let mut read = vec![0_u8; bytes.len()];
        server.read_exact(&mut read).await.map(|_| ())
    }

    /// Cut off at the deadline: not before, and not long after (a loose bound).
    fn cut_at_the_deadline(error: &io::Error, started: Instant) {
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        let after = started.elapsed();
        assert!(after >= LIMIT && after < LIMIT * 10, "cut after {after:?}");
    }

    #[tokio::test]
    async fn a_second_head_sent_too_slowly_fails_the_read() {
        let (mut server, mut client) = connection();
        let mut buffer = [0_u8; 256];
        pass(&mut client, &mut server, b"GET / HTTP/1.1\r\n\r\n")
            .await
            .expect("the first head is in");
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();

        let started = Instant::now();
        pass(&mut client, &mut server, b"GET /next HTTP/1.1\r\n")
            .await
            .expect("a part of the second head");
        let error = server.read(&mut buffer).await.expect_err("cut off");
        cut_at_the_deadline(&error, started);
    }

    #[tokio::test]
    async fn a_head_trickled_a_byte_at_a_time_is_cut_at_the_deadline() {
        let (mut server, mut client) = connection();
        let mut buffer = [0_u8; 256];
        let started = Instant::now();
        let error = loop {
            client.write_all(b"a").await.unwrap();
            match server.read(&mut buffer).await {
                Ok(_) => tokio::time::sleep(LIMIT / 6).await,
                Err(error) => break error,
            }
        };
        cut_at_the_deadline(&error, started);
    }

    #[tokio::test]
    async fn a_whole_head_stops_the_clock_until_the_answer_and_idle_is_not_timed() {
        let (mut server, mut client) = connection();
        let mut buffer = [0_u8; 256];
        pass(&mut client, &mut server, b"POST / HTTP/1.1\r\n\r\n")
            .await
            .expect("head");
        // A body arriving long after its head is not this wrapper's business.
        tokio::time::sleep(LIMIT * 2).await;
        pass(&mut client, &mut server, b"body").await.expect("body");
        server.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        // Idle between requests: nothing read, nothing timed (actix's keep-alive decides).
        let idle = tokio::time::timeout(LIMIT * 3, server.read(&mut buffer)).await;
        assert!(idle.is_err(), "an idle connection is left to keep-alive");
    }
}
