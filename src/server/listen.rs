//! The accept loop: HTTP/1.1 connections served by hyper, bounded in number, with a deadline
//! for request headers, and a graceful shutdown that lets in-flight requests finish.
//!
//! `axum::serve` has neither a connection limit nor a header timeout, so a client that opens
//! connections and then sends nothing, or sends its headers a byte at a time, could hold
//! server resources for ever. Here such a connection is closed after `header_timeout`, and
//! connections beyond `max_connections` are closed as soon as they are accepted.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::limit::ClientAddr;

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
            max_connections: 20_000,
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
            trust_forwarded_for: false,
        }
    }
}

/// The address the nearest proxy saw: the last entry of the last `X-Forwarded-For` header
/// (entries before it were sent by the client or earlier proxies and prove nothing).
fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits (up to the drain
/// timeout) for the requests in flight to finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ListenOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
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
        let trust_forwarded_for = options.trust_forwarded_for;
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                let forwarded = trust_forwarded_for
                    .then(|| forwarded_for(request.headers()))
                    .flatten();
                let client = forwarded.unwrap_or(peer.ip());
                request.extensions_mut().insert(ClientAddr(client));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the drain timeout; closing anyway");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn the_proxy_added_entry_is_the_last_one() {
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded_for(&headers), None);
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.7"),
        );
        assert_eq!(forwarded_for(&headers), "10.0.0.7".parse().ok());
        headers.append("x-forwarded-for", HeaderValue::from_static(" 2001:db8::1 "));
        assert_eq!(forwarded_for(&headers), "2001:db8::1".parse().ok());
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not an address"),
        );
        assert_eq!(forwarded_for(&headers), None);
    }
}
