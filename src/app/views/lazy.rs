//! Parts of the page that load on first use. A first paint needs the log, the composer, the
//! room list and the outbox; search, the notification settings, mention suggestions, the edit
//! box, the admin sign-in and taking another browser's key are each a chunk of the WASM of
//! their own (`cargo leptos build --split`), fetched the first time they are needed.
//!
//! [`lazy_view!`] declares such a part: a function that makes its view, split off with
//! `wasm_split`'s `fallible` option (Leptos 0.8's `#[lazy]` panics, which aborts the whole
//! module, when a chunk fails to load; this returns [`Unavailable`] instead). In the server's
//! and the client-only builds, which are not split, the same function is a plain `async fn`.
//! [`Lazy`] shows such a part: `Loading…` while its chunk comes, and if it cannot come (offline,
//! or a deploy replaced the build this page runs), says so with `Try again`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use leptos::either::EitherOf3;
use leptos::prelude::*;

/// A part of the page whose code could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

#[cfg(feature = "hydrate")]
impl From<leptos::wasm_split::SplitLoaderError> for Unavailable {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        Unavailable
    }
}

/// Declares a part of the page that loads on first use: `fn name(args) -> AnyView { body }`
/// becomes `async fn name(args) -> Result<AnyView, Unavailable>`, whose code is a chunk of its
/// own in the browser.
macro_rules! lazy_view {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) -> AnyView $body:block) => {
        #[cfg(feature = "hydrate")]
        $(#[$meta])*
        #[::leptos::wasm_split::wasm_split($name, wasm_split_path = ::leptos::wasm_split, fallible)]
        $vis fn $name($($arg: $ty),*) -> Result<::leptos::prelude::AnyView, $crate::app::views::lazy::Unavailable> {
            Ok($body)
        }

        #[cfg(not(feature = "hydrate"))]
        $(#[$meta])*
        $vis async fn $name($($arg: $ty),*) -> Result<::leptos::prelude::AnyView, $crate::app::views::lazy::Unavailable> {
            Ok($body)
        }
    };
}
pub(crate) use lazy_view;

/// A part's view, on its way: every part goes through one loading path ([`lazy_part`]), so the
/// bundle has that path once, not once per part.
type Loading = Pin<Box<dyn Future<Output = Result<AnyView, Unavailable>>>>;

/// Where a part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Loading,
    Ready,
    Failed,
}

/// Shows what `load` makes once its chunk is in: `Loading {what}…` meanwhile, and if it cannot
/// be loaded, that it could not, with `Try again` (a failed load is not remembered: trying
/// again fetches the chunk anew).
#[component]
pub fn Lazy<F, Fut>(load: F, what: &'static str) -> impl IntoView
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AnyView, Unavailable>> + 'static,
{
    lazy_part(Arc::new(move || Box::pin(load()) as Loading), what)
}

fn lazy_part(load: Arc<dyn Fn() -> Loading + Send + Sync>, what: &'static str) -> impl IntoView {
    let stage = RwSignal::new(Stage::Loading);
    // The part's view, made by its chunk's code, until it is put in the page.
    let part = StoredValue::new_local(None::<AnyView>);
    // The part is made under this component, with its context (the chat's state), also when
    // `Try again` asks for it (a click's handler runs under no owner), and not at all if the
    // component is gone by the time its code is in.
    let owner = Owner::current().unwrap_or_default();
    let fetch = move || {
        let load = Arc::clone(&load);
        stage.set(Stage::Loading);
        owner.with(|| {
            leptos::task::spawn_local_scoped_with_cancellation(async move {
                match load().await {
                    Ok(view) => {
                        part.try_set_value(Some(view));
                        stage.try_set(Stage::Ready);
                    }
                    Err(Unavailable) => {
                        stage.try_set(Stage::Failed);
                    }
                }
            })
        });
    };
    fetch();
    move || match stage.get() {
        Stage::Loading => EitherOf3::A(view! {
            <p class="loading" role="status">{format!("Loading {what}…")}</p>
        }),
        Stage::Failed => {
            let fetch = fetch.clone();
            EitherOf3::B(view! {
                <p class="unavailable" role="alert">
                    {format!("The {what} could not be loaded. Check the connection, or reload the page.")}
                    " "
                    <button type="button" on:click=move |_| fetch()>"Try again"</button>
                </p>
            })
        }
        Stage::Ready => EitherOf3::C(part.try_update_value(Option::take).flatten()),
    }
}
