//! Search: a `search` landmark with the box `Search messages`; the results (newest first, from
//! every room) in the list `Search results`, each with its room, sender and time, its text with
//! the words that matched marked (`<mark>`, built as text nodes, never HTML), and a link to its
//! permalink. The results' code loads with the first search.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use super::lazy::{Lazy, lazy_view};
use crate::app::model::search::{marks, words};
use crate::app::platform;
use crate::app::state::use_chat;
use crate::protocol::ChatMessage;

/// Where a search stands, as the panel's status line says it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    Searching,
    Results(usize),
    Failed(String),
}

#[component]
pub fn Search() -> impl IntoView {
    let query = RwSignal::new(String::new());
    // The search shown: its query and its number (the same query again searches again).
    let searched = RwSignal::new(None::<(String, u32)>);
    let found = RwSignal::new(Found::Searching);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let q = query.get_untracked();
        if words(&q).is_empty() {
            searched.set(None);
            return;
        }
        found.set(Found::Searching);
        let number = searched.with_untracked(|shown| shown.as_ref().map_or(0, |(_, n)| n + 1));
        searched.set(Some((q, number)));
    };
    let status = move || match found.get() {
        Found::Searching => "Searching…".to_owned(),
        Found::Results(0) => "No messages found".to_owned(),
        Found::Results(count) => format!("{count} found, newest first"),
        Found::Failed(why) => format!("The search failed: {why}"),
    };
    view! {
        <form role="search" class="search" on:submit=submit>
            <input
                type="search"
                aria-label="Search messages"
                placeholder="Search messages"
                maxlength="200"
                on:input=move |ev| query.set(event_target_value(&ev))
            />
        </form>
        <section class="results" aria-label="Search" hidden=move || searched.with(Option::is_none)>
            <p role="status">{move || searched.with(Option::is_some).then(status)}</p>
            {move || {
                searched
                    .get()
                    .map(|(q, _)| view! { <Lazy load=move || results(q.clone(), found) what="search"/> })
            }}
            <button type="button" on:click=move |_| searched.set(None)>"Close search"</button>
        </section>
    }
}

lazy_view! {
    /// Searches every room for `q` and lists what it found; `found` tells the panel how it went.
    fn results(q: String, found: RwSignal<Found>) -> AnyView {
        let chat = use_chat();
        let listed = RwSignal::new(Vec::<ChatMessage>::new());
        let marked = words(&q);
        leptos::task::spawn_local_scoped_with_cancellation(async move {
            match chat.search(q).await {
                Ok(messages) => {
                    found.try_set(Found::Results(messages.len()));
                    listed.try_set(messages);
                }
                Err(why) => {
                    found.try_set(Found::Failed(why));
                }
            }
        });
        let item = move |message: ChatMessage| {
            let place = format!(
                "{} · {} · {}",
                chat.room_label(&message.room),
                message.sender,
                platform::local_date_time(&message.sent_at)
            );
            let text: Vec<_> = marks(&message.message, &marked)
                .into_iter()
                .map(|(hit, piece)| {
                    let piece = piece.to_owned();
                    if hit {
                        view! { <mark>{piece}</mark> }.into_any()
                    } else {
                        piece.into_any()
                    }
                })
                .collect();
            view! {
                <li>
                    <a href=format!("/r/{}/{}", message.room, message.id)>
                        <span class="where">{place}</span>
                        <span class="found">{text}</span>
                    </a>
                </li>
            }
        };
        view! {
            <ul aria-label="Search results">
                {move || listed.get().into_iter().map(item.clone()).collect_view()}
            </ul>
        }
        .into_any()
    }
}
