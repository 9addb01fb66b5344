//! The form at the bottom of the page: who you are (`You: <fingerprint>`), the "Name" field,
//! the "Message" box and "Send".
//!
//! Enter sends and Shift+Enter starts a new line. Sending hands the message to the outbox,
//! which shows it in the log at once and sends it, offline or not: the box is free for the next
//! one straight away. A refusal shows in the message's line, and its reason in the element with
//! role "alert" here. `@` and the start of a name offers the names seen recently in the room
//! (arrow keys, Enter or Tab, Escape); the list's code loads the first time `@` is typed.
//! After `Reply` on a message, `Replying to <name>` and its text show above the box, with
//! `Cancel reply` (or Escape), and the box has the focus.
//!
//! `Attach files` (a real file input, several files at once), an image pasted into the box, or
//! files dropped on the page add files to the next message: each shows as a chip with its name
//! and size, `Uploading <name>` while it uploads, `Remove <name>`, and `Upload failed` with
//! `Retry` if it failed. A message sent while they upload goes once they are stored.

use leptos::either::Either;
use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;

use super::identity::Identity;
use super::lazy::{Lazy, lazy_view};
use crate::app::model::files::{Upload, UploadState, human_size};
use crate::app::model::mentions::{Suggest, offer, recent_names};
use crate::app::platform;
use crate::app::state::{ChatState, Unsent, use_chat};

/// The keyboard hint, read out with the message box.
const HINT_ID: &str = "chat-message-hint";
/// The message box (a name card's `Message <name>` puts the focus there).
pub(super) const MESSAGE_ID: &str = "chat-message";
/// The names `@` offers.
const OPTIONS_ID: &str = "mention-list";
/// What the next message answers, read out with the message box.
const REPLYING_ID: &str = "chat-replying";

#[component]
pub fn Composer() -> impl IntoView {
    let chat = use_chat();
    let draft = RwSignal::new(String::new());
    // A refusal found before sending (no name); the server's come from the outbox.
    let local_error = RwSignal::new(None::<&'static str>);
    // The names offered for the `@` before the caret, and whether their code is wanted yet.
    let suggest = RwSignal::new(None::<Suggest>);
    let mentioning = RwSignal::new(false);
    let typed = RwSignal::new(0u32);

    let error = move || {
        local_error
            .get()
            .map(str::to_owned)
            .or_else(|| chat.outbox.with(|queue| queue.refusal.clone()))
    };
    let submit = move || {
        // One message waits for its files at a time: the next waits in the box.
        if chat.held.with_untracked(Option::is_some) {
            return;
        }
        match chat.send(draft.get_untracked()) {
            Ok(()) | Err(Unsent::Held) => {
                local_error.set(None);
                suggest.set(None);
                draft.set(String::new());
            }
            Err(Unsent::NoName) => local_error.set(Some("Enter your name before sending.")),
            Err(Unsent::UploadFailed) => local_error.set(Some(
                "A file could not be uploaded: retry it or remove it before sending.",
            )),
            Err(Unsent::Blank) => {}
        }
    };
    // An image (or any file) pasted into the box is attached, not pasted as text.
    let on_paste = move |ev: leptos::ev::ClipboardEvent| {
        let files = platform::files_of_paste(&ev);
        if !files.is_empty() {
            ev.prevent_default();
            chat.attach(files);
        }
    };
    let pick = Callback::new(move |index: usize| {
        let picked = suggest.with_untracked(|offered| {
            offered
                .as_ref()
                .and_then(|offered| draft.with_untracked(|text| offered.pick(text, index)))
        });
        suggest.set(None);
        if let Some((text, caret)) = picked {
            draft.set(text);
            platform::set_caret(MESSAGE_ID, caret);
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit();
    };
    let on_input = move |ev: leptos::ev::Event| {
        let text = event_target_value(&ev);
        if text.contains('@') {
            mentioning.set(true);
        }
        draft.set(text);
        typed.update(|count| *count = count.wrapping_add(1));
    };
    // `Reply` puts the focus here, to write the answer.
    let area = NodeRef::<leptos::html::Textarea>::new();
    Effect::new(move |_| {
        if chat.replying.with(Option::is_some)
            && let Some(area) = area.get_untracked()
        {
            let _ = area.focus();
        }
    });
    let on_keydown = move |ev: KeyboardEvent| {
        let composing = ev.is_composing();
        if let Some(offered) = suggest.get_untracked() {
            match ev.key().as_str() {
                "ArrowDown" => suggest.set(Some(offered.moved(1))),
                "ArrowUp" => suggest.set(Some(offered.moved(-1))),
                "Enter" | "Tab" if !composing => pick.run(offered.active),
                "Escape" => suggest.set(None),
                _ => return,
            }
            ev.prevent_default();
            return;
        }
        if ev.key() == "Enter" && !ev.shift_key() && !composing {
            ev.prevent_default();
            submit();
        } else if ev.key() == "Escape" && chat.replying.with_untracked(Option::is_some) {
            ev.prevent_default();
            chat.cancel_reply();
        }
    };
    let active = move || {
        suggest.with(|offered| {
            offered
                .as_ref()
                .map(|offered| format!("mention-{}", offered.active))
        })
    };
    view! {
        <form class="composer" on:submit=on_submit>
            <Identity/>
            <p class="error" role="alert">{error}</p>
            <div class="name-row">
                <label for="chat-name">"Name"</label>
                <input
                    id="chat-name"
                    type="text"
                    autocomplete="nickname"
                    // Until the page is hydrated, what is typed here would be lost: hydration
                    // sets both fields to the page's state, and Enter has no handler yet.
                    disabled=move || !chat.hydrated.get()
                    prop:value=move || chat.name.get()
                    on:input=move |ev| chat.set_name(event_target_value(&ev))
                />
            </div>
            {move || {
                chat.replying.get().map(|quote| {
                    view! {
                        <div class="replying">
                            <p id=REPLYING_ID>
                                <span class="replying-to">"Replying to " {quote.sender}</span>
                                <span class="quote-text">{quote.message}</span>
                            </p>
                            // The button goes with the bar: the focus goes back to the box.
                            <button
                                type="button"
                                on:click=move |_| {
                                    chat.cancel_reply();
                                    if let Some(area) = area.get_untracked() {
                                        let _ = area.focus();
                                    }
                                }
                            >
                                "Cancel reply"
                            </button>
                        </div>
                    }
                })
            }}
            // The chips' code loads with the first file added (a first paint has none).
            {move || {
                (chat.uploads.with(|uploads| !uploads.is_empty()) || chat.held.with(Option::is_some))
                    .then(|| view! { <Lazy load=upload_chips what="files to send"/> })
            }}
            <div class="message-row">
                <label class="attach" title="Attach files">
                    // The input itself, visually hidden: the label is what shows, and the
                    // input keeps the keyboard and the accessible name.
                    <input
                        type="file"
                        multiple
                        class="visually-hidden"
                        disabled=move || !chat.hydrated.get()
                        on:change=move |ev| chat.attach(platform::files_of_input(&ev))
                    />
                    <span aria-hidden="true">"+"</span>
                    <span class="visually-hidden">"Attach files"</span>
                </label>
                <label for=MESSAGE_ID class="visually-hidden">"Message"</label>
                <p id=HINT_ID class="visually-hidden">"Enter sends, Shift+Enter starts a new line"</p>
                {move || {
                    mentioning
                        .get()
                        .then(|| {
                            view! {
                                <Lazy load=move || mention_list(Typing { draft, typed, suggest, pick }) what="name suggestions"/>
                            }
                        })
                }}
                <textarea
                    node_ref=area
                    id=MESSAGE_ID
                    rows="2"
                    placeholder="Write a message…"
                    title="Enter sends, Shift+Enter starts a new line"
                    aria-describedby=move || {
                        if chat.replying.with(Option::is_some) {
                            format!("{REPLYING_ID} {HINT_ID}")
                        } else {
                            HINT_ID.to_owned()
                        }
                    }
                    aria-autocomplete="list"
                    aria-controls=move || suggest.with(Option::is_some).then_some(OPTIONS_ID)
                    aria-activedescendant=active
                    disabled=move || !chat.hydrated.get()
                    prop:value=move || draft.get()
                    on:input=on_input
                    on:blur=move |_| suggest.set(None)
                    on:keydown=on_keydown
                    on:paste=on_paste
                ></textarea>
                // Until the page is hydrated, a click would submit the form the old way and reload
                // the page, losing the text.
                <button
                    type="submit"
                    disabled=move || !chat.hydrated.get() || chat.held.with(Option::is_some)
                >
                    "Send"
                </button>
            </div>
        </form>
    }
}

/// What the names offered after an `@` follow: the draft, a count of what was typed into it
/// (offers follow typing, not the draft's other changes), the offer, and what picks a name.
#[derive(Clone, Copy)]
struct Typing {
    draft: RwSignal<String>,
    typed: RwSignal<u32>,
    suggest: RwSignal<Option<Suggest>>,
    pick: Callback<usize>,
}

lazy_view! {
    /// The names offered after an `@`: computed as the reader types (the caret tells where),
    /// shown as a listbox over the message box, picked with the pointer or (by the composer)
    /// the keyboard.
    fn mention_list(typing: Typing) -> AnyView {
        let chat = use_chat();
        let Typing { draft, typed, suggest, pick } = typing;
        Effect::new(move |_| {
            typed.track();
            let offered = draft.with_untracked(|text| {
                let me = chat.name.get_untracked();
                let names = chat.messages.with_untracked(|kept| {
                    recent_names(kept.iter().map(|m| m.sender.as_str()), &me)
                });
                platform::caret(MESSAGE_ID).and_then(|caret| offer(text, caret, &names))
            });
            suggest.set(offered);
        });
        let names = move || {
            suggest.with(|offered| {
                offered
                    .as_ref()
                    .map(|offered| (offered.names.clone(), offered.active))
                    .unwrap_or_default()
            })
        };
        view! {
            <ul
                id=OPTIONS_ID
                class="mention-list"
                role="listbox"
                aria-label="Mention someone"
                hidden=move || suggest.with(Option::is_none)
                // Picked with the pointer: the message box keeps the focus.
                on:mousedown=|ev| ev.prevent_default()
            >
                {move || {
                    let (names, active) = names();
                    names
                        .into_iter()
                        .enumerate()
                        .map(|(index, name)| {
                            view! {
                                <li
                                    role="option"
                                    id=format!("mention-{index}")
                                    aria-selected=if index == active { "true" } else { "false" }
                                    on:click=move |_| pick.run(index)
                                >
                                    {name}
                                </li>
                            }
                        })
                        .collect_view()
                }}
            </ul>
        }
        .into_any()
    }
}

lazy_view! {
    /// The files the next message carries, as chips above the box; and, while a message waits
    /// for them, a line that says so.
    fn upload_chips() -> AnyView {
        let chat = use_chat();
        let held = move || {
            chat.held.with(Option::is_some).then(|| {
                view! {
                    <p class="held" role="status">
                        "Your message will be sent when its files are uploaded."
                    </p>
                }
            })
        };
        view! {
            {held}
            <ul class="uploads" aria-label="Files to send">
                <For
                    each=move || chat.uploads.get()
                    // Made again when its state changes: a chip shows one state's controls.
                    key=|upload: &Upload| (upload.local, std::mem::discriminant(&upload.state))
                    let:upload
                >
                    {chip(chat, upload)}
                </For>
            </ul>
        }
        .into_any()
    }
}

/// One file to send: its name and size, `Uploading <name>` while it uploads, `Upload failed`
/// with its reason and `Retry` if it failed, and `Remove <name>`.
fn chip(chat: ChatState, upload: Upload) -> impl IntoView {
    let Upload {
        local,
        name,
        size,
        state,
    } = upload;
    let progress = matches!(state, UploadState::Uploading).then(|| {
        view! { <progress aria-label=format!("Uploading {name}")></progress> }
    });
    let failed = match state {
        UploadState::Failed(reason) => Some(Either::Left(view! {
            <span class="upload-failed">"Upload failed"</span>
            <span class="upload-reason">{reason}</span>
            <button type="button" on:click=move |_| chat.retry_upload(local)>"Retry"</button>
        })),
        UploadState::Refused(reason) => Some(Either::Right(view! {
            <span class="upload-failed">"Not sent"</span>
            <span class="upload-reason">{reason}</span>
        })),
        _ => None,
    };
    view! {
        <li class="upload">
            <span class="upload-name">{name.clone()}</span>
            <span class="size">{human_size(size)}</span>
            {progress}
            {failed}
            <button
                type="button"
                class="remove"
                aria-label=format!("Remove {name}")
                title=format!("Remove {name}")
                on:click=move |_| chat.remove_upload(local)
            >
                "×"
            </button>
        </li>
    }
}
