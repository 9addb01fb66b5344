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

use super::browser::{self, OutboxRow, Timer};
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

    /// How the log shows it, `me` the reader's fingerprint: the state beside the sender
    /// (`Sending…`, `Not sent yet`, `Not sent`) and for a refused one the reason.
    pub fn shown(&self, me: Option<String>) -> OutboxRow {
        let (state, refusal) = match &self.state {
            State::Sending => ("Sending…", None),
            State::Waiting => ("Not sent yet", None),
            State::Refused(reason) => ("Not sent", Some(reason.clone())),
            State::Sent(_) => ("", None),
        };
        OutboxRow {
            nonce: self.nonce.clone(),
            sender: self.sender.clone(),
            author: me,
            state,
            text: self.message.clone(),
            refusal,
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

/// The outbox's state, as copyable handles owned by the `Chat` component.
#[derive(Clone, Copy)]
pub struct Outbox {
    pub items: RwSignal<Vec<Pending>>,
    /// `navigator.onLine`, kept by the `online` and `offline` events.
    pub online: RwSignal<bool>,
    /// The last send failed on the network.
    pub unreachable: RwSignal<bool>,
    /// The last refusal, read out by the composer's alert until a message is stored.
    pub refusal: RwSignal<Option<String>>,
    busy: StoredValue<bool>,
    failures: StoredValue<u32>,
    retry: StoredValue<Option<Timer>, LocalStorage>,
    forgotten: StoredValue<Vec<String>>,
}

impl Outbox {
    pub fn new() -> Self {
        Self {
            items: RwSignal::new(Vec::new()),
            online: RwSignal::new(true),
            unreachable: RwSignal::new(false),
            refusal: RwSignal::new(None),
            busy: StoredValue::new(false),
            failures: StoredValue::new(0),
            retry: StoredValue::new_local(None),
            forgotten: StoredValue::new(Vec::new()),
        }
    }

    /// Whether the "Offline" line shows.
    pub fn offline(self) -> bool {
        !self.online.get() || self.unreachable.get()
    }

    fn save(self) {
        let rows = self.items.with_untracked(|items| {
            self.forgotten.with_value(|forgotten| {
                merge_rows(browser::load_table(OUTBOX_KEY), items, forgotten)
            })
        });
        browser::save_table(OUTBOX_KEY, &rows);
    }

    fn forget(self, nonce: String) {
        self.forgotten.update_value(|forgotten| {
            if forgotten.len() >= FORGET_AT_MOST {
                forgotten.remove(0);
            }
            forgotten.push(nonce);
        });
    }

    fn set_state(self, nonce: &str, state: State) {
        self.items.update(|items| {
            if let Some(pending) = items.iter_mut().find(|p| p.nonce == nonce) {
                pending.state = state;
            }
        });
    }

    /// Drops the sent messages that a sync has brought (ids up to `synced`).
    pub fn settle(self, synced: u64) {
        let arrived = |p: &Pending| matches!(p.state, State::Sent(id) if id <= synced);
        if self.items.with_untracked(|items| items.iter().any(arrived)) {
            self.items.update(|items| items.retain(|p| !arrived(p)));
        }
    }

    /// A sync brought `message`, sent with this browser's key, maybe before the reply to its
    /// send came: the line on its way with the same room and text is that message.
    pub fn arrived(self, message: &crate::protocol::ChatMessage) {
        let same = |p: &Pending| {
            p.state == State::Sending && p.room == message.room && p.message == message.message
        };
        if self.items.with_untracked(|items| items.iter().any(same)) {
            self.items.update(|items| {
                if let Some(pending) = items.iter_mut().find(|p| same(p)) {
                    pending.state = State::Sent(message.id);
                }
            });
        }
    }

    /// `Discard`: the refused message leaves the outbox.
    pub fn discard(self, nonce: &str) {
        self.items
            .update(|items| items.retain(|p| p.nonce != nonce));
        self.forget(nonce.to_owned());
        self.refusal.set(None);
        self.save();
    }
}

impl Chat {
    /// Takes the messages this browser's outbox kept (from this or an earlier visit, or
    /// another tab) and starts sending them; follows the browser's `online` and `offline`.
    pub(super) fn restore_outbox(self) {
        let outbox = self.outbox;
        let found: Vec<Pending> = browser::load_table(OUTBOX_KEY)
            .into_iter()
            .filter_map(Pending::from_row)
            .collect();
        outbox.items.set(found);
        outbox.online.set(browser::online());
        self.flush();
    }

    /// The network is back (the `online` event): send at once, back-off forgotten.
    pub(super) fn back_online(self) {
        self.outbox.online.set(true);
        self.outbox.failures.set_value(0);
        self.flush();
    }

    /// A sync succeeded: if sending failed on the network, the network is back.
    pub(super) fn reachable(self) {
        if self.outbox.unreachable.get_untracked() && !self.outbox.busy.get_value() {
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
        self.outbox.items.update(|items| items.push(pending));
        self.outbox.save();
        self.flush();
    }

    /// `Retry` of a refused message, with the name typed now.
    pub fn resend(self, nonce: &str) {
        let name = self.name.with_untracked(|name| name.trim().to_owned());
        self.outbox.items.update(|items| {
            if let Some(pending) = items.iter_mut().find(|p| p.nonce == nonce) {
                if !name.is_empty() {
                    pending.sender = name;
                }
                pending.state = State::Sending;
            }
        });
        self.outbox.refusal.set(None);
        self.outbox.save();
        self.flush();
    }

    /// Sends the first message still to send, if none is on its way; then the next, and so on.
    fn flush(self) {
        let outbox = self.outbox;
        if outbox.busy.get_value() {
            return;
        }
        outbox.retry.set_value(None);
        let next = outbox
            .items
            .with_untracked(|items| items.iter().find(|p| p.unsent()).cloned());
        let Some(next) = next else {
            outbox.unreachable.set(false);
            return;
        };
        if !browser::online() {
            // The `online` event sends it.
            outbox.online.set(false);
            self.wait_for_network();
            return;
        }
        outbox.busy.set_value(true);
        let post = PostMessage {
            sender: next.sender,
            message: next.message,
            nonce: Some(next.nonce.clone()),
            room: Some(next.room),
            key: Some(self.key()),
        };
        spawn_local(async move {
            let (status, reply) = browser::exchange(&ClientEnvelope::Message(post)).await;
            // The component may be gone by now.
            if outbox.busy.try_set_value(false).is_some() {
                return;
            }
            let nonce = next.nonce;
            match classify(status, reply) {
                Reply::Stored { id, author } => {
                    self.learn_author(author);
                    outbox.failures.set_value(0);
                    outbox.unreachable.set(false);
                    outbox.refusal.set(None);
                    outbox.set_state(&nonce, State::Sent(id.unwrap_or(0)));
                    outbox.forget(nonce);
                    outbox.save();
                    outbox.settle(self.synced());
                    self.sync_now();
                    self.flush();
                }
                Reply::Refused(reason) => {
                    outbox.refusal.set(Some(reason.clone()));
                    outbox.set_state(&nonce, State::Refused(reason));
                    outbox.save();
                    self.flush();
                }
                Reply::Later { network } => {
                    if network {
                        outbox.unreachable.set(true);
                    }
                    self.wait_for_network();
                    let failures = outbox.failures.with_value(|n| n + 1);
                    outbox.failures.set_value(failures);
                    let delay = backoff_ms(self.poll_interval_ms(), failures);
                    let timer = browser::after(delay, move || self.flush());
                    outbox.retry.try_set_value(Some(timer));
                }
            }
        });
    }

    /// Marks what was on its way `Not sent yet`.
    fn wait_for_network(self) {
        self.outbox.items.update(|items| {
            for pending in items.iter_mut().filter(|p| p.state == State::Sending) {
                pending.state = State::Waiting;
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
