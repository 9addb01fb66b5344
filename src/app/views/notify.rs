//! The `Notifications` button (pressed while they are on for this browser) and, while they are
//! on, the choice for the room shown: `All`, `Mentions` or `Off`. The choice's code loads when
//! notifications are first turned on.

use leptos::prelude::*;

use super::lazy::{Lazy, lazy_view};
use crate::app::model::notify::Choice;
use crate::app::state::use_chat;

#[component]
pub fn NotifyControls() -> impl IntoView {
    let chat = use_chat();
    let on = chat.notifications.on;
    view! {
        <div class="notify">
            <button
                type="button"
                aria-pressed=move || if on.get() { "true" } else { "false" }
                on:click=move |_| chat.notifications.toggle()
            >
                "Notifications"
            </button>
            {move || on.get().then(|| view! { <Lazy load=room_choice what="notification settings"/> })}
        </div>
    }
}

lazy_view! {
    /// The room shown's choice.
    fn room_choice() -> AnyView {
        let chat = use_chat();
        let notifications = chat.notifications;
        let choice = move || chat.room.with(|room| notifications.choice(room));
        view! {
            <select
                aria-label="Notify me of"
                prop:value=move || choice().name()
                on:change=move |ev| {
                    let room = chat.room.get_untracked();
                    notifications.set_choice(&room, Choice::from_name(&event_target_value(&ev)));
                }
            >
                <option value="all" selected=move || choice() == Choice::All>"All"</option>
                <option value="mentions" selected=move || choice() == Choice::Mentions>"Mentions"</option>
                <option value="off" selected=move || choice() == Choice::Off>"Off"</option>
            </select>
        }
        .into_any()
    }
}
