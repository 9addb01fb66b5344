//! The chat server: configuration, the router, and `run`, which serves a router on a listener
//! until a shutdown signal and then closes storage cleanly.
//!
//! Tests drive [`app`] in-process with `tower::ServiceExt::oneshot`, or [`run`] a real server on
//! `127.0.0.1:0`.

pub mod ajax;
pub mod assets;
mod connection;
pub mod error;
pub mod limit;
pub mod listen;
mod page;
pub mod store;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use axum::{Json, response::Response};
use leptos::prelude::*;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::app::ChatConfig;
use crate::protocol::{Limits, ServerEnvelope, Status};
use assets::Assets;
use limit::{Limiter, Rate};
pub use listen::ListenOptions;
use store::Store;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Configuration, from flags or the environment (flags win).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "ajax-chat",
    version,
    about = "A web chat: Leptos page, JSON envelopes over POST /ajax"
)]
pub struct Config {
    /// Address to listen on [default: site-addr in Cargo.toml, else 127.0.0.1:3000]
    #[arg(long, env = "LEPTOS_SITE_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Where messages are stored: sqlite://<path>
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/chat.db")]
    pub database_url: String,
    /// How often the page polls for new messages, in milliseconds
    #[arg(long, env = "CHAT_POLL_INTERVAL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub poll_interval_ms: u64,
    /// Most characters in a sender name
    #[arg(long, env = "CHAT_MAX_SENDER_CHARS", default_value_t = Limits::default().max_sender_chars)]
    pub max_sender_chars: usize,
    /// Most characters in a message
    #[arg(long, env = "CHAT_MAX_MESSAGE_CHARS", default_value_t = Limits::default().max_message_chars)]
    pub max_message_chars: usize,
    /// Most messages in one sync reply
    #[arg(long, env = "CHAT_MAX_SYNC_BATCH", default_value_t = Limits::default().max_sync_batch)]
    pub max_sync_batch: usize,
    /// Largest request body, in bytes
    #[arg(long, env = "CHAT_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Open connections at most; more are closed on accept
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = ListenOptions::default().max_connections)]
    pub max_connections: usize,
    /// Messages per second one client address may post, sustained (0: no limit)
    #[arg(long, env = "CHAT_MESSAGE_RATE", default_value_t = 5.0)]
    pub message_rate: f64,
    /// Messages one client address may post in a burst
    #[arg(long, env = "CHAT_MESSAGE_BURST", default_value_t = 20.0)]
    pub message_burst: f64,
    /// Syncs per second one client address may send, sustained (0: no limit)
    #[arg(long, env = "CHAT_SYNC_RATE", default_value_t = 50.0)]
    pub sync_rate: f64,
    /// Syncs one client address may send in a burst
    #[arg(long, env = "CHAT_SYNC_BURST", default_value_t = 100.0)]
    pub sync_burst: f64,
    /// Seconds a client has to send a request's headers, and then its body
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Behind a proxy: rate-limit by the last X-Forwarded-For entry, not the proxy's address
    #[arg(long, env = "CHAT_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Threads serving HTTP [default: one per core but one, at least one]
    #[arg(long, env = "CHAT_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
}

impl Config {
    /// The runtime the server runs on, with [`Config::worker_threads`] threads serving HTTP.
    ///
    /// One core is left over by default because the storage runs on threads of its own (the
    /// SQLite writer and readers; PostgreSQL, often on the same machine) and the kernel does
    /// the network work: with as many HTTP threads as cores, those threads take turns with
    /// them, and a request whose thread is switched out waits a whole scheduler tick (4 ms).
    /// BENCHMARKS.md has the measurements; on a machine that does nothing else, one per core
    /// can give more throughput for a worse tail.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = self
            .worker_threads
            .map_or(cores.saturating_sub(1).max(1), usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_sender_chars: self.max_sender_chars,
            max_message_chars: self.max_message_chars,
            max_sync_batch: self.max_sync_batch.max(1),
            max_body_bytes: self.max_body_bytes,
        }
    }
}

/// What every handler can reach. Cheap to clone: storage is shared behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub limits: Limits,
    pub poll_interval: Duration,
    pub leptos_options: Arc<LeptosOptions>,
    /// The site's static files, compressed in memory; empty in tests that need none.
    pub assets: Arc<Assets>,
    /// How long a client has to send a request body.
    pub body_timeout: Duration,
    /// Per-client limits of `message` and `sync` requests.
    pub message_limit: Arc<Limiter>,
    pub sync_limit: Arc<Limiter>,
}

impl AppState {
    /// State with the default limits and poll interval, and no static files.
    pub fn new(store: Arc<dyn Store>, leptos_options: LeptosOptions) -> Self {
        Self {
            store,
            limits: Limits::default(),
            poll_interval: Duration::from_secs(1),
            leptos_options: Arc::new(leptos_options),
            assets: Arc::new(Assets::default()),
            body_timeout: Duration::from_secs(10),
            message_limit: Arc::new(Limiter::new(None)),
            sync_limit: Arc::new(Limiter::new(None)),
        }
    }

    /// What the page needs to know of the server's configuration.
    pub fn chat_config(&self) -> ChatConfig {
        ChatConfig {
            poll_interval_ms: self.poll_interval.as_millis() as u64,
            limits: self.limits,
        }
    }
}

impl FromRef<Arc<AppState>> for ajax::BodyTimeout {
    fn from_ref(state: &Arc<AppState>) -> Self {
        ajax::BodyTimeout(state.body_timeout)
    }
}

impl FromRef<Arc<AppState>> for Limits {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.limits
    }
}

/// The whole HTTP surface: `/ajax`, `/healthz`, the server-rendered page and static files.
pub fn app(state: AppState) -> Router {
    // Server rendering spawns tasks through Leptos's executor: point it at tokio (once).
    let _ = any_spawner::Executor::init_tokio();
    // Shared, so that the per-request clone axum makes for each handler is one counter bump.
    let state = Arc::new(state);
    let ajax_route: MethodRouter<Arc<AppState>> = post(ajax::ajax)
        .fallback(ajax::method_not_allowed)
        .layer::<_, Infallible>(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer::<_, Infallible>(CatchPanicLayer::custom(|_| {
            error::AjaxError::Panic.into_response()
        }));
    let router = Router::new()
        .route("/", get(page::page))
        .route("/ajax", ajax_route)
        .route("/healthz", get(healthz));
    let router = if watching() {
        let site_root = state.leptos_options.site_root.to_string();
        router.fallback_service(ServeDir::new(site_root).not_found_service(get(page::not_found)))
    } else {
        router.fallback(static_file)
    };
    router
        .layer(axum::middleware::map_response(security_headers))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Headers on every response. The page sets its own CSP (its scripts need its nonce); every
/// other response (JSON, files) gets one that lets nothing run in it or frame it.
const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Whether `cargo leptos watch` runs this server: files then change under it, so they are
/// read from disk rather than loaded and compressed once.
pub(crate) fn watching() -> bool {
    std::env::var_os("LEPTOS_WATCH").is_some()
}

/// Any other GET: a static file from memory, or 404.
async fn static_file(
    State(state): State<Arc<AppState>>,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let path = uri.path().trim_start_matches('/');
    match state.assets.respond(path, &headers) {
        Some(response) => response,
        None => page::not_found().await,
    }
}

/// `GET /healthz`: 200 with status 0 when storage answers, 503 with status 1 when not.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.check().await {
        Ok(()) => Json(ServerEnvelope::Status(Status::ok("storage ok"))).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(ServerEnvelope::Status(Status::failed(
                    "storage unavailable",
                ))),
            )
                .into_response()
        }
    }
}

/// Serves `state` on `listener` until `shutdown` resolves, lets in-flight requests finish, then
/// closes storage.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, ListenOptions::default(), shutdown).await
}

/// [`run`] with explicit connection limits and timeouts.
pub async fn run_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: ListenOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = Arc::clone(&state.store);
    let served = listen::serve(listener, app(state), options, shutdown).await;
    store.close().await;
    tracing::info!("storage closed");
    served
}

/// Reads the Leptos options, opens storage, binds, and runs until `shutdown`.
/// A write past the process's file-size limit (`ulimit -f`) raises SIGXFSZ, whose default action
/// kills the process. Ignored, the write fails with `EFBIG` instead, like a full disk: SQLite
/// reports an I/O error, that batch of posts is refused with 503, and the server keeps
/// answering syncs until storage can be written again.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: installs the predefined SIG_IGN disposition; no handler code runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

pub async fn start(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    ignore_file_size_signal();
    // From the project root, Cargo.toml's [package.metadata.leptos] gives the site layout;
    // elsewhere the LEPTOS_* environment variables must.
    let cargo_toml = std::path::Path::new("Cargo.toml")
        .exists()
        .then_some("Cargo.toml");
    let leptos_options = get_configuration(cargo_toml)?.leptos_options;
    let addr = config.addr.unwrap_or(leptos_options.site_addr);
    let assets = if watching() {
        Assets::default()
    } else {
        let options = leptos_options.clone();
        tokio::task::spawn_blocking(move || Assets::load(&options)).await??
    };
    let store = store::open(&config.database_url).await?;
    let state = AppState {
        store,
        limits: config.limits(),
        poll_interval: Duration::from_millis(config.poll_interval_ms),
        leptos_options: Arc::new(leptos_options),
        assets: Arc::new(assets),
        body_timeout: Duration::from_secs(config.request_timeout_secs),
        message_limit: Arc::new(Limiter::new(rate(
            config.message_rate,
            config.message_burst,
        ))),
        sync_limit: Arc::new(Limiter::new(rate(config.sync_rate, config.sync_burst))),
    };
    let options = ListenOptions {
        max_connections: config.max_connections,
        header_timeout: Duration::from_secs(config.request_timeout_secs),
        trust_forwarded_for: config.trust_forwarded_for,
        ..ListenOptions::default()
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, database = %config.database_url, "listening");
    run_with(listener, state, options, shutdown).await?;
    Ok(())
}

/// A configured rate; zero or less turns the limit off.
fn rate(per_second: f64, burst: f64) -> Option<Rate> {
    (per_second > 0.0).then_some(Rate {
        per_second,
        burst: burst.max(1.0),
    })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Structured logs to stderr; `RUST_LOG` filters them (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_http=info"));
    // Colours only on a terminal: logs piped to a file or a collector stay plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn workers(args: &[&str]) -> usize {
        let config = Config::try_parse_from([&["ajax-chat"], args].concat()).unwrap();
        config.runtime().unwrap().metrics().num_workers()
    }

    #[test]
    fn http_threads_leave_a_core_by_default_and_can_be_set() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(workers(&[]), cores.saturating_sub(1).max(1));
        assert_eq!(workers(&["--worker-threads", "3"]), 3);
        assert!(Config::try_parse_from(["ajax-chat", "--worker-threads", "0"]).is_err());
    }
}
