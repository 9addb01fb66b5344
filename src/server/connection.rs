//! One client connection: served by hyper while it has work, held as a bare socket while idle.
//!
//! hyper 1.x gives every HTTP/1 connection an 8 KiB read buffer and an 8 KiB write buffer and
//! keeps both for the connection's life (neither can be made smaller). A chat page polls once a
//! second and waits in between, so with 10,000 pages open nearly all of those buffers would sit
//! idle, and the first page of each (touched by every request) would make up most of ~140 MB.
//! Like nginx, which frees a keep-alive connection's buffers while it waits, a connection here is
//! *parked* once it has answered everything it was asked, flushed every reply and then waited
//! [`PARK_AFTER`] for more: hyper is let go of it (`graceful_shutdown` on an idle connection,
//! `into_parts` to keep the socket), and only the socket is held until the client sends again;
//! then a fresh hyper connection picks it up.
//!
//! A connection is only parked when hyper is certainly idle with nothing to lose:
//! - at least one request was answered on this hyper connection, no request or response body is
//!   still alive, and the last write was not left waiting on a full socket;
//! - never when a request body was dropped unread (hyper must drain it or close).
//!
//! Connections that end after a reply (`Connection: close`, HTTP/1.0, errors) are closed by
//! hyper itself in the poll that sends it, before the driver looks. Bytes hyper had read ahead (a pipelined request) are handed to the next hyper connection.
//!
//! Deadlines are kept as before: a client must send each request's headers within
//! `header_timeout` of connecting or of its previous reply, parked or not.
//!
//! This relies on how hyper 1.x's HTTP/1 server behaves, so Cargo.toml pins hyper's minor
//! version. When upgrading it, re-check that: `graceful_shutdown` on an idle connection ends
//! it without writing; `poll_without_shutdown` + `into_parts` hand back the socket and the
//! unread bytes (`read_buf`); a `Connection: close` or HTTP/1.0 request is closed by hyper in
//! the poll that sends its reply; and the tests below (pipelining, unread bodies, slow readers,
//! deadlines across a park) still pass.

use std::convert::Infallible;
use std::future::{Future, poll_fn};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tower::ServiceExt;

use super::limit::{ClientAddr, forwarded_for};

/// How long a connection waits idle before it is parked. A client that sends again sooner (a
/// page fetching its files, a benchmark) keeps its hyper connection; one that polls every
/// second spends 2 % of its time unparked.
const PARK_AFTER: Duration = Duration::from_millis(20);

/// A response extension: the client will be back within this long (a long-polling page polls
/// again at once, or a moment after news), so its connection stays with hyper that long rather
/// than being parked and taken up again, which at a broadcast to 10,000 pages made every
/// connection drop and rebuild hyper's buffers within the same burst.
#[derive(Debug, Clone, Copy)]
pub struct StayAwake(pub Duration);

/// Connections the listener has open, and how many of them hyper is serving (the rest are parked).
#[derive(Debug, Default)]
struct Counts {
    open: AtomicUsize,
    serving: AtomicUsize,
}

/// What the requests and bodies of one connection tell its driver.
#[derive(Debug, Default)]
struct Activity {
    /// Requests whose headers hyper has read, ever, on this connection.
    started: AtomicUsize,
    /// Request and response bodies still alive (a reply not yet fully handed to hyper counts).
    busy: AtomicUsize,
    /// Leave this connection to hyper to its end (see the module notes).
    keep_with_hyper: AtomicBool,
    /// The last write found the socket full: hyper still holds bytes to send. (hyper can call
    /// itself idle before its buffer is flushed, when a request body ends after the reply.)
    write_blocked: AtomicBool,
    /// How long to stay with hyper after the last reply before parking, in ms, if longer than
    /// [`PARK_AFTER`] (the last reply's [`StayAwake`]).
    stay_awake_ms: std::sync::atomic::AtomicU64,
}

impl Activity {
    /// Whether hyper can be let go: it answered a request since `started_before` and is idle.
    fn can_park(&self, started_before: usize) -> bool {
        self.started.load(Relaxed) != started_before
            && self.busy.load(Relaxed) == 0
            && !self.keep_with_hyper.load(Relaxed)
            && !self.write_blocked.load(Relaxed)
    }
}

/// One count in [`Activity::busy`], given back when dropped.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: &Arc<Activity>) -> Self {
        activity.busy.fetch_add(1, Relaxed);
        Self(Arc::clone(activity))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Relaxed);
    }
}

/// A body that keeps its connection busy while alive. A request body dropped before its end
/// leaves unread bytes on the connection, so that connection stays with hyper, which drains or
/// closes it: those bytes must never be read as a request. (hyper 1.12 settles that in the same
/// poll that sends the reply, so this guard holds only if that changes; it costs nothing.)
struct Watched<B> {
    inner: B,
    busy: Option<Busy>,
    is_request: bool,
}

impl<B> Watched<B> {
    fn finish(&mut self) {
        self.busy = None;
    }
}

impl<B> Drop for Watched<B> {
    fn drop(&mut self) {
        if self.is_request
            && let Some(Busy(activity)) = &self.busy
        {
            activity.keep_with_hyper.store(true, Relaxed);
        }
    }
}

impl<B> hyper::body::Body for Watched<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.finish();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The hyper service of one connection: the router, with the client's address on each request.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: IpAddr,
    trust_forwarded_for: bool,
    activity: Arc<Activity>,
}

type Reply = Response<Watched<Body>>;

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = Reply;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Reply, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        let activity = &self.activity;
        activity.started.fetch_add(1, Relaxed);
        let forwarded = self
            .trust_forwarded_for
            .then(|| forwarded_for(request.headers()))
            .flatten();
        let client = forwarded.unwrap_or(self.peer);
        request.extensions_mut().insert(ClientAddr(client));
        let request = request.map(|body| {
            if hyper::body::Body::is_end_stream(&body) {
                Body::new(body)
            } else {
                Body::new(Watched {
                    inner: body,
                    busy: Some(Busy::new(activity)),
                    is_request: true,
                })
            }
        });
        let reply_busy = Busy::new(activity);
        let router = self.router.clone();
        let activity = Arc::clone(activity);
        Box::pin(async move {
            let Ok(response) = router.oneshot(request).await;
            let stay = response
                .extensions()
                .get::<StayAwake>()
                .map_or(0, |stay| stay.0.as_millis());
            activity
                .stay_awake_ms
                .store(u64::try_from(stay).unwrap_or(u64::MAX), Relaxed);
            Ok(response.map(|body| Watched {
                inner: body,
                busy: Some(reply_busy),
                is_request: false,
            }))
        })
    }
}

/// The socket, with the bytes hyper read ahead before it was let go, and a note of writes that
/// found the socket full.
struct Socket {
    stream: TcpStream,
    read_ahead: Bytes,
    activity: Arc<Activity>,
}

impl Socket {
    fn note_write<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        self.activity
            .write_blocked
            .store(result.is_pending(), Relaxed);
        result
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read_ahead.is_empty() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let n = this.read_ahead.len().min(buf.remaining());
        buf.put_slice(&this.read_ahead.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write(cx, buf);
        this.note_write(result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.stream).poll_write_vectored(cx, bufs);
        this.note_write(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// What a connection needs from its listener.
pub struct Setup {
    http: http1::Builder,
    router: Router,
    header_timeout: Duration,
    trust_forwarded_for: bool,
    counts: Arc<Counts>,
}

impl Setup {
    /// Connections that serve `router`, give each request's headers `header_timeout`, and take
    /// the client's address from `X-Forwarded-For` when `trust_forwarded_for`.
    pub fn new(router: Router, header_timeout: Duration, trust_forwarded_for: bool) -> Self {
        let mut http = http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout)
            .keep_alive(true);
        Self {
            http,
            router,
            header_timeout,
            trust_forwarded_for,
            counts: Arc::default(),
        }
    }
}

/// Counts the connection as open for as long as it lives.
struct Open<'a>(&'a Counts);

impl<'a> Open<'a> {
    fn new(counts: &'a Counts) -> Self {
        counts.open.fetch_add(1, Relaxed);
        Self(counts)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// Serves one accepted connection until the client leaves, a deadline passes, or `stop` turns
/// true (then the request in flight, if any, is answered first).
pub async fn drive(
    stream: TcpStream,
    peer: SocketAddr,
    setup: Arc<Setup>,
    mut stop: watch::Receiver<bool>,
) {
    let _open = Open::new(&setup.counts);
    let activity = Arc::new(Activity::default());
    let service = ConnectionService {
        router: setup.router.clone(),
        peer: peer.ip(),
        trust_forwarded_for: setup.trust_forwarded_for,
        activity: Arc::clone(&activity),
    };
    let mut socket = Socket {
        stream,
        read_ahead: Bytes::new(),
        activity: Arc::clone(&activity),
    };
    // The time by which the next request's headers must have arrived.
    let mut head_deadline = pin!(tokio::time::sleep(setup.header_timeout));
    // When an idle connection is parked; reset as each request ends.
    let mut park_at = pin!(tokio::time::sleep(Duration::ZERO));
    loop {
        if socket.read_ahead.is_empty() {
            // Parked: nothing but the socket until the client sends again.
            tokio::select! {
                ready = socket.stream.readable() => if ready.is_err() { return },
                () = head_deadline.as_mut() => return,
                _ = stop.wait_for(|stopping| *stopping) => return,
            }
        }

        setup.counts.serving.fetch_add(1, Relaxed);
        let started_before = activity.started.load(Relaxed);
        // Boxed, so that a parked connection's task does not keep room for one.
        let mut connection = Box::new(
            setup
                .http
                .serve_connection(TokioIo::new(socket), service.clone()),
        );
        let mut stopping = pin!(stop.wait_for(|stopping| *stopping));
        let (mut letting_go, mut stopped) = (false, false);
        // The request count when the current idle stretch began, and when that was.
        let mut idle_since = (None, Instant::now());
        let ended = poll_fn(|cx| {
            loop {
                if let Poll::Ready(ended) = connection.poll_without_shutdown(cx) {
                    return Poll::Ready(Some(ended));
                }
                let started = activity.started.load(Relaxed);
                if started == started_before && head_deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                if letting_go {
                    return Poll::Pending;
                }
                stopped = stopping.as_mut().poll(cx).is_ready();
                let park = activity.can_park(started_before) && {
                    if idle_since.0 != Some(started) {
                        idle_since = (Some(started), Instant::now());
                        let stay = Duration::from_millis(activity.stay_awake_ms.load(Relaxed));
                        park_at.as_mut().reset(idle_since.1 + PARK_AFTER.max(stay));
                    }
                    park_at.as_mut().poll(cx).is_ready()
                };
                if stopped || park {
                    // Idle: hyper closes its side at once. Busy (only when stopping): it
                    // answers the request in flight with `Connection: close`, then closes.
                    Pin::new(&mut *connection).graceful_shutdown();
                    letting_go = true;
                    continue;
                }
                return Poll::Pending;
            }
        })
        .await;
        setup.counts.serving.fetch_sub(1, Relaxed);

        let Some(ended) = ended else {
            return; // no request headers in time: close
        };
        let parts = (*connection).into_parts();
        socket = parts.io.into_inner();
        if let Err(err) = &ended {
            tracing::debug!(%peer, error = %err, "connection ended with an error");
        }
        if ended.is_err() || !letting_go || stopped {
            // hyper ended the connection itself (the client closed it, asked to, or erred), or
            // the server is stopping: say so with a FIN, as hyper would have.
            let _ = socket.stream.shutdown().await;
            return;
        }
        if !parts.read_buf.is_empty() {
            // A request sent ahead: copied out, so hyper's 8 KiB buffer can go.
            let mut read_ahead = Vec::with_capacity(parts.read_buf.len() + socket.read_ahead.len());
            read_ahead.extend_from_slice(&parts.read_buf);
            read_ahead.extend_from_slice(&socket.read_ahead);
            socket.read_ahead = read_ahead.into();
        }
        head_deadline
            .as_mut()
            .reset(idle_since.1 + setup.header_timeout);
    }
}

#[cfg(test)]
mod tests {
    //! Connection handling over real sockets, with a router of test routes.

    use super::*;

    use axum::routing::{get, post};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;
    use tokio::net::TcpStream;
    use tokio::task::JoinSet;

    const BIG: usize = 4 << 20;

    /// An accept loop like the listener's, without its limits, that can be stopped.
    struct TestServer {
        addr: std::net::SocketAddr,
        counts: Arc<Counts>,
        stop: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    impl TestServer {
        async fn start(header_timeout: Duration) -> Self {
            let router = Router::new()
                .route("/hello", get(|| async { "hello" }))
                .route("/echo", post(|body: String| async move { body }))
                .route("/ignore", post(|| async { "ignored" }))
                .route(
                    "/awake",
                    get(|| async {
                        let mut reply = axum::response::IntoResponse::into_response("awake");
                        reply
                            .extensions_mut()
                            .insert(StayAwake(Duration::from_millis(600)));
                        reply
                    }),
                )
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
            let setup = Arc::new(Setup::new(router, header_timeout, false));
            let counts = Arc::clone(&setup.counts);
            let (stop, stopping) = watch::channel(false);
            let task = tokio::spawn(async move {
                let mut connections = JoinSet::new();
                let mut stopped = stopping.clone();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let (stream, peer) = accepted.unwrap();
                            let (setup, stopping) = (Arc::clone(&setup), stopping.clone());
                            connections.spawn(drive(stream, peer, setup, stopping));
                        }
                        _ = stopped.wait_for(|stopping| *stopping) => break,
                    }
                }
                while connections.join_next().await.is_some() {}
            });
            Self {
                addr,
                counts,
                stop,
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
    async fn a_reply_that_asks_its_connection_to_stay_awake_is_not_parked_meanwhile() {
        let server = TestServer::start(Duration::from_secs(10)).await;
        let mut client = server.connect().await;
        let (status, _, body) = ask(&mut client, &get_request("/awake")).await;
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "awake")
        );
        // Well past PARK_AFTER, within the 600 ms asked for: still with hyper.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(server.counts.serving.load(Relaxed), 1);
        assert!(
            server.until(|c| c.serving.load(Relaxed) == 0).await,
            "parked after it"
        );
        // The next plain reply parks at the usual time again.
        let (status, _, _) = ask(&mut client, &get_request("/hello")).await;
        assert_eq!(status.as_str(), "HTTP/1.1 200 OK");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(server.counts.serving.load(Relaxed), 0);
    }

    #[tokio::test]
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
        let server = TestServer::start(Duration::from_secs(10)).await;
        let mut idle = server.connect().await;
        ask(&mut idle, &get_request("/hello")).await;
        let mut busy = server.connect().await;
        busy.get_mut()
            .write_all(get_request("/slow").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.stop.send(true).unwrap();
        assert!(closed_within(&mut idle, Duration::from_millis(200)).await);
        let (status, headers, body) = response(&mut busy).await.expect("answered");
        assert_eq!(
            (status.as_str(), body.as_str()),
            ("HTTP/1.1 200 OK", "slow")
        );
        assert!(headers.contains("connection: close"), "{headers}");
        assert!(closed_within(&mut busy, Duration::from_secs(1)).await);
        server.task.await.unwrap();
        assert_eq!(server.counts.open.load(Relaxed), 0);
    }
}
