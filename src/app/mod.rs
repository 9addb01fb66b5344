//! The Leptos side: the HTML shell and the components of the chat page, rendered on the server
//! and hydrated in the browser.
//!
//! The server renders the page with the newest messages already in the HTML, and writes the
//! same [`PageState`] into the page as JSON, which the client reads back before hydrating, so
//! both sides start from identical state and the first paint needs no extra request.

pub mod browser;
pub mod chat;
mod composer;
pub mod links;
mod mentions;
mod messages;
mod notify;
pub(crate) mod outbox;
mod search;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::protocol::{ChatMessage, GENERAL, Limits, RoomInfo};
pub use chat::Chat;

/// How many messages a page of a room shows, and how many older ones scrolling back loads.
pub const PAGE_HISTORY: usize = 50;
/// How many messages a permalink page shows before and after its message.
pub const AROUND: usize = 25;

/// The id of the `<script type="application/json">` element that carries [`PageState`].
pub const STATE_ELEMENT_ID: &str = "chat-state";

/// Everything the page starts from: what it needs of the server's configuration, the rooms,
/// and the messages shown. Flat: every struct the client decodes costs the WASM bundle its own
/// copy of serde's decoding code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageState {
    /// How often to poll `sync`, in milliseconds; with long polling, the heartbeat that restarts
    /// a poll that failed or stalled.
    pub poll_interval_ms: u64,
    /// How long a `sync` may be held waiting for news (its `wait_ms`); 0: no long polling.
    pub long_poll_ms: u64,
    /// The most messages in a `sync` reply: a full one means "ask again".
    pub max_sync_batch: usize,
    /// The room shown.
    pub room: String,
    /// Every room served, with its newest id when the page was rendered.
    pub rooms: Vec<RoomInfo>,
    /// The messages shown, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether the room has messages older than the first shown.
    pub older: bool,
    /// Whether it has messages newer than the last shown (a page of the past, or a permalink).
    pub newer: bool,
    /// The message a permalink points at.
    pub focus: Option<u64>,
    /// The admin view (`/admin`): asks for the operator's token.
    #[serde(default)]
    pub admin: bool,
    /// The server's build of the client (its `X-Chat-Build` header): a reply naming another
    /// build means a deploy happened under this page.
    #[serde(default)]
    pub build: String,
}

impl Default for PageState {
    fn default() -> Self {
        Self {
            poll_interval_ms: 1000,
            long_poll_ms: 0,
            max_sync_batch: Limits::default().max_sync_batch,
            room: GENERAL.to_owned(),
            rooms: vec![RoomInfo {
                name: GENERAL.to_owned(),
                newest: 0,
                unread: None,
            }],
            messages: Vec::new(),
            older: false,
            newer: false,
            focus: None,
            admin: false,
            build: String::new(),
        }
    }
}

impl PageState {
    /// JSON that is safe inside a `<script>` element: `<`, `>` and `&` are written as `\u003c`
    /// and so on, so a message containing `</script>` cannot end the element early.
    pub fn to_script_json(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned());
        let mut safe = String::with_capacity(json.len());
        for ch in json.chars() {
            match ch {
                '<' => safe.push_str("\\u003c"),
                '>' => safe.push_str("\\u003e"),
                '&' => safe.push_str("\\u0026"),
                '\u{2028}' => safe.push_str("\\u2028"),
                '\u{2029}' => safe.push_str("\\u2029"),
                other => safe.push(other),
            }
        }
        safe
    }
}

/// Where the shell links the stylesheet (its name carries a content hash in release builds).
#[derive(Debug, Clone)]
pub struct StylesheetHref(pub String);

/// The HTML document around [`App`], rendered on the server only. The [`PageState`] comes from
/// the context the page handler provides.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let page = use_context::<PageState>().unwrap_or_default();
    let state_json = page.to_script_json();
    let title = format!("#{} · Chat", page.room);
    let stylesheet = use_context::<StylesheetHref>()
        .map(|href| href.0)
        .unwrap_or_else(|| format!("/pkg/{}.css", options.output_name));
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>{title}</title>
                <meta name="description" content="A web chat with rooms: post messages and read what others write, live."/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // Installable: the manifest, and the browser's bar in the page's colours.
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="apple-touch-icon" href="/icon-192.png"/>
                <meta name="theme-color" media="(prefers-color-scheme: light)" content="#2563eb"/>
                <meta name="theme-color" media="(prefers-color-scheme: dark)" content="#12151b"/>
                <link id="leptos" rel="stylesheet" href=stylesheet/>
                <script type="application/json" id=STATE_ELEMENT_ID inner_html=state_json></script>
                // The service worker (public/sw.js), registered once the page has loaded so
                // that it adds nothing to the first visit's critical path.
                <script nonce=leptos::nonce::use_nonce()>
                    "addEventListener('load',()=>navigator.serviceWorker?.register('/sw.js').catch(()=>{}))"
                </script>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App page/>
            </body>
        </html>
    }
}

/// The root component: the whole chat page.
#[component]
pub fn App(page: PageState) -> impl IntoView {
    view! { <Chat page/> }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_cannot_close_its_element_and_round_trips() {
        let page = PageState {
            messages: vec![ChatMessage {
                id: 1,
                room: "general".into(),
                sender: "<b>".into(),
                message: "</script><script>alert(1)</script> & \u{2028}".into(),
                sent_at: "2026-01-01T00:00:00Z".into(),
                ..ChatMessage::default()
            }],
            ..PageState::default()
        };
        let json = page.to_script_json();
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        assert_eq!(serde_json::from_str::<PageState>(&json).unwrap(), page);
    }
}
