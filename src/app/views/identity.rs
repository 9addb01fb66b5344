//! Who you are: `You: <fingerprint>` above the composer, which opens to `Copy link` (the link
//! that carries this browser's key to another device: copied, never followed, so the key does
//! not land in this browser's address bar or history); and the dialog that asks, when a link
//! brought another browser's key, whether to keep this browser's or switch.

use leptos::prelude::*;

use super::lazy::{Lazy, lazy_view};
use crate::app::state::use_chat;

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
        chat.offered
            .with(Option::is_some)
            .then(|| view! { <Lazy load=move || key_offer() what="choice of key"/> })
    }
}

lazy_view! {
    /// `Keep <mine>` / `Switch to <theirs>`, in a modal dialog (Escape keeps).
    fn key_offer() -> AnyView {
        let chat = use_chat();
        let dialog = NodeRef::<leptos::html::Dialog>::new();
        Effect::new(move |_| {
            if let Some(dialog) = dialog.get() {
                let _ = dialog.show_modal();
            }
        });
        let offered = move || chat.offered.get().unwrap_or_else(|| crate::app::model::identity::Offered {
            key: String::new(),
            theirs: String::new(),
            mine: String::new(),
        });
        let mine = move || {
            let mine = offered().mine;
            if mine.is_empty() { "no key".to_owned() } else { mine }
        };
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
                    <strong>{move || offered().theirs}</strong>
                    ". Switching makes this browser write as "
                    {move || offered().theirs}
                    " from now on, and whoever gave you the link can then edit and delete what \
                     you write here. This browser's own key ("
                    {mine}
                    ") would be gone from it."
                </p>
                <div class="actions">
                    <button type="button" on:click=move |_| chat.keep_key()>
                        {move || format!("Keep {}", mine())}
                    </button>
                    <button type="button" on:click=move |_| chat.switch_key()>
                        {move || format!("Switch to {}", offered().theirs)}
                    </button>
                </div>
            </dialog>
        }
        .into_any()
    }
}
