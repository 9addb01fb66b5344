//! The client-only build: the same `App`, mounted by the browser with no server rendering.
//! Trunk builds and serves it (`trunk serve`, see Trunk.toml) and proxies `/ajax` to a running
//! chat server. It starts with an empty list and loads history with its first sync.

fn main() {
    use ajax_chat::app::{App, PageState};
    use leptos::prelude::*;

    // Panic messages in the console while developing (`cargo leptos watch`); the release
    // bundle goes without the hook and its formatting (about 0.7 KB gzip).
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| view! { <App page=PageState::default()/> });
}
