//! The load benchmark: the chat server against a bare axum handler (the ceiling), in one run.
//!
//! ```text
//! cargo leptos build --release
//! cargo run --release --features ssr --example loadgen -- --markdown BENCHMARKS-run.md
//! ```
//!
//! It starts, each as its own process on 127.0.0.1, the release chat server on a fresh SQLite
//! database (rate limits off) and a bare axum handler answering `{"type":"sync","data":[]}` (this
//! same binary run with `--ceiling-server`), then:
//! 1. saturates each over `--connections` keep-alive connections: the ceiling, idle syncs
//!    (`last_message` = newest), syncs returning the newest 20, and message posts; req/s and
//!    p50/p99/p99.9 latency, with the ratio to the ceiling;
//! 2. on a fresh server, simulates `--pollers` clients each polling every `--poll-interval-ms`
//!    on its own connection (jittered start) while `--writers` post: delivery latency (from a
//!    message's publication, its status-0 reply or the first poller's receipt, whichever came
//!    first, until every poller has it), sync latency, server CPU and peak RSS;
//! 3. on a server at its default rate limits, saturates idle syncs from clients spread over
//!    16,384 loopback source addresses (127.1.0.0 and up), each under its limit (a client
//!    sends 90 requests on one connection, then the next address takes over on a new one): the
//!    cost of the limiter on every request, with the connection churn that spreading takes;
//! 4. on a server over a database of 1,000,000 messages in 10 rooms (written straight into the
//!    file the server created, then served by it), saturates `history` requests for 50
//!    messages before a random id of a random room: at 1 client (latency) and over
//!    `--connections` (throughput);
//! 5. the long-poll scenarios (10,000 pages with one message a second, with ten, with none;
//!    1,000 pages with one a second), each in turns against a bare long-poll server (this same
//!    binary run with `--long-poll-ceiling-server`) and a fresh chat server, `--rounds` times:
//!    delivery to each page (from publication, as above; from the acknowledgement printed
//!    beside it on standard error), and the chat's figures as ratios to the bare server's;
//! 6. measures the page's first-visit download (WASM + JS + CSS, brotli) as served.
//!
//! Every chat server it starts serves 10 rooms, `general` and `r1` to `r9` (`CHAT_ROOMS`); the
//! rooms phases follow several of them. Servers given with `--addr` must serve those too.
//!
//! Every reply is checked (status, shape, order, nothing missed); `--smoke` runs it all for a
//! few seconds and fails on any protocol error. Numbers from a debug build mean nothing, so
//! only `--smoke` runs without `--release`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{ACCEPT_ENCODING, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug, Clone)]
#[command(about = "Load benchmark of the chat server against a bare axum handler")]
struct Args {
    /// The release chat server (built by `cargo leptos build --release`).
    #[arg(long, default_value = "target/release/ajax-chat")]
    server_bin: PathBuf,
    /// Load chat servers that are already running instead of starting one: comma-separated,
    /// connections spread over them (e.g. two instances over one PostgreSQL). Their rate limits
    /// must be off; CPU and memory are then not reported.
    #[arg(long, value_delimiter = ',')]
    addr: Vec<SocketAddr>,
    /// Threads serving HTTP in both servers it starts; by default each its own, one per core
    /// for both (tokio's default, and the chat's).
    #[arg(long)]
    server_threads: Option<usize>,
    /// Seconds of each saturation phase (after one second of warm-up).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Keep-alive connections of the saturation phases.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Keep-alive connections posting messages (more concurrent posts, larger group commits).
    #[arg(long, default_value_t = 256)]
    post_connections: usize,
    /// Simulated clients, each polling on its own connection.
    #[arg(long, default_value_t = 10_000)]
    pollers: usize,
    #[arg(long, default_value_t = 1000)]
    poll_interval_ms: u64,
    /// Seconds the writers post while the clients poll.
    #[arg(long, default_value_t = 20)]
    poll_secs: u64,
    #[arg(long, default_value_t = 2)]
    writers: usize,
    /// Pause between one writer's posts.
    #[arg(long, default_value_t = 200)]
    write_interval_ms: u64,
    /// A few seconds of everything at small scale; fails on any protocol error.
    #[arg(long)]
    smoke: bool,
    /// Also write the results as Markdown to this file.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Only the long-polling scenarios (a quicker run while working on them).
    #[arg(long)]
    long_poll_only: bool,
    /// Only these long-poll scenarios, by their place in the list above (0-3; e.g. `3` for
    /// 1,000 pages at one message a second): all by default.
    #[arg(long, value_delimiter = ',')]
    scenarios: Vec<usize>,
    /// Also search a 1,000,000-message database over PostgreSQL: the URL of an empty database
    /// (e.g. one `scripts/pg-cluster create` made), which the benchmark fills.
    #[arg(long)]
    search_postgres: Option<String>,
    /// Only the PostgreSQL search (needs `--search-postgres`): a quicker run while working on it.
    #[arg(long)]
    search_only: bool,
    /// Only posting against the ceiling: the two phases taking turns, three rounds, each
    /// round's ratio and their median (the machine's speed drifts less within a round).
    #[arg(long)]
    posts_only: bool,
    /// Only the idle sync against the ceiling, taking turns as `--posts-only` does (and the
    /// p99 ratio beside the throughput's).
    #[arg(long)]
    idle_only: bool,
    /// Only the idle sync and the newest-20 sync, in turns with the ceiling, on a chat whose
    /// newest messages carry reactions and replies, on one whose messages carry neither, and on
    /// one of plain messages as long as the rich (`--rounds`, at least three): what the
    /// conversation's fields cost a sync.
    #[arg(long)]
    rich_only: bool,
    /// Rounds of each long-poll scenario, the bare long-poll server and the chat taking turns
    /// (the ratios are the median of the rounds'); one with `--smoke`.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Internal: run the bare axum ceiling server instead.
    #[arg(long, hide = true)]
    ceiling_server: bool,
    /// Internal: run the bare long-poll server instead.
    #[arg(long, hide = true)]
    long_poll_ceiling_server: bool,
}

fn main() -> Result<(), Error> {
    let mut args = Args::parse();
    if args.ceiling_server {
        return ceiling_server();
    }
    if args.long_poll_ceiling_server {
        return long_poll_ceiling_server();
    }
    args.rounds = args.rounds.max(1);
    if args.smoke {
        args.rounds = 1;
        args.duration = 2;
        args.pollers = args.pollers.min(200);
        args.poll_secs = 3;
    } else if cfg!(debug_assertions) {
        return Err("a benchmark needs --release (or use --smoke)".into());
    }
    raise_fd_limit();
    let runtime = tokio::runtime::Runtime::new()?;
    if let (true, Some(url)) = (args.search_only, &args.search_postgres) {
        let rows = if args.smoke {
            HISTORY_ROWS_SMOKE
        } else {
            HISTORY_ROWS
        };
        let (warm_up, duration) = (Duration::from_secs(1), Duration::from_secs(args.duration));
        let (run, target, met) =
            runtime.block_on(search_postgres(&args, url, rows, warm_up, duration))?;
        let p50 = run.latency.value_at_quantile(0.5) as f64 / 1000.0;
        let p99 = run.latency.value_at_quantile(0.99) as f64 / 1000.0;
        println!(
            "{}: {:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms, errors {} | {target} | met: {met}",
            run.name,
            run.rate(),
            run.errors
        );
        return Ok(());
    }
    if args.posts_only {
        return runtime.block_on(in_turns(&args, Turns::Posts));
    }
    if args.idle_only {
        return runtime.block_on(in_turns(&args, Turns::IdleSync));
    }
    if args.rich_only {
        return runtime.block_on(rich_in_turns(&args));
    }
    if args.long_poll_only {
        let runs = runtime.block_on(long_polling(&args))?;
        println!("{}", long_polling_markdown(&args, &runs));
        return Ok(());
    }
    let report = runtime.block_on(run(&args))?;
    let markdown = report.markdown(&args);
    println!("{markdown}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown)?;
    }
    if report.errors() > 0 {
        return Err(format!("{} protocol errors", report.errors()).into());
    }
    Ok(())
}

/// The ceiling: the least an axum server can do for a sync, in a process of its own like the
/// chat server, on tokio's default multi-threaded runtime.
#[tokio::main]
async fn ceiling_server() -> Result<(), Error> {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/ajax",
        post(|_body: Bytes| async {
            (
                [(CONTENT_TYPE, "application/json")],
                r#"{"type":"sync","data":[]}"#,
            )
        }),
    );
    let listener = listener()?;
    eprintln!("listening addr={}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// The long-poll ceiling: the least a long-poll chat server must do, in a process of its own on
/// tokio's default runtime. Envelopes are parsed with serde (the seed's `message`, and `sync`
/// with `last_message` and `wait_ms`), messages are kept in memory, each encoded once, and one
/// `watch` channel carries the newest id, which every held sync waits on. What it leaves out,
/// the chat does on top: durable storage, rooms, keys, limits, the build header.
#[tokio::main]
async fn long_poll_ceiling_server() -> Result<(), Error> {
    use axum::extract::State;
    use axum::routing::post;
    use std::sync::RwLock;
    use tokio::sync::watch;

    #[derive(serde::Deserialize)]
    #[serde(tag = "type", content = "data", rename_all = "snake_case")]
    enum Envelope {
        Message {
            sender: String,
            message: String,
        },
        Sync {
            #[serde(default)]
            last_message: u64,
            wait_ms: Option<u64>,
        },
    }
    #[derive(serde::Serialize)]
    struct Item<'a> {
        id: u64,
        sender: &'a str,
        message: &'a str,
        sent_at: u64,
    }
    struct Board {
        /// Message `n` (ids from 1) at index `n - 1`, as its JSON item.
        messages: RwLock<Vec<String>>,
        newest: watch::Sender<u64>,
    }
    impl Board {
        /// A sync reply with the (at most 1,000) messages after `last`.
        fn reply(&self, last: u64) -> String {
            let messages = self.messages.read().unwrap();
            let from = (last as usize).min(messages.len());
            let to = messages.len().min(from + 1000);
            format!(
                r#"{{"type":"sync","data":[{}]}}"#,
                messages[from..to].join(",")
            )
        }
    }
    async fn ajax(State(board): State<Arc<Board>>, body: Bytes) -> axum::response::Response {
        use axum::response::IntoResponse;
        let json = |body: String| ([(CONTENT_TYPE, "application/json")], body).into_response();
        match serde_json::from_slice::<Envelope>(&body) {
            Ok(Envelope::Message { sender, message }) => {
                let id = {
                    let mut messages = board.messages.write().unwrap();
                    let id = messages.len() as u64 + 1;
                    let sent_at = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |since| since.as_micros() as u64);
                    let item = Item {
                        id,
                        sender: &sender,
                        message: &message,
                        sent_at,
                    };
                    messages.push(serde_json::to_string(&item).unwrap_or_default());
                    // Published under the lock, so that the newest id never goes back (two
                    // writers publishing out of order would hold a sync that has news).
                    board.newest.send_replace(id);
                    id
                };
                json(format!(
                    r#"{{"type":"status","data":{{"status":0,"message":"message {id} stored"}}}}"#
                ))
            }
            Ok(Envelope::Sync {
                last_message,
                wait_ms,
            }) => {
                if let Some(wait) = wait_ms.filter(|_| *board.newest.borrow() <= last_message) {
                    let mut newest = board.newest.subscribe();
                    let _ = tokio::time::timeout(
                        Duration::from_millis(wait),
                        newest.wait_for(|&newest| newest > last_message),
                    )
                    .await;
                }
                json(board.reply(last_message))
            }
            Err(_) => (hyper::StatusCode::BAD_REQUEST, "bad envelope").into_response(),
        }
    }
    let board = Arc::new(Board {
        messages: RwLock::default(),
        newest: watch::Sender::new(0),
    });
    let app = axum::Router::new()
        .route("/ajax", post(ajax))
        .with_state(board);
    let listener = listener()?;
    eprintln!("listening addr={}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// A listener on a free loopback port with as long an accept queue as the chat server's (the
/// kernel's most): with tokio's `TcpListener::bind` (128), 10,000 pages connecting at once
/// overflow it, and a page whose handshake is dropped waits a second or more for its SYN to be
/// sent again, which would be measured as the ceiling's slowness.
fn listener() -> std::io::Result<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(65_535)
}

/// 10,000 pollers need 10,000 sockets here and in the server (which inherits the limit).
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls with valid pointers.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A server process started by the benchmark (killed when dropped), or one given by address.
struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    /// Every address to load: `addr` alone, unless several were given.
    addrs: Vec<SocketAddr>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    fn chat(args: &Args) -> Result<Self, Error> {
        Self::chat_limited(args, false)
    }

    /// A chat server (rate limits off) over the database file `db`, which it creates if needed.
    fn chat_over(args: &Args, db: &std::path::Path) -> Result<Self, Error> {
        let mut command = Command::new(&args.server_bin);
        command
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", format!("sqlite://{}", db.display()))
            .env("CHAT_ROOMS", BENCH_ROOMS)
            .env("CHAT_MESSAGE_RATE", "0")
            .env("CHAT_SYNC_RATE", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        if let Some(threads) = args.server_threads {
            command.env("CHAT_WORKER_THREADS", threads.to_string());
        }
        Self::spawn(command, None)
    }

    /// Stops the server gracefully (SIGTERM) and waits until it has closed its database.
    fn stop(mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signals a child process of ours by its id.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }

    /// The chat server; with `limits`, at its default rate limits (otherwise they are off, since
    /// one address sends everything).
    fn chat_limited(args: &Args, limits: bool) -> Result<Self, Error> {
        if let Some(&addr) = args.addr.first() {
            return Ok(Self {
                child: None,
                addr,
                addrs: args.addr.clone(),
                _dir: None,
            });
        }
        let dir = tempfile::tempdir()?;
        let mut command = Command::new(&args.server_bin);
        command
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("chat.db").display()),
            )
            .env("CHAT_POLL_INTERVAL_MS", args.poll_interval_ms.to_string())
            .env("CHAT_ROOMS", BENCH_ROOMS)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        if !limits {
            command
                .env("CHAT_MESSAGE_RATE", "0")
                .env("CHAT_SYNC_RATE", "0");
        }
        if let Some(threads) = args.server_threads {
            command.env("CHAT_WORKER_THREADS", threads.to_string());
        }
        Self::spawn(command, Some(dir))
    }

    /// The bare axum handler (`ceiling_server`).
    fn ceiling(args: &Args) -> Result<Self, Error> {
        Self::bare(args, "--ceiling-server")
    }

    /// The bare long-poll server (`long_poll_ceiling_server`).
    fn long_poll_ceiling(args: &Args) -> Result<Self, Error> {
        Self::bare(args, "--long-poll-ceiling-server")
    }

    /// This binary run as one of its bare servers (`flag`), on tokio's default runtime unless
    /// `--server-threads` says otherwise.
    fn bare(args: &Args, flag: &str) -> Result<Self, Error> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg(flag);
        if let Some(threads) = args.server_threads {
            command.env("TOKIO_WORKER_THREADS", threads.to_string());
        }
        Self::spawn(command, None)
    }

    fn spawn(mut command: Command, dir: Option<tempfile::TempDir>) -> Result<Self, Error> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("start {command:?}: {err}"))?;
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().ok_or("the server exited before listening")??;
            if let Some(rest) = line.split("addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()?;
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child: Some(child),
            addr,
            addrs: vec![addr],
            _dir: dir,
        })
    }

    /// CPU time used so far (user + system), from /proc.
    fn cpu_time(&self) -> Option<Duration> {
        let pid = self.child.as_ref()?.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks = |index: usize| fields.get(index).and_then(|f| f.parse::<u64>().ok());
        // utime and stime are fields 14 and 15 of the line; the name is field 2, so they are
        // 11 and 12 counting from 0 after it.
        let total = ticks(11)? + ticks(12)?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Some(Duration::from_millis(total * 1000 / per_second))
    }

    /// Peak resident memory of the process so far, in bytes.
    fn peak_rss(&self) -> Option<u64> {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.as_ref()?.id()))
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Result<Self, Error> {
        Self::open_from(addr, None).await
    }

    /// A connection whose source address is `source` (any of 127.0.0.0/8 works on loopback),
    /// so that the server sees it as another client.
    async fn open_from(addr: SocketAddr, source: Option<std::net::IpAddr>) -> Result<Self, Error> {
        let stream = match source {
            None => tokio::net::TcpStream::connect(addr).await?,
            Some(source) => {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(source, 0))?;
                socket.connect(addr).await?
            }
        };
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|err| format!("handshake: {err}"))?;
        tokio::spawn(connection);
        Ok(Self {
            sender,
            host: addr.to_string(),
        })
    }

    async fn post(&mut self, body: Bytes) -> Result<(u16, Bytes), Error> {
        let request = hyper::Request::post("/ajax")
            .header(HOST, &self.host)
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }

    /// `GET path` with `Accept-Encoding: encoding`: the body as sent.
    async fn get(&mut self, path: &str, encoding: &str) -> Result<Bytes, Error> {
        let request = hyper::Request::get(path)
            .header(HOST, &self.host)
            .header(ACCEPT_ENCODING, encoding)
            .body(Full::new(Bytes::new()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        if !response.status().is_success() {
            return Err(format!("GET {path}: {}", response.status()).into());
        }
        Ok(response.into_body().collect().await?.to_bytes())
    }
}

/// The rooms every chat server started here serves, besides `general`.
const BENCH_ROOMS: &str = "r1,r2,r3,r4,r5,r6,r7,r8,r9";

/// All ten rooms, `general` first.
fn all_rooms() -> Vec<String> {
    std::iter::once("general")
        .chain(BENCH_ROOMS.split(','))
        .map(str::to_owned)
        .collect()
}

/// Messages in the database of the history phase (a tenth in each room); `--smoke` uses fewer.
const HISTORY_ROWS: u64 = 1_000_000;
const HISTORY_ROWS_SMOKE: u64 = 20_000;

/// Client addresses of the limits-on phase, and requests each sends on one keep-alive
/// connection. At the default sync limit (50/s, bursts of 100), 90 requests a visit stay within
/// a burst, and at ~100,000 req/s in all an address comes back every ~15 s, by when its budget
/// is full again.
const LIMITED_ADDRESSES: u32 = 16_384;
const LIMITED_PER_CONNECTION: u64 = 90;

fn histogram() -> Histogram<u64> {
    // Microseconds, up to a minute, three significant digits.
    Histogram::new_with_max(60_000_000, 3).expect("valid histogram bounds")
}

fn sync_body(last_message: u64) -> Bytes {
    json!({"type": "sync", "data": {"last_message": last_message}})
        .to_string()
        .into()
}

fn sync_rooms_body(last_message: u64, rooms: &[String]) -> Bytes {
    json!({"type": "sync", "data": {"last_message": last_message, "rooms": rooms}})
        .to_string()
        .into()
}

fn message_body(text: &str) -> Bytes {
    json!({"type": "message", "data": {"sender": "bench", "message": text}})
        .to_string()
        .into()
}

fn message_in(room: &str, text: &str) -> Bytes {
    json!({"type": "message", "data": {"sender": "bench", "message": text, "room": room}})
        .to_string()
        .into()
}

fn history_body(room: &str, before: u64, limit: usize) -> Bytes {
    json!({"type": "history", "data": {"room": room, "before": before, "limit": limit}})
        .to_string()
        .into()
}

/// Whether a reply is what the protocol promises for this kind of request. Cheap checks, so
/// that the load generator spends its CPU on load, not on parsing.
#[derive(Clone, Copy)]
enum Expect {
    EmptySync,
    Sync(usize),
    History(usize),
    /// A search reply, of at most 50 messages.
    Search,
    Stored,
}

impl Expect {
    fn holds(self, status: u16, body: &[u8]) -> bool {
        let text = std::str::from_utf8(body).unwrap_or_default();
        status == 200
            && match self {
                Expect::EmptySync => text == r#"{"type":"sync","data":[]}"#,
                Expect::Sync(count) => {
                    text.starts_with(r#"{"type":"sync","data":["#) && items(text) == count
                }
                Expect::History(count) => {
                    text.starts_with(r#"{"type":"history","data":["#) && items(text) == count
                }
                Expect::Search => {
                    text.starts_with(r#"{"type":"search","data":["#) && items(text) <= 50
                }
                Expect::Stored => text.starts_with(r#"{"type":"status","data":{"status":0"#),
            }
    }
}

/// How many items a reply's list holds: each starts with `{"id":`, as does a reply's quote
/// (one scan: the reader's cost should not grow with the bodies more than reading them does).
fn items(text: &str) -> usize {
    text.match_indices(r#"{"id":"#)
        .filter(|(at, _)| !text[..*at].ends_with(r#""reply_to":"#))
        .count()
}

/// The outcome of one saturation phase.
struct Saturation {
    name: &'static str,
    requests: u64,
    elapsed: Duration,
    errors: u64,
    latency: Histogram<u64>,
}

impl Saturation {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// Clients spread over many source addresses: each connection sends `per_connection`
/// requests, then its client moves to the next of `addresses` loopback addresses
/// (127.1.0.0 and up) on a new connection, so that no address goes over its rate limit.
#[derive(Clone, Copy)]
struct Spread {
    addresses: u32,
    per_connection: u64,
}

impl Spread {
    /// The `n`th source address, 127.1.0.0 and up.
    fn source(self, n: u64) -> std::net::IpAddr {
        let n = (n % u64::from(self.addresses)) as u32;
        std::net::Ipv4Addr::new(127, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8).into()
    }
}

/// `connections` clients send requests back to back for `duration` (after a warm-up whose
/// results are dropped); `body(connection, n)` makes each request.
async fn saturate(
    name: &'static str,
    addrs: &[SocketAddr],
    connections: usize,
    warm_up: Duration,
    duration: Duration,
    expect: Expect,
    body: impl Fn(usize, u64) -> Bytes + Send + Sync + 'static,
) -> Result<Saturation, Error> {
    saturate_from(
        name,
        addrs,
        connections,
        None,
        warm_up,
        duration,
        expect,
        body,
    )
    .await
}

/// [`saturate`], with the clients spread over many source addresses when `spread` says so.
#[allow(clippy::too_many_arguments)]
async fn saturate_from(
    name: &'static str,
    addrs: &[SocketAddr],
    connections: usize,
    spread: Option<Spread>,
    warm_up: Duration,
    duration: Duration,
    expect: Expect,
    body: impl Fn(usize, u64) -> Bytes + Send + Sync + 'static,
) -> Result<Saturation, Error> {
    let body = Arc::new(body);
    let begin = Instant::now() + warm_up;
    let end = begin + duration;
    let mut tasks = Vec::with_capacity(connections);
    for index in 0..connections {
        let addr = addrs[index % addrs.len()];
        let source = spread.map(|spread| spread.source(index as u64));
        let mut connection = Connection::open_from(addr, source).await?;
        let body = Arc::clone(&body);
        tasks.push(tokio::spawn(async move {
            let mut latency = histogram();
            let (mut requests, mut errors) = (0u64, 0u64);
            let mut visits = 1u64;
            for n in 0.. {
                let started = Instant::now();
                if started >= end {
                    break;
                }
                if let Some(spread) = spread
                    && n > 0
                    && n % spread.per_connection == 0
                {
                    // This client's next address: one of `connections` interleaved sequences.
                    let source = spread.source(index as u64 + visits * connections as u64);
                    visits += 1;
                    match Connection::open_from(addr, Some(source)).await {
                        Ok(fresh) => connection = fresh,
                        Err(_) => {
                            requests += 1;
                            errors += 1;
                            break;
                        }
                    }
                }
                let reply = connection.post(body(index, n)).await;
                let ok = matches!(&reply, Ok((status, bytes)) if expect.holds(*status, bytes));
                if started >= begin || !ok {
                    requests += 1;
                    errors += u64::from(!ok);
                    latency.saturating_record(started.elapsed().as_micros() as u64);
                }
                if reply.is_err() {
                    // The connection is gone (counted above): this client stops.
                    break;
                }
            }
            (requests, errors, latency)
        }));
    }
    let mut result = Saturation {
        name,
        requests: 0,
        elapsed: duration,
        errors: 0,
        latency: histogram(),
    };
    for task in tasks {
        let (requests, errors, latency) = task.await?;
        result.requests += requests;
        result.errors += errors;
        result.latency.add(latency)?;
    }
    Ok(result)
}

/// The newest id in any room, found by paging through syncs of every room from the start.
async fn newest_id(addr: SocketAddr) -> Result<u64, Error> {
    let mut connection = Connection::open(addr).await?;
    let mut newest = 0;
    let rooms = all_rooms();
    loop {
        let (_, body) = connection.post(sync_rooms_body(newest, &rooms)).await?;
        let reply: Value = serde_json::from_slice(&body)?;
        let page = reply["data"].as_array().ok_or("a sync reply")?;
        match page.last() {
            Some(last) => newest = last["id"].as_u64().ok_or("an id")?,
            None => return Ok(newest),
        }
    }
}

/// What the polling simulation saw.
struct Polling {
    pollers: usize,
    messages: usize,
    /// Messages that some answered page never received.
    undelivered: usize,
    /// Pages that never had an answer at all (could not connect, or their first sync was never
    /// answered): reported as such, not as messages they missed.
    never_answered: usize,
    /// Per page: from its connecting until its first sync's answer.
    first_answer: Histogram<u64>,
    /// Connections the kernel dropped because a listen queue was full, machine-wide, during
    /// the run (`TcpExtListenOverflows`): a page whose handshake was dropped waits for its
    /// SYN to be retried, 1, 3, 7... s later.
    listen_overflows: Option<u64>,
    errors: u64,
    /// Per message: from its publication ([`Delivery::published`]) until the *last* page has it.
    delivery: Histogram<u64>,
    /// Per message and page: from its publication until that page has it.
    each_page: Histogram<u64>,
    sync_latency: Histogram<u64>,
    syncs: u64,
    elapsed: Duration,
    cpu: Option<f64>,
    peak_rss: Option<u64>,
    /// Peak RSS of the bare axum server holding as many connections (one sync each).
    ceiling_rss: Option<u64>,
}

/// What one simulated page received: message ids, and when.
type Receipts = Arc<Mutex<Vec<(u64, Instant)>>>;

/// The ids of a sync reply's messages: all a simulated page reads of it.
#[derive(serde::Deserialize)]
struct SyncIds {
    data: Vec<IdOnly>,
}

#[derive(serde::Deserialize)]
struct IdOnly {
    id: u64,
}

#[derive(Default)]
struct Delivery {
    acknowledged: Option<Instant>,
    received: usize,
    first_received: Option<Instant>,
    last_received: Option<Instant>,
}

impl Delivery {
    /// When the message was published: the first moment anyone had it, its writer (the
    /// acknowledgement) or a page, whichever came first. Delivery is timed from here rather than
    /// from the acknowledgement alone, because a server that wakes the pages and answers the
    /// writer in either order has published the message at the same moment: timed from the
    /// acknowledgement, one that answers 100 pages before its writer reads as faster than one
    /// that answers the writer first, by as long as those answers take (traced at their
    /// syscalls, the bare long-poll server answered 37 to 471 pages before its writer in 5 of
    /// 10 broadcasts, the chat 27 and 57 in 2 of 10; BENCHMARKS.md, 2026-12-08).
    fn published(&self) -> Option<Instant> {
        let acknowledged = self.acknowledged?;
        Some(
            self.first_received
                .map_or(acknowledged, |first| first.min(acknowledged)),
        )
    }
}

/// How the simulated pages poll, and how much is written meanwhile.
#[derive(Clone, Copy)]
struct Scenario {
    pollers: usize,
    /// Long polling: each sync asks to be held this long (ms); `None`: a sync every interval.
    long_poll_ms: Option<u64>,
    writers: usize,
    write_interval: Duration,
    secs: u64,
}

impl Scenario {
    fn polling(args: &Args) -> Self {
        Self {
            pollers: args.pollers,
            long_poll_ms: None,
            writers: args.writers,
            write_interval: Duration::from_millis(args.write_interval_ms),
            secs: args.poll_secs,
        }
    }
}

/// How long a long-polling page waits after news before it polls again (the page's
/// `NEWS_PAUSE_MS`).
const NEWS_PAUSE: Duration =
    Duration::from_millis(ajax_chat::app::model::poll::NEWS_PAUSE_MS as u64);
/// What the long-poll pages ask to be held for (the server's default).
const LONG_POLL_MS: u64 = 25_000;

async fn simulate_polling(args: &Args) -> Result<Polling, Error> {
    simulate(args, Scenario::polling(args), Server::chat(args)?).await
}

/// Pages polling (every interval, or long polling) on `server` while writers post: what each
/// page saw.
async fn simulate(args: &Args, scenario: Scenario, server: Server) -> Result<Polling, Error> {
    let addrs = server.addrs.clone();
    let interval = Duration::from_millis(args.poll_interval_ms);
    // Each page's receipts (message id, when) in a list of its own, so that pages never contend
    // on a lock while they measure; writers' acknowledgements by message id.
    let mut receipts: Vec<Receipts> = Vec::with_capacity(scenario.pollers);
    let acknowledgements: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let sync_latency = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(AtomicU64::new(0));
    let syncs = Arc::new(AtomicU64::new(0));
    let answered = Arc::new(AtomicU64::new(0));
    let first_answer = Arc::new(Mutex::new(histogram()));
    let overflows_before = listen_overflows();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    // Every poller connects and starts at a random point of its first interval.
    let mut pollers = Vec::with_capacity(scenario.pollers);
    for index in 0..scenario.pollers {
        let jitter = interval.mul_f64(fraction(index as u64));
        let addr = addrs[index % addrs.len()];
        let mine: Receipts = Arc::default();
        receipts.push(Arc::clone(&mine));
        let sync_latency = Arc::clone(&sync_latency);
        let (errors, syncs, stop) = (Arc::clone(&errors), Arc::clone(&syncs), Arc::clone(&stop));
        let (answered, first_answer) = (Arc::clone(&answered), Arc::clone(&first_answer));
        pollers.push(tokio::spawn(async move {
            tokio::time::sleep(jitter).await;
            let connecting = Instant::now();
            let mut connection = match Connection::open(addr).await {
                Ok(connection) => connection,
                Err(_) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = 0u64;
            let mut news = false;
            // Unlike the page, its first sync asks for no wait (the page's is held like the
            // rest): answered at once, it tells a page that is connected and served from one
            // that is not, before the writers start.
            let mut first = true;
            while !stop.load(Ordering::Relaxed) {
                match scenario.long_poll_ms {
                    // Like the page: the next long poll at once, or a moment after news.
                    Some(_) if news => tokio::time::sleep(NEWS_PAUSE).await,
                    Some(_) => {}
                    None => {
                        ticks.tick().await;
                    }
                }
                news = false;
                // Like the page: a full reply is followed at once by another sync.
                loop {
                    let started = Instant::now();
                    let body = match scenario.long_poll_ms {
                        Some(_) if first => sync_body(last),
                        Some(wait) => {
                            json!({"type": "sync", "data": {"last_message": last, "wait_ms": wait}})
                                .to_string()
                                .into()
                        }
                        None => sync_body(last),
                    };
                    let Ok((200, body)) = connection.post(body).await else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    let received = Instant::now();
                    syncs.fetch_add(1, Ordering::Relaxed);
                    if first {
                        first = false;
                        answered.fetch_add(1, Ordering::Relaxed);
                        first_answer
                            .lock()
                            .unwrap()
                            .saturating_record((received - connecting).as_micros() as u64);
                    }
                    if scenario.long_poll_ms.is_none() {
                        // A long poll's time is mostly waiting: not a latency.
                        sync_latency
                            .lock()
                            .unwrap()
                            .saturating_record((received - started).as_micros() as u64);
                    }
                    let Ok(reply) = serde_json::from_slice::<SyncIds>(&body) else {
                        errors.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    let page = reply.data;
                    if page.is_empty() {
                        break;
                    }
                    news = true;
                    let mut mine = mine.lock().unwrap();
                    for message in &page {
                        if message.id <= last {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        last = message.id;
                        mine.push((message.id, received));
                    }
                    if page.len() < 1000 {
                        break;
                    }
                }
            }
        }));
    }
    // Let every poller get going before the writers and the CPU clock start: each has had its
    // first answer, or (a page the server does not answer) 20 s more have passed.
    tokio::time::sleep(interval + Duration::from_millis(500)).await;
    let waiting_until = Instant::now() + Duration::from_secs(20);
    while answered.load(Ordering::Relaxed) < scenario.pollers as u64
        && Instant::now() < waiting_until
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu_before = (server.cpu_time(), Instant::now());

    let writing_until = Instant::now() + Duration::from_secs(scenario.secs);
    // The writers run on a thread and runtime of their own: a post's acknowledgement is timed
    // when it arrives, not when the pages' runtime, busy reading the answers the same post
    // woke, gets round to the writer's task (which put the acknowledgement of a server that
    // answers pages while acknowledging after a tenth of its pages had the message).
    let writers = {
        let (acknowledgements, errors) = (Arc::clone(&acknowledgements), Arc::clone(&errors));
        let pause = scenario.write_interval;
        let (addrs, count) = (addrs.clone(), scenario.writers);
        std::thread::spawn(move || -> Result<(), Error> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut writers = Vec::new();
                for writer in 0..count {
                    let acknowledgements = Arc::clone(&acknowledgements);
                    let errors = Arc::clone(&errors);
                    let mut connection = Connection::open(addrs[writer % addrs.len()]).await?;
                    writers.push(tokio::spawn(async move {
                        let mut sent = 0usize;
                        while Instant::now() < writing_until {
                            let text = format!("writer {writer} message {sent}");
                            match connection.post(message_body(&text)).await {
                                Ok((status, body)) if Expect::Stored.holds(status, &body) => {
                                    let now = Instant::now();
                                    match stored_id(&body) {
                                        Some(id) => {
                                            acknowledgements.lock().unwrap().insert(id, now);
                                        }
                                        None => {
                                            errors.fetch_add(1, Ordering::Relaxed);
                                        }
                                    }
                                    sent += 1;
                                }
                                _ => {
                                    errors.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            tokio::time::sleep(pause).await;
                        }
                    }));
                }
                for writer in writers {
                    writer.await?;
                }
                Ok(())
            })
        })
    };
    tokio::task::spawn_blocking(move || writers.join())
        .await?
        .map_err(|_| "a writer panicked")??;
    // Nobody writing: the pages wait as long as the writers would have written.
    tokio::time::sleep_until(writing_until.into()).await;
    let cpu_after = (server.cpu_time(), Instant::now());
    // Two more intervals for the last messages to reach every poller.
    tokio::time::sleep(interval * 2 + Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let peak_rss = server.peak_rss();
    for poller in &pollers {
        poller.abort();
    }
    // Stopped before their receipts and answers are counted, so that none lands in between.
    for poller in pollers {
        let _ = poller.await;
    }

    let mut deliveries: HashMap<u64, Delivery> = HashMap::new();
    for (&id, &acknowledged) in acknowledgements.lock().unwrap().iter() {
        deliveries.entry(id).or_default().acknowledged = Some(acknowledged);
    }
    for page in &receipts {
        for &(id, received) in page.lock().unwrap().iter() {
            let delivery = deliveries.entry(id).or_default();
            delivery.received += 1;
            delivery.first_received = Some(
                delivery
                    .first_received
                    .map_or(received, |first| first.min(received)),
            );
            delivery.last_received = delivery.last_received.max(Some(received));
        }
    }
    // Each (message, page) from the message's publication (see `Delivery::published`), and,
    // printed beside it, from its acknowledgement.
    let (mut each_page, mut each_page_from_ack) = (histogram(), histogram());
    for page in &receipts {
        for &(id, received) in page.lock().unwrap().iter() {
            let delivery = &deliveries[&id];
            let since = |at: Instant| received.saturating_duration_since(at).as_micros() as u64;
            if let (Some(published), Some(acknowledged)) =
                (delivery.published(), delivery.acknowledged)
            {
                each_page.saturating_record(since(published));
                each_page_from_ack.saturating_record(since(acknowledged));
            }
        }
    }
    let never_answered = scenario.pollers - answered.load(Ordering::Relaxed) as usize;
    let listen_overflows = listen_overflows()
        .zip(overflows_before)
        .map(|(after, before)| after.saturating_sub(before));
    let mut delivery = histogram();
    let mut undelivered = 0;
    let mut messages = 0;
    for entry in deliveries.values() {
        let Some(published) = entry.published() else {
            // Received but never acknowledged: a post the server stored but whose reply failed,
            // or one of another phase.
            continue;
        };
        messages += 1;
        match entry.last_received {
            Some(last) if entry.received == scenario.pollers - never_answered => delivery
                .saturating_record(last.saturating_duration_since(published).as_micros() as u64),
            _ => undelivered += 1,
        }
    }
    let cpu = cpu_after.0.zip(cpu_before.0).map(|(after, before)| {
        (after - before).as_secs_f64() / (cpu_after.1 - cpu_before.1).as_secs_f64()
    });
    let sync_latency = sync_latency.lock().unwrap().clone();
    let first_answer = first_answer.lock().unwrap().clone();
    // The spread of delivery to each page: a fixed delay before the first page is answered
    // and a slower pace of answers read differently here than in p50 and p99 alone.
    for (from, each_page) in [
        ("publication", &each_page),
        ("acknowledgement", &each_page_from_ack),
    ] {
        eprintln!(
            "to each page from the {from}, ms: p1 {}, p10 {}, p50 {}, p90 {}, p99 {}",
            ms(each_page, 0.01),
            ms(each_page, 0.1),
            ms(each_page, 0.5),
            ms(each_page, 0.9),
            ms(each_page, 0.99)
        );
    }
    Ok(Polling {
        pollers: scenario.pollers,
        messages,
        undelivered,
        never_answered,
        first_answer,
        listen_overflows,
        errors: errors.load(Ordering::Relaxed),
        delivery,
        each_page,
        sync_latency,
        syncs: syncs.load(Ordering::Relaxed),
        elapsed,
        cpu,
        peak_rss,
        ceiling_rss: None,
    })
}

/// The id in a post's reply, "message <id> stored".
fn stored_id(body: &[u8]) -> Option<u64> {
    let reply = serde_json::from_slice::<Value>(body).ok()?;
    reply["data"]["message"]
        .as_str()?
        .split(' ')
        .nth(1)?
        .parse::<u64>()
        .ok()
}

/// The kernel's count of connections dropped because a listen queue was full
/// (`TcpExtListenOverflows` in /proc/net/netstat), if it can be read.
fn listen_overflows() -> Option<u64> {
    let netstat = std::fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|line| line.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names
        .split_whitespace()
        .position(|name| name == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Peak RSS of a fresh bare axum server once `count` clients have each made one sync and keep
/// their connections open: what the HTTP stack alone costs per connection.
async fn hold_connections(args: &Args) -> Result<Option<u64>, Error> {
    let count = args.pollers;
    let server = Server::ceiling(args)?;
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        let mut connection = Connection::open(server.addr).await?;
        connection.post(sync_body(0)).await?;
        held.push(connection);
    }
    Ok(server.peak_rss())
}

/// A well-spread number in [0, 1) for each index (golden-ratio sequence), for start jitter.
fn fraction(index: u64) -> f64 {
    (index as f64 * 0.618_033_988_749_895).fract()
}

/// The page's first-visit download as served to a browser that accepts brotli: the WASM, JS and
/// CSS it links, and the split loader its JS imports (the lazily loaded parts are not fetched
/// by a first visit, and not counted).
async fn first_visit_bytes(addr: SocketAddr) -> Result<(u64, Vec<(String, u64)>), Error> {
    let mut connection = Connection::open(addr).await?;
    // The page uncompressed, to read which assets it links (named under /pkg/).
    let page = connection.get("/", "identity").await?;
    let html = String::from_utf8_lossy(&page).into_owned();
    let mut files = linked(&html, "/pkg/");
    if !files.iter().any(|file| file.ends_with(".wasm")) {
        return Err("the page links no .wasm (is the release site built?)".into());
    }
    for script in files.clone().iter().filter(|file| file.ends_with(".js")) {
        let js = connection.get(script, "identity").await?;
        let imports = linked(&String::from_utf8_lossy(&js), "./__wasm_split");
        files.extend(
            imports
                .iter()
                .map(|import| format!("/pkg/{}", &import[2..])),
        );
    }
    files.sort();
    files.dedup();
    let mut sizes = Vec::new();
    for file in files {
        let bytes = connection.get(&file, "br").await?.len() as u64;
        sizes.push((file, bytes));
    }
    Ok((sizes.iter().map(|(_, bytes)| bytes).sum(), sizes))
}

/// The paths in `text` that start with `prefix`, up to a quote, a space or a parenthesis.
fn linked(text: &str, prefix: &str) -> Vec<String> {
    let mut paths: Vec<String> = text
        .match_indices(prefix)
        .filter_map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find(['"', '\'', ' ', ')'])?;
            Some(rest[..end].to_owned())
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

impl Polling {
    fn markdown(&self, args: &Args) -> String {
        let delivery_p99 = self.delivery.value_at_quantile(0.99) as f64 / 1000.0;
        let delivery_target = args.poll_interval_ms as f64 + 100.0;
        let rss_mb = self.peak_rss.map(|bytes| bytes as f64 / 1_048_576.0);
        format!(
            "\nPolling: {} clients each on its own connection, one sync every {} ms (jittered \
             start), {} writers posting every {} ms for {} s.\n\n\
             | measure | value | target | met |\n|---|---:|---|---|\n\
             | messages posted and acknowledged | {} | | |\n\
             | delivered to every client: p50 / p99 ms | {} / {:.0} | p99 <= {:.0} | {} |\n\
             | delivered to each client: p50 / p99 ms | {} / {} | | |\n\
             | missing at some client | {} | 0 | {} |\n\
             | clients never answered | {} | 0 | {} |\n\
             | slowest first answer ms; listen queue overflows | {}; {} | | |\n\
             | syncs answered (per s) | {} ({:.0}) | | |\n\
             | sync latency p50 / p99 / max ms | {} / {} / {} | | |\n\
             | protocol errors | {} | 0 | {} |\n\
             | server CPU (of one core) | {} | | |\n\
             | server peak RSS | {} | <= 100 MB | {} |\n\
             | bare axum holding as many connections, peak RSS | {} | | |\n",
            self.pollers,
            args.poll_interval_ms,
            args.writers,
            args.write_interval_ms,
            args.poll_secs,
            self.messages,
            ms(&self.delivery, 0.5),
            delivery_p99,
            delivery_target,
            yes(delivery_p99 <= delivery_target),
            ms(&self.each_page, 0.5),
            ms(&self.each_page, 0.99),
            self.undelivered,
            yes(self.undelivered == 0),
            self.never_answered,
            yes(self.never_answered == 0),
            ms(&self.first_answer, 1.0),
            self.listen_overflows
                .map_or("n/a".into(), |count| count.to_string()),
            self.syncs,
            self.syncs as f64 / self.elapsed.as_secs_f64(),
            ms(&self.sync_latency, 0.5),
            ms(&self.sync_latency, 0.99),
            ms(&self.sync_latency, 1.0),
            self.errors,
            yes(self.errors == 0),
            self.cpu
                .map_or("n/a".into(), |cpu| format!("{:.0} %", cpu * 100.0)),
            rss_mb.map_or("n/a".into(), |mb| format!("{mb:.1} MB")),
            rss_mb.map_or("n/a", |mb| yes(mb <= 100.0)),
            self.ceiling_rss.map_or("n/a".into(), |bytes| format!(
                "{:.1} MB",
                bytes as f64 / 1_048_576.0
            )),
        )
    }
}

struct Report {
    ceiling: Saturation,
    chat: Vec<(Saturation, f64)>,
    /// `history` on a large database: each run with its target and whether it was met.
    history: Vec<(Saturation, String, bool)>,
    /// `None` with `--pollers 0`.
    polling: Option<Polling>,
    /// Empty with `--pollers 0`.
    long_polling: Vec<LongRun>,
    first_visit: (u64, Vec<(String, u64)>),
}

impl Report {
    fn errors(&self) -> u64 {
        self.ceiling.errors
            + self.chat.iter().map(|(run, _)| run.errors).sum::<u64>()
            + self.history.iter().map(|(run, ..)| run.errors).sum::<u64>()
            + self.polling.as_ref().map_or(0, |polling| {
                polling.errors + (polling.undelivered + polling.never_answered) as u64
            })
            + self
                .long_polling
                .iter()
                .map(|run| {
                    run.lost() as u64
                        + run
                            .bare
                            .iter()
                            .chain(&run.chat)
                            .map(|polling| polling.errors)
                            .sum::<u64>()
                })
                .sum::<u64>()
    }

    fn markdown(&self, args: &Args) -> String {
        let ceiling_rate = self.ceiling.rate();
        let ceiling_p99 = self.ceiling.latency.value_at_quantile(0.99).max(1) as f64;
        let mut out = format!(
            "Saturation: {} keep-alive connections ({} for posts), {} s per phase after 1 s of \
             warm-up{}.\n\n\
             | scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | vs ceiling | target | met |\n\
             |---|---:|---:|---:|---:|---:|---:|---|---|\n",
            args.connections,
            args.post_connections,
            args.duration,
            if args.smoke { " (smoke run)" } else { "" }
        );
        let mut row = |run: &Saturation, ratio: String, target: &str, met: &str| {
            out += &format!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |\n",
                run.name,
                run.rate(),
                ms(&run.latency, 0.5),
                ms(&run.latency, 0.99),
                ms(&run.latency, 0.999),
                run.errors,
                ratio,
                target,
                met
            );
        };
        row(&self.ceiling, "1.00".into(), "", "");
        for (run, target) in &self.chat {
            let ratio = run.rate() / ceiling_rate;
            let p99_ratio = run.latency.value_at_quantile(0.99) as f64 / ceiling_p99;
            let (text, met) = if *target == 0.0 {
                // A comparison row, not a target.
                row(run, format!("{ratio:.2}x"), "", "");
                continue;
            } else if *target >= 0.7 {
                (
                    format!(">= {target:.2}x, p99 <= 2x (is {p99_ratio:.2}x)"),
                    ratio >= *target && p99_ratio <= 2.0,
                )
            } else {
                (format!(">= {target:.2}x"), ratio >= *target)
            };
            row(
                run,
                format!("{ratio:.2}x"),
                &text,
                if met { "yes" } else { "no" },
            );
        }
        if !self.history.is_empty() {
            let rows = if args.smoke {
                HISTORY_ROWS_SMOKE
            } else {
                HISTORY_ROWS
            };
            out += &format!(
                "\nHistory and search: `history` of 50 messages before a random id of a random \
                 room, and `search` of two random words of a vocabulary of {VOCABULARY} (drawn \
                 with Zipf-like frequencies, so from a few to hundreds of thousands of matches), \
                 on a database of {rows} messages in 10 rooms (SQLite unless said).\n\n\
                 | scenario | req/s | p50 ms | p99 ms | p99.9 ms | errors | target | met |\n\
                 |---|---:|---:|---:|---:|---:|---|---|\n"
            );
            for (run, target, met) in &self.history {
                out += &format!(
                    "| {} | {:.0} | {} | {} | {} | {} | {} | {} |\n",
                    run.name,
                    run.rate(),
                    ms(&run.latency, 0.5),
                    ms(&run.latency, 0.99),
                    ms(&run.latency, 0.999),
                    run.errors,
                    target,
                    yes(*met)
                );
            }
        }
        if let Some(polling) = &self.polling {
            out += &polling.markdown(args);
        }
        out += &long_polling_markdown(args, &self.long_polling);
        let (total, files) = &self.first_visit;
        out += &format!(
            "\nFirst visit (brotli, as served): {total} B ({}) | target <= 130,000 B | met: {}\n",
            files
                .iter()
                .map(|(file, bytes)| format!("{} {bytes}", file.rsplit('.').next().unwrap_or(file)))
                .collect::<Vec<_>>()
                .join(" + "),
            yes(*total <= 130_000)
        );
        out
    }
}

/// The long-polling runs as a Markdown table (nothing without runs).
fn long_polling_markdown(args: &Args, runs: &[LongRun]) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        return out;
    }
    out += &format!(
        "\nLong polling: pages long-polling (`wait_ms` {LONG_POLL_MS}, the next poll at once, or \
         {} ms after news), each on its own connection, for {} s; in turns against a bare \
         long-poll server (axum + serde_json, messages in memory, one `watch` channel) and the \
         chat, {} round(s), each on a fresh server. Delivery to each page: from a post's \
         publication (the first moment its writer, by the acknowledgement, or any page had it) \
         until that page has it, every (message, page) one sample; the figures \
         of each round, the ratios the median of the rounds'.\n\n\
         | scenario | bare: to each page p50 / p99 ms | chat: to each page p50 / p99 ms | chat / bare p50, p99 | missing / pages never answered | slowest first answer ms, bare / chat | listen queue overflows, bare / chat | server CPU, bare / chat | peak RSS MB, bare / chat | target | met |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        NEWS_PAUSE.as_millis(),
        args.poll_secs,
        args.rounds,
    );
    let per_round = |runs: &[Polling], figure: &dyn Fn(&Polling) -> String| {
        runs.iter().map(figure).collect::<Vec<_>>().join(", ")
    };
    let latency = |polling: &Polling| {
        format!(
            "{} / {}",
            ms(&polling.each_page, 0.5),
            ms(&polling.each_page, 0.99)
        )
    };
    let ratio = |ratio: Option<f64>| ratio.map_or("n/a".into(), |ratio| format!("{ratio:.2}x"));
    let cpu = |polling: &Polling| {
        polling
            .cpu
            .map_or("n/a".into(), |cpu| format!("{:.1} %", cpu * 100.0))
    };
    let rss = |polling: &Polling| {
        polling.peak_rss.map_or("n/a".into(), |bytes| {
            format!("{:.1}", bytes as f64 / 1_048_576.0)
        })
    };
    let lost = |polling: &Polling| format!("{} / {}", polling.undelivered, polling.never_answered);
    let overflows = |polling: &Polling| {
        polling
            .listen_overflows
            .map_or("n/a".into(), |count| count.to_string())
    };
    for run in runs {
        let (bare, chat) = (&run.bare, &run.chat);
        out += &format!(
            "| {} | {} | {} | {}, {} | bare {}; chat {} | {} / {} | {} / {} | {} / {} | {} / {} | {} | {} |\n",
            run.name,
            per_round(bare, &latency),
            per_round(chat, &latency),
            ratio(run.ratio(|polling| each_page_ms(polling, 0.5))),
            ratio(run.ratio(|polling| each_page_ms(polling, 0.99))),
            per_round(bare, &lost),
            per_round(chat, &lost),
            per_round(bare, &|polling| ms(&polling.first_answer, 1.0)),
            per_round(chat, &|polling| ms(&polling.first_answer, 1.0)),
            per_round(bare, &overflows),
            per_round(chat, &overflows),
            per_round(bare, &cpu),
            per_round(chat, &cpu),
            per_round(bare, &rss),
            per_round(chat, &rss),
            run.target,
            yes(run.met)
        );
    }
    out
}

/// A latency quantile in milliseconds, from a histogram of microseconds.
fn ms(histogram: &Histogram<u64>, quantile: f64) -> String {
    format!(
        "{:.2}",
        histogram.value_at_quantile(quantile) as f64 / 1000.0
    )
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "no" }
}

/// The ceiling's phase: idle syncs against the bare handler at `addr`.
async fn ceiling_phase(
    args: &Args,
    addr: SocketAddr,
    warm_up: Duration,
    duration: Duration,
) -> Result<Saturation, Error> {
    saturate(
        "ceiling: bare axum handler",
        &[addr],
        args.connections,
        warm_up,
        duration,
        Expect::EmptySync,
        |_, _| sync_body(0),
    )
    .await
}

/// The durable posts' phase, over `--post-connections`.
async fn posts_phase(
    args: &Args,
    addrs: &[SocketAddr],
    warm_up: Duration,
    duration: Duration,
) -> Result<Saturation, Error> {
    saturate(
        "chat: message post (durable)",
        addrs,
        args.post_connections,
        warm_up,
        duration,
        Expect::Stored,
        |connection, n| message_body(&format!("load {connection}:{n}")),
    )
    .await
}

/// The chat phase `--posts-only` or `--idle-only` measures against the ceiling.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Turns {
    Posts,
    IdleSync,
}

/// The ceiling and one chat phase taking turns, three rounds on the same two servers, each
/// round's ratios and their medians (the machine's speed drifts less within a round than
/// between the phases of a full run).
async fn in_turns(args: &Args, turns: Turns) -> Result<(), Error> {
    const ROUNDS: usize = 3;
    let (warm_up, duration) = (Duration::from_secs(1), Duration::from_secs(args.duration));
    let ceiling = Server::ceiling(args)?;
    let chat = Server::chat(args)?;
    let newest = newest_id(chat.addr).await?;
    let (name, target, tail_target) = match turns {
        Turns::Posts => ("posts", 0.40, ""),
        // The long-polling issue's target for the idle sync, in this measure and with wrk.
        Turns::IdleSync => ("idle sync", 0.75, " (target <= 2x)"),
    };
    let (mut ratios, mut tails) = (Vec::new(), Vec::new());
    let mut errors = 0;
    for round in 1..=ROUNDS {
        let bare = ceiling_phase(args, ceiling.addr, warm_up, duration).await?;
        let run = match turns {
            Turns::Posts => posts_phase(args, &chat.addrs, warm_up, duration).await?,
            Turns::IdleSync => {
                let body = sync_body(newest);
                let make = move |_, _| body.clone();
                saturate(
                    "chat: idle sync",
                    &chat.addrs,
                    args.connections,
                    warm_up,
                    duration,
                    Expect::EmptySync,
                    make,
                )
                .await?
            }
        };
        errors += run.errors + bare.errors;
        let ratio = run.rate() / bare.rate();
        let tail = run.latency.value_at_quantile(0.99) as f64
            / bare.latency.value_at_quantile(0.99).max(1) as f64;
        println!(
            "round {round}: ceiling {:.0} req/s (p99 {} ms), {name} {:.0} req/s (p50 {} ms, \
             p99 {} ms, errors {}): {ratio:.2}x, p99 {tail:.2}x",
            bare.rate(),
            ms(&bare.latency, 0.99),
            run.rate(),
            ms(&run.latency, 0.5),
            ms(&run.latency, 0.99),
            run.errors + bare.errors
        );
        ratios.push(ratio);
        tails.push(tail);
    }
    ratios.sort_by(f64::total_cmp);
    tails.sort_by(f64::total_cmp);
    println!(
        "median: {:.2}x (target >= {target:.2}x), p99 {:.2}x{tail_target}",
        ratios[ROUNDS / 2],
        tails[ROUNDS / 2]
    );
    if errors > 0 {
        return Err(format!("{errors} protocol errors").into());
    }
    Ok(())
}

/// A chat server with 100 messages in `general` and, with `rich`, the newest 20 of them each a
/// reply to an earlier one and carrying three reactions (two emoji, one of them twice), as a
/// lively conversation has them; `pad` more characters in each text. The id before those 20,
/// and the newest id.
async fn conversation(addr: SocketAddr, rich: bool, pad: usize) -> Result<(u64, u64), Error> {
    let mut connection = Connection::open(addr).await?;
    let mut ids = Vec::new();
    for n in 0..100 {
        let text = format!(
            "seed {n}, a line of about the length people write in a chat{}",
            "x".repeat(pad)
        );
        let mut data =
            json!({"sender": "bench", "message": text, "key": "bench-key-0123456789abcdefgh"});
        if rich && n >= 80 {
            data["reply_to"] = json!(ids[n - 20]);
        }
        let (status, body) = connection
            .post(json!({"type": "message", "data": data}).to_string().into())
            .await?;
        let reply: Value = serde_json::from_slice(&body)?;
        match reply["data"]["id"].as_u64() {
            Some(id) if status == 200 => ids.push(id),
            _ => return Err(format!("seeding: {status} {reply}").into()),
        }
    }
    if rich {
        for &id in &ids[80..] {
            for (emoji, key) in [
                ("👍", "bench-key-0123456789abcdefgh"),
                ("👍", "bench-key-of-another-reader0"),
                ("🎉", "bench-key-of-another-reader0"),
            ] {
                let react =
                    json!({"type": "react", "data": {"id": id, "emoji": emoji, "key": key}});
                let (status, body) = connection.post(react.to_string().into()).await?;
                if !Expect::Stored.holds(status, &body) {
                    return Err(
                        format!("reacting: {status} {}", String::from_utf8_lossy(&body)).into(),
                    );
                }
            }
        }
    }
    Ok((ids[79], newest_id(addr).await?))
}

/// `--rich-only`: the idle sync and the newest-20 sync of a conversation with reactions and
/// replies, of one without, and of one without whose texts are as long (the control: what the
/// bytes cost), each in turns with the ceiling, `--rounds` rounds (at least three); each round's
/// ratios and their medians, and what the conversation's fields cost (rich over plain), by the
/// medians and within each round.
async fn rich_in_turns(args: &Args) -> Result<(), Error> {
    let rounds = args.rounds.max(3);
    let (warm_up, duration) = (Duration::from_secs(1), Duration::from_secs(args.duration));
    let ceiling = Server::ceiling(args)?;
    let plain = Server::chat(args)?;
    let rich = Server::chat(args)?;
    let plain_ids = conversation(plain.addr, false, 0).await?;
    let rich_ids = conversation(rich.addr, true, 0).await?;
    // A control: plain messages as long as the rich ones, so that what the rich sync costs
    // beyond its bytes shows.
    let size = |addr, after| async move {
        let (_, body) = Connection::open(addr).await?.post(sync_body(after)).await?;
        Ok::<usize, Error>(body.len())
    };
    let plain_bytes = size(plain.addr, plain_ids.0).await?;
    let rich_bytes = size(rich.addr, rich_ids.0).await?;
    let padded = Server::chat(args)?;
    let padded_ids = conversation(padded.addr, false, (rich_bytes - plain_bytes) / 20).await?;
    println!(
        "newest-20 sync replies: plain {plain_bytes} B, rich {rich_bytes} B, plain padded to {} B",
        size(padded.addr, padded_ids.0).await?
    );
    // Per phase (plain idle, rich idle, plain newest 20, rich newest 20, padded newest 20), each
    // round's ratio.
    let mut ratios = [(); 5].map(|()| Vec::new());
    // Each round's throughput of each phase: rich over plain within one round compares phases
    // seconds apart, which the machine's drift moves less than ratios to a ceiling measured
    // before them.
    let mut rates = Vec::with_capacity(rounds);
    let mut errors = 0;
    for round in 1..=rounds {
        let bare = ceiling_phase(args, ceiling.addr, warm_up, duration).await?;
        errors += bare.errors;
        let mut phases = vec![
            (
                0,
                "plain: idle sync",
                &plain,
                sync_body(plain_ids.1),
                Expect::EmptySync,
            ),
            (
                1,
                "rich: idle sync",
                &rich,
                sync_body(rich_ids.1),
                Expect::EmptySync,
            ),
            (
                2,
                "plain: sync, newest 20",
                &plain,
                sync_body(plain_ids.0),
                Expect::Sync(20),
            ),
            (
                3,
                "rich: sync, newest 20",
                &rich,
                sync_body(rich_ids.0),
                Expect::Sync(20),
            ),
            (
                4,
                "padded: sync, newest 20",
                &padded,
                sync_body(padded_ids.0),
                Expect::Sync(20),
            ),
        ];
        // Each round takes the conversations in another order, so that none is always measured
        // later in the round than another.
        phases[..2].rotate_left(round % 2);
        phases[2..].rotate_left(round % 3);
        let mut rate = [0.0; 5];
        for (at, name, server, body, expect) in phases {
            let make = move |_, _| body.clone();
            let run = saturate(
                name,
                &server.addrs,
                args.connections,
                warm_up,
                duration,
                expect,
                make,
            )
            .await?;
            errors += run.errors;
            let ratio = run.rate() / bare.rate();
            println!(
                "round {round}: {name} {:.0} req/s (p99 {} ms), ceiling {:.0} req/s: {ratio:.2}x",
                run.rate(),
                ms(&run.latency, 0.99),
                bare.rate()
            );
            ratios[at].push(ratio);
            rate[at] = run.rate();
        }
        rates.push(rate);
    }
    let within_rounds = |of: usize, to: usize| {
        let mut each: Vec<f64> = rates.iter().map(|rate| rate[of] / rate[to]).collect();
        each.sort_by(f64::total_cmp);
        let listed: Vec<String> = each.iter().map(|ratio| format!("{ratio:.2}")).collect();
        format!("{:.2} ({})", each[each.len() / 2], listed.join(", "))
    };
    println!(
        "within each round, medians (each round's, sorted): idle sync rich of plain {}; newest \
         20 rich of plain {} (target >= 0.90), padded of plain {}, rich of padded {}",
        within_rounds(1, 0),
        within_rounds(3, 2),
        within_rounds(4, 2),
        within_rounds(3, 4)
    );
    let medians = ratios.map(|mut round| {
        round.sort_by(f64::total_cmp);
        round[rounds / 2]
    });
    println!(
        "median: idle sync plain {:.2}x, rich {:.2}x ({:.2} of plain); newest 20 plain {:.2}x, \
         rich {:.2}x ({:.2} of plain; target >= 0.90), plain as long as rich {:.2}x ({:.2} of \
         plain; rich {:.2} of it)",
        medians[0],
        medians[1],
        medians[1] / medians[0],
        medians[2],
        medians[3],
        medians[3] / medians[2],
        medians[4],
        medians[4] / medians[2],
        medians[3] / medians[4]
    );
    if errors > 0 {
        return Err(format!("{errors} protocol errors").into());
    }
    Ok(())
}

async fn run(args: &Args) -> Result<Report, Error> {
    let warm_up = if args.smoke {
        Duration::ZERO
    } else {
        Duration::from_secs(1)
    };
    let duration = Duration::from_secs(args.duration);
    let ceiling = {
        let server = Server::ceiling(args)?;
        eprintln!("ceiling: bare axum handler");
        ceiling_phase(args, server.addr, warm_up, duration).await?
    };

    let server = Server::chat(args)?;
    let addr = server.addr;
    let first_visit = first_visit_bytes(addr).await?;
    // Something to sync: 100 messages in general, so its newest 20 exist, then 60 taking turns
    // in r1, r2 and r3, so the newest 20 of those three rooms are the 20 newest ids.
    let mut connection = Connection::open(addr).await?;
    let seeds = (0..100)
        .map(|n| message_body(&format!("seed {n}")))
        .chain((0..60).map(|n| message_in(["r1", "r2", "r3"][n % 3], &format!("seed r {n}"))));
    for body in seeds {
        let (status, body) = connection.post(body).await?;
        if !Expect::Stored.holds(status, &body) {
            return Err(format!("seeding: {status} {}", String::from_utf8_lossy(&body)).into());
        }
    }
    let newest = newest_id(addr).await?;
    let general_newest = newest - 60;
    let mut chat = Vec::new();
    // The sync phases: each sends the same body on every request.
    let all = all_rooms();
    let three = ["r1", "r2", "r3"].map(String::from);
    // Up to date in its rooms while another room has newer messages: the newest id alone cannot
    // answer it, the tail's per-room newest ids do (a comparison row, no target).
    let others_newer = ["general", "r4", "r5"].map(String::from);
    let syncs = [
        (
            "chat: idle sync",
            sync_body(newest),
            Expect::EmptySync,
            0.70,
        ),
        (
            "chat: sync, newest 20",
            sync_body(general_newest - 20),
            Expect::Sync(20),
            0.50,
        ),
        (
            "chat: idle sync, following 10 rooms",
            sync_rooms_body(newest, &all),
            Expect::EmptySync,
            0.70,
        ),
        (
            "chat: idle sync, 3 of 10 rooms, others newer",
            sync_rooms_body(general_newest, &others_newer),
            Expect::EmptySync,
            0.0,
        ),
        (
            "chat: sync, newest 20 across 3 rooms",
            sync_rooms_body(newest - 20, &three),
            Expect::Sync(20),
            0.50,
        ),
    ];
    for (name, body, expect, target) in syncs {
        eprintln!("{name}");
        let make = move |_, _| body.clone();
        let run = saturate(
            name,
            &server.addrs,
            args.connections,
            warm_up,
            duration,
            expect,
            make,
        );
        chat.push((run.await?, target));
    }
    eprintln!("chat: message posts");
    chat.push((
        posts_phase(args, &server.addrs, warm_up, duration).await?,
        0.15,
    ));
    let spread_sync = |name, server: &Server, newest| {
        let addrs = server.addrs.clone();
        let spread = Spread {
            addresses: LIMITED_ADDRESSES,
            per_connection: LIMITED_PER_CONNECTION,
        };
        eprintln!("{name}");
        async move {
            let (connections, body) = (args.connections, sync_body(newest));
            let (expect, make) = (Expect::EmptySync, move |_, _| body.clone());
            saturate_from(
                name,
                &addrs,
                connections,
                Some(spread),
                warm_up,
                duration,
                expect,
                make,
            )
            .await
        }
    };
    if args.addr.is_empty() {
        // The limits-on phase below spreads its clients over many addresses, which takes a new
        // connection every so often: the same without limits tells that cost from the limiter's.
        let newest = newest_id(addr).await?; // the posts above moved it
        let name = "chat: idle sync, clients spread (limits off)";
        chat.push((spread_sync(name, &server, newest).await?, 0.0));
    }
    drop(server);

    if args.addr.is_empty() {
        // The same idle sync at the default limits, from clients spread over many addresses:
        // what the limiter costs every request when it is on, as it is by default.
        let server = Server::chat_limited(args, true)?;
        let name = "chat, default limits on: idle sync";
        chat.push((spread_sync(name, &server, 0).await?, 0.65));
    }

    let history = if args.addr.is_empty() {
        history_phase(args, warm_up, duration).await?
    } else {
        Vec::new()
    };

    let polling = if args.pollers > 0 {
        eprintln!("polling: {} clients", args.pollers);
        let mut polling = simulate_polling(args).await?;
        eprintln!("ceiling: holding {} connections", args.pollers);
        polling.ceiling_rss = hold_connections(args).await?;
        Some(polling)
    } else {
        None
    };
    let long_polling = if args.pollers > 0 {
        long_polling(args).await?
    } else {
        Vec::new()
    };
    Ok(Report {
        ceiling,
        chat,
        history,
        polling,
        long_polling,
        first_visit,
    })
}

/// One long-poll scenario: each round's run against the bare long-poll server and against the
/// chat, taking turns, with the target on their ratios and whether it was met.
struct LongRun {
    name: String,
    bare: Vec<Polling>,
    chat: Vec<Polling>,
    target: String,
    met: bool,
}

impl LongRun {
    /// The median over the rounds of the chat's figure over the bare server's; none if a
    /// round lacks the figure (then no target on it is met).
    fn ratio(&self, figure: impl Fn(&Polling) -> Option<f64>) -> Option<f64> {
        let mut ratios = self
            .bare
            .iter()
            .zip(&self.chat)
            .map(|(bare, chat)| Some(figure(chat)? / figure(bare)?.max(f64::MIN_POSITIVE)))
            .collect::<Option<Vec<f64>>>()?;
        ratios.sort_by(f64::total_cmp);
        median(&ratios)
    }

    /// Messages missed, and pages never answered, in any run of either server.
    fn lost(&self) -> usize {
        self.bare
            .iter()
            .chain(&self.chat)
            .map(|run| run.undelivered + run.never_answered)
            .sum()
    }
}

/// The median of sorted figures (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The median of a figure over runs (those that have it).
fn median_of(runs: &[Polling], figure: impl Fn(&Polling) -> Option<f64>) -> Option<f64> {
    let mut figures: Vec<f64> = runs.iter().filter_map(figure).collect();
    figures.sort_by(f64::total_cmp);
    median(&figures)
}

/// Delivery to each page at `quantile`, in ms (every message and page one sample).
fn each_page_ms(run: &Polling, quantile: f64) -> Option<f64> {
    (!run.each_page.is_empty()).then(|| run.each_page.value_at_quantile(quantile) as f64 / 1000.0)
}

/// The long-poll scenarios: `--pollers` pages with one message a second, with ten, with none; a
/// tenth as many pages with one a second. Each runs `--rounds` times against a fresh bare
/// long-poll server and a fresh chat server, taking turns, so that the machine's drift falls
/// within a round; the targets are on the ratios.
async fn long_polling(args: &Args) -> Result<Vec<LongRun>, Error> {
    let pages = args.pollers;
    let scenario = |pollers, writers, every_ms| Scenario {
        pollers,
        long_poll_ms: Some(LONG_POLL_MS),
        writers,
        write_interval: Duration::from_millis(every_ms),
        secs: args.poll_secs,
    };
    let mut runs = Vec::new();
    for (scenario, kind) in [
        (scenario(pages, 1, 1000), 0),
        (scenario(pages, 2, 200), 1),
        (scenario(pages, 0, 1000), 2),
        (scenario((pages / 10).max(1), 1, 1000), 3),
    ]
    .into_iter()
    .filter(|(_, kind)| args.scenarios.is_empty() || args.scenarios.contains(kind))
    {
        let writes_per_sec =
            scenario.writers as f64 * 1000.0 / scenario.write_interval.as_millis() as f64;
        let name = format!(
            "{} pages, {writes_per_sec:.0} message(s)/s",
            scenario.pollers
        );
        let (mut bare, mut chat) = (Vec::new(), Vec::new());
        for round in 1..=args.rounds {
            eprintln!("long polling: {name}, round {round}: bare long-poll server");
            bare.push(simulate(args, scenario, Server::long_poll_ceiling(args)?).await?);
            eprintln!("long polling: {name}, round {round}: chat");
            chat.push(simulate(args, scenario, Server::chat(args)?).await?);
        }
        let mut run = LongRun {
            name,
            bare,
            chat,
            target: String::new(),
            met: false,
        };
        let whole = run.lost() == 0 && run.chat.iter().chain(&run.bare).all(|run| run.errors == 0);
        let within = |ratio: Option<f64>| ratio.is_some_and(|ratio| ratio <= 1.15);
        let p50 = run.ratio(|polling| each_page_ms(polling, 0.5));
        let p99 = run.ratio(|polling| each_page_ms(polling, 0.99));
        (run.target, run.met) = match kind {
            0 | 3 => (
                "p50 and p99 <= 1.15x, none missed".to_owned(),
                whole && within(p50) && within(p99),
            ),
            1 => ("p99 <= 1.15x, none missed".to_owned(), whole && within(p99)),
            _ => {
                let cpu = median_of(&run.chat, |polling| polling.cpu);
                let rss = run.ratio(|polling| polling.peak_rss.map(|bytes| bytes as f64));
                (
                    "CPU <= 2 %, RSS <= 1.2x".to_owned(),
                    whole && cpu.is_some_and(|cpu| cpu <= 0.02) && rss.is_some_and(|r| r <= 1.2),
                )
            }
        };
        runs.push(run);
    }
    Ok(runs)
}

/// `history` on a large database: rows written straight into the file the server created
/// (schema and all), in 10 rooms taking turns, then served by a fresh server over it.
async fn history_phase(
    args: &Args,
    warm_up: Duration,
    duration: Duration,
) -> Result<Vec<(Saturation, String, bool)>, Error> {
    let rows = if args.smoke {
        HISTORY_ROWS_SMOKE
    } else {
        HISTORY_ROWS
    };
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("chat.db");
    // The server makes the schema; then it stops and the rows go in.
    Server::chat_over(args, &db)?.stop();
    eprintln!("history: writing {rows} messages");
    let rooms = all_rooms();
    {
        let mut conn = rusqlite::Connection::open(&db)?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO messages (room, sender, message, sent_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let start = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_micros() as i64
                - rows as i64 * 1000;
            for n in 0..rows {
                let room = &rooms[(n % 10) as usize];
                let text = bench_text(n, room);
                insert.execute(rusqlite::params![
                    room,
                    "bench",
                    text,
                    start + n as i64 * 1000
                ])?;
            }
        }
        tx.commit()?;
    }
    let server = Server::chat_over(args, &db)?;
    // A random room, 50 messages before a random id: ids below 1000 are skipped so that every
    // page is full (a room has 100 of them).
    let body = move |connection: usize, n: u64| {
        let mix = (connection as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ n.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let before = 1000 + mix % (rows - 1000);
        history_body(&all_rooms()[(mix >> 40) as usize % 10], before, 50)
    };
    let mut results = Vec::new();
    eprintln!("history: 1 client");
    let one = saturate(
        "history of 50, 1 client",
        &[server.addr],
        1,
        warm_up,
        duration,
        Expect::History(50),
        body,
    )
    .await?;
    let p99 = one.latency.value_at_quantile(0.99) as f64 / 1000.0;
    results.push((one, format!("p99 <= 5 ms (is {p99:.2})"), p99 <= 5.0));
    eprintln!("history: {} connections", args.connections);
    let many = saturate(
        "history of 50",
        &[server.addr],
        args.connections,
        warm_up,
        duration,
        Expect::History(50),
        body,
    )
    .await?;
    let rate = many.rate();
    results.push((many, ">= 5,000 req/s".to_owned(), rate >= 5000.0));
    eprintln!("search: 1 client");
    results.push(search_run("search, two words, 1 client", &server, warm_up, duration).await?);
    drop(server);
    if let Some(url) = &args.search_postgres {
        results.push(search_postgres(args, url, rows, warm_up, duration).await?);
    }
    Ok(results)
}

/// Words of the benchmark's messages: 4,096 made-up ones of three syllables.
const VOCABULARY: u64 = 4096;

fn bench_word(rank: u64) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "nu", "pe", "ra", "si", "to", "vu", "we", "zo", "ba", "de", "fi", "go",
        "hu",
    ];
    (0..3)
        .map(|at| SYLLABLES[(rank >> (4 * at)) as usize % 16])
        .collect()
}

/// A word of rank 0..VOCABULARY drawn from `mix`, log-uniformly: the low ranks are common (the
/// first is in a third of the messages), the high ones rare, as in real text.
fn bench_rank(mix: u64) -> u64 {
    let unit = (mix >> 11) as f64 / (1u64 << 53) as f64;
    ((VOCABULARY as f64).powf(unit) as u64 - 1).min(VOCABULARY - 1)
}

/// The text of the benchmark's message `n`: its number, its room and six words.
fn bench_text(n: u64, room: &str) -> String {
    let mut text = format!("message {n} in {room}:");
    for word in 0..6u64 {
        let mix = (n.wrapping_mul(6) + word + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        text.push(' ');
        text.push_str(&bench_word(bench_rank(mix ^ (mix >> 29))));
    }
    text
}

/// One client searching two random words of the vocabulary (the last as a prefix, as the
/// protocol reads it), back to back.
async fn search_run(
    name: &'static str,
    server: &Server,
    warm_up: Duration,
    duration: Duration,
) -> Result<(Saturation, String, bool), Error> {
    let body = move |connection: usize, n: u64| {
        let mix = (connection as u64 + 7).wrapping_mul(0xD6E8_FEB8_6659_FD93)
            ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let words = format!(
            "{} {}",
            bench_word(bench_rank(mix)),
            bench_word(bench_rank(mix.rotate_left(23)))
        );
        Bytes::from(json!({"type": "search", "data": {"q": words}}).to_string())
    };
    let run = saturate(
        name,
        &[server.addr],
        1,
        warm_up,
        duration,
        Expect::Search,
        body,
    )
    .await?;
    let p99 = run.latency.value_at_quantile(0.99) as f64 / 1000.0;
    Ok((run, format!("p99 <= 50 ms (is {p99:.2})"), p99 <= 50.0))
}

/// The same search over PostgreSQL: a chat server over the empty database at `url` makes the
/// schema, the benchmark fills it with the same messages, and a server over it is searched.
async fn search_postgres(
    args: &Args,
    url: &str,
    rows: u64,
    warm_up: Duration,
    duration: Duration,
) -> Result<(Saturation, String, bool), Error> {
    let server = |args: &Args| -> Result<Server, Error> {
        let mut command = Command::new(&args.server_bin);
        command
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("DATABASE_URL", url)
            .env("CHAT_ROOMS", BENCH_ROOMS)
            .env("CHAT_MESSAGE_RATE", "0")
            .env("CHAT_SYNC_RATE", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        Server::spawn(command, None)
    };
    server(args)?.stop();
    eprintln!("search: writing {rows} messages to PostgreSQL");
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let rooms = all_rooms();
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as i64
        - rows as i64 * 1000;
    let insert = "INSERT INTO chat_messages (room, sender, message, sent_at)
        SELECT room, 'bench', message, sent_at
        FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[]) AS rows (room, message, sent_at)";
    for chunk in (0..rows).collect::<Vec<_>>().chunks(10_000) {
        let room: Vec<&str> = chunk
            .iter()
            .map(|&n| rooms[(n % 10) as usize].as_str())
            .collect();
        let text: Vec<String> = chunk
            .iter()
            .map(|&n| bench_text(n, &rooms[(n % 10) as usize]))
            .collect();
        let at: Vec<i64> = chunk.iter().map(|&n| start + n as i64 * 1000).collect();
        client.execute(insert, &[&room, &text, &at]).await?;
    }
    client.batch_execute("VACUUM ANALYZE chat_messages").await?;
    drop(client);
    let _ = driver.await;
    let server = server(args)?;
    eprintln!("search: 1 client (PostgreSQL)");
    search_run(
        "search, two words, 1 client (PostgreSQL)",
        &server,
        warm_up,
        duration,
    )
    .await
}
