//! What every handler can reach ([`AppState`]), and the small shared signals of a running
//! server: [`Closing`] (shutting down: answer held syncs now) and [`HeldSyncs`] (how many syncs
//! are held right now).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::HeaderValue;
use leptos::prelude::LeptosOptions;

use super::assets::Assets;
use super::config::{LONG_POLL_MS, POLL_INTERVAL_MS, REQUEST_TIMEOUT_SECS};
use super::identity::Identity;
use super::limit::Limiter;
use super::metrics::Metrics;
use super::rooms::Rooms;
use super::store::Store;
use crate::protocol::Limits;

/// The build a server runs when it has no hashed client files to name (tests, `cargo leptos
/// watch`): pages of such a server never see another build.
pub const DEV_BUILD: &str = "dev";

/// What every handler can reach. Cheap to clone: storage is shared behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// What `/metrics` shows (on the operator's listener).
    pub metrics: Arc<Metrics>,
    /// Fingerprints of keys, and the operator's token.
    pub identity: Arc<Identity>,
    /// The rooms served, `general` first.
    pub rooms: Arc<Rooms>,
    pub limits: Limits,
    pub poll_interval: Duration,
    /// How long the page's syncs ask to be held (their `wait_ms`); zero: no long polling.
    pub long_poll: Duration,
    /// Set when the server starts shutting down: held syncs are answered at once.
    pub closing: Arc<Closing>,
    /// The syncs held right now.
    pub held: Arc<HeldSyncs>,
    pub leptos_options: Arc<LeptosOptions>,
    /// The site's static files, compressed in memory; empty in tests that need none.
    pub assets: Arc<Assets>,
    /// The name of this build of the client (the `X-Chat-Build` header on every response, and
    /// the page's `build`): a page that sees another one runs an older client than the server's.
    pub build: HeaderValue,
    /// How long a client has to send a request body.
    pub body_timeout: Duration,
    /// Per-client limits of writes (`message`, `edit`, `delete` and the operator's envelopes)
    /// and of reads (`sync` and every other).
    pub message_limit: Arc<Limiter>,
    pub sync_limit: Arc<Limiter>,
    /// Per-bot limit of a bot's posts (by its fingerprint), wherever it posts.
    pub bot_limit: Arc<Limiter<String>>,
    /// Per-client limit of uploads (`POST /files`).
    pub upload_limit: Arc<Limiter>,
}

impl AppState {
    /// State with the default limits and poll interval, no rate limits and no static files.
    pub fn new(store: Arc<dyn Store>, leptos_options: LeptosOptions) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(&*store)),
            identity: Arc::new(Identity::new(store.secret(), None)),
            store,
            rooms: Arc::new(Rooms::default()),
            limits: Limits::default(),
            poll_interval: Duration::from_millis(POLL_INTERVAL_MS),
            long_poll: Duration::from_millis(LONG_POLL_MS),
            closing: Arc::new(Closing::default()),
            held: Arc::new(HeldSyncs::default()),
            leptos_options: Arc::new(leptos_options),
            assets: Arc::new(Assets::default()),
            build: HeaderValue::from_static(DEV_BUILD),
            body_timeout: Duration::from_secs(REQUEST_TIMEOUT_SECS),
            message_limit: Arc::new(Limiter::new(None)),
            sync_limit: Arc::new(Limiter::new(None)),
            bot_limit: Arc::new(Limiter::new(None)),
            upload_limit: Arc::new(Limiter::new(None)),
        }
    }

    /// The build's name as the page carries it.
    pub fn build_name(&self) -> String {
        self.build.to_str().unwrap_or(DEV_BUILD).to_owned()
    }
}

/// The server's "shutting down" signal, for the requests that wait: set once, never cleared.
#[derive(Debug, Default)]
pub struct Closing {
    closing: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Closing {
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Resolves once the server is closing (at once if it already is).
    pub async fn closed(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a `close` in between is not missed.
        notified.as_mut().enable();
        if !self.is_closing() {
            notified.await;
        }
    }
}

/// How many syncs are held waiting for news: what a test waits for before it posts (instead
/// of guessing how long holding takes), and what an operator's metrics can show.
#[derive(Debug, Default)]
pub struct HeldSyncs(AtomicUsize);

impl HeldSyncs {
    /// Counts one sync as held until the guard is dropped (answered, or its client gone).
    pub fn hold(self: &Arc<Self>) -> HeldGuard {
        self.0.fetch_add(1, Ordering::Relaxed);
        HeldGuard(Arc::clone(self))
    }

    pub fn count(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// One held sync, counted while it lives.
pub struct HeldGuard(Arc<HeldSyncs>);

impl Drop for HeldGuard {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a client has to send the whole body once its headers are in.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

impl FromRef<Arc<AppState>> for BodyTimeout {
    fn from_ref(state: &Arc<AppState>) -> Self {
        BodyTimeout(state.body_timeout)
    }
}

impl FromRef<Arc<AppState>> for Limits {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.limits
    }
}
