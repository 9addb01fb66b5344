//! The conversation: a list of messages, oldest at the top, inside the scrolling element with
//! role "log" (on a wrapper, so the list keeps its list semantics; focusable, so a keyboard
//! can scroll it).
//!
//! The list follows new messages while the reader is at the bottom; once they scroll up to
//! read, new messages do not move them, and a "New messages" button appears instead.
//!
//! An update re-renders only what changed: the list is keyed by id and copies only ids, and a
//! row reads the reader's name through a memo of its trimmed form.

use leptos::html::Div;
use leptos::prelude::*;

use super::browser;
use crate::protocol::ChatMessage;

/// How close to the bottom, in pixels, still counts as "at the bottom".
const BOTTOM_SLACK: i32 = 24;

#[component]
pub fn MessageList(
    messages: ReadSignal<Vec<ChatMessage>>,
    /// The name of the person at this page, trimmed: their messages look distinct.
    me: Memo<String>,
) -> impl IntoView {
    let list = NodeRef::<Div>::new();
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    // False while rendering on the server and hydrating; then times switch to local time.
    let in_browser = RwSignal::new(false);

    let scroll_to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        unseen.set(false);
    };
    let newest = Memo::new(move |_| messages.with(|kept| kept.last().map(|m| m.id)));
    Effect::new(move |previous: Option<Option<u64>>| {
        let current = newest.get();
        match previous {
            None => {
                in_browser.set(true);
                request_animation_frame(scroll_to_bottom);
            }
            Some(before) if before != current => {
                if at_bottom.get_untracked() {
                    request_animation_frame(scroll_to_bottom);
                } else {
                    unseen.set(true);
                }
            }
            Some(_) => {}
        }
        current
    });
    let on_scroll = move |_| {
        if let Some(list) = list.get_untracked() {
            let bottom =
                list.scroll_top() + list.client_height() + BOTTOM_SLACK >= list.scroll_height();
            at_bottom.set(bottom);
            if bottom {
                unseen.set(false);
            }
        }
    };

    view! {
        <div class="conversation">
            <div
                class="messages"
                role="log"
                aria-label="Messages"
                tabindex="0"
                node_ref=list
                on:scroll=on_scroll
            >
                <ol class="message-list">
                    <For
                        each=move || messages.with(|kept| kept.iter().map(|m| m.id).collect::<Vec<_>>())
                        key=|id| *id
                        children=move |id| {
                            let message = messages.with_untracked(|kept| {
                                kept.binary_search_by_key(&id, |m| m.id).ok().map(|at| kept[at].clone())
                            });
                            message.map(|message| view! { <MessageItem message me in_browser/> })
                        }
                    />
                </ol>
            </div>
            <Show when=move || unseen.get()>
                <button type="button" class="new-messages" on:click=move |_| scroll_to_bottom()>
                    "New messages ↓"
                </button>
            </Show>
        </div>
    }
}

#[component]
fn MessageItem(
    message: ChatMessage,
    me: Memo<String>,
    in_browser: RwSignal<bool>,
) -> impl IntoView {
    let sender = message.sender.clone();
    let mine = move || me.with(|me| !me.is_empty() && *me == sender);
    let sent_at = message.sent_at.clone();
    let time = {
        let sent_at = sent_at.clone();
        move || {
            if in_browser.get() {
                browser::local_time(&sent_at)
            } else {
                utc_time(&sent_at)
            }
        }
    };
    let title = {
        let sent_at = sent_at.clone();
        move || {
            if in_browser.get() {
                browser::local_date_time(&sent_at)
            } else {
                sent_at.clone()
            }
        }
    };
    view! {
        <li class="message" class:mine=mine data-id=message.id>
            <div class="meta">
                <span class="sender">{message.sender}</span>
                <time datetime=sent_at title=title>{time}</time>
            </div>
            <p class="text">{message.message}</p>
        </li>
    }
}

/// The time of day of an RFC 3339 UTC timestamp ("HH:MM"), which the server renders: it does
/// not know the reader's time zone, so the browser replaces it with local time once hydrated.
fn utc_time(rfc3339: &str) -> String {
    rfc3339.get(11..16).unwrap_or(rfc3339).to_owned()
}
