//! The one state of the page ([`ChatState`]): signals that views read, and the commands that
//! change them. Views get it from the context ([`use_chat`]) and never change a signal
//! themselves; the commands use the model for the rules and the platform for the effects.
//!
//! - [`poller`]: syncing (long polls, back-off, and one tab polling for all of a browser's).
//! - [`sending`]: the outbox: queueing, sending in order, retrying.
//! - [`rooms`]: moving between rooms, loading history, what has been read.
//! - [`changes`]: edits, deletes and bans.
//! - [`identity`]: this browser's key, its fingerprint, and taking another browser's key.
//! - [`notifications`]: desktop notifications.
//! - [`search`]: finding messages by their words.
//! - [`uploads`]: the files a message will carry, uploaded as soon as they are added.

mod changes;
mod identity;
mod notifications;
mod poller;
mod rooms;
mod search;
mod sending;
mod uploads;

use leptos::prelude::*;

use super::model::files::Upload;
use super::model::log::{self, Line, LineKey, Reader};
use super::model::outbox::Queue;
use super::model::page::PageState;
use super::model::rooms::{Names, Room, is_direct, label};
use super::platform;
use crate::protocol::{ChatMessage, Quote};

pub use notifications::Notifications;
pub use sending::Unsent;
pub use uploads::Held;

/// localStorage: the reader's name, as typed.
const NAME_KEY: &str = "chat.name";
/// sessionStorage: the operator's token (this tab only).
const ADMIN_KEY: &str = "session.chat.admin";

/// How the page stands with the server, as the line under the header says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connected,
    /// Syncs fail; the next try is this many milliseconds after the last failure.
    Reconnecting(u32),
    /// The server runs another build than this page (its reply named it, or could not be
    /// read): the page offers to reload. Polling and sending stop until then; the outbox keeps
    /// what waits.
    NewVersion,
}

/// What the page was rendered with that never changes.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// How often to poll `sync`; with long polling, the heartbeat that restarts a poll that
    /// failed or stalled.
    pub poll_interval_ms: u64,
    /// How long a sync asks to be held; 0: no long polling.
    pub long_poll_ms: u64,
    /// The most items of a sync reply: a full one means "ask again".
    pub max_sync_batch: usize,
    /// The largest file an upload stores.
    pub max_file_bytes: u64,
    /// Whether this is the admin view.
    pub admin_view: bool,
}

/// The page's state: copyable handles into the reactive arena of the component that made it
/// (`Chat`), gone (and their timers and listeners with them) when it unmounts.
#[derive(Clone, Copy)]
pub struct ChatState {
    pub settings: Settings,
    /// The rooms of the navigation, in the server's order, with what is unread in each.
    pub rooms: RwSignal<Vec<Room>>,
    /// The room shown.
    pub room: RwSignal<String>,
    /// The room shown, oldest first: its newest messages, or a window into its past.
    pub messages: RwSignal<Vec<ChatMessage>>,
    /// Whether the room has messages older than the first shown.
    pub older: RwSignal<bool>,
    /// Whether it has newer ones than the last shown: then synced ones are not appended.
    pub newer: RwSignal<bool>,
    /// The message of a permalink.
    pub focus: RwSignal<Option<u64>>,
    /// The first unread message when the room was entered: `New messages` goes before it.
    pub marker: RwSignal<Option<u64>>,
    /// The fingerprint of this browser's key, once the server has shown it.
    pub me: RwSignal<Option<String>>,
    /// Whether this browser could make a key (it cannot without `crypto.getRandomValues`).
    pub keyless: RwSignal<bool>,
    /// Another browser's key, from a link, waiting for the person to keep theirs or switch.
    pub offered: RwSignal<Option<String>>,
    /// The reader's name, as typed.
    pub name: RwSignal<String>,
    /// The senders' latest names this page has seen, by fingerprint: what a direct room is
    /// called by.
    pub names: RwSignal<Names>,
    /// Set once the page runs in the browser: Send works, and times are local.
    pub hydrated: RwSignal<bool>,
    /// Whether the tab is visible.
    pub visible: RwSignal<bool>,
    /// The operator's token, in the admin view.
    pub admin: RwSignal<Option<String>>,
    /// The message being edited.
    pub editing: RwSignal<Option<u64>>,
    /// The message the next one sent answers (`Reply`), as it is quoted.
    pub replying: RwSignal<Option<Quote>>,
    /// The messages written here that the server has not stored yet.
    pub outbox: RwSignal<Queue>,
    /// The files the next message carries: uploading, uploaded or failed.
    pub uploads: RwSignal<Vec<Upload>>,
    /// A message sent while its files were still uploading: it goes once they are stored.
    pub held: RwSignal<Option<Held>>,
    picked: uploads::Picked,
    pub connection: RwSignal<Connection>,
    pub notifications: Notifications,
    /// The lines of the log, as the view draws them.
    pub lines: Memo<Vec<Line>>,
    poll: poller::Poller,
    sending: sending::Sender,
    build: StoredValue<String>,
    /// Whether the room shown has its messages (false from entering it until its history
    /// has come).
    pub loaded: RwSignal<bool>,
    /// A `history` request in flight: another waits for it.
    loading: StoredValue<bool>,
    /// The next try of a history load that failed.
    retry_history: StoredValue<Option<platform::Timer>, LocalStorage>,
}

impl ChatState {
    /// The state the page was rendered from.
    pub fn new(page: PageState) -> Self {
        let rooms: Vec<Room> = page.rooms.iter().map(Room::new).collect();
        let mut names = Names::default();
        names.learn(&page.messages);
        // A direct room's page comes without its messages: the key loads them (`start`).
        let direct = is_direct(&page.room);
        let cursor = page.rooms.iter().map(|room| room.newest).max().unwrap_or(0);
        let messages = RwSignal::new(page.messages);
        let room = RwSignal::new(page.room);
        let (marker, me, editing, name, hydrated, newer, outbox) = (
            RwSignal::new(None),
            RwSignal::new(None),
            RwSignal::new(None),
            RwSignal::new(String::new()),
            RwSignal::new(false),
            RwSignal::new(page.newer),
            RwSignal::new(Queue::default()),
        );
        let lines = Memo::new(move |_| {
            let reader = Reader {
                local: hydrated.get(),
                now_secs: (platform::now_ms() / 1000) as i64,
                marker: marker.get(),
                me: me.get(),
                editing: editing.get(),
                name: name.with(|name: &String| name.trim().to_owned()),
            };
            // Written here, not yet seen back from the server: after everything synced, and
            // only at the room's newest messages.
            let live = !newer.get();
            room.with(|room| {
                outbox.with(|queue: &Queue| {
                    let waiting: Vec<_> = queue.of_room(room).filter(|_| live).collect();
                    messages.with(|kept| log::lines(kept, &waiting, &reader))
                })
            })
        });
        Self {
            settings: Settings {
                poll_interval_ms: page.poll_interval_ms,
                long_poll_ms: page.long_poll_ms,
                max_sync_batch: page.max_sync_batch,
                max_file_bytes: page.max_file_bytes,
                admin_view: page.admin,
            },
            rooms: RwSignal::new(rooms),
            room,
            messages,
            older: RwSignal::new(page.older),
            newer,
            focus: RwSignal::new(page.focus),
            marker,
            me,
            keyless: RwSignal::new(false),
            offered: RwSignal::new(None),
            name,
            names: RwSignal::new(names),
            hydrated,
            visible: RwSignal::new(true),
            admin: RwSignal::new(None),
            editing,
            replying: RwSignal::new(None),
            outbox,
            uploads: RwSignal::new(Vec::new()),
            held: RwSignal::new(None),
            picked: uploads::Picked::new(),
            connection: RwSignal::new(Connection::Connected),
            notifications: Notifications::new(),
            lines,
            poll: poller::Poller::new(cursor),
            sending: sending::Sender::new(),
            build: StoredValue::new(page.build),
            loaded: RwSignal::new(!direct),
            loading: StoredValue::new(false),
            retry_history: StoredValue::new_local(None),
        }
    }

    /// Starts everything that runs in the browser (from an effect, once the page is
    /// hydrated): what this browser remembers, the poller, the outbox, the other tabs.
    pub fn start(self) {
        if let Some(saved) = platform::load(NAME_KEY) {
            self.name.set(saved);
        }
        self.admin.set(platform::load(ADMIN_KEY));
        self.restore_identity();
        self.notifications.restore();
        self.restore_seen();
        self.restore_outbox();
        platform::keep_stray_drops();
        if is_direct(&self.room.get_untracked()) {
            self.open_direct_page();
        }
        self.hydrated.set(true);
        self.start_polling();
    }

    /// The reader typed their name: remembered for the next visit.
    pub fn set_name(self, typed: String) {
        platform::save(NAME_KEY, typed.trim());
        self.name.set(typed);
    }

    /// The operator signs in (for this tab's session only).
    pub fn sign_in_admin(self, token: String) {
        platform::save(ADMIN_KEY, &token);
        self.admin.set((!token.is_empty()).then_some(token));
    }

    /// The line with `key`, as the log draws it.
    pub fn line(self, key: &LineKey) -> Option<Line> {
        self.lines.with(|lines| log::line(lines, key).cloned())
    }

    /// Who reads the log, now (for code that runs outside the view).
    fn reader(self) -> Reader {
        Reader {
            local: true,
            now_secs: (platform::now_ms() / 1000) as i64,
            marker: None,
            me: self.me.get_untracked(),
            editing: None,
            name: self.name.with_untracked(|name| name.trim().to_owned()),
        }
    }

    /// How the room `room` is named to the reader (`#dev`, or `Ana · k7f3q9x2` for a direct
    /// room), as the names and this browser's fingerprint are known now.
    pub fn room_label(self, room: &str) -> String {
        self.me
            .with(|me| self.names.with(|names| label(room, me.as_deref(), names)))
    }

    /// Takes in the senders' names of `messages` (a page loaded, a sync's items).
    fn learn_names(self, messages: &[ChatMessage]) {
        let changed = self
            .names
            .try_update_untracked(|names| names.learn(messages))
            .unwrap_or(false);
        if changed {
            self.names.notify();
        }
    }

    /// Unread messages across rooms.
    pub fn unread(self) -> u64 {
        self.rooms
            .with(|rooms| rooms.iter().map(|r| r.unread).sum())
    }

    /// What a reply's build says: another build than the page's means a deploy happened under
    /// it. A page that does not know its own build (the client-only build) takes the first.
    fn check_build(self, build: Option<&str>) {
        let Some(build) = build else {
            return;
        };
        let same = self
            .build
            .with_value(|known| known.is_empty() || known == build);
        if self.build.with_value(String::is_empty) {
            self.build.set_value(build.to_owned());
        }
        if !same {
            self.new_version();
        }
    }

    /// A new build is out: say so, stop polling and sending (what waits stays in the outbox,
    /// for the new version to send), and let the service worker fetch the new one.
    fn new_version(self) {
        if self.connection.get_untracked() != Connection::NewVersion {
            self.connection.set(Connection::NewVersion);
            self.stop_polling();
            platform::update_service_worker();
        }
    }
}

/// The page's state, from the context `Chat` provides.
pub fn use_chat() -> ChatState {
    expect_context::<ChatState>()
}
