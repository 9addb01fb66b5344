//! The accept loop: HTTP/1.1 connections served by hyper, bounded in number, with a deadline
//! for request headers, and a graceful shutdown that lets in-flight requests finish.
//!
//! `axum::serve` has neither a connection limit nor a header timeout, so a client that opens
//! connections and then sends nothing, or sends its headers a byte at a time, could hold
//! server resources for ever. Here such a connection is closed after `header_timeout`, and
//! connections beyond `max_connections` are closed as soon as they are accepted.
//!
//! Each connection is driven by [`connection::drive`], which lets hyper go of it while it
//! waits between requests (see there why).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{Semaphore, watch};

use prometheus_client::metrics::gauge::Gauge;

use super::config::{Config, MAX_CONNECTIONS, REQUEST_TIMEOUT_SECS};
use super::connection::{self, Setup};

/// How the listener treats connections.
#[derive(Debug, Clone, Copy)]
pub struct ListenOptions {
    /// Open connections at most; more are closed on accept.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, on a new or a kept-alive connection.
    pub header_timeout: Duration,
    /// Longest wait for in-flight requests once shutdown starts.
    pub drain_timeout: Duration,
    /// Take the client's address from the last `X-Forwarded-For` entry, as added by the proxy in
    /// front; only behind one, since clients can send the header themselves.
    pub trust_forwarded_for: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            header_timeout: Duration::from_secs(REQUEST_TIMEOUT_SECS),
            drain_timeout: Duration::from_secs(30),
            trust_forwarded_for: false,
        }
    }
}

impl ListenOptions {
    /// The options a configuration asks for.
    pub fn of(config: &Config) -> Self {
        Self {
            max_connections: config.max_connections,
            header_timeout: config.request_timeout(),
            trust_forwarded_for: config.trust_forwarded_for,
            ..Self::default()
        }
    }
}

/// Connections the kernel may queue for `accept`: as many as it allows (`listen` caps the
/// number at `net.core.somaxconn`, 4,096 by default since Linux 5.4). Tokio's
/// `TcpListener::bind` asks for 128 (mio 1.2 takes the standard library's value); when more
/// pages than that connect at once (every open page reconnecting after a restart, 10,000 pages
/// in the load benchmark) while the HTTP thread is busy answering, the kernel drops the
/// handshakes that do not fit, and each such page waits for its SYN to be sent again, 1, 3,
/// 7... s later (the load benchmark saw one page of 10,000 miss every message of a 15 s run).
const BACKLOG: u32 = 65_535;

/// A listener on `addr` with the longest accept queue the system allows ([`BACKLOG`]).
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind` does: a restarted server listens again at once, while the old
    // one's connections linger in TIME_WAIT.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// One open connection in the `open_connections` gauge, until it is dropped (also when its
/// task panics or is cancelled).
struct Counted(Gauge);

impl Counted {
    fn new(open: &Gauge) -> Self {
        open.inc();
        Self(open.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits (up to the drain
/// timeout) for the requests in flight to finish. `open` counts the connections open.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    options: ListenOptions,
    open: Gauge,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max_connections = options.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max_connections));
    let setup = Arc::new(Setup::new(
        router,
        options.header_timeout,
        options.trust_forwarded_for,
    ));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached, closing a new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (setup, stopping) = (Arc::clone(&setup), stopping.clone());
        let counted = Counted::new(&open);
        tokio::spawn(async move {
            connection::drive(stream, peer, setup, stopping).await;
            drop(counted);
            drop(permit);
        });
    }
    drop(listener);
    // Idle connections close at once; busy ones after their reply. Every connection holds a
    // permit until it is gone, so having them all back means every connection has ended.
    let _ = stop.send(true);
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(options.drain_timeout, permits.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain timeout; closing anyway");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::net::TcpStream;

    /// Connections the test opens: far more than tokio's queue of 128 holds.
    const BURST: usize = 600;

    /// Whether this machine can run the test: a listen queue and a file limit for `BURST`
    /// connections (the soft file limit is raised to the hard one, as the server's operator
    /// would).
    fn room_for_burst() -> bool {
        let somaxconn: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        let mut files = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain system calls with a valid pointer.
        let files = unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut files) == 0 {
                files.rlim_cur = files.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &files);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut files);
            }
            files.rlim_cur as usize
        };
        somaxconn > BURST + 100 && files > BURST + 200
    }

    /// Five times more pages than tokio's default queue of 128 connect while the server accepts
    /// none: every handshake completes at once (a dropped one would wait a second for its SYN
    /// again; with tokio's `TcpListener::bind`, 129 of them complete).
    #[tokio::test]
    async fn a_burst_of_connections_fits_the_accept_queue() {
        if !room_for_burst() {
            eprintln!(
                "SKIPPED: net.core.somaxconn or the open-file limit is below {BURST} here, too \
                 low to tell a long accept queue from a short one"
            );
            return;
        }
        let listener = super::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connecting: Vec<_> = (0..BURST)
            .map(|_| {
                tokio::spawn(tokio::time::timeout(
                    Duration::from_millis(800),
                    TcpStream::connect(addr),
                ))
            })
            .collect();
        let mut connected = Vec::new();
        for attempt in connecting {
            if let Ok(Ok(stream)) = attempt.await.unwrap() {
                connected.push(stream);
            }
        }
        assert_eq!(
            connected.len(),
            BURST,
            "handshakes dropped by a full accept queue"
        );
        drop(listener);
    }
}
