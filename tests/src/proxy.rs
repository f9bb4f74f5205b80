//! A TCP proxy in front of a real Postgres server that a test can cut and restore, to
//! play "the server is down" without stopping a server other tests share. Cutting closes
//! every forwarded connection and refuses new ones (accepted, then closed at once).

use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Proxy {
    port: u16,
    /// Cancelled while cut; replaced by a fresh token when restored.
    open: Arc<Mutex<Option<CancellationToken>>>,
    accept_loop: JoinHandle<()>,
}

impl Proxy {
    /// Starts forwarding 127.0.0.1:<free port> to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let open = Arc::new(Mutex::new(Some(CancellationToken::new())));
        let accept_loop = tokio::spawn(accept(listener, upstream, open.clone()));
        Proxy {
            port,
            open,
            accept_loop,
        }
    }

    /// A proxy in front of the server at `url`, and the same URL going through it.
    pub async fn in_front_of(url: &str) -> (Proxy, String) {
        let (before, host, after) = split_host(url);
        let upstream = if host.contains(':') {
            host.to_owned()
        } else {
            format!("{host}:5432")
        };
        let proxy = Proxy::start(upstream).await;
        let proxied = format!("{before}127.0.0.1:{}{after}", proxy.port);
        (proxy, proxied)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server goes away: live connections drop, new ones are refused.
    pub fn cut(&self) {
        if let Some(token) = self.open.lock().expect("proxy state").take() {
            token.cancel();
        }
    }

    /// The server is back.
    pub fn restore(&self) {
        let mut open = self.open.lock().expect("proxy state");
        if open.is_none() {
            *open = Some(CancellationToken::new());
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept_loop.abort();
    }
}

async fn accept(
    listener: TcpListener,
    upstream: String,
    open: Arc<Mutex<Option<CancellationToken>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let token = open.lock().ok().and_then(|open| open.clone());
        if let Some(token) = token {
            tokio::spawn(forward(client, upstream.clone(), token));
        }
    }
}

async fn forward(mut client: TcpStream, upstream: String, open: CancellationToken) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        () = open.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}

/// `postgres://user:pw@host:port/db?x` -> (`postgres://user:pw@`, `host:port`, `/db?x`).
fn split_host(url: &str) -> (&str, &str, &str) {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority_start + i);
    let host_start = url[authority_start..authority_end]
        .rfind('@')
        .map_or(authority_start, |i| authority_start + i + 1);
    (
        &url[..host_start],
        &url[host_start..authority_end],
        &url[authority_end..],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_around_its_host() {
        assert_eq!(
            split_host("postgres://u:p@h:5/db?x=1"),
            ("postgres://u:p@", "h:5", "/db?x=1")
        );
        assert_eq!(split_host("postgres://h/db"), ("postgres://", "h", "/db"));
    }
}
