//! A web chat in Rust, end to end: one Leptos crate built twice, as an axum server (feature
//! `ssr`) and as the WASM client that hydrates its pages (feature `hydrate`).
//!
//! # Layout
//! - [`protocol`]: the JSON envelopes of `POST /ajax` and their validation, shared by both builds.
//! - [`app`]: the client: its views (rendered on the server, hydrated in the browser), its state,
//!   its model and the browser platform it runs on.
//! - `server` (feature `ssr`): configuration, the HTTP layer, the chat service and its storage.

pub mod app;
pub mod protocol;

#[cfg(feature = "ssr")]
pub mod server;

/// Entry point of the WASM client: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    use leptos::prelude::*;
    // Panic messages in the console while developing (`cargo leptos watch`); the release
    // bundle goes without the hook and its formatting (about 0.7 KB gzip).
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    // The server wrote the state it rendered from into the page; start from exactly that
    // (hydrating an empty list against a full page would go wrong quietly).
    let json = document()
        .get_element_by_id(app::STATE_ELEMENT_ID)
        .and_then(|element| element.text_content());
    let page = app::PageState::from_page(json).unwrap_or_default();
    leptos::mount::hydrate_body(move || view! { <app::App page=page.clone()/> });
}
