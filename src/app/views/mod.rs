//! The views: components that read the state (`state::use_chat`) and call its commands; none
//! changes a signal itself, and none touches the DOM but through Leptos.
//!
//! - [`Chat`]: the page: the rooms beside the conversation, the header, the status line.
//! - `rooms`: the navigation; `log` and `row`: the conversation and its lines; `composer` and
//!   `identity`: writing, and who you are; `search`, `notify`, `admin`: the parts that load on
//!   first use (`lazy`); `status`: how the page stands with the server.

mod admin;
mod composer;
mod identity;
pub(crate) mod lazy;
mod log;
mod notify;
mod rooms;
mod row;
mod search;
mod status;

use leptos::prelude::*;

use super::model::page::PageState;
use super::platform;
use super::state::ChatState;
use admin::Admin;
use composer::Composer;
use identity::KeyOffer;
use log::MessageList;
use notify::NotifyControls;
use rooms::{DirectNote, RoomList};
use search::Search;
use status::StatusLine;

#[component]
pub fn Chat(page: PageState) -> impl IntoView {
    let chat = ChatState::new(page);
    provide_context(chat);
    // Effects run only in the browser, once the page is hydrated: start everything there.
    Effect::new(move |_| untrack(|| chat.start()));
    // The tab's title and icon say what is unread.
    Effect::new(move |_| {
        let total = chat.unread();
        let room = chat.room_label(&chat.room.get());
        platform::set_favicon(total > 0);
        platform::set_title(&if total > 0 {
            format!("({total}) {room} · Chat")
        } else {
            format!("{room} · Chat")
        });
    });
    // Leaving while files upload, or while a message waits for them, asks first.
    Effect::new(move |_| platform::warn_on_leave(chat.unsent_files()));
    let menu_open = RwSignal::new(false);
    // Files are being dragged over the conversation.
    let dropping = RwSignal::new(false);
    let total = move || chat.unread();
    view! {
        <div class="layout">
            <nav id="rooms" class="rooms" class:open=move || menu_open.get() aria-label="Rooms">
                <RoomList open=menu_open/>
                <NotifyControls/>
            </nav>
            <main
                class="chat"
                on:dragenter=move |ev: leptos::ev::DragEvent| {
                    if platform::drags_files(&ev) {
                        ev.prevent_default();
                        dropping.set(true);
                    }
                }
            >
                // Over the conversation while files are dragged over it: what they will do.
                <div
                    class="drop-zone"
                    hidden=move || !dropping.get()
                    on:dragover=move |ev: leptos::ev::DragEvent| ev.prevent_default()
                    on:dragleave=move |_| dropping.set(false)
                    on:drop=move |ev: leptos::ev::DragEvent| {
                        ev.prevent_default();
                        dropping.set(false);
                        chat.attach(platform::files_of_drop(&ev));
                    }
                >
                    <p>"Drop files to attach"</p>
                </div>
                <header class="chat-header">
                    <button
                        type="button"
                        class="rooms-toggle"
                        aria-controls="rooms"
                        aria-expanded=move || menu_open.get().to_string()
                        on:click=move |_| menu_open.update(|open| *open = !*open)
                    >
                        "Rooms"
                        // The links behind it say which rooms; the title says how many.
                        <span class="badge" aria-hidden="true" hidden=move || total() == 0>
                            {total}
                        </span>
                    </button>
                    <div class="title">
                        <h1>{move || chat.room_label(&chat.room.get())}</h1>
                        <DirectNote/>
                    </div>
                    <Search/>
                </header>
                <StatusLine/>
                {chat.settings.admin_view.then(|| view! { <Admin/> })}
                <MessageList/>
                <Composer/>
            </main>
        </div>
        <KeyOffer/>
    }
}
