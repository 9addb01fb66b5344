//! Who you are: `You: <fingerprint>` above the composer, which opens to `Copy link` (the link
//! that carries this browser's key to another device: copied, never followed, so the key does
//! not land in this browser's address bar or history); and the dialog that asks, when a link
//! brought another browser's key, whether to keep this browser's or switch.

use leptos::either::Either;
use leptos::prelude::*;

use super::lazy::{Lazy, lazy_view};
use crate::app::model::identity::Offered;
use crate::app::state::{ChatState, use_chat};

#[component]
pub fn Identity() -> impl IntoView {
    let chat = use_chat();
    let open = RwSignal::new(false);
    let who = move || {
        if chat.keyless.get() {
            "no key: this browser cannot make one, so your messages carry no fingerprint".to_owned()
        } else {
            chat.me
                .get()
                .unwrap_or_else(|| "known after your first message".to_owned())
        }
    };
    view! {
        <details class="identity" on:toggle=move |_| open.set(true)>
            <summary>"You: " {who}</summary>
            {move || {
                open.get().then(|| view! { <Lazy load=move || move_identity() what="link to your key"/> })
            }}
        </details>
    }
}

lazy_view! {
    /// What the fingerprint means, and `Copy link`.
    fn move_identity() -> AnyView {
        let chat = use_chat();
        // What copying came to: nothing yet, copied, or the clipboard refused.
        let copied = RwSignal::new(None::<bool>);
        let copy = move |_| {
            leptos::task::spawn_local(async move {
                let done = chat.copy_link().await;
                copied.try_set(Some(done));
            });
        };
        let said = move || match copied.get() {
            Some(true) => "Link copied. Open it in the other browser; it will ask there before it switches.",
            Some(false) => "The browser did not allow copying.",
            None => "",
        };
        view! {
            <p>
                "Your messages carry the fingerprint of this browser's secret key: nobody else \
                 can post as you or change them. The link below carries the key to another \
                 device; anyone who has it writes as you, so give it to nobody else."
            </p>
            <button type="button" class="copy-link" disabled=move || chat.keyless.get() on:click=copy>
                "Copy link"
            </button>
            <span role="status">{said}</span>
        }
        .into_any()
    }
}

/// The choice a link's key brings: shown as a modal dialog while one waits.
#[component]
pub fn KeyOffer() -> impl IntoView {
    let chat = use_chat();
    move || {
        chat.offered.get().map(
            |theirs| view! { <Lazy load=move || key_offer(theirs.clone()) what="choice of key"/> },
        )
    }
}

lazy_view! {
    /// `Keep <mine>` / `Switch to <theirs>`, in a modal dialog (Escape keeps), once the server
    /// has said both fingerprints.
    fn key_offer(theirs: String) -> AnyView {
        let chat = use_chat();
        // Asked, then the choice, or that the server could not be asked.
        let asked = RwSignal::new(None::<Option<Offered>>);
        leptos::task::spawn_local_scoped_with_cancellation(async move {
            let prints = chat.prints_for(theirs).await;
            asked.try_set(Some(prints));
        });
        (move || {
            asked.get().map(|prints| match prints {
                Some(offered) => Either::Left(choice(chat, offered)),
                None => Either::Right(unreachable_server(chat)),
            })
        })
        .into_any()
    }
}

/// The link's key waits (in this tab, across reloads) until the server can be asked.
fn unreachable_server(chat: ChatState) -> impl IntoView {
    view! {
        <p class="unavailable" role="alert">
            "The link you opened carries another browser's key, and the server could not be \
             asked for its fingerprint. Reload the page to try again."
            " "
            <button type="button" on:click=move |_| chat.keep_key()>"Forget the link"</button>
        </p>
    }
}

fn choice(chat: ChatState, offered: Offered) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    Effect::new(move |_| {
        if let Some(dialog) = dialog.get() {
            let _ = dialog.show_modal();
        }
    });
    let mine = if offered.mine.is_empty() {
        "no key".to_owned()
    } else {
        offered.mine.clone()
    };
    let theirs = offered.theirs.clone();
    view! {
        <dialog
            node_ref=dialog
            class="key-offer"
            aria-labelledby="key-offer-title"
            on:cancel=move |ev: leptos::ev::Event| {
                ev.prevent_default();
                chat.keep_key();
            }
        >
            <h2 id="key-offer-title">"Use another browser's key?"</h2>
            <p>
                "The link you opened carries the secret key of "
                <strong>{theirs.clone()}</strong>
                ". Switching makes this browser write as "
                {theirs.clone()}
                " from now on, and whoever gave you the link can then edit and delete what \
                 you write here. This browser's own key ("
                {mine.clone()}
                ") would be gone from it."
            </p>
            <div class="actions">
                <button type="button" on:click=move |_| chat.keep_key()>
                    {format!("Keep {mine}")}
                </button>
                <button type="button" on:click=move |_| chat.switch_key(offered.clone())>
                    {format!("Switch to {theirs}")}
                </button>
            </div>
        </dialog>
    }
}
