//! The line under the header that says how the page stands: offline (messages wait in the
//! outbox), reconnecting (syncs fail), or a new version of the chat is out (`Reload`).

use leptos::prelude::*;

use crate::app::platform;
use crate::app::state::{Connection, use_chat};

/// The line while the network is gone.
pub const OFFLINE: &str = "Offline — messages will be sent when you reconnect";

#[component]
pub fn StatusLine() -> impl IntoView {
    let chat = use_chat();
    let new_version = move || chat.connection.get() == Connection::NewVersion;
    // One line for all: a new version says more than the network, messages waiting for the
    // network more than syncs failing, which they imply.
    // Nothing at all while all is well (an empty text would still give the line a height).
    let said = move || match chat.connection.get() {
        Connection::NewVersion => Some("A new version is available".to_owned()),
        _ if chat.outbox.with(|queue| queue.offline()) => Some(OFFLINE.to_owned()),
        Connection::Reconnecting(next_ms) => Some(format!(
            "Reconnecting… next try in {} s",
            next_ms.div_ceil(1000)
        )),
        Connection::Connected => None,
    };
    view! {
        <div class="status-line">
            // Always in the page, its text changing: a live region inserted together with its
            // text is often not announced.
            <p class="reconnecting" role="status">{said}</p>
            <button type="button" hidden=move || !new_version() on:click=|_| platform::reload()>
                "Reload"
            </button>
        </div>
    }
}
