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
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::Ordering::Relaxed;

use axum::Router;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use super::connection::{self, Counts, Setup};

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
pub(super) fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
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
    serve_counted(listener, router, options, shutdown, Arc::default()).await
}

/// [`serve`], keeping `counts` of open and busy connections.
async fn serve_counted(
    listener: TcpListener,
    router: Router,
    options: ListenOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
    counts: Arc<Counts>,
) -> std::io::Result<()> {
    let max_connections = options.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let permits = Arc::new(Semaphore::new(max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    let setup = Arc::new(Setup {
        http,
        router,
        header_timeout: options.header_timeout,
        trust_forwarded_for: options.trust_forwarded_for,
        counts: Arc::clone(&counts),
    });
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
            setup.counts.open.fetch_add(1, Relaxed);
            connection::drive(stream, peer, Arc::clone(&setup), stopping).await;
            setup.counts.open.fetch_sub(1, Relaxed);
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

    // The connection handling below, over real sockets and a router of test routes.

    use axum::routing::{get, post};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    const BIG: usize = 4 << 20;

    struct TestServer {
        addr: std::net::SocketAddr,
        counts: Arc<Counts>,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    impl TestServer {
        async fn start(header_timeout: Duration) -> Self {
            let router = Router::new()
                .route("/hello", get(|| async { "hello" }))
                .route("/echo", post(|body: String| async move { body }))
                .route("/ignore", post(|| async { "ignored" }))
                .route("/big", get(|| async { "x".repeat(BIG) }))
                .route(
                    "/slow",
                    get(|| async {
                        tokio::time::sleep(Duration::from_millis(400)).await;
                        "slow"
                    }),
                );
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let counts = Arc::new(Counts::default());
            let options = ListenOptions {
                header_timeout,
                ..ListenOptions::default()
            };
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(serve_counted(
                listener,
                router,
                options,
                async {
                    let _ = stopped.await;
                },
                Arc::clone(&counts),
            ));
            Self {
                addr,
                counts,
                stop: Some(stop),
                task,
            }
        }

        async fn connect(&self) -> BufReader<TcpStream> {
            BufReader::new(TcpStream::connect(self.addr).await.unwrap())
        }

        /// Waits (a bounded time) until `what` holds of the counts.
        async fn until(&self, what: impl Fn(&Counts) -> bool) -> bool {
            for _ in 0..200 {
                if what(&self.counts) {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            false
        }
    }

    fn get_request(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
    }

    fn post_request(path: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// One response: status line, lower-cased headers, body (by `Content-Length`); `None` when
    /// the server closed the connection first.
    async fn response(stream: &mut BufReader<TcpStream>) -> Option<(String, String, String)> {
        let mut status = String::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_line(&mut status));
        if read.await.expect("a response within 5 s").unwrap() == 0 {
            return None;
        }
        let (mut headers, mut length) = (String::new(), 0);
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            let line = line.to_ascii_lowercase();
            if let Some(value) = line.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            headers.push_str(&line);
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        let status = status.trim_end().to_owned();
        Some((status, headers, String::from_utf8(body).unwrap()))
    }

    async fn ask(stream: &mut BufReader<TcpStream>, request: &str) -> (String, String, String) {
        stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .unwrap();
        response(stream).await.expect("an answer, not a close")
    }

    /// True when the server closes the connection within `limit` (after sending nothing more).
    async fn closed_within(stream: &mut BufReader<TcpStream>, limit: Duration) -> bool {
        let mut rest = Vec::new();
        match tokio::time::timeout(limit, stream.read_to_end(&mut rest)).await {
            Ok(Ok(_)) => rest.is_empty(),
            Ok(Err(_)) => true,
            Err(_) => false,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_keep_alive_connections_are_parked_and_stay_usable() {
        let server = TestServer::start(Duration::from_secs(10)).await;
        let mut clients = Vec::new();
        for _ in 0..50 {
            let mut client = server.connect().await;
            let (status, headers, body) = ask(&mut client, &get_request("/hello")).await;
            assert_eq!(
                (status.as_str(), body.as_str()),
                ("HTTP/1.1 200 OK", "hello")
            );
            assert!(!headers.contains("connection: close"), "{headers}");
            clients.push(client);
        }
        // Every connection is open and answered; none is held by hyper any more.
        assert!(server.until(|c| c.serving.load(Relaxed) == 0).await);
        assert_eq!(server.counts.open.load(Relaxed), 50);
        // Each goes on serving on the same socket, requests with bodies too.
        for (n, client) in clients.iter_mut().enumerate() {
            let (status, _, body) = ask(client, &post_request("/echo", &n.to_string())).await;
            assert_eq!((status.as_str(), body), ("HTTP/1.1 200 OK", n.to_string()));
        }
        assert!(server.until(|c| c.serving.load(Relaxed) == 0).await);
        drop(clients);
        assert!(server.until(|c| c.open.load(Relaxed) == 0).await);
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order() {
        let server = TestServer::start(Duration::from_secs(10)).await;
        let mut client = server.connect().await;
        // Sent in one write, so hyper reads ahead past the first request; the ones it read
        // ahead must survive the connection being parked in between.
        let requests = [
            get_request("/hello"),
            post_request("/echo", "two"),
            get_request("/slow"),
            post_request("/echo", "four"),
        ]
        .concat();
        client
            .get_mut()
            .write_all(requests.as_bytes())
            .await
            .unwrap();
        let mut bodies = Vec::new();
        for _ in 0..4 {
            bodies.push(response(&mut client).await.unwrap().2);
        }
        assert_eq!(bodies, ["hello", "two", "slow", "four"]);
        // A request and half of the next in one write: hyper reads the half ahead before the
        // connection is parked, and the next hyper connection must start from it.
        let first_and_half = [get_request("/hello"), "POST /ec".into()].concat();
        let (_, _, body) = ask(&mut client, &first_and_half).await;
        assert_eq!(body, "hello");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rest = post_request("/echo", "rest");
        let (_, _, body) = ask(&mut client, rest.strip_prefix("POST /ec").unwrap()).await;
        assert_eq!(body, "rest");
    }

    #[tokio::test]
    async fn a_reader_slower_than_the_reply_gets_all_of_it_and_keeps_its_connection() {
        let server = TestServer::start(Duration::from_secs(10)).await;
        let mut client = server.connect().await;
        // 4 MiB fills the socket buffers: hyper holds the rest until the client reads.
        client
            .get_mut()
            .write_all(get_request("/big").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (status, _, body) = response(&mut client).await.expect("answered");
        assert_eq!((status.as_str(), body.len()), ("HTTP/1.1 200 OK", BIG));
        assert!(body.bytes().all(|byte| byte == b'x'));
        let (_, _, body) = ask(&mut client, &get_request("/hello")).await;
        assert_eq!(body, "hello");
    }

    #[tokio::test]
    async fn a_body_left_unread_is_never_read_as_the_next_request() {
        let server = TestServer::start(Duration::from_secs(10)).await;
        let mut client = server.connect().await;
        // The handler answers without reading the body, which looks like a request itself.
        let sneaky = get_request("/hello");
        let (status, _, body) = ask(&mut client, &post_request("/ignore", &sneaky)).await;
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "ignored")
        );
        // hyper drains the unread body and keeps the connection: the next answer is to the next
        // request, and no answer is ever given to the body.
        let (_, _, body) = ask(&mut client, &post_request("/echo", "next")).await;
        assert_eq!(body, "next");
        assert!(!closed_within(&mut client, Duration::from_millis(300)).await);
    }

    #[tokio::test]
    async fn a_client_asking_to_close_is_closed_after_its_answer() {
        let server = TestServer::start(Duration::from_secs(10)).await;
        for request in [
            "GET /hello HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
            "GET /hello HTTP/1.0\r\n\r\n",
        ] {
            let mut client = server.connect().await;
            let (_, _, body) = ask(&mut client, request).await;
            assert_eq!(body, "hello");
            assert!(
                closed_within(&mut client, Duration::from_secs(1)).await,
                "{request}"
            );
        }
    }

    #[tokio::test]
    async fn a_parked_connection_has_the_header_timeout_to_send_its_next_request() {
        let timeout = Duration::from_millis(300);
        let server = TestServer::start(timeout).await;
        let mut client = server.connect().await;
        ask(&mut client, &get_request("/hello")).await;
        let answered = tokio::time::Instant::now();
        assert!(closed_within(&mut client, Duration::from_secs(2)).await);
        let waited = answered.elapsed();
        assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
        // Trickling a request in does not buy more time: the deadline runs from the answer.
        let mut client = server.connect().await;
        ask(&mut client, &get_request("/hello")).await;
        let answered = tokio::time::Instant::now();
        for byte in b"GET /hello HTTP/1.1\r\n" {
            if client.get_mut().write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        assert!(closed_within(&mut client, Duration::from_secs(2)).await);
        let waited = answered.elapsed();
        assert!(waited < 2 * timeout, "{waited:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stopping_closes_idle_connections_and_answers_the_request_in_flight() {
        let mut server = TestServer::start(Duration::from_secs(10)).await;
        let mut idle = server.connect().await;
        ask(&mut idle, &get_request("/hello")).await;
        let mut busy = server.connect().await;
        busy.get_mut()
            .write_all(get_request("/slow").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.stop.take().unwrap().send(()).unwrap();
        assert!(closed_within(&mut idle, Duration::from_millis(200)).await);
        let (status, headers, body) = response(&mut busy).await.expect("answered");
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "slow")
        );
        assert!(headers.contains("connection: close"), "{headers}");
        assert!(closed_within(&mut busy, Duration::from_secs(1)).await);
        server.task.await.unwrap().unwrap();
        assert_eq!(server.counts.open.load(Relaxed), 0);
    }
}
