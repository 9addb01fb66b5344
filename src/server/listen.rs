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
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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

/// Serves `router` on `listener` until `shutdown` resolves, then waits (up to the drain
/// timeout) for the requests in flight to finish.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    options: ListenOptions,
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
        tokio::spawn(async move {
            connection::drive(stream, peer, setup, stopping).await;
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
