//! The conversation: the room's lines, oldest at the top, inside the scrolling element with
//! role "log" (on a wrapper, so the list keeps its list semantics; focusable, so a keyboard
//! can scroll it).
//!
//! It reads like chats people know: a heading for each day (`Today`, `Yesterday`, then dates
//! in the reader's locale and time zone), consecutive messages by one sender within five
//! minutes grouped under one name and time, a `New messages` separator before the first unread
//! one, each time a permalink, and after the stored messages the outbox's, marked with their
//! state. The server renders days in UTC; the page switches to local time once it runs.
//!
//! At the top, `Load older messages` (a link to the older page, which the page intercepts and
//! loads in place, also when the reader scrolls to the top) or `Beginning of #room`. Loading
//! older messages keeps every line that was there and what the reader was looking at where it
//! was. The list follows new messages while the reader is at the bottom; once they scroll up to
//! read, new messages do not move them, and a "New messages" button appears instead.

use leptos::ev::MouseEvent;
use leptos::html::Div;
use leptos::prelude::*;

use super::row::Row;
use crate::app::model::rooms::is_direct;
use crate::app::platform;
use crate::app::state::use_chat;

/// How close to the bottom, in pixels, still counts as "at the bottom".
const BOTTOM_SLACK: i32 = 24;
/// How close to the top, in pixels, loads older messages.
const TOP_SLACK: i32 = 200;

/// A click the page handles itself (a plain left click), not one that opens a new tab.
pub fn in_place(ev: &MouseEvent) -> bool {
    let plain =
        ev.button() == 0 && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key());
    if plain {
        ev.prevent_default();
    }
    plain
}

#[component]
pub fn MessageList() -> impl IntoView {
    let chat = use_chat();
    let messages = chat.messages;
    let list = NodeRef::<Div>::new();
    let at_bottom = StoredValue::new(true);
    let unseen = RwSignal::new(false);
    // Distance of the view from the bottom, kept while scrolling: older messages inserted above
    // put the view back at that distance, so nothing moves under the reader.
    let from_bottom = StoredValue::new(0);

    let scroll_to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        unseen.set(false);
    };
    // Runs on every change of the lines; acts only when the first or the last one changed (an
    // edit or a delete in between moves nothing).
    Effect::new(move |previous: Option<(Option<u64>, usize)>| {
        let first = messages.with(|kept| kept.first().map(|m| m.id));
        let count = chat.lines.with(Vec::len);
        match previous {
            None => match chat.focus.get_untracked() {
                Some(id) => {
                    at_bottom.set_value(false);
                    request_animation_frame(move || platform::scroll_to(&format!("m{id}")));
                }
                None => request_animation_frame(scroll_to_bottom),
            },
            Some((was_first, was_count)) => {
                let older_above = first.is_some() && was_first.is_some() && first < was_first;
                if older_above {
                    request_animation_frame(move || {
                        if let Some(list) = list.get_untracked() {
                            list.set_scroll_top(list.scroll_height() - from_bottom.get_value());
                        }
                    });
                } else if count > was_count {
                    // A page whose messages came after it (a direct room's permalink) starts
                    // where its message is.
                    let focus = chat.focus.get_untracked().filter(|_| was_first.is_none());
                    if let Some(id) = focus {
                        at_bottom.set_value(false);
                        request_animation_frame(move || platform::scroll_to(&format!("m{id}")));
                    } else if at_bottom.get_value() || was_count == 0 {
                        request_animation_frame(scroll_to_bottom);
                    } else {
                        unseen.set(true);
                    }
                }
            }
        }
        (first, count)
    });
    // One's own message goes to the bottom of the log as it is sent: show it.
    Effect::new(move |before: Option<usize>| {
        let waiting = chat.outbox.with(|queue| queue.items.len());
        if before.is_some_and(|before| waiting > before) {
            request_animation_frame(scroll_to_bottom);
        }
        waiting
    });
    // The reply bar and the files to send above the box take room from the log: a reader at
    // the bottom stays there. (Not at first: a permalink's page starts where its message is.)
    Effect::new(move |first: Option<()>| {
        chat.replying.track();
        chat.uploads.track();
        chat.held.track();
        if first.is_some() && at_bottom.get_value() {
            request_animation_frame(scroll_to_bottom);
        }
    });
    let on_scroll = move |_| {
        if let Some(list) = list.get_untracked() {
            let top = list.scroll_top();
            from_bottom.set_value(list.scroll_height() - top);
            let bottom = top + list.client_height() + BOTTOM_SLACK >= list.scroll_height();
            at_bottom.set_value(bottom);
            if bottom {
                unseen.set(false);
            }
            if top < TOP_SLACK {
                chat.load_older();
            }
        }
    };
    let keys = move || {
        chat.lines.with(|lines| {
            lines
                .iter()
                .map(|line| line.key.clone())
                .collect::<Vec<_>>()
        })
    };
    let first = move || messages.with(|kept| kept.first().map_or(0, |m| m.id));
    let last = move || messages.with(|kept| kept.last().map_or(0, |m| m.id));
    let room = move || chat.room.get();
    let label = move || chat.room_label(&chat.room.get());
    // A direct room has no transcript pages without JavaScript: its `Newer messages` would be
    // a page the server cannot show.
    let direct = move || chat.room.with(|room| is_direct(room));
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
                <a
                    class="older"
                    hidden=move || !chat.older.get()
                    href=move || format!("/r/{}?before={}", room(), first())
                    on:click=move |ev| {
                        if in_place(&ev) {
                            chat.load_older();
                        }
                    }
                >
                    "Load older messages"
                </a>
                <p class="beginning" hidden=move || chat.older.get() || !chat.loaded.get()>
                    {move || format!("Beginning of {}", label())}
                </p>
                <p class="loading" role="status" hidden=move || chat.loaded.get()>
                    {move || format!("Loading {}…", label())}
                </p>
                <ol class="message-list" class:admin=move || chat.admin.with(Option::is_some)>
                    <For each=keys key=|key| key.clone() let:key>
                        <Row key/>
                    </For>
                </ol>
                <p class="newer" hidden=move || !chat.newer.get()>
                    <a href=move || format!("/r/{}?after={}", room(), last()) hidden=direct>
                        "Newer messages"
                    </a>
                    <a
                        href=move || format!("/r/{}", room())
                        on:click=move |ev| {
                            if in_place(&ev) {
                                chat.jump_to_newest();
                            }
                        }
                    >
                        "Jump to newest"
                    </a>
                </p>
            </div>
            <button
                type="button"
                class="new-messages"
                hidden=move || !unseen.get()
                on:click=move |_| scroll_to_bottom()
            >
                "New messages ↓"
            </button>
        </div>
    }
}
