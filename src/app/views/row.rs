//! One line of the log, stored or still in the outbox: the same item either way (sender,
//! fingerprint, text with its links and code), with a permalink and time for a stored message, the
//! outbox's state for one on its way, and the buttons that apply (`Edit message` and
//! `Delete message` on your own, `Ban author` in the admin view, `Retry` and `Discard` on a
//! refused one).
//!
//! A row is made once per line (keyed by its id, or nonce) and reads its line through a memo.
//! When the line changes (an edit, a heading that moves as older messages load above it, a
//! refusal), Leptos updates the row's elements in place: nothing is made again, so focus and
//! scroll position stay where they are. The edit box is apart, below the bubble, and follows
//! only whether the message is being edited, so that nothing else resets what is typed in it.
//!
//! A stored message's sender (one with a key) is a button: it opens their card,
//! with the name, the fingerprint and `Message <name>`, which opens the direct room with them.

use leptos::either::{Either, EitherOf4};
use leptos::prelude::*;

use super::lazy::{Lazy, lazy_view};
use crate::app::model::files::{file_href, human_size, thumb_href, thumb_size};
use crate::app::model::log::{Body, Line, LineKey};
use crate::app::model::markup::{self, Part};
use crate::app::model::reactions;
use crate::app::platform;
use crate::app::state::{ChatState, use_chat};
use crate::protocol::{ChatMessage, FileInfo, Quote};

/// A message's text as [`markup::parts`] draws it: text nodes, `<a>` for its URLs, `<code>`
/// for inline code and a [`CodeBlock`] for each block. Never HTML from the text, and the same
/// markup on the server and in the browser.
pub fn rich_text(text: &str) -> impl IntoView + use<> {
    markup::parts(text)
        .into_iter()
        .map(|part| match part {
            Part::Text(text) => EitherOf4::A(text.to_owned()),
            Part::Link(url) => EitherOf4::B(view! {
                <a href=url.to_owned() rel="noopener noreferrer nofollow ugc" target="_blank">
                    {url.to_owned()}
                </a>
            }),
            Part::Code(code) => EitherOf4::C(view! { <code>{code.to_owned()}</code> }),
            Part::Block(code) => EitherOf4::D(view! { <CodeBlock code=code.to_owned()/> }),
        })
        .collect_view()
}

/// A code block: its lines as written, scrolling sideways rather than wrapping, and `Copy
/// code`, which puts exactly those lines on the clipboard.
#[component]
fn CodeBlock(code: String) -> impl IntoView {
    // What copying came to: nothing yet, copied, or the clipboard refused.
    let copied = RwSignal::new(None::<bool>);
    let text = code.clone();
    let copy = move |_| {
        let text = text.clone();
        leptos::task::spawn_local(async move {
            let done = platform::copy(&text).await;
            copied.try_set(Some(done));
        });
    };
    let said = move || match copied.get() {
        Some(true) => "Copied",
        Some(false) => "The browser did not allow copying.",
        None => "",
    };
    view! {
        <div class="code">
            <pre tabindex="0"><code>{code}</code></pre>
            <button type="button" class="copy" on:click=copy>"Copy code"</button>
            <span class="copied" role="status">{said}</span>
        </div>
    }
}

#[component]
pub fn Row(key: LineKey) -> impl IntoView {
    let chat = use_chat();
    let stored = match key {
        LineKey::Stored(id) => Some(id),
        LineKey::Pending(_) => None,
    };
    let line = Memo::new(move |_| chat.line(&key));
    let tools = Tools {
        reacting: RwSignal::new(false),
        opener: NodeRef::new(),
        carding: RwSignal::new(false),
        name: NodeRef::new(),
    };
    let editing =
        Memo::new(move |_| line.with(|line| line.as_ref().is_some_and(|l| l.look.editing)));
    let classes = move || {
        line.with(|line| {
            let Some(line) = line else {
                return "message".to_owned();
            };
            let mut classes = String::from("message");
            for (on, class) in [
                (line.look.mine, " mine"),
                (line.look.grouped, " grouped"),
                (line.look.mention, " mention"),
                (stored.is_none(), " pending"),
            ] {
                if on {
                    classes.push_str(class);
                }
            }
            classes
        })
    };
    let mention = move || {
        line.with(|line| line.as_ref().is_some_and(|l| l.look.mention))
            .then_some("true")
    };
    let current = move || (stored.is_some() && chat.focus.get() == stored).then_some("true");
    let editor = move || {
        let id = stored.filter(|_| editing.get())?;
        let text = line.with_untracked(|line| text_of(line.as_ref()));
        Some(view! { <Lazy load=move || editor(id, text.clone()) what="edit box"/> })
    };
    // The reaction menu, apart from the bubble as the edit box is: a change of the line (a
    // reaction arriving while it is open) leaves it, and the focus in it, as they are.
    let menu = move || {
        let id = stored.filter(|_| tools.reacting.get())?;
        let load = move || reaction_menu(id, tools.reacting, tools.opener);
        Some(view! { <Lazy load=load what="reactions"/> })
    };
    // The sender's card, apart from the bubble too.
    let card = move || {
        stored.filter(|_| tools.carding.get())?;
        let (sender, author, bot) =
            line.with_untracked(|line| match line.as_ref().map(|l| &l.body) {
                Some(Body::Stored(m)) => Some((m.sender.clone(), m.author.clone()?, m.bot)),
                _ => None,
            })?;
        let load = move || {
            name_card(
                sender.clone(),
                author.clone(),
                bot,
                tools.carding,
                tools.name,
            )
        };
        Some(view! { <Lazy load=load what="name card"/> })
    };
    view! {
        <li
            class=classes
            data-mention=mention
            id=stored.map(|id| format!("m{id}"))
            // Focusable from code only: a reply's quote moves the focus to what it quotes.
            tabindex=stored.map(|_| "-1")
            data-id=stored
            aria-current=current
        >
            {move || {
                let me = chat.me.get();
                line.get().map(|line| drawn(chat, line, me, tools))
            }}
            {card}
            {menu}
            {editor}
        </li>
    }
}

/// The text a line shows.
fn text_of(line: Option<&Line>) -> String {
    match line.map(|line| &line.body) {
        Some(Body::Stored(message)) => message.message.clone(),
        Some(Body::Pending(pending)) => pending.message.clone(),
        None => String::new(),
    }
}

/// A stored line's tools (`Add reaction`) and what they open, kept by the row: a change of the
/// line (a reaction arriving) leaves an open menu open.
#[derive(Clone, Copy)]
struct Tools {
    /// Whether the reaction menu is open.
    reacting: RwSignal<bool>,
    /// `Add reaction`, which gets the focus back when the menu closes.
    opener: NodeRef<leptos::html::Button>,
    /// Whether the sender's card is open.
    carding: RwSignal<bool>,
    /// The sender's name, which opens the card and gets the focus back when it closes.
    name: NodeRef<leptos::html::Button>,
}

/// The line as it is now: the day heading before it and the `New messages` marker, then its
/// bubble (`me`: this browser's fingerprint, shown on the outbox's lines).
fn drawn(chat: ChatState, line: Line, me: Option<String>, tools: Tools) -> impl IntoView {
    let day = line.look.day.clone();
    let marker = line.look.marker;
    view! {
        {day.map(|day| view! { <h2 class="day">{day}</h2> })}
        {marker.then(|| view! { <div class="marker" role="separator" aria-label="New messages"></div> })}
        <div class="bubble">
            {head(chat, line.clone(), me.clone(), tools)}
            {below(chat, line, me, tools)}
        </div>
    }
}

/// The sender, the fingerprint (`me`, for the outbox's), the time (a stored message's
/// permalink) or the outbox's state, the message it answers, and the text (hidden while it is
/// edited).
fn head(chat: ChatState, line: Line, me: Option<String>, tools: Tools) -> impl IntoView {
    let (sender, author, bot, text, when, quote, files) = match line.body {
        Body::Stored(message) => {
            let when = Either::Left(time_link(&message, line.look.local));
            let quote = message
                .reply_to
                .map(|quote| quoted(chat, &message.room, quote));
            let ChatMessage {
                sender,
                author,
                bot,
                message,
                files,
                ..
            } = message;
            (
                sender,
                author,
                bot,
                message,
                when,
                quote,
                files.unwrap_or_default(),
            )
        }
        Body::Pending(pending) => {
            let state = pending.shown().0;
            let when = Either::Right(view! { <span class="state">{state}</span> });
            let quote = pending
                .reply_to
                .map(|quote| quoted(chat, &pending.room, quote));
            (
                pending.sender,
                me,
                false,
                pending.message,
                when,
                quote,
                pending.files,
            )
        }
    };
    let anonymous = author.is_none();
    // A stored message's sender with a key has a card (an outbox line is this browser's own).
    let has_card = !anonymous && matches!(line.key, LineKey::Stored(_));
    // A message grouped under the one before shows no name: nothing to tab to.
    let hidden_name = line.look.grouped.then_some("-1");
    let name = if has_card {
        Either::Left(view! {
            <button
                type="button"
                class="sender"
                tabindex=hidden_name
                node_ref=tools.name
                aria-expanded=move || if tools.carding.get() { "true" } else { "false" }
                on:click=move |_| tools.carding.update(|open| *open = !*open)
            >
                {sender}
            </button>
        })
    } else {
        Either::Right(view! { <span class="sender">{sender}</span> })
    };
    view! {
        <div class="meta">
            {name}
            // Posted by a script with a bot's token, not typed by a person.
            <span class="bot-badge" hidden=!bot>"bot"</span>
            // Told apart from another sender of the same name by it.
            <span class="author" title="Fingerprint of the sender's key" hidden=anonymous>
                {author}
            </span>
            {when}
        </div>
        {quote}
        // A block, not a paragraph: a paragraph cannot hold a code block's `<pre>`.
        <div class="text" hidden=line.look.editing>{rich_text(&text)}</div>
        {attachments(files)}
    }
}

/// A message's files, under its text: images as thumbnails drawn at their size before they
/// load (nothing below moves), each opening the whole image; other files as a link to download
/// them, with their size.
fn attachments(files: Vec<FileInfo>) -> impl IntoView + use<> {
    if files.is_empty() {
        return None;
    }
    let items = files
        .into_iter()
        .map(|file| {
            let href = file_href(&file);
            if file.is_image() {
                let (width, height) = thumb_size(
                    file.width.unwrap_or_default(),
                    file.height.unwrap_or_default(),
                );
                Either::Left(view! {
                    <li class="file image">
                        <a href=href target="_blank" rel="noopener noreferrer">
                            <img
                                src=thumb_href(&file)
                                alt=file.name
                                width=width
                                height=height
                                loading="lazy"
                            />
                        </a>
                    </li>
                })
            } else {
                let size = human_size(file.size);
                Either::Right(view! {
                    <li class="file">
                        <a href=href download=file.name.clone()>{file.name.clone()}</a>
                        ", "
                        <span class="size">{size}</span>
                    </li>
                })
            }
        })
        .collect_view();
    Some(view! { <ul class="files" aria-label="Files">{items}</ul> })
}

/// The message a reply answers, above its text: a link to its permalink that scrolls to it and
/// marks it when it is on the page; once it is deleted, only a note that it was.
fn quoted(chat: ChatState, room: &str, quote: Quote) -> impl IntoView + use<> {
    if quote.deleted {
        return Either::Right(
            view! { <p class="quote deleted">"Replying to a deleted message"</p> },
        );
    }
    let id = quote.id;
    let jump = move |ev: leptos::ev::MouseEvent| {
        if chat.show_message(id) {
            ev.prevent_default();
        }
    };
    Either::Left(view! {
        <a class="quote" href=format!("/r/{room}/{id}") on:click=jump>
            <span class="visually-hidden">"In reply to "</span>
            <span class="quote-sender">{quote.sender}</span>
            <span class="visually-hidden">": "</span>
            <span class="quote-text">{quote.message}</span>
        </a>
    })
}

/// A stored message's time of day, linking to its permalink. The server does not know the
/// reader's time zone: it renders UTC, and the browser shows local time once it runs.
fn time_link(message: &ChatMessage, local: bool) -> impl IntoView + use<> {
    let sent_at = message.sent_at.clone();
    let (time, title) = if local {
        (
            platform::local_time(&sent_at),
            platform::local_date_time(&sent_at),
        )
    } else {
        (
            sent_at.get(11..16).unwrap_or(&sent_at).to_owned(),
            sent_at.clone(),
        )
    };
    view! {
        <a class="permalink" href=format!("/r/{}/{}", message.room, message.id)>
            <time datetime=sent_at title=title>{time}</time>
        </a>
    }
}

/// What follows the text: a stored message's reactions, `(edited)` and buttons (the stylesheet
/// shows each where it applies; `Add reaction` and `Reply` on hover and focus), or a refused
/// one's reason, `Retry`, `Send without quote` for a reply, and `Discard`. These stay while a retry is on its
/// way (then `Retry` is unavailable), so the one a keyboard pressed keeps the focus.
fn below(chat: ChatState, line: Line, me: Option<String>, tools: Tools) -> impl IntoView {
    match line.body {
        Body::Stored(message) => {
            let id = message.id;
            Either::Left(view! {
                {reactions(chat, &message, me.as_deref())}
                <div class="actions">
                    {message.edited_at.is_some().then(|| view! { <span class="edited">"(edited)"</span> })}
                    <span class="tools">
                        <button
                            type="button"
                            class="react"
                            node_ref=tools.opener
                            aria-label="Add reaction"
                            aria-haspopup="menu"
                            aria-expanded=move || if tools.reacting.get() { "true" } else { "false" }
                            // A press leaves the focus where it is (in the open menu): browsers
                            // that do not focus a clicked button would otherwise close the menu
                            // on the way, and the click open it again.
                            on:mousedown=|ev| ev.prevent_default()
                            on:click=move |_| {
                                let open = !tools.reacting.get_untracked();
                                tools.reacting.set(open);
                                if !open && let Some(button) = tools.opener.get_untracked() {
                                    let _ = button.focus();
                                }
                            }
                        >
                            "+☺"
                        </button>
                        <button type="button" class="reply" aria-label="Reply" on:click=move |_| chat.reply(id)>
                            "↩"
                        </button>
                    </span>
                    <button type="button" class="edit" aria-label="Edit message" on:click=move |_| chat.edit(id)>
                        "Edit"
                    </button>
                    <button type="button" class="delete" aria-label="Delete message" on:click=move |_| chat.delete(id)>
                        "Delete"
                    </button>
                    <button type="button" class="ban" hidden=message.author.is_none() on:click=move |_| chat.ban_author_of(id)>
                        "Ban author"
                    </button>
                </div>
            })
        }
        Body::Pending(pending) => {
            let reason = pending.shown().1.map(str::to_owned);
            let retrying = reason.is_none();
            let (retry, discard) = (pending.nonce.clone(), pending.nonce.clone());
            // A reply whose message is gone can still say what it says, on its own.
            let unquote = pending.orphaned().then(|| {
                let nonce = pending.nonce.clone();
                view! {
                    <button
                        type="button"
                        aria-disabled=retrying.then_some("true")
                        on:click=move |_| chat.resend_without_quote(&nonce)
                    >
                        "Send without quote"
                    </button>
                }
            });
            Either::Right(pending.refused().then(|| {
                view! {
                    {reason.map(|reason| view! { <p class="refusal">{reason}</p> })}
                    <div class="actions">
                        <button
                            type="button"
                            aria-disabled=retrying.then_some("true")
                            on:click=move |_| chat.resend(&retry)
                        >
                            "Retry"
                        </button>
                        {unquote}
                        <button type="button" on:click=move |_| chat.discard(&discard)>
                            "Discard"
                        </button>
                    </div>
                }
            }))
        }
    }
}

/// A stored message's reactions: a button each (`👍 3`), pressed when one of them is the
/// reader's (`me`), named for who reacted; pressing it toggles the reader's.
fn reactions(chat: ChatState, message: &ChatMessage, me: Option<&str>) -> impl IntoView + use<> {
    let id = message.id;
    let set = message.reactions.as_deref().unwrap_or_default();
    let buttons = set
        .iter()
        .map(|reaction| {
            let label = chat.messages.with_untracked(|kept| {
                reactions::label(reaction, me, |author| reactions::name_of(kept, author))
            });
            let pressed = if reactions::is_mine(reaction, me) {
                "true"
            } else {
                "false"
            };
            let emoji = reaction.emoji.clone();
            let shown = reaction.emoji.clone();
            let count = reaction.authors.len();
            view! {
                <button
                    type="button"
                    class="reaction"
                    aria-pressed=pressed
                    aria-label=label
                    on:click=move |_| chat.react(id, &emoji)
                >
                    <span class="emoji">{shown}</span>
                    " "
                    {count}
                </button>
            }
        })
        .collect_view();
    (!set.is_empty()).then(|| view! { <div class="reactions">{buttons}</div> })
}

/// The `focusout` handler of a popup (a sender's card, the reaction menu) opened by `opener`:
/// the focus left it, so it closes, unless the focus went to the opener, whose click closes it.
/// Also called as the popup goes, when its handles may be gone already.
fn closes_on_leaving(
    popup: NodeRef<leptos::html::Div>,
    opener: NodeRef<leptos::html::Button>,
    open: RwSignal<bool>,
) -> impl Fn(leptos::ev::FocusEvent) + Copy {
    use leptos::wasm_bindgen::JsCast;
    move |ev| {
        let to = ev.related_target();
        let node = to
            .as_ref()
            .and_then(|to| to.dyn_ref::<leptos::web_sys::Node>());
        let inside = popup
            .try_get_untracked()
            .flatten()
            .is_some_and(|popup| popup.contains(node));
        let to_opener = opener.try_get_untracked().flatten().is_some_and(|button| {
            let button: &leptos::web_sys::EventTarget = button.as_ref();
            to.as_ref() == Some(button)
        });
        if !inside && !to_opener {
            open.try_set(false);
        }
    }
}

lazy_view! {
    /// A sender's card: the name, the fingerprint of their key, and `Message <name>`, which
    /// opens the direct room with them (and puts the focus in the message box); a bot's says
    /// it is one instead (a bot reads no direct room). It has the focus as it opens; Escape
    /// closes it with the focus back on the name, and so does the focus leaving it.
    fn name_card(sender: String, author: String, bot: bool, open: RwSignal<bool>, opener: NodeRef<leptos::html::Button>) -> AnyView {
        let chat = use_chat();
        let card = NodeRef::<leptos::html::Div>::new();
        let write = NodeRef::<leptos::html::Button>::new();
        Effect::new(move |_| {
            if let Some(card) = card.get() {
                let _ = card.focus();
            }
            if let Some(button) = write.get() {
                let _ = button.focus();
            }
        });
        let keys = move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Escape" {
                ev.prevent_default();
                open.set(false);
                if let Some(button) = opener.get_untracked() {
                    let _ = button.focus();
                }
            }
        };
        let left = closes_on_leaving(card, opener, open);
        // Open until the conversation is: if it cannot be (the server unreachable), it says so.
        let failed = RwSignal::new(false);
        let go = {
            let author = author.clone();
            move |_| {
                let author = author.clone();
                failed.set(false);
                leptos::task::spawn_local(async move {
                    if chat.message_to(author).await {
                        platform::focus(super::composer::MESSAGE_ID);
                    } else {
                        failed.try_set(true);
                    }
                });
            }
        };
        let label = format!("Message {sender}");
        let named = sender.clone();
        view! {
            <div
                class="name-card"
                role="group"
                aria-label=named
                // Focusable from code: a bot's card has no button to take the focus.
                tabindex="-1"
                node_ref=card
                on:keydown=keys
                on:focusout=left
            >
                <p>
                    <span class="card-name">{sender}</span>
                    " "
                    <span class="author" title="Fingerprint of the sender's key">{author}</span>
                </p>
                {if bot {
                    Either::Left(view! { <p class="card-bot">"A bot: it posts with a token, and reads no direct messages."</p> })
                } else {
                    Either::Right(view! {
                        <button type="button" node_ref=write on:click=go hidden=move || chat.keyless.get()>
                            {label}
                        </button>
                        <p class="card-note" hidden=move || !chat.keyless.get()>
                            "This browser cannot make a key, so it cannot write to anyone alone."
                        </p>
                        <p class="card-note" role="status">
                            {move || failed.get().then_some("The server cannot be reached: try again in a moment.")}
                        </p>
                    })
                }}
            </div>
        }
        .into_any()
    }
}

lazy_view! {
    /// The emoji `Add reaction` offers, as a menu that has the focus: the arrow keys (and Home,
    /// End) move it, Enter or a click reacts, Escape closes it; each gives the focus back to
    /// the button. Tab, or a click elsewhere, closes it too.
    fn reaction_menu(id: u64, open: RwSignal<bool>, opener: NodeRef<leptos::html::Button>) -> AnyView {
        let chat = use_chat();
        let menu = NodeRef::<leptos::html::Div>::new();
        let items: [NodeRef<leptos::html::Button>; reactions::CHOICES.len()] =
            std::array::from_fn(|_| NodeRef::new());
        let active = RwSignal::new(0_usize);
        Effect::new(move |_| {
            if let Some(item) = items[active.get()].get() {
                let _ = item.focus();
            }
        });
        let close = move || {
            open.set(false);
            if let Some(button) = opener.get_untracked() {
                let _ = button.focus();
            }
        };
        let count = reactions::CHOICES.len();
        let keys = move |ev: leptos::ev::KeyboardEvent| {
            let at = active.get_untracked();
            let next = match ev.key().as_str() {
                "ArrowRight" | "ArrowDown" => (at + 1) % count,
                "ArrowLeft" | "ArrowUp" => (at + count - 1) % count,
                "Home" => 0,
                "End" => count - 1,
                "Escape" => {
                    ev.prevent_default();
                    close();
                    return;
                }
                _ => return,
            };
            ev.prevent_default();
            active.set(next);
        };
        let left = closes_on_leaving(menu, opener, open);
        let choices = reactions::CHOICES.iter().enumerate().map(|(at, emoji)| {
            view! {
                <button
                    type="button"
                    role="menuitem"
                    node_ref=items[at]
                    tabindex=move || if active.get() == at { "0" } else { "-1" }
                    on:click=move |_| {
                        chat.react(id, emoji);
                        close();
                    }
                >
                    {*emoji}
                </button>
            }
        });
        view! {
            <div
                class="reaction-menu"
                role="menu"
                aria-label="Add reaction"
                node_ref=menu
                on:keydown=keys
                on:focusout=left
            >
                {choices.collect_view()}
            </div>
        }
        .into_any()
    }
}

lazy_view! {
    /// The box that edits message `id` (from `text`): Enter or `Save` saves, Escape or `Cancel`
    /// leaves it as it was. It takes the keyboard focus when it opens.
    fn editor(id: u64, text: String) -> AnyView {
        let chat = use_chat();
        let area = NodeRef::<leptos::html::Textarea>::new();
        let draft = RwSignal::new(text);
        Effect::new(move |_| {
            if let Some(area) = area.get() {
                let _ = area.focus();
            }
        });
        let save = move || chat.save_edit(id, draft.get_untracked());
        view! {
            <div class="editor">
                <textarea
                    node_ref=area
                    aria-label="Edit message"
                    rows="2"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=move |ev| match ev.key().as_str() {
                        "Enter" if !ev.shift_key() && !ev.is_composing() => {
                            ev.prevent_default();
                            save();
                        }
                        "Escape" => {
                            ev.prevent_default();
                            chat.cancel_edit();
                        }
                        _ => {}
                    }
                ></textarea>
                <button type="button" on:click=move |_| save()>"Save"</button>
                <button type="button" on:click=move |_| chat.cancel_edit()>"Cancel"</button>
            </div>
        }
        .into_any()
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `text` rendered as the server renders it.
    fn html(text: &str) -> String {
        Owner::new().with(|| rich_text(text).to_html())
    }

    /// The elements of `html` with their attributes (name and value), failing on anything that
    /// is not a tag, a closing tag, a hydration marker or escaped text.
    fn elements(html: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut found = Vec::new();
        let mut rest = html;
        while let Some(open) = rest.find('<') {
            assert!(!rest[..open].contains('>'), "a bare > in text: {html}");
            rest = &rest[open + 1..];
            // Hydration's markers are `<!>`; a comment of any other form came from the text.
            assert!(!rest.starts_with("!--"), "a comment in {html}");
            let end = rest.find('>').expect("a tag ends");
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            if tag.starts_with('/') || tag == "!" {
                continue;
            }
            let (name, mut attributes) = tag.split_once(' ').unwrap_or((tag, ""));
            let mut pairs = Vec::new();
            while !attributes.is_empty() {
                let (attribute, value, after) = match attributes.split_once('=') {
                    Some((attribute, after)) if !attribute.contains(' ') => {
                        let after = after.strip_prefix('"').expect("values are quoted");
                        let close = after.find('"').expect("a value ends");
                        (attribute, &after[..close], after[close + 1..].trim_start())
                    }
                    _ => {
                        let (attribute, after) =
                            attributes.split_once(' ').unwrap_or((attributes, ""));
                        (attribute, "", after)
                    }
                };
                pairs.push((attribute.to_owned(), value.to_owned()));
                attributes = after;
            }
            found.push((name.to_owned(), pairs));
        }
        assert!(!rest.contains('>'), "a bare > in text: {html}");
        found
    }

    /// Every element and attribute `rich_text` may make.
    fn allowed(element: &str, attribute: &str, value: &str) -> bool {
        match (element, attribute) {
            ("a", "href") => {
                let lower = value.to_ascii_lowercase();
                lower.starts_with("http://") || lower.starts_with("https://")
            }
            ("a", "rel") => value == "noopener noreferrer nofollow ugc",
            ("a", "target") => value == "_blank",
            ("div", "class") => value == "code",
            ("pre", "tabindex") => value == "0",
            ("button", "type") => value == "button",
            ("button", "class") => value == "copy",
            ("span", "class") => value == "copied",
            ("span", "role") => value == "status",
            _ => false,
        }
    }

    fn check(text: &str) -> Result<(), TestCaseError> {
        let html = html(text);
        for (element, attributes) in elements(&html) {
            prop_assert!(
                ["a", "code", "pre", "div", "button", "span"].contains(&element.as_str()),
                "<{}> from {:?}: {}",
                element,
                text,
                html
            );
            for (attribute, value) in attributes {
                prop_assert!(
                    allowed(&element, &attribute, &value),
                    "<{} {}={:?}> from {:?}",
                    element,
                    attribute,
                    value,
                    text
                );
            }
        }
        Ok(())
    }

    /// Pieces of hostile and structured text, to be put together in any order.
    fn tricky() -> impl Strategy<Value = String> {
        let pieces = proptest::sample::select(vec![
            "`",
            "```",
            "```rust",
            "\n",
            "\r\n",
            "<script>alert(1)</script>",
            "</code>",
            "</pre>",
            "\"",
            "'",
            "&amp;",
            "https://x.org/",
            "javascript:x",
            "<b onclick=\"x\">",
            "a",
            " ",
            "@ana",
            "<!--",
            "-->",
            "]]>",
        ]);
        proptest::collection::vec(pieces, 0..24).prop_map(|pieces| pieces.concat())
    }

    #[test]
    fn a_code_block_with_a_script_in_it_is_text() {
        let html = html("```html\n<script>alert(\"x\")</script>\n```");
        assert!(
            html.contains(r#"<code>&lt;script&gt;alert("x")&lt;/script&gt;</code>"#),
            "{html}"
        );
        assert_eq!(
            elements(&html)
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>(),
            ["div", "pre", "code", "button", "span"]
        );
    }

    proptest! {
        #[test]
        fn rendering_makes_only_its_own_elements(text in prop_oneof![tricky(), any::<String>()]) {
            check(&text)?;
        }
    }
}
