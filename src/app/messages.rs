//! The conversation: the room's messages, oldest at the top, inside the scrolling element with
//! role "log" (on a wrapper, so the list keeps its list semantics; focusable, so a keyboard
//! can scroll it).
//!
//! It reads like chats people know: a heading for each day (`Today`, `Yesterday`, then dates
//! in the reader's locale and time zone), consecutive messages by one sender within five
//! minutes grouped under one name and time (each item still holds its sender and time for
//! screen readers), a `New messages` separator before the first unread one, and each time a
//! permalink. The server renders days in UTC; the hydrated page switches to local time.
//!
//! At the top, `Load older messages` (a link to the older page, which the page intercepts and
//! loads in place, also when the reader scrolls to the top) or `Beginning of #room`. Loading
//! older messages keeps what the reader was looking at where it was. The list follows new
//! messages while the reader is at the bottom; once they scroll up to read, new messages do not
//! move them, and a "New messages" button appears instead.
//!
//! An update re-renders only what changed: the list is keyed by each row's id and what its
//! look depends on (its day heading, grouping, separator), and a row reads the reader's name
//! through a memo of its trimmed form.

use leptos::html::Div;
use leptos::prelude::*;

use super::browser;
use super::chat::{Chat, in_place};
use super::links::{self, Piece};
use super::mentions::mentions;
use crate::protocol::ChatMessage;
use leptos::either::Either;

/// How close to the bottom, in pixels, still counts as "at the bottom".
const BOTTOM_SLACK: i32 = 24;
/// How close to the top, in pixels, loads older messages.
const TOP_SLACK: i32 = 200;
/// The list of the outbox's messages, after the synced ones.
const OUTBOX_ID: &str = "outbox-list";
/// Messages by one sender this close together, in seconds, are grouped.
const GROUP_SECS: i64 = 300;

/// Seconds since the Unix epoch of an RFC 3339 UTC time (`2026-01-01T12:30:00.123Z`).
pub fn epoch_secs(rfc3339: &str) -> Option<i64> {
    let number =
        |range: std::ops::Range<usize>| -> Option<i64> { rfc3339.get(range)?.parse().ok() };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // Days from the civil date (Howard Hinnant's algorithm).
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// How one message looks in the list, besides the message itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: u64,
    /// The day heading before it: the first message of a day.
    pub day: Option<String>,
    /// Under the previous message's name and time.
    pub grouped: bool,
    /// The first unread message: `New messages` before it.
    pub marker: bool,
    /// Whether its times are the reader's local ones (once hydrated), not UTC.
    pub local: bool,
    /// Sent with this browser's key: it can be edited and deleted here.
    pub mine: bool,
    /// Shown as a textbox to edit it.
    pub editing: bool,
    /// Mentions the reader (and is not theirs).
    pub mention: bool,
    /// Which day heading it has, as a number: with the id, the row's key in the list.
    heading: u64,
    /// Which edit it shows (0: never edited): an edit renders the row again.
    edited: u64,
}

impl Row {
    /// The key of the row in the keyed list: its id and everything its look depends on, so a
    /// row re-renders exactly when one of those changes, and nothing in it needs to be
    /// reactive. A number, not the row itself: hashing strings costs the WASM bundle more than
    /// this packing (ids stay far below 2^40).
    pub fn key(&self) -> u128 {
        let flags = u64::from(self.grouped)
            | u64::from(self.marker) << 1
            | u64::from(self.local) << 2
            | u64::from(self.mine) << 3
            | u64::from(self.editing) << 4
            | u64::from(self.mention) << 5;
        let low = self.id | (flags | self.heading << 6) << 40;
        u128::from(low) | u128::from(self.edited) << 64
    }
}

/// The rows of `messages`: `local` days in the reader's time zone (else UTC, as the server
/// renders), `marker` the first unread id, `me` the reader's fingerprint, `editing` the
/// message being edited, `name` the reader's name (for mentions).
pub fn rows(
    messages: &[ChatMessage],
    local: bool,
    marker: Option<u64>,
    me: Option<&str>,
    editing: Option<u64>,
    name: &str,
) -> Vec<Row> {
    let day_of = |secs: i64| {
        let offset = if local {
            browser::utc_offset_secs(secs)
        } else {
            0
        };
        (secs + offset).div_euclid(86_400)
    };
    let today = day_of((browser::now_ms() / 1000) as i64);
    let mut previous: Option<(&str, i64, i64)> = None;
    messages
        .iter()
        .map(|message| {
            let secs = epoch_secs(&message.sent_at).unwrap_or(0);
            let day = day_of(secs);
            let new_day = previous.is_none_or(|(_, _, last)| last != day);
            let marker = marker == Some(message.id);
            let grouped = !new_day
                && !marker
                && previous.is_some_and(|(sender, at, _)| {
                    sender == message.sender && secs - at < GROUP_SECS
                });
            previous = Some((&message.sender, secs, day));
            // 0: none; else the label's kind and the day.
            let heading = if new_day {
                let kind = (today - day).clamp(0, 2) as u64;
                1 | kind << 1 | (day.rem_euclid(1 << 16) as u64) << 3
            } else {
                0
            };
            // Any change of `edited_at` (microseconds) changes this: FNV-1a of its text.
            let edited = message.edited_at.as_deref().map_or(0, |at| {
                at.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                    (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
                })
            });
            Row {
                id: message.id,
                local,
                heading,
                day: new_day.then(|| match today - day {
                    0 => "Today".to_owned(),
                    1 => "Yesterday".to_owned(),
                    _ if local => browser::date_label(secs),
                    _ => message.sent_at.get(..10).unwrap_or_default().to_owned(),
                }),
                grouped,
                marker,
                mine: me.is_some() && message.author.as_deref() == me,
                mention: !(me.is_some() && message.author.as_deref() == me)
                    && mentions(&message.message, name),
                editing: editing == Some(message.id),
                edited,
            }
        })
        .collect()
}

#[component]
pub fn MessageList(chat: Chat) -> impl IntoView {
    let messages = chat.messages;
    let list = NodeRef::<Div>::new();
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(false);
    // Distance of the view from the bottom, kept while scrolling: older messages inserted above
    // put the view back at that distance, so nothing moves under the reader.
    let from_bottom = StoredValue::new(0);
    // False while rendering on the server and hydrating; then times switch to local time.
    let in_browser = RwSignal::new(false);

    let scroll_to_bottom = move || {
        if let Some(list) = list.get_untracked() {
            list.set_scroll_top(list.scroll_height());
        }
        unseen.set(false);
    };
    // Runs on every change of the messages; acts only when its first or last one changed (an
    // edit or a delete in between moves nothing).
    Effect::new(move |previous: Option<(Option<u64>, Option<u64>)>| {
        let (first, last) =
            messages.with(|kept| (kept.first().map(|m| m.id), kept.last().map(|m| m.id)));
        match previous {
            None => {
                in_browser.set(true);
                match chat.focus.get_untracked() {
                    Some(id) => {
                        at_bottom.set(false);
                        request_animation_frame(move || browser::scroll_to(&format!("m{id}")));
                    }
                    None => request_animation_frame(scroll_to_bottom),
                }
            }
            Some((was_first, was_last)) => {
                if first.is_some() && was_first.is_some() && first < was_first {
                    request_animation_frame(move || {
                        if let Some(list) = list.get_untracked() {
                            list.set_scroll_top(list.scroll_height() - from_bottom.get_value());
                        }
                    });
                } else if last != was_last {
                    if at_bottom.get_untracked() || was_last.is_none() {
                        request_animation_frame(scroll_to_bottom);
                    } else {
                        unseen.set(true);
                    }
                }
            }
        }
        (first, last)
    });
    // The outbox's lines of the room shown; one's own message goes to the bottom of the log
    // as it is sent: show it.
    Effect::new(move |before: Option<usize>| {
        let room = chat.room.get();
        let me = chat.me.get();
        let newer = chat.newer.get();
        let count = chat.outbox.read(|queue| {
            let shown: Vec<_> = queue
                .items
                .iter()
                .filter(|pending| !newer && pending.room == room)
                .collect();
            browser::fill_outbox(OUTBOX_ID, &shown, me.as_deref());
            queue.items.len()
        });
        if before.is_some_and(|before| count > before) {
            request_animation_frame(scroll_to_bottom);
        }
        count
    });
    let on_scroll = move |_| {
        if let Some(list) = list.get_untracked() {
            let top = list.scroll_top();
            from_bottom.set_value(list.scroll_height() - top);
            let bottom = top + list.client_height() + BOTTOM_SLACK >= list.scroll_height();
            at_bottom.set(bottom);
            if bottom {
                unseen.set(false);
            }
            if top < TOP_SLACK {
                chat.load_older();
            }
        }
    };
    // Computed again on each change of what rows show, and diffed by key by `For`: a memo in
    // between would compare the same rows once more, for nothing but bundle size.
    let rows = move || {
        let local = in_browser.get();
        let marker = chat.marker.get();
        let editing = chat.editing.get();
        let name = chat.name.with(|name| name.trim().to_owned());
        chat.me.with(|me| {
            messages.with(|kept| rows(kept, local, marker, me.as_deref(), editing, &name))
        })
    };
    // One handler for the buttons of every row (and the editor's keys), by their
    // `data-action`: rows then carry no handlers of their own, which keeps the bundle small.
    let on_action = move |action: &str, id: u64| chat.act(action, id);
    // Both ends are always in the page, shown or hidden: cheaper for the WASM bundle than
    // views that come and go.
    let first = move || messages.with(|kept| kept.first().map_or(0, |m| m.id));
    let last = move || messages.with(|kept| kept.last().map_or(0, |m| m.id));
    let room = move || chat.room.get();
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
                <p class="beginning" hidden=move || chat.older.get()>
                    {move || format!("Beginning of #{}", room())}
                </p>
                <ol
                    class="message-list"
                    class:admin=move || chat.admin.with(Option::is_some)
                    on:click=move |ev| {
                        if let Some((action, id)) = browser::action_of(&ev) {
                            on_action(&action, id);
                        }
                    }
                    on:keydown=move |ev| {
                        let action = match ev.key().as_str() {
                            "Enter" if !ev.shift_key() && !ev.is_composing() => "save",
                            "Escape" => "cancel",
                            _ => return,
                        };
                        // Only the editor's keys: Enter on a button is its click.
                        if let Some((field, id)) = browser::action_of(&ev)
                            && field == "edit-text"
                        {
                            ev.prevent_default();
                            on_action(action, id);
                        }
                    }
                >
                    <For
                        each=rows
                        key=Row::key
                        children=move |row| {
                            let message = messages.with_untracked(|kept| {
                                kept.binary_search_by_key(&row.id, |m| m.id).ok().map(|at| kept[at].clone())
                            });
                            message.map(|message| view! { <MessageItem message row chat/> })
                        }
                    />
                </ol>
                // Written here, not yet seen back from the server: after everything synced,
                // built by `browser::fill_outbox` (Retry and Discard handled here).
                <ol
                    id=OUTBOX_ID
                    class="message-list"
                    on:click=move |ev| {
                        if let (Some(action), Some(nonce)) =
                            (browser::data_of(&ev, "data-action"), browser::data_of(&ev, "data-nonce"))
                        {
                            if action == "retry" {
                                chat.resend(&nonce);
                            } else {
                                chat.outbox.discard(&nonce);
                            }
                        }
                    }
                ></ol>
                <p class="newer" hidden=move || !chat.newer.get()>
                    <a href=move || format!("/r/{}?after={}", room(), last())>"Newer messages"</a>
                    <a
                        href=move || format!("/r/{}", room())
                        on:click=move |ev| {
                            if in_place(&ev) {
                                chat.enter(chat.room.get_untracked(), true);
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

/// One message. Yours (by the fingerprint of your key, not by name) have `Edit message` and
/// `Delete message`; in the admin view every message can be deleted and every author banned
/// (the stylesheet shows each button where it applies; one handler on the list acts on them).
/// Nothing in a row is reactive but its permalink highlight: whatever else changes its look
/// changes its key ([`Row::key`]), and it is rendered again.
#[component]
fn MessageItem(message: ChatMessage, row: Row, chat: Chat) -> impl IntoView {
    // The server does not know the reader's time zone: it renders UTC, and the row is rendered
    // again in local time once the page is hydrated (`local` is part of its key).
    let (time, title) = if row.local {
        (
            browser::local_time(&message.sent_at),
            browser::local_date_time(&message.sent_at),
        )
    } else {
        (utc_time(&message.sent_at), message.sent_at.clone())
    };
    let id = message.id;
    let anonymous = message.author.is_none();
    let edited = message.edited_at.is_some();
    let current = move || (chat.focus.get() == Some(id)).then_some("true");
    let editor = row.editing.then(|| {
        view! {
            <div class="editor">
                <textarea id=format!("edit-{id}") aria-label="Edit message" rows="2" data-action="edit-text">
                    {message.message.clone()}
                </textarea>
                <button type="button" data-action="save">"Save"</button>
                <button type="button" data-action="cancel">"Cancel"</button>
            </div>
        }
    });
    view! {
        <li
            class="message"
            class:mine=row.mine
            class:grouped=row.grouped
            class:mention=row.mention
            data-mention=row.mention.then_some("true")
            id=format!("m{id}")
            data-id=id
            aria-current=current
        >
            {row.day.map(|day| view! { <h2 class="day">{day}</h2> })}
            {row.marker.then(|| view! { <div class="marker" role="separator" aria-label="New messages"></div> })}
            <div class="bubble">
                <div class="meta">
                    <span class="sender">{message.sender}</span>
                    // Told apart from another sender of the same name by it.
                    <span class="author" title="Fingerprint of the sender's key" hidden=anonymous>
                        {message.author}
                    </span>
                    <a class="permalink" href=format!("/r/{}/{id}", message.room)>
                        <time datetime=message.sent_at title=title>{time}</time>
                    </a>
                </div>
                <p class="text" hidden=row.editing>{rich_text(&message.message)}</p>
                {editor}
                <div class="actions">
                    {edited.then(|| view! { <span class="edited">"(edited)"</span> })}
                    <button type="button" class="edit" aria-label="Edit message" data-action="edit">
                        "Edit"
                    </button>
                    <button type="button" class="delete" aria-label="Delete message" data-action="delete">
                        "Delete"
                    </button>
                    <button type="button" class="ban" data-action="ban" hidden=anonymous>
                        "Ban author"
                    </button>
                </div>
            </div>
        </li>
    }
}

/// A message's text with its URLs as links ([`links::pieces`]): built as text nodes and `<a>`
/// elements, never from HTML, the same on the server and in the browser.
fn rich_text(text: &str) -> impl IntoView + use<> {
    links::pieces(text)
        .into_iter()
        .map(|piece| match piece {
            Piece::Text(text) => Either::Left(text.to_owned()),
            Piece::Link(url) => Either::Right(view! {
                <a href=url.to_owned() rel="noopener noreferrer nofollow ugc" target="_blank">
                    {url.to_owned()}
                </a>
            }),
        })
        .collect_view()
}

/// The time of day of an RFC 3339 UTC timestamp ("HH:MM"), which the server renders: it does
/// not know the reader's time zone, so the browser replaces it with local time once hydrated.
fn utc_time(rfc3339: &str) -> String {
    rfc3339.get(11..16).unwrap_or(rfc3339).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(id: u64, sender: &str, sent_at: &str) -> ChatMessage {
        ChatMessage {
            id,
            room: "general".into(),
            sender: sender.into(),
            message: "x".into(),
            sent_at: sent_at.into(),
            ..ChatMessage::default()
        }
    }

    #[test]
    fn epoch_seconds_of_rfc3339() {
        assert_eq!(epoch_secs("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_secs("2000-03-01T00:00:01.5Z"), Some(951_868_801));
        assert_eq!(
            epoch_secs("2026-11-29T17:12:04.632433Z"),
            Some(1_795_972_324)
        );
        assert_eq!(epoch_secs("garbage"), None);
    }

    #[test]
    fn days_and_groups() {
        let messages = [
            at(1, "ann", "2020-01-01T10:00:00Z"),
            at(2, "ann", "2020-01-01T10:04:59Z"),
            at(3, "bob", "2020-01-01T10:05:00Z"),
            at(4, "bob", "2020-01-01T10:11:00Z"),
            at(5, "bob", "2020-01-02T00:00:00Z"),
            at(6, "bob", "2020-01-02T00:01:00Z"),
        ];
        let rows = rows(&messages, false, Some(6), None, None, "");
        let days: Vec<Option<&str>> = rows.iter().map(|r| r.day.as_deref()).collect();
        assert_eq!(
            days,
            [
                Some("2020-01-01"),
                None,
                None,
                None,
                Some("2020-01-02"),
                None
            ]
        );
        let grouped: Vec<bool> = rows.iter().map(|r| r.grouped).collect();
        assert_eq!(
            grouped,
            [false, true, false, false, false, false],
            "a new day, the marker"
        );
        assert!(rows[5].marker);
    }
}
