//! `GET /`: the chat page, rendered on the server with the newest messages already in it.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use leptos::prelude::provide_context;

use super::AppState;
use crate::app::{PAGE_HISTORY, PageState, shell};

pub async fn page(State(state): State<AppState>, request: Request) -> Response {
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
    let options = state.leptos_options.clone();
    let render = leptos_axum::render_app_to_stream_with_context(
        move || provide_context(page.clone()),
        move || shell(options.clone()),
    );
    render(request).await.into_response()
}

pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<!DOCTYPE html><title>Not found</title><p>Not found. <a href=\"/\">Back to the chat</a></p>"),
    )
        .into_response()
}
