//! The HTTP surface: the router's state ([`AppState`]) and [`app`], which routes `/ajax`,
//! `/healthz`, the server-rendered page and the static files, with the security headers every
//! response gets.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, get_service, post};
use axum::{Json, response::Response};
use leptos::prelude::*;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use super::assets::Assets;
use super::config::{LONG_POLL_MS, POLL_INTERVAL_MS, REQUEST_TIMEOUT_SECS};
use super::identity::Identity;
use super::limit::Limiter;
use super::rooms::Rooms;
use super::store::Store;
use super::{ajax, error, page};
use crate::protocol::{Limits, ServerEnvelope, Status};

/// What every handler can reach. Cheap to clone: storage is shared behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
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
    /// State with the default limits and poll interval, no rate limits and no static files.
    pub fn new(store: Arc<dyn Store>, leptos_options: LeptosOptions) -> Self {
        Self {
            identity: Arc::new(Identity::new(store.secret(), None)),
            store,
            rooms: Arc::new(Rooms::default()),
            limits: Limits::default(),
            poll_interval: Duration::from_millis(POLL_INTERVAL_MS),
            long_poll: Duration::from_millis(LONG_POLL_MS),
            closing: Arc::new(Closing::default()),
            leptos_options: Arc::new(leptos_options),
            assets: Arc::new(Assets::default()),
            body_timeout: Duration::from_secs(REQUEST_TIMEOUT_SECS),
            message_limit: Arc::new(Limiter::new(None)),
            sync_limit: Arc::new(Limiter::new(None)),
        }
    }
}

/// The server's "shutting down" signal, for the requests that wait: set once, never cleared.
#[derive(Debug, Default)]
pub struct Closing {
    closing: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Closing {
    pub fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
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
        .route("/", get(page::general))
        .route("/admin", get(page::admin))
        .route("/r/{room}", get(page::room))
        .route("/r/{room}/{id}", get(page::permalink))
        .route("/ajax", ajax_route)
        .route("/healthz", get(healthz));
    let router = if watching() {
        let site_root = state.leptos_options.site_root.to_string();
        // The service worker as built (its list of files empty: it keeps only pages), with the
        // policy a worker needs to fetch them: the static files' `default-src 'none'` would
        // stop every page of a developer's browser once it is installed.
        let worker = get_service(ServeFile::new(format!("{site_root}/sw.js")))
            .layer(axum::middleware::map_response(worker_headers));
        router
            .route("/sw.js", worker)
            .fallback_service(ServeDir::new(site_root).not_found_service(get(page::not_found)))
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

async fn worker_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(super::assets::WORKER_POLICY),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Whether `cargo leptos watch` runs this server: files then change under it, so they are
/// read from disk rather than loaded and compressed once.
pub(super) fn watching() -> bool {
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

/// `GET /healthz`: 200 with status 0 when storage can take and answer requests (open, its
/// writer running, the database answering), 503 with status 1 when not.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.check().await {
        Ok(()) => Json(ServerEnvelope::Status(Status::ok("storage ok"))).into_response(),
        Err(err) => {
            tracing::warn!(
                error = &err as &dyn std::error::Error,
                "health check failed"
            );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::CachedStore;
    use crate::server::store::testing::{Memory, post};
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn status_of(router: &Router, request: Request<Body>) -> StatusCode {
        router.clone().oneshot(request).await.unwrap().status()
    }

    fn get_healthz() -> Request<Body> {
        Request::get("/healthz").body(Body::empty()).unwrap()
    }

    fn post_message(text: &str) -> Request<Body> {
        let body = serde_json::json!({"type": "message", "data": {"sender": "s", "message": text}});
        Request::post("/ajax")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn healthz_says_503_once_the_storage_writer_has_died() {
        let backend = Memory {
            panic_on: Some("boom"),
            ..Memory::default()
        };
        let store = Arc::new(CachedStore::open(backend).await.unwrap());
        let options = LeptosOptions::builder().output_name("ajax-chat").build();
        let router = app(AppState::new(store.clone(), options));
        assert_eq!(status_of(&router, get_healthz()).await, StatusCode::OK);
        assert_eq!(
            status_of(&router, post_message("fine")).await,
            StatusCode::OK
        );
        // The writer panics on this post: the post is refused, and from then on the health
        // check says what posts find.
        assert_eq!(
            status_of(&router, post_message("boom")).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&router, get_healthz()).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(&router, post_message("after")).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(store.append(post("direct")).await.is_err());
    }
}
