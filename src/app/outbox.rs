//! The outbox: every message written goes here first, is kept in localStorage (`chat.outbox`)
//! until the server has stored it, and is sent from here, in order, one at a time.
//!
//! A message shows in the log at once, marked `Sending…`; without a network (the browser says
//! it is offline, or a request failed on the network) it stays, marked `Not sent yet`, and goes
//! by itself when the network is back: the `online` event, the next successful sync, or a retry
//! with back-off. A 429 or a 5xx is retried the same way. A refusal that retrying cannot fix
//! (any other 4xx: too long, banned, no such room) marks it `Not sent` with the server's reason
//! and offers `Retry` (with the name typed now, since the name may be what was refused) and
//! `Discard`. The status-0 reply carries the stored id: the mark goes, and the line is replaced by
//! the synced copy once a sync has brought it. Each message keeps its nonce through every retry
//! and reload, so one whose reply was lost is stored once.
//!
//! Several tabs share localStorage: each sends what it queued and what it found when it
//! opened, and writes back the others' entries untouched (minus those it sent or discarded
//! itself). Two tabs opened over one entry may both send it: the nonce stores it once.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{self, Timer};
use super::chat::{Chat, backoff_ms};
use crate::protocol::{ClientEnvelope, Outcome, PostMessage, ServerEnvelope};

const OUTBOX_KEY: &str = "chat.outbox";
/// How many nonces of sent or discarded messages a tab remembers, so as not to write another
/// tab's stale copy of them back.
const FORGET_AT_MOST: usize = 200;
/// The line at the top while messages cannot go out.
pub const OFFLINE: &str = "Offline — messages will be sent when you reconnect";

/// Where a message of the outbox is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// On its way, or about to be.
    Sending,
    /// Failed on the network (or 429, 5xx): sent again by itself.
    Waiting,
    /// Refused by the server, with its reason: waits for `Retry` or `Discard`.
    Refused(String),
    /// Stored with this id; shown until a sync brings the stored copy.
    Sent(u64),
}

/// A message written here and not yet seen back from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub nonce: String,
    pub room: String,
    pub sender: String,
    pub message: String,
    pub state: State,
}

impl Pending {
    fn unsent(&self) -> bool {
        matches!(self.state, State::Sending | State::Waiting)
    }

    /// As kept in localStorage: nonce, room, sender, text, and the refusal ("" for none).
    fn row(&self) -> Vec<String> {
        let reason = match &self.state {
            State::Refused(reason) => reason.clone(),
            _ => String::new(),
        };
        vec![
            self.nonce.clone(),
            self.room.clone(),
            self.sender.clone(),
            self.message.clone(),
            reason,
        ]
    }

    fn from_row(row: Vec<String>) -> Option<Self> {
        let [nonce, room, sender, message, reason]: [String; 5] = row.try_into().ok()?;
        Some(Self {
            nonce,
            room,
            sender,
            message,
            state: if reason.is_empty() {
                State::Sending
            } else {
                State::Refused(reason)
            },
        })
    }

    /// How the log shows it: the state beside the sender (`Sending…`, `Not sent yet`,
    /// `Not sent`, or nothing once stored) and, for a refused one, the reason.
    pub fn shown(&self) -> (&'static str, Option<&str>) {
        match &self.state {
            State::Sending => ("Sending…", None),
            State::Waiting => ("Not sent yet", None),
            State::Refused(reason) => ("Not sent", Some(reason)),
            State::Sent(_) => ("", None),
        }
    }

    /// What is kept of it: nothing once stored.
    fn kept(&self) -> bool {
        !matches!(self.state, State::Sent(_))
    }
}

/// What one send came to, by its HTTP status (0: the network failed) and reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Stored {
        id: Option<u64>,
        author: Option<String>,
    },
    /// Retrying cannot help: the server's reason.
    Refused(String),
    /// Try again later; `network`: the request failed on the network.
    Later { network: bool },
}

pub fn classify(status: u16, reply: Option<ServerEnvelope>) -> Reply {
    match reply {
        Some(ServerEnvelope::Status(done)) if done.status == Outcome::Succeeded => Reply::Stored {
            id: done.id,
            author: done.author,
        },
        Some(ServerEnvelope::Status(refused))
            if (400..500).contains(&status) && status != 408 && status != 429 =>
        {
            Reply::Refused(refused.message)
        }
        _ => Reply::Later {
            network: status == 0,
        },
    }
}

/// What to keep in localStorage: the entries of other tabs found there (not ours, not sent or
/// discarded here), then ours still to send or refused, in order.
pub fn merge_rows(
    stored: Vec<Vec<String>>,
    ours: &[Pending],
    forgotten: &[String],
) -> Vec<Vec<String>> {
    let known = |nonce: &String| {
        forgotten.contains(nonce) || ours.iter().any(|pending| pending.nonce == *nonce)
    };
    stored
        .into_iter()
        .filter(|row| row.first().is_some_and(|nonce| !known(nonce)))
        .chain(ours.iter().filter(|p| p.kept()).map(Pending::row))
        .collect()
}

/// What the outbox knows, as plain data: the logic is here, tested without a page; the `Chat`
/// glue below does the requests, the timers and the storage.
#[derive(Debug)]
pub struct Queue {
    pub items: Vec<Pending>,
    /// `navigator.onLine`, kept by the `online` and `offline` events.
    pub online: bool,
    /// The last send failed on the network.
    pub unreachable: bool,
    /// The last refusal, read out by the composer's alert until a message is stored.
    pub refusal: Option<String>,
    /// A send is on its way.
    busy: bool,
    /// Failed sends in a row: the back-off.
    failures: u32,
    /// Nonces sent or discarded here (see [`merge_rows`]).
    forgotten: Vec<String>,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            online: true,
            unreachable: false,
            refusal: None,
            busy: false,
            failures: 0,
            forgotten: Vec::new(),
        }
    }
}

impl Queue {
    /// Whether the "Offline" line shows.
    pub fn offline(&self) -> bool {
        !self.online || self.unreachable
    }

    /// The first message still to send.
    fn next(&self) -> Option<Pending> {
        self.items.iter().find(|p| p.unsent()).cloned()
    }

    fn set_state(&mut self, nonce: &str, state: State) {
        if let Some(pending) = self.items.iter_mut().find(|p| p.nonce == nonce) {
            pending.state = state;
        }
    }

    fn forget(&mut self, nonce: String) {
        if self.forgotten.len() >= FORGET_AT_MOST {
            self.forgotten.remove(0);
        }
        self.forgotten.push(nonce);
    }

    /// Marks what was on its way `Not sent yet`.
    fn wait_for_network(&mut self) {
        for pending in self.items.iter_mut().filter(|p| p.state == State::Sending) {
            pending.state = State::Waiting;
        }
    }

    /// Drops the sent messages that a sync has brought (ids up to `synced`).
    fn settle(&mut self, synced: u64) {
        self.items
            .retain(|p| !matches!(p.state, State::Sent(id) if id <= synced));
    }

    /// A sync brought `message`, sent with this browser's key, maybe before the reply to its
    /// send came: the line on its way with the same room and text is that message.
    fn arrived(&mut self, message: &crate::protocol::ChatMessage) {
        let same = |p: &&mut Pending| {
            p.state == State::Sending && p.room == message.room && p.message == message.message
        };
        if let Some(pending) = self.items.iter_mut().find(same) {
            pending.state = State::Sent(message.id);
        }
    }

    /// `Discard`: the refused message leaves the outbox.
    fn discard(&mut self, nonce: &str) {
        self.items.retain(|p| p.nonce != nonce);
        self.forget(nonce.to_owned());
        self.refusal = None;
    }

    /// What comes of the reply to sending `nonce`; whether to go on with the next one (else
    /// to wait: back off).
    fn answered(&mut self, nonce: String, reply: Reply) -> bool {
        self.busy = false;
        match reply {
            Reply::Stored { id, .. } => {
                self.failures = 0;
                self.unreachable = false;
                self.refusal = None;
                self.set_state(&nonce, State::Sent(id.unwrap_or(0)));
                self.forget(nonce);
                true
            }
            Reply::Refused(reason) => {
                self.refusal = Some(reason.clone());
                self.set_state(&nonce, State::Refused(reason));
                true
            }
            Reply::Later { network } => {
                self.unreachable |= network;
                self.failures += 1;
                self.wait_for_network();
                false
            }
        }
    }
}

/// The outbox in the page: its [`Queue`] behind one stored value, a version that views read to
/// follow it, and the timer of the next retry.
#[derive(Clone, Copy)]
pub struct Outbox {
    queue: StoredValue<Queue>,
    version: RwSignal<u32>,
    retry: StoredValue<Option<Timer>, LocalStorage>,
}

impl Outbox {
    pub fn new() -> Self {
        Self {
            queue: StoredValue::new(Queue::default()),
            version: RwSignal::new(0),
            retry: StoredValue::new_local(None),
        }
    }

    /// Reads the queue, and follows it when called from a view or an effect.
    pub fn read<T>(self, read: impl FnOnce(&Queue) -> T) -> T {
        self.version.track();
        self.queue.with_value(read)
    }

    /// Changes the queue and tells whoever follows it (nothing once the page is gone).
    fn change<T: Default>(self, change: impl FnOnce(&mut Queue) -> T) -> T {
        let changed = self.queue.try_update_value(change).unwrap_or_default();
        self.version
            .try_update(|version| *version = version.wrapping_add(1));
        changed
    }

    /// Keeps the queue in localStorage (merged with other tabs' entries).
    fn save(self) {
        let rows = self.queue.with_value(|queue| {
            merge_rows(
                browser::load_table(OUTBOX_KEY),
                &queue.items,
                &queue.forgotten,
            )
        });
        browser::save_table(OUTBOX_KEY, &rows);
    }

    /// Drops the sent messages a sync has brought (ids up to `synced`).
    pub fn settle(self, synced: u64) {
        let arrived = |p: &Pending| matches!(p.state, State::Sent(id) if id <= synced);
        if self
            .queue
            .with_value(|queue| queue.items.iter().any(arrived))
        {
            self.change(|queue| queue.settle(synced));
        }
    }

    /// See [`Queue::arrived`].
    pub fn arrived(self, message: &crate::protocol::ChatMessage) {
        self.change(|queue| queue.arrived(message));
    }

    /// `Discard`, and remembered so.
    pub fn discard(self, nonce: &str) {
        self.change(|queue| queue.discard(nonce));
        self.save();
    }

    /// The browser says it is offline: the line at the top says so.
    pub fn went_offline(self) {
        self.change(|queue| queue.online = false);
    }
}

impl Chat {
    /// Takes the messages this browser's outbox kept (from this or an earlier visit, or
    /// another tab) and starts sending them.
    pub(super) fn restore_outbox(self) {
        let found: Vec<Pending> = browser::load_table(OUTBOX_KEY)
            .into_iter()
            .filter_map(Pending::from_row)
            .collect();
        self.outbox.change(|queue| {
            queue.items = found;
            queue.online = browser::online();
        });
        self.flush();
    }

    /// The network is back (the `online` event): send at once, back-off forgotten.
    pub(super) fn back_online(self) {
        self.outbox.change(|queue| {
            queue.online = true;
            queue.failures = 0;
        });
        self.flush();
    }

    /// A sync succeeded: if sending failed on the network, the network is back.
    pub(super) fn reachable(self) {
        if self.outbox.queue.with_value(|queue| queue.unreachable) {
            self.flush();
        }
    }

    /// Puts `post` (its nonce set) in the outbox, shown at once, and sends what is waiting.
    pub fn queue(self, post: PostMessage) {
        let pending = Pending {
            nonce: post.nonce.unwrap_or_else(browser::new_nonce),
            room: post.room.unwrap_or_else(|| self.room.get_untracked()),
            sender: post.sender,
            message: post.message,
            state: State::Sending,
        };
        self.outbox.change(|queue| queue.items.push(pending));
        self.outbox.save();
        self.flush();
    }

    /// `Retry` of a refused message, with the name typed now.
    pub fn resend(self, nonce: &str) {
        let name = self.name.with_untracked(|name| name.trim().to_owned());
        self.outbox.change(|queue| {
            if let Some(pending) = queue.items.iter_mut().find(|p| p.nonce == nonce) {
                if !name.is_empty() {
                    pending.sender = name;
                }
                pending.state = State::Sending;
            }
            queue.refusal = None;
        });
        self.outbox.save();
        self.flush();
    }

    /// Sends the first message still to send, if none is on its way; then the next, and so on.
    fn flush(self) {
        let outbox = self.outbox;
        if outbox.queue.with_value(|queue| queue.busy) {
            return;
        }
        outbox.retry.set_value(None);
        let online = browser::online();
        let next = outbox.change(|queue| {
            let next = queue.next();
            if next.is_none() {
                queue.unreachable = false;
            } else if !online {
                // The `online` event sends it.
                queue.online = false;
                queue.wait_for_network();
                return None;
            }
            queue.busy = next.is_some();
            next
        });
        let Some(next) = next else {
            return;
        };
        let post = PostMessage {
            sender: next.sender,
            message: next.message,
            nonce: Some(next.nonce.clone()),
            room: Some(next.room),
            key: Some(self.key()),
        };
        spawn_local(async move {
            let (status, reply) = browser::exchange(&ClientEnvelope::Message(post)).await;
            let reply = classify(status, reply);
            let stored = match &reply {
                Reply::Stored { author, .. } => Some(author.clone()),
                _ => None,
            };
            let go_on = outbox.change(|queue| queue.answered(next.nonce, reply));
            // The page may be gone by now: nothing more to do then.
            if outbox.version.try_get_untracked().is_none() {
                return;
            }
            if go_on {
                outbox.save();
            }
            if let Some(author) = stored {
                self.learn_author(author);
                outbox.settle(self.synced());
                self.sync_now();
            }
            if go_on {
                self.flush();
            } else {
                let failures = outbox.queue.with_value(|queue| queue.failures);
                let delay = backoff_ms(self.poll_interval_ms(), failures);
                let timer = browser::after(delay, move || self.flush());
                outbox.retry.try_set_value(Some(timer));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Status;

    fn pending(nonce: &str, state: State) -> Pending {
        Pending {
            nonce: nonce.into(),
            room: "general".into(),
            sender: "ann".into(),
            message: format!("text of {nonce}"),
            state,
        }
    }

    fn status(ok: bool, message: &str) -> Option<ServerEnvelope> {
        Some(ServerEnvelope::Status(Status {
            id: ok.then_some(7),
            author: None,
            ..if ok {
                Status::ok(message)
            } else {
                Status::failed(message)
            }
        }))
    }

    #[test]
    fn replies_are_stored_refused_or_retried() {
        assert_eq!(
            classify(200, status(true, "message 7 stored")),
            Reply::Stored {
                id: Some(7),
                author: None
            }
        );
        for code in [400, 403, 404, 413] {
            assert_eq!(
                classify(code, status(false, "why")),
                Reply::Refused("why".into())
            );
        }
        for code in [408, 429, 500, 503] {
            assert_eq!(
                classify(code, status(false, "later")),
                Reply::Later { network: false }
            );
        }
        // A proxy's error page is no envelope: later, but not "offline".
        assert_eq!(classify(502, None), Reply::Later { network: false });
        assert_eq!(classify(0, None), Reply::Later { network: true });
    }

    #[test]
    fn the_queue_sends_in_order_waits_on_failures_and_drops_what_syncs_bring() {
        let mut queue = Queue {
            items: vec![pending("a", State::Sending), pending("b", State::Sending)],
            ..Queue::default()
        };
        assert_eq!(queue.next().unwrap().nonce, "a");
        // No network: both wait, and the line at the top says so.
        assert!(!queue.answered("a".into(), Reply::Later { network: true }));
        assert!(queue.offline());
        assert!(queue.items.iter().all(|p| p.state == State::Waiting));
        assert_eq!(queue.next().unwrap().nonce, "a", "still first");
        // Stored: marked sent (no mark), remembered as done; the next one is `b`.
        assert!(queue.answered(
            "a".into(),
            Reply::Stored {
                id: Some(5),
                author: None
            }
        ));
        assert!(!queue.offline());
        assert_eq!(queue.items[0].state, State::Sent(5));
        assert_eq!(queue.next().unwrap().nonce, "b");
        // Refused: the reason for the alert, and Discard takes it out.
        assert!(queue.answered("b".into(), Reply::Refused("too long".into())));
        assert_eq!(queue.refusal.as_deref(), Some("too long"));
        assert!(queue.next().is_none());
        queue.discard("b");
        assert_eq!(queue.refusal, None);
        // A sync up to id 4 has not brought `a` yet; one up to 5 has.
        queue.settle(4);
        assert_eq!(queue.items.len(), 1);
        queue.settle(5);
        assert!(queue.items.is_empty());
        assert_eq!(queue.forgotten, ["a", "b"]);
    }

    #[test]
    fn a_synced_copy_before_the_reply_replaces_the_line_on_its_way() {
        let mut queue = Queue {
            items: vec![pending("a", State::Sending), pending("b", State::Waiting)],
            ..Queue::default()
        };
        let synced = crate::protocol::ChatMessage {
            id: 9,
            room: "general".into(),
            message: "text of a".into(),
            ..Default::default()
        };
        queue.arrived(&synced);
        assert_eq!(queue.items[0].state, State::Sent(9));
        queue.settle(9);
        assert_eq!(queue.items.len(), 1);
        assert_eq!(queue.items[0].nonce, "b", "a waiting one is not matched");
    }

    #[test]
    fn rows_round_trip_with_their_refusal() {
        for state in [State::Sending, State::Refused("too long".into())] {
            let one = pending("n1", state);
            assert_eq!(Pending::from_row(one.row()), Some(one));
        }
        // Waiting is kept as to-send: after a reload it is sent again.
        let waiting = pending("n2", State::Waiting);
        assert_eq!(
            Pending::from_row(waiting.row()).unwrap().state,
            State::Sending
        );
        assert_eq!(Pending::from_row(vec!["short".into()]), None);
    }

    #[test]
    fn another_tabs_entries_are_kept_ours_replace_their_copies() {
        let stored = vec![
            pending("theirs", State::Sending).row(),
            pending("ours", State::Sending).row(),
            pending("sent-here", State::Sending).row(),
        ];
        let ours = [
            pending("ours", State::Refused("no".into())),
            pending("done", State::Sent(3)),
            pending("new", State::Waiting),
        ];
        let rows = merge_rows(stored, &ours, &["sent-here".into()]);
        let nonces: Vec<&str> = rows.iter().map(|row| row[0].as_str()).collect();
        assert_eq!(nonces, ["theirs", "ours", "new"]);
        assert_eq!(rows[1][4], "no", "our newer state wins");
    }
}
