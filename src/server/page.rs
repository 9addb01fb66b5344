//! The chat's pages, rendered on the server with their messages already in them:
//! - `GET /` and `GET /r/<room>`: the room's newest messages (`/` is `general`);
//! - `GET /r/<room>?before=<id>` and `?after=<id>`: the page of messages older (newer) than
//!   `<id>`, with links to the pages around it: a read-only transcript without JavaScript;
//! - `GET /r/<room>/<id>`: a permalink, the message with the messages around it;
//! - `GET /admin`: `general` in the admin view, which asks for the operator's token;
//! - `GET /r/dm-<a>-<b>` and `/r/dm-<a>-<b>/<id>`: a direct room's page, the shell without a
//!   message, whether or not the conversation exists: the server cannot know who reads it, and
//!   the page loads the messages with its key. Its transcript pages (`?before`, `?after`) are
//!   not found: without JavaScript there is no key to read them with.
//!
//! The first render of a busy room reads no SQL: the store answers from its tail.

use std::sync::{Arc, LazyLock};

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use leptos::config::LeptosOptions;
use leptos::nonce::use_nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::ResponseOptions;
use sha2::Digest;

use super::assets::{Encoding, compress_page, preferred_encoding, watching};
use super::state::AppState;
use super::store::StoreError;
use crate::app::{AROUND, PAGE_HISTORY, PageState, StylesheetHref, TAKE_KEY_LINK, shell};
use crate::protocol::{ChatMessage, GENERAL, RoomInfo, direct_members};

/// The most a rendered page may be (50 messages of at most 4096 characters, escaped, twice: in
/// the HTML and in the embedded state): past it, something is wrong.
const MAX_PAGE_BYTES: usize = 16 << 20;

/// Which messages of the room a page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Newest,
    Before(u64),
    After(u64),
    Around(u64),
    /// The newest, in the admin view.
    Admin,
}

pub async fn general(state: State<Arc<AppState>>, request: Request) -> Response {
    render(state, request, GENERAL.to_owned(), View::Newest).await
}

pub async fn admin(state: State<Arc<AppState>>, request: Request) -> Response {
    render(state, request, GENERAL.to_owned(), View::Admin).await
}

pub async fn room(
    state: State<Arc<AppState>>,
    Path(room): Path<String>,
    request: Request,
) -> Response {
    let view = match view_of(request.uri().query()) {
        Ok(view) => view,
        Err(bad) => return error_page(StatusCode::BAD_REQUEST, &bad.to_string()),
    };
    render(state, request, room, view).await
}

pub async fn permalink(
    state: State<Arc<AppState>>,
    Path((room, id)): Path<(String, String)>,
    request: Request,
) -> Response {
    match id.parse::<u64>() {
        Ok(id) if id > 0 => render(state, request, room, View::Around(id)).await,
        _ => not_found().await,
    }
}

/// A query string that names no view: `before` or `after` with something else than an id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} must be a message id (a whole number from 1)")]
struct NotAnId(&'static str);

/// `before=<id>` or `after=<id>` from the query string; other parameters are ignored.
fn view_of(query: Option<&str>) -> Result<View, NotAnId> {
    let mut view = View::Newest;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, make): (&'static str, fn(u64) -> View) = match key {
            "before" => ("before", View::Before),
            "after" => ("after", View::After),
            _ => continue,
        };
        match value.parse::<u64>() {
            Ok(id) if id > 0 || name == "after" => view = make(id),
            _ => return Err(NotAnId(name)),
        }
    }
    Ok(view)
}

/// The messages a view shows, and whether older and newer ones exist; `None` for a permalink
/// to a message that is not in the room.
async fn messages_of(
    state: &AppState,
    room: &str,
    view: View,
) -> Result<Option<(Vec<ChatMessage>, bool, bool)>, StoreError> {
    let store = &state.store;
    let rooms = [room.to_owned()];
    let page = PAGE_HISTORY;
    Ok(Some(match view {
        View::Newest | View::Admin | View::Before(_) => {
            let before = match view {
                View::Before(before) => before,
                _ => u64::MAX,
            };
            let mut messages = store.history(room, before, page + 1).await?;
            let older = messages.len() > page;
            if older {
                messages.remove(0);
            }
            let last = messages.last().map_or(0, |m| m.id);
            let newer =
                before != u64::MAX && !store.since(&rooms, last, 1, false).await?.is_empty();
            (messages, older, newer)
        }
        View::After(after) => {
            let mut messages = store.since(&rooms, after, page + 1, false).await?;
            let newer = messages.len() > page;
            messages.truncate(page);
            let first = messages.first().map_or(after.saturating_add(1), |m| m.id);
            let older = !store.history(room, first, 1).await?.is_empty();
            (messages, older, newer)
        }
        View::Around(id) => {
            let mut messages = store
                .history(room, id.saturating_add(1), AROUND + 2)
                .await?;
            if messages.last().is_none_or(|m| m.id != id) {
                return Ok(None);
            }
            let older = messages.len() > AROUND + 1;
            if older {
                messages.remove(0);
            }
            let mut after = store.since(&rooms, id, AROUND + 1, false).await?;
            let newer = after.len() > AROUND;
            after.truncate(AROUND);
            messages.extend(after);
            (messages, older, newer)
        }
    }))
}

async fn render(
    State(state): State<Arc<AppState>>,
    request: Request,
    room: String,
    view: View,
) -> Response {
    // The served names are all well-formed: a malformed one is simply not among them.
    let direct = direct_members(&room).is_some();
    let shell_only = matches!(view, View::Newest | View::Around(_));
    if !(state.rooms.contains(&room) || direct && shell_only) {
        return not_found().await;
    }
    let encoding = preferred_encoding(request.headers());
    let unavailable = |err: StoreError| {
        tracing::error!(
            error = &err as &dyn std::error::Error,
            "cannot render the page: storage fault"
        );
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Html("<!DOCTYPE html><title>Chat</title><p>The chat is unavailable right now. Please reload in a moment.</p>"),
        )
            .into_response()
    };
    let shown = if direct {
        Ok(Some((Vec::new(), false, false)))
    } else {
        messages_of(&state, &room, view).await
    };
    let (messages, older, newer) = match shown {
        Ok(Some(shown)) => shown,
        Ok(None) => return not_found().await,
        Err(err) => return unavailable(err),
    };
    // Every room's newest id, from memory: where the page's poll starts and what it counts.
    let mut rooms = match state
        .store
        .rooms(state.rooms.names(), &Default::default())
        .await
    {
        Ok(rooms) => rooms,
        Err(err) => return unavailable(err),
    };
    // The direct room shown is one of the page's (its newest is for the key to ask).
    if direct {
        rooms.push(RoomInfo {
            name: room.clone(),
            newest: 0,
            unread: None,
            with: None,
        });
    }
    let page = PageState {
        poll_interval_ms: u64::try_from(state.poll_interval.as_millis()).unwrap_or(u64::MAX),
        long_poll_ms: u64::try_from(state.long_poll.as_millis()).unwrap_or(u64::MAX),
        max_sync_batch: state.limits.max_sync_batch,
        max_file_bytes: state.limits.max_file_bytes,
        room,
        rooms,
        messages,
        older,
        newer,
        focus: match view {
            View::Around(id) => Some(id),
            _ => None,
        },
        admin: view == View::Admin,
        build: state.build_name(),
    };
    // Without a hashed name the shell links the plain one.
    let stylesheet = state
        .assets
        .stylesheet_href()
        .map(|href| StylesheetHref(href.to_owned()));
    let options = LeptosOptions::clone(&state.leptos_options);
    let render = leptos_axum::render_app_to_stream_with_context(
        move || {
            provide_context(page.clone());
            if let Some(stylesheet) = stylesheet.clone() {
                provide_context(stylesheet);
            }
            // leptos_axum has put a fresh nonce on every script it renders; allow those only.
            if let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>())
                && let Ok(policy) = HeaderValue::from_str(&page_policy(&nonce.to_string()))
            {
                response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
            }
        },
        move || shell(options.clone()),
    );
    let (mut parts, body) = render(request).await.into_response().into_parts();
    // The page holds the newest messages: always fetch it afresh.
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    parts
        .headers
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    // Rendered whole (nothing on the page waits for data), then compressed as a whole.
    let html = match axum::body::to_bytes(body, MAX_PAGE_BYTES).await {
        Ok(html) => html,
        Err(err) => {
            tracing::error!(
                error = &err as &dyn std::error::Error,
                "rendering the page failed"
            );
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    // Brotli takes about half a millisecond of CPU for a page: off the HTTP threads (by
    // default one), so that it holds up no other connection.
    let packed = match encoding {
        Encoding::Identity => None,
        _ => {
            let html = html.clone();
            let compressed = tokio::task::spawn_blocking(move || compress_page(&html, encoding));
            compressed.await.ok().flatten()
        }
    };
    match packed {
        Some((encoding, packed)) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, packed.into())
        }
        None => Response::from_parts(parts, html.into()),
    }
}

/// What a handler that panicked answers (the router's outermost layer): the reader is told,
/// and the details stay in the server's log.
pub fn server_error() -> Response {
    tracing::error!("a handler panicked");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on the server. Please reload in a moment.",
    )
}

pub async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "There is no such room or message here.",
    )
}

/// A small page for a request the chat cannot show, with a way back to `general`.
fn error_page(status: StatusCode, why: &str) -> Response {
    let why = why.replace('&', "&amp;").replace('<', "&lt;");
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <script>{TAKE_KEY_LINK}</script>\
         <link rel=\"manifest\" href=\"/manifest.webmanifest\">\
         <title>{} · Chat</title><main><h1>{}</h1><p>{why}</p>\
         <p><a href=\"/r/general\">Go to #general</a></p></main></html>",
        status.canonical_reason().unwrap_or("Error"),
        status.canonical_reason().unwrap_or("Error"),
    );
    // Only the script that takes a key link's fragment out of the address bar runs here (a
    // mistyped link must not leave the key there); only the manifest is fetched.
    static POLICY: LazyLock<HeaderValue> = LazyLock::new(|| {
        let hash = sha2::Sha256::digest(TAKE_KEY_LINK.as_bytes());
        let policy = format!(
            "default-src 'none'; script-src 'sha256-{}'; manifest-src 'self'; \
             frame-ancestors 'none'",
            base64(&hash)
        );
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"))
    });
    (
        status,
        [(header::CONTENT_SECURITY_POLICY, POLICY.clone())],
        Html(html),
    )
        .into_response()
}

/// Bytes as base64 (RFC 4648 §4, padded), as a CSP hash source is written.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |bits, (at, &byte)| {
            bits | u32::from(byte) << (16 - 8 * at)
        });
        for at in 0..4 {
            if at <= chunk.len() {
                out.push(char::from(ALPHABET[(bits >> (18 - 6 * at)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The page's Content-Security-Policy: scripts only from this origin or carrying the page's
/// nonce (plus compiling the WASM), no plugins, no framing, requests only to this origin.
/// Under `cargo leptos watch` the live-reload websocket needs `ws:` too.
fn page_policy(nonce: &str) -> String {
    let reload = if watching() { " ws:" } else { "" };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; \
         worker-src 'self'; manifest-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_rfc_4648_with_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[tokio::test]
    async fn an_error_page_runs_only_the_script_that_takes_a_key_out_of_the_address_bar() {
        let response = not_found().await;
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        let html = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8_lossy(&html);
        assert!(html.contains(&format!("<script>{TAKE_KEY_LINK}</script>")));
        assert_eq!(html.matches("<script").count(), 1, "{html}");
        let hash = base64(&sha2::Sha256::digest(TAKE_KEY_LINK.as_bytes()));
        assert!(
            policy.contains(&format!("script-src 'sha256-{hash}'")),
            "{policy}"
        );
        assert!(policy.starts_with("default-src 'none'"));
    }
}
