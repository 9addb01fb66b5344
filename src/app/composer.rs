//! The form at the bottom of the page: the "Name" field, the "Message" box and "Send".
//!
//! Enter sends and Shift+Enter starts a new line. A refused or failed send shows why in the
//! element with role "alert" and keeps the typed text, so nothing the user wrote is lost.

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser;
use crate::protocol::{ClientEnvelope, Limits, Outcome, PostMessage, ServerEnvelope};

/// Shown when the request got no answer at all.
const UNREACHABLE: &str = "Could not reach the server, so your message was not sent. Check your connection and try again.";

#[component]
pub fn Composer(
    name: RwSignal<String>,
    limits: Limits,
    /// Called with the name as typed, to remember it.
    on_name: Callback<String>,
    /// Called after the server stored a message.
    on_sent: Callback<()>,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let sending = RwSignal::new(false);
    // Until the page is hydrated, a click on Send would submit the form the old way and
    // reload the page, losing the text: keep it disabled until then.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    // The text being sent and its idempotency key: a retry of the same text reuses the key, so
    // a message whose reply was lost is not stored twice.
    let attempt = StoredValue::new(None::<(String, String)>);

    let send = move || {
        if sending.get_untracked() {
            return;
        }
        let mut post = PostMessage {
            sender: name.get_untracked(),
            message: draft.get_untracked(),
            nonce: None,
        };
        if post.sender.trim().is_empty() {
            error.set(Some("Enter your name before sending.".into()));
            return;
        }
        if post.message.trim().is_empty() {
            return;
        }
        if let Err(invalid) = post.validate(&limits) {
            error.set(Some(invalid.to_string()));
            return;
        }
        let nonce = attempt
            .with_value(|attempt| match attempt {
                Some((text, nonce)) if *text == post.message => Some(nonce.clone()),
                _ => None,
            })
            .unwrap_or_else(browser::new_nonce);
        attempt.set_value(Some((post.message.clone(), nonce.clone())));
        post.nonce = Some(nonce);
        sending.set(true);
        spawn_local(async move {
            let reply = browser::post(&ClientEnvelope::Message(post.clone())).await;
            if sending.try_set(false).is_some() {
                return; // the component is gone
            }
            match reply {
                Ok(ServerEnvelope::Status(status)) if status.status == Outcome::Succeeded => {
                    error.set(None);
                    attempt.set_value(None);
                    // Keep whatever was typed while the message was on its way.
                    if draft.get_untracked() == post.message {
                        draft.set(String::new());
                    }
                    on_sent.run(());
                }
                Ok(ServerEnvelope::Status(status)) => error.set(Some(status.message)),
                Ok(ServerEnvelope::Sync(_)) | Err(_) => error.set(Some(UNREACHABLE.into())),
            }
        });
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        send();
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            send();
        }
    };

    view! {
        <form class="composer" on:submit=on_submit>
            <p class="error" role="alert">{move || error.get()}</p>
            <div class="name-row">
                <label for="chat-name">"Name"</label>
                <input
                    id="chat-name"
                    type="text"
                    autocomplete="nickname"
                    prop:value=move || name.get()
                    on:input=move |ev| {
                        let value = event_target_value(&ev);
                        on_name.run(value.clone());
                        name.set(value);
                    }
                />
            </div>
            <div class="message-row">
                <label for="chat-message" class="visually-hidden">"Message"</label>
                <textarea
                    id="chat-message"
                    rows="2"
                    placeholder="Write a message…"
                    title="Enter sends, Shift+Enter starts a new line"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=on_keydown
                ></textarea>
                <button type="submit" disabled=move || sending.get() || !hydrated.get()>
                    "Send"
                </button>
            </div>
        </form>
    }
}
