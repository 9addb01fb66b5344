//! A web chat in Rust, end to end: one Leptos crate built twice, as an axum server (feature
//! `ssr`) and as the WASM client that hydrates its pages (feature `hydrate`).
//!
//! # Layout
//! - [`protocol`]: the JSON envelopes of `POST /ajax` and their validation, shared by both builds.
//! - [`app`]: the Leptos components, rendered on the server and hydrated in the browser.
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
    // The server wrote the state it rendered from into the page; start from exactly that.
    let json = document()
        .get_element_by_id(app::STATE_ELEMENT_ID)
        .and_then(|element| element.text_content());
    let decoded = json.as_deref().map(|json| {
        app::browser::decode::parse(json)
            .as_ref()
            .and_then(app::browser::decode::page)
    });
    let page: app::PageState = match decoded {
        Some(Some(page)) => page,
        // Hydrating an empty list against a full page would go wrong quietly: say why.
        Some(None) => {
            leptos::logging::error!("the page's state ({}) did not parse", app::STATE_ELEMENT_ID);
            app::PageState::default()
        }
        None => {
            leptos::logging::error!("the page has no state element #{}", app::STATE_ELEMENT_ID);
            app::PageState::default()
        }
    };
    leptos::mount::hydrate_body(move || view! { <app::App page=page.clone()/> });
}
