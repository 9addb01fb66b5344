//! The Leptos side: the HTML shell and the chat page, rendered on the server and hydrated in
//! the browser.
//!
//! The server renders the page with the newest messages already in the HTML, and writes the
//! same [`PageState`] into the page as JSON, which the client reads back before hydrating, so
//! both sides start from identical state and the first paint needs no extra request.
//!
//! # Layout
//! The client is four layers, each using only those below it:
//! - [`views`]: components that read the state and call its commands;
//! - [`state`]: the one [`state::ChatState`], signals and the commands that change them;
//! - [`model`]: the rules, as plain Rust tested on the host (the log, rooms and unread, the
//!   outbox, polling, what tabs tell each other, mentions, links, search marks);
//! - [`platform`]: the browser's side effects (requests, storage, timers, the page, other tabs).

pub mod model;
pub mod platform;
pub mod state;
pub mod views;

use leptos::prelude::*;

pub use model::page::{AROUND, PAGE_HISTORY, PageState, STATE_ELEMENT_ID};
pub use views::Chat;

/// Where the shell links the stylesheet (its name carries a content hash in release builds).
#[derive(Debug, Clone)]
pub struct StylesheetHref(pub String);

/// Moves a key link's fragment (`#key=…`) out of the address bar and the session history into
/// this tab's sessionStorage before anything else runs; the page asks there whether to use it.
/// (The server's error pages run it too, allowed by its hash.)
pub const TAKE_KEY_LINK: &str = "if(location.hash.startsWith('#key=')){sessionStorage.setItem('session.chat.link',location.hash.slice(1));history.replaceState(null,'',location.pathname+location.search)}";

/// The HTML document around [`App`], rendered on the server only. The [`PageState`] comes from
/// the context the page handler provides.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let page = use_context::<PageState>().unwrap_or_default();
    let state_json = page.to_script_json();
    // A direct room's page cannot know who reads it: named by its two fingerprints until the
    // client knows which one is the reader's.
    let title = format!(
        "{} · Chat",
        model::rooms::label(&page.room, None, &Default::default())
    );
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
                <script nonce=leptos::nonce::use_nonce()>{TAKE_KEY_LINK}</script>
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
