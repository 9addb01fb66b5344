//! Starting and stopping a server: [`start`] for the binary (configuration in, served until
//! a signal), [`run`] for tests (a listener and a state in, served until a future resolves).
//! Both end the same way: in-flight requests finish, then storage closes.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use leptos::prelude::get_configuration;

use axum::http::HeaderValue;

use super::assets::{Assets, watching};
use super::config::{Config, LogFormat};
use super::identity::Identity;
use super::limit::Limiter;
use super::listen::{self, ListenOptions};
use super::metrics::{self, Metrics};
use super::router::app;
use super::state::{AppState, DEV_BUILD, HeldSyncs};
use super::{BoxError, store};

/// How often rate limiters forget clients whose budget is full again, and storage the bells
/// nobody waits on.
const SWEEP_LIMITERS_EVERY: Duration = Duration::from_secs(60);

/// Every how many of those sweeps the files are swept (the first one at start).
const SWEEP_FILES_EVERY_TICKS: u64 = 10;

/// Serves `state` on `listener` until `shutdown` resolves, lets in-flight requests finish (up
/// to the drain timeout), then closes storage.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    options: ListenOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let store = Arc::clone(&state.store);
    let limiters = [
        Arc::clone(&state.message_limit),
        Arc::clone(&state.sync_limit),
        Arc::clone(&state.upload_limit),
    ];
    let bot_limit = Arc::clone(&state.bot_limit);
    let bells = Arc::clone(&state.store);
    let sweeper = tokio::spawn(async move {
        let mut every = tokio::time::interval(SWEEP_LIMITERS_EVERY);
        let mut ticks = 0u64;
        loop {
            every.tick().await;
            ticks += 1;
            limiters.iter().for_each(|limiter| limiter.sweep());
            bot_limit.sweep();
            bells.sweep();
            // Files never attached, and uploads never finished (off the request path; every
            // ten minutes: a file waits a day, and the sweep reads every chunk's index).
            if ticks % SWEEP_FILES_EVERY_TICKS != 1 {
                continue;
            }
            match bells.files().sweep_files(store::now_micros()).await {
                Ok(0) => {}
                Ok(removed) => tracing::info!(removed, "unattached files removed"),
                Err(err) => tracing::warn!(
                    error = &err as &dyn std::error::Error,
                    "removing unattached files failed"
                ),
            }
        }
    });
    // Held syncs are answered first (with nothing new), so that the drain does not wait for them.
    let closing = Arc::clone(&state.closing);
    let shutdown = async move {
        shutdown.await;
        closing.close();
    };
    let open = state.metrics.open_connections.clone();
    let served = listen::serve(listener, app(state), options, open, shutdown).await;
    sweeper.abort();
    store.close().await;
    tracing::info!("storage closed");
    served
}

/// Reads the site's layout and files, opens storage, binds, and runs until `shutdown`.
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
    // The operator's metrics listener first: a taken address fails the start before storage
    // opens.
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|err| format!("the metrics listener on {addr}: {err}"))?,
        ),
        None => None,
    };
    let store = store::open(&config.database_url).await?;
    let admin = config.admin_token.as_ref().map(|token| token.0.as_str());
    let identity = Arc::new(Identity::new(store.secret(), admin));
    let build = assets.build().unwrap_or(DEV_BUILD);
    let build = HeaderValue::from_str(build).unwrap_or(HeaderValue::from_static(DEV_BUILD));
    let state = AppState {
        metrics: Arc::new(Metrics::new(&*store)),
        identity,
        store,
        rooms: Arc::new(config.rooms.clone()),
        limits: config.limits(),
        poll_interval: config.poll_interval(),
        long_poll: Duration::from_millis(config.long_poll_ms),
        closing: Arc::default(),
        held: Arc::new(HeldSyncs::default()),
        leptos_options: Arc::new(leptos_options),
        assets: Arc::new(assets),
        build,
        body_timeout: config.request_timeout(),
        message_limit: Arc::new(Limiter::new(config.message_rate()?)),
        sync_limit: Arc::new(Limiter::new(config.sync_rate()?)),
        bot_limit: Arc::new(Limiter::new(config.bot_rate()?)),
        upload_limit: Arc::new(Limiter::new(config.upload_rate()?)),
    };
    let listener = match listen::bind(addr) {
        Ok(listener) => listener,
        Err(err) => {
            state.store.close().await;
            return Err(format!("the listener on {addr}: {err}").into());
        }
    };
    // The operator's metrics, on a listener of their own (never the public one).
    let metrics = match metrics_listener {
        Some(metrics_listener) => {
            tracing::info!(addr = %metrics_listener.local_addr()?, "metrics listening");
            let router = metrics::router(Arc::new(state.clone()));
            Some(tokio::spawn(async move {
                if let Err(err) = axum::serve(metrics_listener, router).await {
                    tracing::error!(error = %err, "the metrics listener failed");
                }
            }))
        }
        None => None,
    };
    let database = config.database_for_log();
    tracing::info!(addr = %listener.local_addr()?, %database, "listening");
    let served = run(listener, state, ListenOptions::of(&config), shutdown).await;
    if let Some(metrics) = metrics {
        metrics.abort();
    }
    served?;
    Ok(())
}

/// A write past the process's file-size limit (`ulimit -f`) raises SIGXFSZ, whose default
/// action kills the process. Ignored, the write fails with `EFBIG` instead, like a full disk:
/// SQLite reports an I/O error, that batch of posts is refused with 503, and the server keeps
/// answering syncs until storage can be written again.
fn ignore_file_size_signal() {
    #[cfg(unix)]
    // SAFETY: installs the predefined SIG_IGN disposition; no handler code runs.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
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

/// Structured logs to stderr, as text or (`json`) one JSON object per line; `RUST_LOG` filters
/// them (default `info`). Nothing logged carries a key or a token: keys become fingerprints
/// before anything sees them, and the admin token's `Debug` hides it.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Whatever `RUST_LOG` says: the PostgreSQL driver logs every statement's parameters at
    // `debug` (messages, addresses, the fingerprint secret).
    if let Ok(quiet) = "tokio_postgres=info".parse() {
        filter = filter.add_directive(quiet);
    }
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        // One object per line, with the event's fields, for a log collector.
        LogFormat::Json => logs.json().try_init(),
        // Colours only on a terminal: logs piped to a file or a collector stay plain text.
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
    // A panic is logged like any other error (one JSON line in `json`), with where it happened;
    // its message only when it is a literal of the code, not text formatted from data, which
    // may hold what a request carried.
    std::panic::set_hook(Box::new(|panic| {
        let at = panic
            .location()
            .map(|at| format!("{}:{}", at.file(), at.line()));
        let what = panic.payload().downcast_ref::<&'static str>().copied();
        tracing::error!(at, what, "panic");
    }));
}
