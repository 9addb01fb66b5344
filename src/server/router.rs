//! The HTTP surface: [`app`] routes `/ajax`, `/healthz`, the server-rendered pages and the
//! static files, with the headers every response gets (security, and the build's name), and a
//! panic in any handler answered as a server error instead of a dropped connection.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, get_service, post};
use axum::{Json, response::Response};
use tower::util::MapResponseLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::trace::TraceLayer;

use super::assets::watching;
use super::state::AppState;
use super::{ajax, bots, error, files, page};
use crate::protocol::{ServerEnvelope, Status};

/// The response header that names the server's build of the client (see [`AppState::build`]).
pub const BUILD_HEADER: HeaderName = HeaderName::from_static("x-chat-build");

/// The whole HTTP surface: `/ajax`, `/healthz`, the server-rendered page and static files.
pub fn app(state: AppState) -> Router {
    // Server rendering spawns tasks through Leptos's executor: point it at tokio (once).
    let _ = any_spawner::Executor::init_tokio();
    // Shared, so that the per-request clone axum makes for each handler is one counter bump.
    let state = Arc::new(state);
    // Every request passes one layer that turns a panic into an answer its client understands:
    // a status envelope on `/ajax`, a page that says so everywhere else (a page, a file, the
    // health check); never a connection dropped without an answer.
    let ajax_route: MethodRouter<Arc<AppState>> = post(ajax::ajax)
        .fallback(ajax::method_not_allowed)
        .layer::<_, Infallible>(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer::<_, Infallible>(CatchPanicLayer::custom(panic_envelope));
    // A bot's posts: the same limits and panic answer as `/ajax`.
    let bots_route: MethodRouter<Arc<AppState>> = post(bots::post_message)
        .fallback(bots::method_not_allowed)
        .layer::<_, Infallible>(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .layer::<_, Infallible>(CatchPanicLayer::custom(panic_envelope));
    // Uploads are streamed into storage with their own limit (`--max-file-bytes`), not buffered.
    let files_route: MethodRouter<Arc<AppState>> = post(files::upload)
        .layer::<_, Infallible>(DefaultBodyLimit::disable())
        .layer::<_, Infallible>(CatchPanicLayer::custom(panic_envelope));
    let pages = Router::new()
        .route("/", get(page::general))
        .route("/admin", get(page::admin))
        .route("/r/{room}", get(page::room))
        .route("/r/{room}/{id}", get(page::permalink))
        .route("/healthz", get(healthz));
    let pages = if watching() {
        let site_root = state.leptos_options.site_root.to_string();
        // The service worker as built (its list of files empty: it keeps only pages), with the
        // policy a worker needs to fetch them: the static files' `default-src 'none'` would
        // stop every page of a developer's browser once it is installed.
        let worker = get_service(ServeFile::new(format!("{site_root}/sw.js")))
            .layer(axum::middleware::map_response(worker_headers));
        pages
            .route("/sw.js", worker)
            .fallback_service(ServeDir::new(site_root).not_found_service(get(page::not_found)))
    } else {
        pages.fallback(static_file)
    }
    .layer(CatchPanicLayer::custom(|_| page::server_error()));
    let router = Router::new()
        .route("/ajax", ajax_route)
        .route("/bots/{room}/messages", bots_route)
        .route("/files", files_route)
        .route(
            "/files/{*path}",
            get(files::download).layer::<_, Infallible>(CatchPanicLayer::custom(panic_envelope)),
        )
        .merge(pages)
        // The headers every response gets (see `common_headers`): one layer whose future is a
        // plain `map`, no allocation, where five header-setting layers nested five futures
        // around every held sync's answer (BENCHMARKS.md, "Long polling timed from
        // publication").
        .layer(MapResponseLayer::new(common_headers(state.build.clone())));
    // A span per request, and its timing, only for those who asked to see them
    // (`RUST_LOG=tower_http=debug`): with its spans disabled the layer still reads the clock
    // and wraps every response body, on every held sync answered too (BENCHMARKS.md, "Held
    // answers, layers and threads"). Errors are logged where they are answered (`error.rs`,
    // `page.rs`) either way.
    let router = if tracing::enabled!(target: "tower_http::trace", tracing::Level::DEBUG) {
        router.layer(TraceLayer::new_for_http())
    } else {
        router
    };
    router.with_state(state)
}

/// What a panic in a handler of the protocol's routes (`/ajax`, bots, files) is answered with:
/// the status envelope its client understands, never a connection dropped without an answer.
fn panic_envelope(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error::AjaxError::Panic.into_response()
}

/// The security headers every response gets unless it set its own (the page's CSP carries its
/// scripts' nonce). Every other response (JSON, files) gets a CSP that lets nothing run in it or
/// frame it.
const SECURITY_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
];

/// Sets the headers every response gets: [`SECURITY_HEADERS`] where the response has none of
/// its own, and the build's name (always), so that an open page learns of a deploy from any
/// reply it gets.
fn common_headers(build: HeaderValue) -> impl Fn(Response) -> Response + Clone + Send + Sync {
    move |mut response: Response| {
        let headers = response.headers_mut();
        headers.reserve(SECURITY_HEADERS.len() + 1);
        for (name, value) in SECURITY_HEADERS {
            headers.entry(name).or_insert(value);
        }
        headers.insert(BUILD_HEADER, build.clone());
        response
    }
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
    use crate::protocol::{Ban, ChatMessage, RoomIds, RoomInfo};
    use crate::server::limit::{ClientAddr, Limiter, Rate};
    use crate::server::store::testing::{Memory, post};
    use crate::server::store::{
        CachedStore, Encoded, News, Outcome as StoreOutcome, Store, StoreError, Write,
    };
    use axum::body::Body;
    use axum::http::Request;
    use leptos::prelude::LeptosOptions;
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

    /// A store whose `rooms` and `files` panic (as a bug would), and otherwise the one it wraps.
    struct PanicsOnRoomsAndFiles(Arc<dyn Store>);

    #[async_trait::async_trait]
    impl Store for PanicsOnRoomsAndFiles {
        fn files(&self) -> &dyn crate::server::store::FileStore {
            panic!("a bug while serving a file");
        }
        async fn write(&self, write: Write) -> Result<StoreOutcome, StoreError> {
            self.0.write(write).await
        }
        async fn since(
            &self,
            rooms: &[String],
            after: u64,
            limit: usize,
            events: bool,
        ) -> Result<Vec<ChatMessage>, StoreError> {
            self.0.since(rooms, after, limit, events).await
        }
        async fn since_encoded(
            &self,
            rooms: &[String],
            after: u64,
            limit: usize,
            events: bool,
        ) -> Result<Vec<Encoded>, StoreError> {
            self.0.since_encoded(rooms, after, limit, events).await
        }
        async fn bans(&self) -> Result<Vec<Ban>, StoreError> {
            self.0.bans().await
        }
        async fn bots(&self) -> Result<Vec<crate::server::store::Bot>, StoreError> {
            self.0.bots().await
        }
        async fn bot(&self, author: &str) -> Result<Option<crate::server::store::Bot>, StoreError> {
            self.0.bot(author).await
        }
        async fn search(
            &self,
            words: &[String],
            rooms: &[String],
            before: u64,
            limit: usize,
        ) -> Result<Vec<ChatMessage>, StoreError> {
            self.0.search(words, rooms, before, limit).await
        }
        fn secret(&self) -> &[u8] {
            self.0.secret()
        }
        async fn history(
            &self,
            room: &str,
            before: u64,
            limit: usize,
        ) -> Result<Vec<ChatMessage>, StoreError> {
            self.0.history(room, before, limit).await
        }
        async fn rooms(&self, _: &[String], _: &RoomIds) -> Result<Vec<RoomInfo>, StoreError> {
            panic!("a bug while rendering a page");
        }
        fn news_in(&self, rooms: &[String]) -> News {
            self.0.news_in(rooms)
        }
        fn direct_rooms(&self, member: &str) -> Vec<(String, u64)> {
            self.0.direct_rooms(member)
        }
        fn sweep(&self) {
            self.0.sweep();
        }
        fn newest_id(&self) -> u64 {
            self.0.newest_id()
        }
        async fn check(&self) -> Result<(), StoreError> {
            self.0.check().await
        }
        async fn close(&self) {
            self.0.close().await
        }
        fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
            self.0.register_metrics(registry);
        }
    }

    async fn memory_state() -> AppState {
        let store = Arc::new(CachedStore::open(Memory::default()).await.unwrap());
        let options = LeptosOptions::builder().output_name("ajax-chat").build();
        AppState::new(store, options)
    }

    #[tokio::test]
    async fn every_response_gets_the_security_headers_and_the_build_but_keeps_its_own_policy() {
        let mut state = memory_state().await;
        state.build = HeaderValue::from_static("0123456789abcdef");
        let router = app(state);
        // A JSON reply: the whole set, its CSP the one that lets nothing run or frame it.
        let reply = router.clone().oneshot(post_message("hi")).await.unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let expected = [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (BUILD_HEADER, "0123456789abcdef"),
        ];
        for (name, value) in &expected {
            assert_eq!(reply.headers().get_all(name).iter().count(), 1, "{name}");
            assert_eq!(reply.headers()[name], *value, "{name}");
        }
        // A page sets its own CSP (its scripts' nonce): kept, not replaced; the rest added.
        let page = Request::get("/").body(Body::empty()).unwrap();
        let page = router.oneshot(page).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("'nonce-"), "{csp}");
        assert_eq!(
            page.headers()
                .get_all(header::CONTENT_SECURITY_POLICY)
                .iter()
                .count(),
            1
        );
        for (name, value) in &expected[1..] {
            assert_eq!(page.headers()[name], *value, "{name}");
        }
    }

    #[tokio::test]
    async fn a_handler_that_panics_is_answered_500_as_its_client_understands_and_the_server_goes_on()
     {
        let mut state = memory_state().await;
        state.store = Arc::new(PanicsOnRoomsAndFiles(Arc::clone(&state.store)));
        state.build = HeaderValue::from_static("0123456789abcdef");
        let router = app(state);
        let page = Request::get("/r/general").body(Body::empty()).unwrap();
        let response = router.clone().oneshot(page).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        // Answered inside the layer of common headers: a deploy is noticed from it too.
        assert_eq!(response.headers()[BUILD_HEADER], "0123456789abcdef");
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert!(
            response.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8_lossy(&body);
        assert!(html.contains("Something went wrong"), "{html}");
        // The same bug met on `/ajax` is answered as the protocol answers: a status envelope.
        let rooms = serde_json::json!({"type": "rooms", "data": {}});
        let request = Request::post("/ajax")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(rooms.to_string()))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        assert_eq!(response.headers()[BUILD_HEADER], "0123456789abcdef");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            envelope,
            serde_json::json!({"type": "status", "data": {"status": 1, "message": "internal server error"}})
        );
        // And on a file's download: the same envelope its other errors are.
        for path in [
            "/files/abcdefghijklmnopqrstuv",
            "/files/abcdefghijklmnopqrstuv/thumb",
        ] {
            let request = Request::get(path).body(Body::empty()).unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{path}"
            );
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(envelope["data"]["status"], 1, "{path}");
        }
        // The next request is served as usual.
        assert_eq!(status_of(&router, get_healthz()).await, StatusCode::OK);
        assert_eq!(
            status_of(&router, post_message("still here")).await,
            StatusCode::OK
        );
    }

    #[tokio::test]
    async fn every_response_names_the_build() {
        let mut state = memory_state().await;
        state.build = HeaderValue::from_static("0123456789abcdef");
        let router = app(state);
        for request in [
            get_healthz(),
            post_message("hello"),
            Request::get("/no/such/file").body(Body::empty()).unwrap(),
            Request::get("/").body(Body::empty()).unwrap(),
        ] {
            let response = router.clone().oneshot(request).await.unwrap();
            assert_eq!(response.headers()[BUILD_HEADER], "0123456789abcdef");
        }
        // The page carries it in its state: what the client compares replies with.
        let page = Request::get("/").body(Body::empty()).unwrap();
        let response = router.oneshot(page).await.unwrap();
        let html = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&html).contains(r#""build":"0123456789abcdef""#));
    }

    /// A request as the accept loop hands it over: with its client's address.
    fn from(client: [u8; 4], body: serde_json::Value) -> Request<Body> {
        let mut request = Request::post("/ajax")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr(std::net::IpAddr::from(client)));
        request
    }

    #[tokio::test]
    async fn everything_that_takes_the_admin_token_costs_the_write_budget() {
        let mut state = memory_state().await;
        // One write each, and reads without end.
        state.message_limit = Arc::new(Limiter::new(Rate::new(0.001, 1).unwrap()));
        let router = app(state);
        let token = serde_json::json!({"admin": "a wrong token, guessed"});
        for kind in ["bans", "ban", "unban"] {
            let client = match kind {
                "bans" => [10, 0, 0, 1],
                "ban" => [10, 0, 0, 2],
                _ => [10, 0, 0, 3],
            };
            let mut data = token.clone();
            if kind != "bans" {
                data["author"] = "abcdefgh".into();
            }
            let guess = serde_json::json!({"type": kind, "data": data});
            let first = status_of(&router, from(client, guess.clone())).await;
            assert_eq!(first, StatusCode::FORBIDDEN, "{kind}: the wrong token");
            let second = status_of(&router, from(client, guess)).await;
            assert_eq!(
                second,
                StatusCode::TOO_MANY_REQUESTS,
                "{kind}: a second guess"
            );
            let sync = serde_json::json!({"type": "sync", "data": {"last_message": 0}});
            assert_eq!(
                status_of(&router, from(client, sync)).await,
                StatusCode::OK,
                "{kind}: reads have their own budget"
            );
        }
    }
}
