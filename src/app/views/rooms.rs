//! The navigation `Rooms`: a link per room, with what is unread in it (`#dev 3 unread, 1
//! mention`, the badge shows the number), the room shown marked as the current page. A click
//! moves to the room in place; a click that asks for a new tab gets one.

use leptos::prelude::*;

use super::log::in_place;
use crate::app::state::use_chat;

#[component]
pub fn RoomList(
    /// Whether the list is open over the conversation (on a phone).
    open: RwSignal<bool>,
) -> impl IntoView {
    let chat = use_chat();
    let names: Vec<String> = chat
        .rooms
        .with_untracked(|rooms| rooms.iter().map(|room| room.name.clone()).collect());
    let links = names
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            let counts = move || {
                chat.rooms.with(|rooms| {
                    rooms
                        .get(index)
                        .map_or((0, 0), |room| (room.unread, room.mentions))
                })
            };
            let current = {
                let name = name.clone();
                move || chat.room.with(|room| *room == name).then_some("page")
            };
            let href = format!("/r/{name}");
            let label = format!("#{name}");
            let go = move |ev| {
                if in_place(&ev) {
                    open.set(false);
                    chat.enter(name.clone(), true);
                }
            };
            view! {
                <li>
                    <a href=href aria-current=current on:click=go>
                        {label}
                        // The count is read out as words; the badge shows it as a number.
                        <span class="badge" aria-hidden="true" hidden=move || counts().0 == 0>
                            {move || counts().0}
                        </span>
                        <span class="mention-badge" aria-hidden="true" hidden=move || counts().1 == 0>
                            "@"
                        </span>
                        <span class="visually-hidden">
                            {move || match counts() {
                                (0, _) => String::new(),
                                (n, 0) => format!(" {n} unread"),
                                (n, 1) => format!(" {n} unread, 1 mention"),
                                (n, m) => format!(" {n} unread, {m} mentions"),
                            }}
                        </span>
                    </a>
                </li>
            }
        })
        .collect_view();
    view! { <ul>{links}</ul> }
}
