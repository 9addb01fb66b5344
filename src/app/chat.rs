//! The one component that owns the conversation: the rooms and their unread counts, the room
//! shown and its messages, the poller that keeps all of them current, and moving between rooms
//! in the page (`history.pushState`, Back and Forward).
//!
//! Polling rules: one `sync` follows every room in the navigation; at most one is in flight; a
//! full reply (the server's batch limit) or a request made while one was pending is followed at
//! once by another; after a failure, retry with exponential back-off capped at 30 s and show
//! "Reconnecting…" until a sync succeeds.
//!
//! Long polling (the server's `long_poll_ms` > 0, the default): each sync asks to be held until
//! there is news (`wait_ms`), and the next one goes out as soon as the answer is in, or
//! [`NEWS_PAUSE_MS`] after an answer with news. The gloo interval timer stays as the heartbeat:
//! it restarts polling after a failure and replaces a poll that stalled. Hidden tabs keep their
//! long poll (one request per wait while nothing happens), so news reaches them at once.
//! Without long polling the interval timer polls, and ticks are skipped while the tab is hidden.
//!
//! Unread: per room, the newest id the reader has seen is kept in localStorage (`chat.seen`).
//! A first visit counts everything that exists as seen. On load the page asks `rooms` how many
//! messages are newer than what was seen; after that each synced message of a room not shown
//! (or of the room shown, while the tab is hidden) counts one, unless that reply counted it.

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{self, Timer};
use super::composer::Composer;
use super::mentions::mentions;
use super::messages::MessageList;
use super::notify::{Notifier, NotifyControls};
use super::outbox::{self, Outbox};
use super::search::Search;
use super::{PAGE_HISTORY, PageState};
use crate::protocol::{
    BanRequest, ChatMessage, ClientEnvelope, DeleteRequest, EditRequest, HistoryRequest, Kind,
    Outcome, RoomIds, RoomsRequest, ServerEnvelope, SyncRequest,
};

/// The most messages a page keeps; older ones leave the page (not the server) so a tab left
/// open for weeks does not grow without bound.
pub const MAX_KEPT: usize = 2000;
/// The longest wait between retries of a failing sync.
pub const MAX_BACKOFF_MS: u32 = 30_000;
/// Long polling: how long a page that just got news waits before it polls again, so that a busy
/// room costs each page at most about two requests a second, not one per message.
pub const NEWS_PAUSE_MS: u32 = 500;
/// A long poll with no answer this long after its wait is over is abandoned for a new one.
const STALLED_AFTER_MS: u64 = 10_000;

pub const NAME_KEY: &str = "chat.name";
const SEEN_KEY: &str = "chat.seen";
/// The browser's secret key, and the fingerprint the server showed for it.
const KEY_KEY: &str = "chat.key";
const AUTHOR_KEY: &str = "chat.author";
/// The operator's token: for this tab's session only.
pub const ADMIN_KEY: &str = "session.chat.admin";

/// Adds `incoming` to `kept`, which stays in ascending id order without duplicates. Past
/// [`MAX_KEPT`], the oldest leave (`from_top`) or, while scrolling back, the newest; returns
/// whether any left.
pub fn merge(kept: &mut Vec<ChatMessage>, incoming: Vec<ChatMessage>, from_top: bool) -> bool {
    for message in incoming {
        match kept.last() {
            // The usual case: everything new is newer than what is kept.
            Some(last) if last.id >= message.id => {
                if let Err(at) = kept.binary_search_by_key(&message.id, |m| m.id) {
                    kept.insert(at, message);
                }
            }
            _ => kept.push(message),
        }
    }
    let excess = kept.len().saturating_sub(MAX_KEPT);
    if from_top {
        kept.drain(..excess);
    } else {
        kept.truncate(MAX_KEPT);
    }
    excess > 0
}

/// Applies edit and delete events to the messages they are about, where those are kept.
pub fn apply(kept: &mut Vec<ChatMessage>, events: Vec<ChatMessage>) {
    for event in events {
        let Some(at) = event
            .target
            .and_then(|target| kept.binary_search_by_key(&target, |m| m.id).ok())
        else {
            continue;
        };
        if event.kind == Kind::Delete {
            kept.remove(at);
        } else {
            kept[at].message = event.message;
            kept[at].edited_at = event.edited_at;
        }
    }
}

/// How long to wait before retry number `failures` (1 for the first).
pub fn backoff_ms(poll_interval_ms: u64, failures: u32) -> u32 {
    let base = poll_interval_ms.clamp(100, u64::from(MAX_BACKOFF_MS));
    let factor = 1u64 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(u64::from(MAX_BACKOFF_MS)) as u32
}

/// The room a path shows, for the paths the page can show in place: `/` and `/r/<room>`.
pub fn room_of_path(path: &str) -> Option<&str> {
    match path {
        "/" => Some(crate::protocol::GENERAL),
        _ => path
            .strip_prefix("/r/")
            .filter(|room| crate::protocol::is_room_name(room)),
    }
}

/// A room of the navigation, as this page follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub name: String,
    pub unread: u64,
    /// How many of the unread messages this page received mention the reader.
    pub mentions: u64,
    /// The newest id the reader has seen.
    seen: u64,
    /// The newest id already counted in `unread`.
    counted: u64,
}

/// Everything of the chat, as copyable handles into the reactive arena owned by the `Chat`
/// component: dropped (and the timers cancelled) with it.
#[derive(Clone, Copy)]
pub(super) struct Chat {
    /// How often to poll (with long polling: the heartbeat), and the size of a full sync reply.
    poll_interval_ms: u64,
    /// How long a sync asks to be held; 0: no long polling.
    long_poll_ms: u64,
    max_sync_batch: usize,
    /// The rooms of the navigation, in the server's order.
    pub rooms: RwSignal<Vec<Room>>,
    pub room: RwSignal<String>,
    /// The room shown, oldest first: its newest messages, or a window into its past.
    pub messages: RwSignal<Vec<ChatMessage>>,
    /// Whether the room has older messages than the first shown.
    pub older: RwSignal<bool>,
    /// Whether it has newer ones than the last shown: then synced ones are not appended.
    pub newer: RwSignal<bool>,
    /// The message of a permalink.
    pub focus: RwSignal<Option<u64>>,
    /// The fingerprint of this browser's key, once the server has shown it.
    pub me: RwSignal<Option<String>>,
    /// The reader's name, as typed: messages with `@` and it mention them.
    pub name: RwSignal<String>,
    /// Set once the page is hydrated (the composer's Send works from then on).
    pub hydrated: RwSignal<bool>,
    /// The operator's token, in the admin view.
    pub admin: RwSignal<Option<String>>,
    /// The message being edited.
    pub editing: RwSignal<Option<u64>>,
    /// Desktop notifications.
    pub notifier: Notifier,
    /// The messages written here that the server has not stored yet.
    pub outbox: Outbox,
    /// The first unread message when the room was entered: "New messages" goes before it.
    pub marker: RwSignal<Option<u64>>,
    /// The newest id synced, in any room: what the next sync asks to follow.
    cursor: StoredValue<u64>,
    /// A `history` request in flight: another waits for it.
    loading: StoredValue<bool>,
    failures: RwSignal<u32>,
    in_flight: StoredValue<bool>,
    /// The number of the newest sync, and when it was sent (ms since the epoch).
    generation: StoredValue<u64>,
    started: StoredValue<u64>,
    /// A sync was asked for while one was in flight: run another as soon as it ends.
    again: StoredValue<bool>,
    /// The next sync, when one is scheduled: a retry after a failure, or the pause after news;
    /// while it is set, ticks are skipped.
    retry: StoredValue<Option<Timer>, LocalStorage>,
}

impl Chat {
    fn new(page: PageState) -> Self {
        let cursor = page.rooms.iter().map(|room| room.newest).max().unwrap_or(0);
        let rooms = page
            .rooms
            .into_iter()
            .map(|room| Room {
                name: room.name,
                unread: 0,
                mentions: 0,
                // Until the browser says otherwise (a first visit), everything counts as seen.
                seen: room.newest,
                counted: room.newest,
            })
            .collect();
        Self {
            poll_interval_ms: page.poll_interval_ms,
            long_poll_ms: page.long_poll_ms,
            max_sync_batch: page.max_sync_batch,
            rooms: RwSignal::new(rooms),
            room: RwSignal::new(page.room),
            messages: RwSignal::new(page.messages),
            older: RwSignal::new(page.older),
            newer: RwSignal::new(page.newer),
            focus: RwSignal::new(page.focus),
            me: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            hydrated: RwSignal::new(false),
            admin: RwSignal::new(None),
            editing: RwSignal::new(None),
            notifier: Notifier::new(),
            outbox: Outbox::new(),
            marker: RwSignal::new(None),
            cursor: StoredValue::new(cursor),
            loading: StoredValue::new(false),
            failures: RwSignal::new(0),
            in_flight: StoredValue::new(false),
            generation: StoredValue::new(0),
            started: StoredValue::new(0),
            again: StoredValue::new(false),
            retry: StoredValue::new_local(None),
        }
    }

    /// The newest id synced, in any room.
    pub(super) fn synced(self) -> u64 {
        self.cursor.get_value()
    }

    pub(super) fn poll_interval_ms(self) -> u64 {
        self.poll_interval_ms
    }

    fn index(self, room: &str) -> Option<usize> {
        self.rooms
            .try_with_untracked(|rooms| rooms.iter().position(|r| r.name == room))
            .flatten()
    }

    fn current(self) -> Option<usize> {
        self.room.with_untracked(|room| self.index(room))
    }

    /// Per room, the newest id seen: what is remembered, and what `rooms` is asked to count from.
    fn seen_marks(self) -> RoomIds {
        self.rooms.with_untracked(|rooms| {
            RoomIds(rooms.iter().map(|r| (r.name.clone(), r.seen)).collect())
        })
    }

    /// Marks the room shown as read up to its newest message shown, and remembers it.
    fn mark_seen(self) {
        let (Some(index), Some(newest)) = (
            self.current(),
            self.messages
                .with_untracked(|kept| kept.last().map(|m| m.id)),
        ) else {
            return;
        };
        self.rooms.update(|rooms| {
            let room = &mut rooms[index];
            room.unread = 0;
            room.mentions = 0;
            room.seen = room.seen.max(newest);
        });
        let seen = crate::protocol::json::to_json(&self.seen_marks());
        browser::save(SEEN_KEY, &seen);
    }

    /// Starts from what this browser saw before: the separator in the room shown, and the
    /// unread counts of the others, which the server counts.
    fn restore_seen(self) {
        let saved = browser::load_ids(SEEN_KEY);
        let Some(saved) = saved else {
            // A first visit: everything that exists counts as seen.
            self.mark_seen();
            return;
        };
        // A room new since the last visit starts as seen, like a first visit.
        self.rooms.update(|rooms| {
            for room in rooms.iter_mut() {
                room.seen = saved.get(&room.name).unwrap_or(room.seen);
            }
        });
        let read = self.seen_marks();
        if let Some(index) = self.current() {
            let seen = self.rooms.with_untracked(|rooms| rooms[index].seen);
            let first = self
                .messages
                .with_untracked(|kept| kept.iter().find(|m| m.id > seen).map(|m| m.id));
            self.marker.set(first);
        }
        self.mark_seen();
        spawn_local(async move {
            let ask = ClientEnvelope::Rooms(RoomsRequest { read: Some(read) });
            if let Some(ServerEnvelope::Rooms(infos)) = browser::post(&ask).await {
                let current = self.current();
                self.rooms.try_update(|rooms| {
                    for (index, room) in rooms.iter_mut().enumerate() {
                        let info = infos.iter().find(|info| info.name == room.name);
                        if let Some(info) = info.filter(|_| Some(index) != current) {
                            // What the server counted here, a sync must not count again.
                            room.counted = room.counted.max(info.newest);
                            room.unread = info.unread.unwrap_or(0);
                        }
                    }
                });
            }
        });
    }

    /// Whether `message` mentions the reader: `@` and their name, by someone else (not sent
    /// with this browser's key).
    pub fn mentions_me(self, message: &ChatMessage) -> bool {
        !self.is_mine(message)
            && self
                .name
                .with_untracked(|name| mentions(&message.message, name))
    }

    /// Whether `message` was sent with this browser's key.
    fn is_mine(self, message: &ChatMessage) -> bool {
        message.author.is_some() && self.me.with_untracked(|me| *me == message.author)
    }

    /// This browser's secret key: made once, kept in localStorage.
    pub fn key(self) -> String {
        browser::load(KEY_KEY).unwrap_or_else(|| {
            let key = browser::new_key();
            browser::save(KEY_KEY, &key);
            key
        })
    }

    /// Remembers the fingerprint the server showed for this browser's key.
    pub fn learn_author(self, author: Option<String>) {
        if let Some(author) = author {
            browser::save(AUTHOR_KEY, &author);
            self.me.set(Some(author));
        }
    }

    /// Restores who this browser is (a `#key=…&me=…` link from another device first) and the
    /// operator's token of this session.
    fn restore_identity(self) {
        let fragment = browser::take_fragment();
        let field = |name: &str| {
            fragment
                .split('&')
                .find_map(|pair| pair.strip_prefix(name))
                .map(str::to_owned)
        };
        if let Some(key) = field("key=").filter(|key| crate::protocol::check_key(key).is_ok()) {
            browser::save(KEY_KEY, &key);
            browser::save(AUTHOR_KEY, &field("me=").unwrap_or_default());
        }
        self.me.set(browser::load(AUTHOR_KEY));
        self.admin.set(browser::load(ADMIN_KEY));
    }

    /// Sends an edit, a delete or a ban: on success syncs at once, so the change shows here
    /// as on every other page (by their next poll); on refusal says why.
    pub fn change(self, envelope: ClientEnvelope) {
        spawn_local(async move {
            match browser::post(&envelope).await {
                Some(ServerEnvelope::Status(status)) if status.status == Outcome::Succeeded => {
                    self.sync_now();
                }
                Some(ServerEnvelope::Status(status)) => browser::alert(&status.message),
                _ => browser::alert("Could not reach the server. Try again."),
            }
        });
    }

    /// What a row's button (its `data-action`) asks for message `id`: start, save or cancel an
    /// edit, delete it (after a confirmation), or ban its author with all their messages.
    pub fn act(self, action: &str, id: u64) {
        let message = self.messages.with_untracked(|kept| {
            kept.binary_search_by_key(&id, |m| m.id)
                .ok()
                .map(|at| kept[at].clone())
        });
        let Some(message) = message else {
            return;
        };
        let admin = self.admin.get_untracked();
        let nonce = Some(browser::new_nonce());
        let mine = message.author.is_some() && message.author == self.me.get_untracked();
        let field = format!("edit-{id}");
        match action {
            "edit" => {
                self.editing.set(Some(id));
                request_animation_frame(move || browser::focus(&field));
            }
            "cancel" => self.editing.set(None),
            "save" => {
                let text = browser::text_of(&field);
                self.editing.set(None);
                if !text.trim().is_empty() && text != message.message {
                    self.change(ClientEnvelope::Edit(EditRequest {
                        id,
                        message: text,
                        key: Some(self.key()),
                        admin: None,
                        nonce,
                    }));
                }
            }
            "delete" if browser::confirm("Delete this message? This cannot be undone.") => {
                let (key, admin) = if mine {
                    (Some(self.key()), None)
                } else {
                    (None, admin)
                };
                self.change(ClientEnvelope::Delete(DeleteRequest {
                    id,
                    key,
                    admin,
                    nonce,
                }));
            }
            "ban" => {
                let (Some(admin), Some(author)) = (admin, message.author) else {
                    return;
                };
                if browser::confirm(&format!("Ban {author} and delete all their messages?")) {
                    self.change(ClientEnvelope::Ban(BanRequest {
                        admin,
                        author: Some(author),
                        address: None,
                        purge: true,
                    }));
                }
            }
            _ => {}
        }
    }

    /// Takes in the items a sync brought: the shown room's messages join the log, the others
    /// count; edits and deletes change the messages they are about.
    fn receive(self, batch: Vec<ChatMessage>) {
        let live = !self.newer.get_untracked();
        let hidden = browser::page_hidden();
        let current = self.room.get_untracked();
        let mut shown = Vec::new();
        let mut events = Vec::new();
        self.rooms.update(|rooms| {
            for message in batch {
                self.cursor
                    .update_value(|cursor| *cursor = (*cursor).max(message.id));
                if message.kind != Kind::Message {
                    events.push(message);
                    continue;
                }
                if self.is_mine(&message) {
                    self.outbox.arrived(&message);
                }
                let Some(room) = rooms.iter_mut().find(|r| r.name == message.room) else {
                    continue;
                };
                let here = message.room == current;
                if (!here || hidden || !live) && message.id > room.counted.max(room.seen) {
                    room.counted = message.id;
                    room.unread += 1;
                    let mentioned = self.mentions_me(&message);
                    if mentioned {
                        room.mentions += 1;
                    }
                    if !self.is_mine(&message) {
                        self.notifier.message(&message, mentioned);
                    }
                }
                if here && live {
                    shown.push(message);
                }
            }
        });
        // Messages sent from here that this batch brought leave the outbox: no line twice.
        self.outbox.settle(self.cursor.get_value());
        if !events.is_empty() {
            self.messages.update(|kept| apply(kept, events));
        }
        if !shown.is_empty() {
            self.messages.update(|kept| {
                merge(kept, shown, true);
            });
            if !hidden {
                self.mark_seen();
            }
        }
    }

    /// Shows `room` with its newest messages; `push` adds it to the session history.
    pub fn enter(self, room: String, push: bool) {
        let Some(index) = self.index(&room) else {
            return;
        };
        if push {
            browser::push_url(&format!("/r/{room}"));
        }
        let (seen, had_unread) = self
            .rooms
            .with_untracked(|rooms| (rooms[index].seen, rooms[index].unread > 0));
        self.room.set(room.clone());
        // The notification controls follow the room shown.
        self.notifier.show(&room);
        self.messages.set(Vec::new());
        self.older.set(false);
        self.newer.set(false);
        self.focus.set(None);
        self.marker.set(None);
        self.load(None, had_unread.then_some(seen));
    }

    /// Loads the page of messages older than the first shown, above them.
    pub fn load_older(self) {
        if self.loading.get_value() || !self.older.get_untracked() {
            return;
        }
        if let Some(first) = self
            .messages
            .with_untracked(|kept| kept.first().map(|m| m.id))
        {
            self.load(Some(first), None);
        }
    }

    /// Loads a page of the room shown: its newest messages, or those `before` an id. Entering a
    /// room with unread messages, `marker_after` is the newest it had seen.
    fn load(self, before: Option<u64>, marker_after: Option<u64>) {
        let room = self.room.get_untracked();
        self.loading.set_value(true);
        spawn_local(async move {
            // One more than a page: whether there are older ones.
            let ask = ClientEnvelope::History(HistoryRequest {
                room: room.clone(),
                before,
                limit: Some(PAGE_HISTORY as u32 + 1),
            });
            let reply = browser::post(&ask).await;
            if self.loading.try_set_value(false).is_some() || self.room.get_untracked() != room {
                return;
            }
            let Some(ServerEnvelope::History(mut page)) = reply else {
                // A room that cannot be shown: the server's page for it says why.
                if before.is_none() {
                    browser::reload();
                }
                return;
            };
            let older = page.len() > PAGE_HISTORY;
            if older {
                page.remove(0);
            }
            self.older.set(older);
            let mut dropped = false;
            self.messages
                .update(|kept| dropped = merge(kept, page, before.is_none()));
            if dropped {
                self.newer.set(true);
            }
            if let Some(seen) = marker_after {
                let first = self
                    .messages
                    .with_untracked(|kept| kept.iter().find(|m| m.id > seen).map(|m| m.id));
                self.marker.set(first);
            }
            if before.is_none() {
                self.mark_seen();
            }
        });
    }

    /// An interval tick, the heartbeat: skipped while backing off or with a sync in flight (but
    /// a long poll with no answer 10 s past its wait is stalled: it is abandoned for a new one),
    /// and while the tab is hidden unless the page long-polls, which keeps hidden tabs current.
    fn tick(self) {
        if self.in_flight.get_value() {
            let held = browser::now_ms().saturating_sub(self.started.get_value());
            if self.long_poll_ms > 0 && held > self.long_poll_ms + STALLED_AFTER_MS {
                self.sync();
            }
            return;
        }
        let backing_off = self.retry.try_with_value(Option::is_some).unwrap_or(true);
        // Hidden tabs poll too while notifications are on: that is how news reaches them.
        let resting =
            browser::page_hidden() && self.long_poll_ms == 0 && !self.notifier.on.get_untracked();
        if backing_off || resting {
            return;
        }
        self.sync();
    }

    /// Syncs now, or as soon as the sync in flight ends. Cancels a pending back-off or pause.
    pub(super) fn sync_now(self) {
        self.retry.try_set_value(None);
        if self.in_flight.get_value() {
            self.again.set_value(true);
        } else {
            self.sync();
        }
    }

    fn sync(self) {
        // Each sync has its number: the answer to one that was abandoned is not taken.
        let number = self.generation.get_value() + 1;
        self.generation.set_value(number);
        self.started.set_value(browser::now_ms());
        self.in_flight.set_value(true);
        self.again.set_value(false);
        let request = SyncRequest {
            last_message: self.cursor.get_value(),
            rooms: Some(
                self.rooms
                    .with_untracked(|rooms| rooms.iter().map(|r| r.name.clone()).collect()),
            ),
            wait_ms: (self.long_poll_ms > 0).then_some(self.long_poll_ms),
        };
        spawn_local(async move {
            let reply = browser::post(&ClientEnvelope::Sync(request)).await;
            // The component may be gone by now, or this sync abandoned as stalled.
            if self.generation.try_get_value() != Some(number) {
                return;
            }
            self.in_flight.set_value(false);
            match reply {
                Some(ServerEnvelope::Sync(batch)) => {
                    let full = batch.len() >= self.max_sync_batch;
                    let news = !batch.is_empty();
                    self.receive(batch);
                    if self.failures.try_get_untracked().unwrap_or(0) != 0 {
                        self.failures.try_set(0);
                    }
                    self.reachable();
                    let again = full || self.again.try_get_value().unwrap_or(false);
                    // Long polling: the next poll at once, unless this one brought news.
                    if again || (self.long_poll_ms > 0 && !news) {
                        self.sync();
                    } else if self.long_poll_ms > 0 {
                        // A busy room would otherwise cost a request per message per page.
                        self.pause(NEWS_PAUSE_MS);
                    }
                }
                _ => self.failed(),
            }
        });
    }

    /// Syncs again after `delay`; until then ticks are skipped, and `sync_now` cuts it short.
    fn pause(self, delay: u32) {
        let timer = browser::after(delay, move || {
            self.retry.try_set_value(None);
            self.sync_now();
        });
        self.retry.try_set_value(Some(timer));
    }

    fn failed(self) {
        let Some(failures) = self.failures.try_update(|n| {
            *n += 1;
            *n
        }) else {
            return;
        };
        self.pause(backoff_ms(self.poll_interval_ms, failures));
    }
}

/// The admin view (`/admin`): the operator's token, asked for once and kept for this tab's
/// session only; with it every message has `Delete message` and every fingerprint `Ban author`.
#[component]
fn AdminSignIn(chat: Chat) -> impl IntoView {
    let token = RwSignal::new(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let token = token.get_untracked();
        browser::save(ADMIN_KEY, &token);
        chat.admin.set((!token.is_empty()).then_some(token));
    };
    view! {
        <form class="admin" on:submit=submit>
            <label for="admin-token">"Admin token"</label>
            <input
                id="admin-token"
                type="password"
                autocomplete="off"
                on:input=move |ev| token.set(event_target_value(&ev))
            />
            <button type="submit">"Sign in"</button>
            <span role="status">
                {move || chat.admin.with(|admin| admin.is_some().then_some("Signed in as admin"))}
            </span>
        </form>
    }
}

/// A click the page handles itself (a plain left click), not one that opens a new tab.
pub(super) fn in_place(ev: &MouseEvent) -> bool {
    let plain =
        ev.button() == 0 && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key());
    if plain {
        ev.prevent_default();
    }
    plain
}

#[component]
pub fn Chat(page: PageState) -> impl IntoView {
    let rooms = page.rooms.clone();
    let admin_view = page.admin;
    let chat = Chat::new(page);
    let name = chat.name;
    let menu_open = RwSignal::new(false);

    // Effects run only in the browser, once the page is hydrated: start polling there.
    Effect::new(move |_| {
        if let Some(saved) = browser::load(NAME_KEY) {
            name.set(saved);
        }
        chat.restore_identity();
        chat.notifier.restore();
        chat.room.with_untracked(|room| chat.notifier.show(room));
        chat.restore_seen();
        chat.restore_outbox();
        chat.hydrated.set(true);
        let interval_ms = u32::try_from(chat.poll_interval_ms).unwrap_or(u32::MAX);
        let ticker = browser::every(interval_ms, move || chat.tick());
        let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
            if !browser::page_hidden() {
                if !chat.newer.get_untracked() {
                    chat.mark_seen();
                }
                chat.sync_now();
            }
        });
        let online = window_event_listener(leptos::ev::online, move |_| {
            chat.back_online();
            chat.sync_now();
        });
        let offline =
            window_event_listener(leptos::ev::offline, move |_| chat.outbox.went_offline());
        // Back and Forward: a room's newest page is shown in place, any other is loaded.
        let moved = window_event_listener(leptos::ev::popstate, move |_| {
            match room_of_path(&browser::location()) {
                Some(room) if chat.index(room).is_some() => chat.enter(room.to_owned(), false),
                _ => browser::reload(),
            }
        });
        // A long-polling page starts its poll at once; so does a page that arrived without
        // history (the client-only build).
        if chat.long_poll_ms > 0 || chat.cursor.get_value() == 0 {
            chat.sync_now();
        }
        // Nothing of the poller may outlive the component: stop the interval, the pending
        // retry and the listeners when it unmounts.
        let ticker = send_wrapper::SendWrapper::new(ticker);
        on_cleanup(move || {
            drop(ticker);
            chat.retry.try_set_value(None);
            visible.remove();
            online.remove();
            offline.remove();
            moved.remove();
        });
    });
    // Unread messages across rooms: the room shown counts only while the tab is hidden.
    let total = move || {
        chat.rooms
            .with(|rooms| rooms.iter().map(|r| r.unread).sum::<u64>())
    };
    Effect::new(move |_| {
        let total = total();
        let room = chat.room.get();
        browser::set_favicon(total > 0);
        browser::set_title(&if total > 0 {
            format!("({total}) #{room} · Chat")
        } else {
            format!("#{room} · Chat")
        });
    });

    let links = rooms
        .into_iter()
        .enumerate()
        .map(|(index, room)| {
            let href = format!("/r/{}", room.name);
            let label = format!("#{}", room.name);
            let current = {
                let name = room.name.clone();
                move || chat.room.with(|room| *room == name).then_some("page")
            };
            let unread = move || {
                chat.rooms
                    .with(|rooms| rooms.get(index).map_or(0, |r| r.unread))
            };
            let mentioned = move || {
                chat.rooms
                    .with(|rooms| rooms.get(index).map_or(0, |r| r.mentions))
            };
            let name = room.name;
            let go = move |ev: MouseEvent| {
                if in_place(&ev) {
                    menu_open.set(false);
                    chat.enter(name.clone(), true);
                }
            };
            view! {
                <li>
                    <a href=href aria-current=current on:click=go>
                        {label}
                        // The count is read out as words; the badge shows it as a number.
                        <span class="badge" aria-hidden="true" hidden=move || unread() == 0>
                            {unread}
                        </span>
                        <span class="mention-badge" aria-hidden="true" hidden=move || mentioned() == 0>
                            "@"
                        </span>
                        <span class="visually-hidden">
                            {move || match (unread(), mentioned()) {
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

    view! {
        <div class="layout">
            <nav id="rooms" class="rooms" class:open=move || menu_open.get() aria-label="Rooms">
                <ul>{links}</ul>
                <NotifyControls chat/>
            </nav>
            <main class="chat">
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
                    <h1>{move || format!("#{}", chat.room.get())}</h1>
                    <Search/>
                </header>
                // Always in the page, its text changing: a live region inserted together with
                // its text is often not announced.
                // One line for both: messages waiting for the network say more than syncs
                // failing, which they imply.
                <p class="reconnecting" role="status">
                    {move || {
                        if chat.outbox.read(outbox::Queue::offline) {
                            Some(outbox::OFFLINE)
                        } else {
                            (chat.failures.get() > 0).then_some("Reconnecting…")
                        }
                    }}
                </p>
                {admin_view.then(|| view! { <AdminSignIn chat/> })}
                <MessageList chat/>
                <Composer name chat/>
            </main>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            room: "general".into(),
            sender: "a".into(),
            message: format!("m{id}"),
            sent_at: "2026-01-01T00:00:00Z".into(),
            ..ChatMessage::default()
        }
    }

    fn ids(kept: &[ChatMessage]) -> Vec<u64> {
        kept.iter().map(|m| m.id).collect()
    }

    #[test]
    fn merge_keeps_id_order_without_duplicates() {
        let mut kept = vec![message(1), message(3)];
        merge(&mut kept, vec![message(3), message(4), message(5)], true);
        assert_eq!(ids(&kept), [1, 3, 4, 5]);
        merge(&mut kept, vec![message(2), message(5), message(1)], true);
        assert_eq!(ids(&kept), [1, 2, 3, 4, 5]);
        assert!(!merge(&mut kept, Vec::new(), true));
        assert_eq!(ids(&kept), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn merge_drops_the_oldest_past_the_cap_or_the_newest_when_scrolling_back() {
        let mut kept = Vec::new();
        assert!(merge(
            &mut kept,
            (1..=MAX_KEPT as u64 + 10).map(message).collect(),
            true
        ));
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept[0].id, 11);
        assert!(merge(&mut kept, (1..=10).map(message).collect(), false));
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!((kept[0].id, kept[MAX_KEPT - 1].id), (1, MAX_KEPT as u64));
    }

    #[test]
    fn backoff_doubles_and_caps_at_30_seconds() {
        let delays: Vec<u32> = (1..=7).map(|n| backoff_ms(1000, n)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff_ms(1000, 1000), 30000);
    }

    #[test]
    fn paths_shown_in_place() {
        assert_eq!(room_of_path("/"), Some("general"));
        assert_eq!(room_of_path("/r/dev"), Some("dev"));
        assert_eq!(room_of_path("/r/dev/12"), None);
        assert_eq!(room_of_path("/r/dev?before=3"), None);
        assert_eq!(room_of_path("/other"), None);
    }
}
