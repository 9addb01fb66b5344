//! `GET /`: the chat page, rendered on the server with the newest messages already in it.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use leptos::config::LeptosOptions;
use leptos::nonce::use_nonce;
use leptos::prelude::{provide_context, use_context};
use leptos_axum::ResponseOptions;

use super::AppState;
use super::assets::{Encoding, compress_page, preferred_encoding};
use crate::app::{PAGE_HISTORY, PageState, StylesheetHref, shell};

/// The most a rendered page may be (50 messages of at most 4096 characters, escaped, twice: in
/// the HTML and in the embedded state): past it, something is wrong.
const MAX_PAGE_BYTES: usize = 16 << 20;

pub async fn page(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let encoding = preferred_encoding(request.headers());
    let messages = match state.store.latest(PAGE_HISTORY).await {
        Ok(messages) => messages,
        Err(err) => {
            tracing::error!(error = %err, "cannot render the page: storage fault");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<!DOCTYPE html><title>Chat</title><p>The chat is unavailable right now. Please reload in a moment.</p>"),
            )
                .into_response();
        }
    };
    let page = PageState {
        config: state.chat_config(),
        messages,
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

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!DOCTYPE html><title>Not found</title><p>Not found. <a href=\"/\">Back to the chat</a></p>"),
    )
        .into_response()
}

/// The page's Content-Security-Policy: scripts only from this origin or carrying the page's
/// nonce (plus compiling the WASM), no plugins, no framing, requests only to this origin.
/// Under `cargo leptos watch` the live-reload websocket needs `ws:` too.
fn page_policy(nonce: &str) -> String {
    let reload = if super::router::watching() {
        " ws:"
    } else {
        ""
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}
