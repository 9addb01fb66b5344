//! The form at the bottom of the page: the "Name" field, the "Message" box and "Send".
//!
//! Enter sends and Shift+Enter starts a new line. Sending hands the message to the outbox
//! (`outbox.rs`), which shows it in the log at once and sends it, offline or not: the box is
//! free for the next one straight away. A refusal shows in the message's line, and its reason
//! in the element with role "alert" here. The page checks only that there is a name and a text;
//! lengths are the server's to check (its refusal says the same, one round trip later, and the
//! bundle is smaller without the rules in it).

use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;

use super::browser;
use super::chat::Chat;
use crate::protocol::PostMessage;

/// The keyboard hint, read out with the message box.
const HINT_ID: &str = "chat-message-hint";
const MESSAGE_ID: &str = "chat-message";
/// The names `@` offers (a listbox that `browser::show_options` fills).
const OPTIONS_ID: &str = "mention-list";
/// The most names `@` offers.
const MAX_OFFERED: usize = 8;

/// Names offered for the `@` before the caret: where it is, where the name typed after it ends
/// (the caret), the names, and the one chosen with the arrow keys.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Suggest {
    at: usize,
    end: usize,
    names: Vec<String>,
    active: usize,
}

/// The senders of the room's recent messages, newest first, once each, but not `me`.
fn recent_names(chat: Chat, me: &str) -> Vec<String> {
    let me = me.trim();
    chat.messages.with_untracked(|kept| {
        let mut names: Vec<String> = Vec::new();
        for message in kept.iter().rev().take(200) {
            if message.sender != me && !names.contains(&message.sender) {
                names.push(message.sender.clone());
            }
        }
        names
    })
}

/// What to offer for `text` with the caret at `caret_utf16` (the browser counts UTF-16 units):
/// the `@` before it starts a word, nothing but the name's start lies between them, and some of
/// `names` begin with it (in any case).
fn offer_names(text: &str, caret_utf16: usize, names: &[String]) -> Option<Suggest> {
    let mut units = 0;
    let caret = text
        .char_indices()
        .find_map(|(at, c)| {
            let here = (units >= caret_utf16).then_some(at);
            units += c.len_utf16();
            here
        })
        .unwrap_or(text.len());
    let before = &text[..caret];
    let at = before.rfind('@')?;
    let typed = &before[at + 1..];
    let starts_word = before[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric());
    if !starts_word || typed.chars().any(char::is_whitespace) {
        return None;
    }
    let typed = browser::lowercase(typed);
    let names: Vec<String> = names
        .iter()
        .filter(|name| browser::lowercase(name).starts_with(&typed))
        .take(MAX_OFFERED)
        .cloned()
        .collect();
    (!names.is_empty()).then_some(Suggest {
        at,
        end: caret,
        names,
        active: 0,
    })
}

#[component]
pub fn Composer(
    name: RwSignal<String>,
    /// The room posted to (the one shown), and its outbox.
    chat: Chat,
) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    // A refusal found before sending (no name); the server's come from the outbox.
    let local_error = RwSignal::new(None::<String>);

    let error = move || {
        local_error
            .get()
            .or_else(|| chat.outbox.read(|queue| queue.refusal.clone()))
    };

    let submit = move || {
        let post = PostMessage {
            sender: name.get_untracked().trim().to_owned(),
            message: draft.get_untracked(),
            nonce: Some(browser::new_nonce()),
            room: Some(chat.room.get_untracked()),
            key: None,
        };
        if post.sender.is_empty() {
            local_error.set(Some("Enter your name before sending.".into()));
            return;
        }
        if post.message.trim().is_empty() {
            return;
        }
        local_error.set(None);
        draft.set(String::new());
        chat.queue(post);
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit();
    };
    // `@` and the start of a name offers the names seen recently in the room.
    // Not a signal: the list is drawn by `browser::show_options`, nothing in the view reads it.
    let suggest = StoredValue::new(None::<Suggest>);
    let offer = move |offer: Option<Suggest>| {
        match &offer {
            Some(offer) => {
                browser::show_options(OPTIONS_ID, MESSAGE_ID, &offer.names, offer.active)
            }
            None => browser::show_options(OPTIONS_ID, MESSAGE_ID, &[], 0),
        }
        suggest.set_value(offer);
    };
    let pick = move |index: usize| {
        let Some(offered) = suggest.get_value() else {
            return;
        };
        let Some(picked) = offered.names.get(index) else {
            return;
        };
        let text = draft.get_untracked();
        let (head, tail) = (
            &text[..offered.at],
            text.get(offered.end..).unwrap_or_default(),
        );
        let inserted = format!("{head}@{picked} ");
        draft.set(format!("{inserted}{tail}"));
        offer(None);
        browser::set_caret(MESSAGE_ID, inserted.encode_utf16().count());
    };
    let on_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        let names = recent_names(chat, &name.get_untracked());
        offer(browser::caret(MESSAGE_ID).and_then(|caret| offer_names(&text, caret, &names)));
        draft.set(text);
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if let Some(offered) = suggest.get_value() {
            let count = offered.names.len();
            let moved = match ev.key().as_str() {
                "ArrowDown" => Some((offered.active + 1) % count),
                "ArrowUp" => Some((offered.active + count - 1) % count),
                _ => None,
            };
            match ev.key().as_str() {
                _ if moved.is_some() => {
                    ev.prevent_default();
                    offer(moved.map(|active| Suggest { active, ..offered }));
                    return;
                }
                "Enter" | "Tab" if !ev.is_composing() => {
                    ev.prevent_default();
                    pick(offered.active);
                    return;
                }
                "Escape" => {
                    ev.prevent_default();
                    offer(None);
                    return;
                }
                _ => {}
            }
        }
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            submit();
        }
    };
    view! {
        <form class="composer" on:submit=on_submit>
            <details class="identity">
                <summary>
                    "You: "
                    {move || chat.me.get().unwrap_or_else(|| "known after your first message".into())}
                </summary>
                <p>
                    "Your messages carry the fingerprint of this browser's secret key: nobody \
                     else can post as you or change them. Anyone who opens this link writes as \
                     you: "
                    <a href=move || {
                        chat.me
                            .get()
                            .map_or_else(String::new, |me| format!("/#key={}&me={me}", chat.key()))
                    }>"Use on another device"</a>
                </p>
            </details>
            <p class="error" role="alert">{error}</p>
            <div class="name-row">
                <label for="chat-name">"Name"</label>
                <input
                    id="chat-name"
                    type="text"
                    autocomplete="nickname"
                    prop:value=move || name.get()
                    on:input=move |ev| {
                        let typed = event_target_value(&ev);
                        // Remembered as typed: the next visit starts with it.
                        browser::save(super::chat::NAME_KEY, typed.trim());
                        name.set(typed);
                    }
                />
            </div>
            <div class="message-row">
                <label for="chat-message" class="visually-hidden">"Message"</label>
                <p id=HINT_ID class="visually-hidden">"Enter sends, Shift+Enter starts a new line"</p>
                <ul
                    id=OPTIONS_ID
                    class="mention-list"
                    role="listbox"
                    aria-label="Mention someone"
                    hidden=true
                    on:mousedown=move |ev| {
                        // Picked with the pointer: the message box keeps the focus.
                        ev.prevent_default();
                        if let Some(index) = browser::data_of(&ev, "data-index") {
                            pick(index.parse().unwrap_or(usize::MAX));
                        }
                    }
                ></ul>
                <textarea
                    id=MESSAGE_ID
                    rows="2"
                    placeholder="Write a message…"
                    title="Enter sends, Shift+Enter starts a new line"
                    aria-describedby=HINT_ID
                    aria-autocomplete="list"
                    aria-controls=OPTIONS_ID
                    prop:value=move || draft.get()
                    on:input=on_input
                    on:blur=move |_| offer(None)
                    on:keydown=on_keydown
                ></textarea>
                // Until the page is hydrated, a click would submit the form the old way and reload
                // the page, losing the text.
                <button type="submit" disabled=move || !chat.hydrated.get()>
                    "Send"
                </button>
            </div>
        </form>
    }
}
