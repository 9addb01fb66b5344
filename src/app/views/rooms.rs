//! The navigation `Rooms`: a link per room, with what is unread in it (`#dev 3 unread, 1
//! mention`, the badge shows the number), the room shown marked as the current page; then the
//! `Direct messages`, each named by the other's latest known name and fingerprint (`Ana ·
//! k7f3q9x2`). A click moves to the room in place; a click that asks for a new tab gets one.
//!
//! Also [`DirectNote`], the header's line that says who can read a direct room.

use leptos::prelude::*;

use super::log::in_place;
use crate::app::model::rooms::{is_direct, other_member};
use crate::app::state::use_chat;

#[component]
pub fn RoomList(
    /// Whether the list is open over the conversation (on a phone).
    open: RwSignal<bool>,
) -> impl IntoView {
    let chat = use_chat();
    // The served rooms are those the page was rendered with; direct rooms come and go.
    let served: Vec<String> = chat.rooms.with_untracked(|rooms| {
        rooms
            .iter()
            .filter(|room| !is_direct(&room.name))
            .map(|room| room.name.clone())
            .collect()
    });
    // Only this browser's key's: after a switch of key, the old key's are not listed. (The
    // names only: each link follows its own counts.)
    let direct = Memo::new(move |_| {
        chat.me.with(|me| {
            chat.rooms.with(|rooms| {
                rooms
                    .iter()
                    .filter(|room| other_member(&room.name, me.as_deref()).is_some())
                    .map(|room| room.name.clone())
                    .collect::<Vec<_>>()
            })
        })
    });
    let links = served
        .into_iter()
        .map(|name| view! { <RoomLink name open/> })
        .collect_view();
    view! {
        <ul>{links}</ul>
        <h2 class="direct-heading">"Direct messages"</h2>
        <ul class="direct" aria-label="Direct messages">
            <For each=move || direct.get() key=|name| name.clone() let:name>
                <RoomLink name open/>
            </For>
        </ul>
        <p class="direct-hint" hidden=move || direct.with(|names| !names.is_empty())>
            "Select a name in the conversation to write to that person alone."
        </p>
    }
}

/// One room of the list: its link, and what is unread in it.
#[component]
fn RoomLink(name: String, open: RwSignal<bool>) -> impl IntoView {
    let chat = use_chat();
    let counts = {
        let name = name.clone();
        Memo::new(move |_| {
            chat.rooms.with(|rooms| {
                rooms
                    .iter()
                    .find(|room| room.name == name)
                    .map_or((0, 0), |room| (room.unread, room.mentions))
            })
        })
    };
    let current = {
        let name = name.clone();
        move || chat.room.with(|room| *room == name).then_some("page")
    };
    let href = format!("/r/{name}");
    let label = {
        let name = name.clone();
        move || chat.room_label(&name)
    };
    let go = move |ev| {
        if in_place(&ev) {
            open.set(false);
            chat.enter(name.clone(), true);
        }
    };
    view! {
        <li>
            <a href=href aria-current=current on:click=go>
                <span class="room-name">{label}</span>
                // The count is read out as words; the badge shows it as a number.
                <span class="badge" aria-hidden="true" hidden=move || counts.get().0 == 0>
                    {move || counts.get().0}
                </span>
                <span class="mention-badge" aria-hidden="true" hidden=move || counts.get().1 == 0>
                    "@"
                </span>
                <span class="visually-hidden">
                    {move || match counts.get() {
                        (0, _) => String::new(),
                        (n, 0) => format!(" {n} unread"),
                        (n, 1) => format!(" {n} unread, 1 mention"),
                        (n, m) => format!(" {n} unread, {m} mentions"),
                    }}
                </span>
            </a>
        </li>
    }
}

/// Under a direct room's name: who can read it (nothing for a served room).
#[component]
pub fn DirectNote() -> impl IntoView {
    let chat = use_chat();
    let note = move || {
        let room = chat.room.get();
        is_direct(&room).then(|| {
            let me = chat.me.get();
            match other_member(&room, me.as_deref()) {
                Some(other) if Some(other) == me.as_deref() => {
                    "Notes to yourself: only you can read them."
                }
                Some(_) => "Only the two of you can read this conversation.",
                // Not known yet which one the reader is (or neither).
                None => "Only its two people can read this conversation.",
            }
        })
    };
    view! { <p class="direct-note" hidden=move || note().is_none()>{note}</p> }
}
