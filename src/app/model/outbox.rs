//! The outbox: every message written goes here first, is kept in localStorage until the server
//! has stored it, and is sent from here, in order, one at a time.
//!
//! A message shows in the log at once, marked `Sending…`; without a network (the browser says
//! it is offline, or a request failed on the network) it stays, marked `Not sent yet`, and goes
//! by itself when the network is back. A 429 or a 5xx is retried the same way. A refusal that
//! retrying cannot fix (any other 4xx: too long, banned, no such room) marks it `Not sent` with
//! the server's reason, until `Retry` or `Discard`. The status-0 reply carries the stored id:
//! the line is then replaced by the synced copy once a sync has brought it. Each message keeps
//! its nonce through every retry and reload, so one whose reply was lost is stored once.
//!
//! Several tabs share localStorage: each sends what it queued and what it found when it
//! opened, and writes back the others' entries untouched (minus those it sent or discarded
//! itself). Two tabs opened over one entry may both send it: the nonce stores it once.
//!
//! In localStorage the outbox is a versioned [`Record`]; the rows an earlier release wrote
//! (arrays of five strings) are read once and written back as a record.

use crate::protocol::json::{Decode, Encode, Fields, JsonValue, JsonWriter, Unreadable};
use crate::protocol::{ChatMessage, FileInfo, Outcome, Quote, ServerEnvelope, no_such_message};

/// How many nonces of sent or discarded messages a tab remembers, so as not to write another
/// tab's stale copy of them back.
const FORGET_AT_MOST: usize = 200;

/// Where a message of the outbox is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// On its way, or about to be.
    Sending,
    /// Failed on the network (or 429, 5xx): sent again by itself.
    Waiting,
    /// Refused by the server, with its reason: waits for `Retry` or `Discard`.
    Refused(String),
    /// On its way again after `Retry` (the refusal's reason kept, should it come back).
    Retrying(String),
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
    /// The message it answers, as it was quoted when it was written.
    pub reply_to: Option<Quote>,
    /// Its files, uploaded before it entered the outbox.
    pub files: Vec<FileInfo>,
    pub state: State,
}

impl Pending {
    /// A reply refused (or being retried after that) because the message it answers is gone:
    /// its text can still go, without the quote.
    pub fn orphaned(&self) -> bool {
        let (State::Refused(reason) | State::Retrying(reason)) = &self.state else {
            return false;
        };
        self.reply_to
            .as_ref()
            .is_some_and(|quote| *reason == no_such_message(quote.id))
    }

    /// The id it answers, as sent: none once its quote is known to be deleted.
    pub fn reply_id(&self) -> Option<u64> {
        self.reply_to
            .as_ref()
            .filter(|quote| !quote.deleted)
            .map(|quote| quote.id)
    }

    fn unsent(&self) -> bool {
        matches!(
            self.state,
            State::Sending | State::Waiting | State::Retrying(_)
        )
    }

    /// Whether it was refused and is still here: `Retry` and `Discard` stay beside it, also
    /// while a retry is on its way (the button a keyboard pressed stays where it was).
    pub fn refused(&self) -> bool {
        matches!(self.state, State::Refused(_) | State::Retrying(_))
    }

    /// How the log shows it: the state beside the sender (`Sending…`, `Not sent yet`,
    /// `Not sent`, or nothing once stored) and, for a refused one, the reason.
    pub fn shown(&self) -> (&'static str, Option<&str>) {
        match &self.state {
            State::Sending | State::Retrying(_) => ("Sending…", None),
            State::Waiting => ("Not sent yet", None),
            State::Refused(reason) => ("Not sent", Some(reason)),
            State::Sent(_) => ("", None),
        }
    }

    /// Whether it is kept in localStorage: not once stored.
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
pub fn merge_kept(stored: Vec<Pending>, ours: &[Pending], forgotten: &[String]) -> Vec<Pending> {
    let known = |nonce: &String| {
        forgotten.contains(nonce) || ours.iter().any(|pending| pending.nonce == *nonce)
    };
    stored
        .into_iter()
        .filter(|kept| !known(&kept.nonce))
        .chain(ours.iter().filter(|p| p.kept()).cloned())
        .collect()
}

/// What the outbox knows, as plain data: the logic is here, tested without a page; the
/// state's commands do the requests, the timers and the storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub items: Vec<Pending>,
    /// `navigator.onLine`, kept by the `online` and `offline` events.
    pub online: bool,
    /// The last send failed on the network.
    pub unreachable: bool,
    /// The last refusal, read out by the composer's alert until a message is stored.
    pub refusal: Option<String>,
    /// The nonce of the message on its way, while one is.
    pub sending: Option<String>,
    /// Failed sends in a row: the back-off.
    pub failures: u32,
    /// Nonces sent or discarded here (see [`merge_kept`]).
    pub forgotten: Vec<String>,
}

impl Default for Queue {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            online: true,
            unreachable: false,
            refusal: None,
            sending: None,
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

    /// The outbox's messages of `room` to show, in order: not those already stored (their
    /// stored copy shows instead).
    pub fn of_room<'a>(&'a self, room: &'a str) -> impl Iterator<Item = &'a Pending> + 'a {
        self.items
            .iter()
            .filter(move |pending| pending.room == room && pending.kept())
    }

    /// Whether anything is still to send.
    pub fn waiting(&self) -> bool {
        self.items.iter().any(Pending::unsent)
    }

    /// The first message still to send, now on its way; none while one is.
    pub fn take_next(&mut self) -> Option<Pending> {
        if self.sending.is_some() {
            return None;
        }
        let next = self.items.iter().find(|p| p.unsent()).cloned();
        self.sending = next.as_ref().map(|next| next.nonce.clone());
        next
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
    pub fn wait_for_network(&mut self) {
        for pending in self.items.iter_mut() {
            if matches!(pending.state, State::Sending | State::Retrying(_)) {
                pending.state = State::Waiting;
            }
        }
    }

    /// Drops the sent messages that a sync has brought (ids up to `synced`), but the one on its
    /// way: until its reply, it may still have to be sent again.
    pub fn settle(&mut self, synced: u64) {
        let sending = self.sending.take();
        self.items.retain(|p| {
            sending.as_ref() == Some(&p.nonce)
                || !matches!(p.state, State::Sent(id) if id <= synced)
        });
        self.sending = sending;
    }

    /// Whether [`Queue::settle`] would drop anything.
    pub fn settles(&self, synced: u64) -> bool {
        self.items.iter().any(|p| {
            self.sending.as_ref() != Some(&p.nonce)
                && matches!(p.state, State::Sent(id) if id <= synced)
        })
    }

    /// A sync brought `message`, sent with this browser's key, maybe before the reply to its
    /// send came: if the message on its way has its room and text, that is it (shown from now on
    /// by its stored copy). Only the one on its way: another with the same text, written here
    /// later or in another tab with this key, is another message.
    pub fn arrived(&mut self, message: &ChatMessage) {
        let Some(sending) = &self.sending else {
            return;
        };
        let on_its_way = self.items.iter_mut().find(|p| {
            p.nonce == *sending
                && matches!(p.state, State::Sending | State::Retrying(_))
                && p.room == message.room
                && p.message == message.message
        });
        if let Some(pending) = on_its_way {
            pending.state = State::Sent(message.id);
        }
    }

    /// `Retry` of a refused message, with `name` (the name typed now) when there is one.
    pub fn retry(&mut self, nonce: &str, name: &str) {
        if let Some(pending) = self.items.iter_mut().find(|p| p.nonce == nonce)
            && let State::Refused(reason) = &pending.state
        {
            if !name.is_empty() {
                pending.sender = name.to_owned();
            }
            pending.state = State::Retrying(reason.clone());
        }
        self.refusal = None;
    }

    /// `Send without quote` of an [orphaned](Pending::orphaned) reply: its quote is marked
    /// deleted (which it is), and it goes again as a message of its own.
    pub fn without_quote(&mut self, nonce: &str, name: &str) {
        if let Some(pending) = self.items.iter_mut().find(|p| p.nonce == nonce)
            && matches!(pending.state, State::Refused(_))
            && pending.orphaned()
            && let Some(quote) = &mut pending.reply_to
        {
            quote.deleted = true;
            self.retry(nonce, name);
        }
    }

    /// `Discard`: the refused message leaves the outbox.
    pub fn discard(&mut self, nonce: &str) {
        self.items.retain(|p| p.nonce != nonce);
        self.forget(nonce.to_owned());
        self.refusal = None;
    }

    /// What comes of the reply to sending `nonce`; whether to go on with the next one (else
    /// to wait: back off).
    pub fn answered(&mut self, nonce: String, reply: Reply) -> bool {
        self.sending = None;
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
                // Even if a sync has brought its stored copy meanwhile: sent again (its nonce
                // stores it once), so that nothing rests on a copy matched by its text.
                self.set_state(&nonce, State::Waiting);
                self.wait_for_network();
                false
            }
        }
    }
}

/// The outbox as localStorage keeps it (`chat.outbox`): `{"v": 2, "items": [...]}`, each item
/// `{"nonce", "room", "sender", "message"}` and, for a refused one, `"refusal"`. What waits is
/// kept as to send: after a reload it is sent again. Fields added later must be optional (this
/// version skips members it does not know); a version that changes the shape otherwise writes a
/// record of its own and reads this one, since tabs of two builds can be open at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record(pub Vec<Pending>);

/// The version [`Record`] writes. Version 3 added a message's `files`: a tab of version 2
/// would send such a message without them, so it leaves the record alone as a later version's;
/// this version reads both.
pub const RECORD_VERSION: u64 = 3;

impl Encode for Pending {
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| {
            json.field("nonce", &self.nonce);
            json.field("room", &self.room);
            json.field("sender", &self.sender);
            json.field("message", &self.message);
            json.maybe("reply_to", &self.reply_to);
            if !self.files.is_empty() {
                json.field("files", &self.files);
            }
            if let State::Refused(reason) = &self.state {
                json.field("refusal", reason);
            }
        });
    }
}

impl Decode for Pending {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        let fields = Fields::of(value, "Pending");
        Ok(Pending {
            nonce: fields.need("nonce")?,
            room: fields.need("room")?,
            sender: fields.need("sender")?,
            message: fields.need("message")?,
            reply_to: fields.maybe("reply_to")?,
            files: fields.or_default("files")?,
            state: match fields.maybe::<String>("refusal")? {
                Some(reason) => State::Refused(reason),
                None => State::Sending,
            },
        })
    }
}

impl Encode for Record {
    fn encode(&self, json: &mut JsonWriter) {
        json.object(|json| {
            json.field("v", &RECORD_VERSION);
            json.field("items", &self.0);
        });
    }
}

impl Decode for Record {
    fn decode<J: JsonValue>(value: &J) -> Result<Self, Unreadable> {
        // Before version 2: an array of rows, each [nonce, room, sender, text, refusal or ""].
        if let Some(rows) = value.items() {
            return Ok(Record(rows.iter().filter_map(first_release_row).collect()));
        }
        let fields = Fields::of(value, "Record");
        // A later version's record is that version's to read (`is_later_version`).
        match fields.maybe::<u64>("v")? {
            Some(2 | RECORD_VERSION) => {}
            Some(version) if version > RECORD_VERSION => return Err(fields.unreadable("v")),
            _ => return Err(fields.unreadable("version")),
        }
        // An item that cannot be read is skipped, not the whole outbox.
        let items = value.get("items").and_then(|items| items.items());
        let items = items.ok_or(fields.unreadable("items"))?;
        Ok(Record(
            items
                .iter()
                .filter_map(|item| Pending::decode(item).ok())
                .collect(),
        ))
    }
}

/// Whether a record that could not be read is a later version's (which this page must leave
/// alone: a tab of a newer build wrote it).
pub fn is_later_version(unreadable: &Unreadable) -> bool {
    *unreadable
        == Unreadable {
            of: "Record",
            field: "v",
        }
}

/// A row as the first release of the outbox wrote it, if it is one.
fn first_release_row<J: JsonValue>(row: &J) -> Option<Pending> {
    let cells: Vec<String> = row
        .items()?
        .iter()
        .map(JsonValue::text)
        .collect::<Option<_>>()?;
    let [nonce, room, sender, message, reason]: [String; 5] = cells.try_into().ok()?;
    Some(Pending {
        nonce,
        room,
        sender,
        message,
        reply_to: None,
        files: Vec::new(),
        state: if reason.is_empty() {
            State::Sending
        } else {
            State::Refused(reason)
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Status;
    use crate::protocol::json::tests::{file_info, quote, text};
    use crate::protocol::json::to_json;
    use proptest::prelude::*;

    fn pending(nonce: &str, state: State) -> Pending {
        Pending {
            nonce: nonce.into(),
            room: "general".into(),
            sender: "ann".into(),
            message: format!("text of {nonce}"),
            reply_to: None,
            files: Vec::new(),
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
        assert_eq!(queue.take_next().unwrap().nonce, "a");
        assert!(queue.take_next().is_none(), "one at a time");
        // No network: both wait, and the line at the top says so.
        assert!(!queue.answered("a".into(), Reply::Later { network: true }));
        assert!(queue.offline());
        assert!(queue.items.iter().all(|p| p.state == State::Waiting));
        assert_eq!(queue.take_next().unwrap().nonce, "a", "still first");
        // Stored: marked sent (shown by its stored copy), remembered as done; then `b`.
        assert!(queue.answered(
            "a".into(),
            Reply::Stored {
                id: Some(5),
                author: None
            }
        ));
        assert!(!queue.offline());
        assert_eq!(queue.items[0].state, State::Sent(5));
        assert_eq!(queue.of_room("general").count(), 1);
        assert_eq!(queue.take_next().unwrap().nonce, "b");
        // Refused: the reason for the alert; Retry with a name puts it back, Discard takes it
        // out.
        assert!(queue.answered("b".into(), Reply::Refused("too long".into())));
        assert_eq!(queue.refusal.as_deref(), Some("too long"));
        assert!(!queue.waiting());
        assert!(queue.take_next().is_none());
        queue.retry("b", "Nina");
        assert!(
            queue.items[1].refused(),
            "Retry and Discard stay while it is retried"
        );
        assert_eq!(queue.items[1].shown(), ("Sending…", None));
        assert_eq!(queue.take_next().map(|p| p.sender), Some("Nina".into()));
        assert_eq!(queue.refusal, None);
        assert!(queue.answered("b".into(), Reply::Refused("too long".into())));
        queue.discard("b");
        assert_eq!(queue.refusal, None);
        // A sync up to id 4 has not brought `a` yet; one up to 5 has.
        assert!(!queue.settles(4));
        queue.settle(4);
        assert_eq!(queue.items.len(), 1);
        assert!(queue.settles(5));
        queue.settle(5);
        assert!(queue.items.is_empty());
        assert_eq!(queue.forgotten, ["a", "b"]);
    }

    #[test]
    fn a_reply_refused_for_its_missing_message_can_go_again_without_its_quote() {
        let quote = Quote {
            id: 42,
            sender: "Cleo".into(),
            message: "is it green?".into(),
            ..Quote::default()
        };
        let reply = |nonce: &str, state| Pending {
            reply_to: Some(quote.clone()),
            ..pending(nonce, state)
        };
        let mut queue = Queue {
            items: vec![
                reply("gone", State::Refused(no_such_message(42))),
                reply("long", State::Refused("message: too long".into())),
                reply("waiting", State::Waiting),
            ],
            ..Queue::default()
        };
        let orphaned: Vec<bool> = queue.items.iter().map(Pending::orphaned).collect();
        assert_eq!(orphaned, [true, false, false]);
        // Only an orphaned reply: the others keep their quote and their state.
        queue.without_quote("long", "");
        queue.without_quote("waiting", "");
        assert_eq!(queue.items[1].reply_id(), Some(42));
        assert_eq!(
            queue.items[1].state,
            State::Refused("message: too long".into())
        );
        assert_eq!(queue.items[2].reply_id(), Some(42));
        queue.without_quote("gone", "Nina");
        let sent = &queue.items[0];
        assert_eq!(sent.reply_id(), None, "it goes without the quote");
        assert!(sent.reply_to.as_ref().is_some_and(|quote| quote.deleted));
        assert_eq!(sent.sender, "Nina");
        // While it is on its way it is still the orphaned reply, so its button stays (and
        // keeps a keyboard's focus).
        assert!(sent.orphaned());
        let next = queue.take_next().unwrap();
        assert_eq!((next.nonce.as_str(), next.reply_id()), ("gone", None));
    }

    #[test]
    fn a_synced_copy_before_the_reply_replaces_the_line_on_its_way_and_nothing_else() {
        let same_text = |nonce: &str| Pending {
            message: "ok".into(),
            ..pending(nonce, State::Sending)
        };
        let mut queue = Queue {
            items: vec![same_text("a"), same_text("b")],
            ..Queue::default()
        };
        let synced = |id| ChatMessage {
            id,
            room: "general".into(),
            message: "ok".into(),
            ..Default::default()
        };
        // Nothing on its way: a copy of the same text (another tab's) matches nothing here.
        queue.arrived(&synced(8));
        assert!(queue.items.iter().all(|p| p.state == State::Sending));
        assert_eq!(queue.take_next().unwrap().nonce, "a");
        queue.arrived(&synced(9));
        assert_eq!(queue.items[0].state, State::Sent(9));
        assert_eq!(
            queue.items[1].state,
            State::Sending,
            "only the one on its way"
        );
        assert_eq!(
            queue.of_room("general").count(),
            1,
            "shown by its stored copy"
        );
        // Kept until its reply: the reply may say it must go again (it was stored, and its
        // nonce stores it once).
        queue.settle(9);
        assert_eq!(queue.items.len(), 2);
        assert!(!queue.answered("a".into(), Reply::Later { network: true }));
        assert_eq!(queue.items[0].state, State::Waiting);
        assert_eq!(queue.take_next().unwrap().nonce, "a");
        assert!(queue.answered(
            "a".into(),
            Reply::Stored {
                id: Some(9),
                author: None
            }
        ));
        queue.settle(9);
        assert_eq!(queue.items.len(), 1);
        assert_eq!(queue.items[0].nonce, "b");
    }

    #[test]
    fn another_tabs_entries_are_kept_ours_replace_their_copies() {
        let stored = vec![
            pending("theirs", State::Sending),
            pending("ours", State::Sending),
            pending("sent-here", State::Sending),
        ];
        let ours = [
            pending("ours", State::Refused("no".into())),
            pending("done", State::Sent(3)),
            pending("new", State::Waiting),
        ];
        let kept = merge_kept(stored, &ours, &["sent-here".into()]);
        let nonces: Vec<&str> = kept.iter().map(|p| p.nonce.as_str()).collect();
        assert_eq!(nonces, ["theirs", "ours", "new"]);
        assert_eq!(kept[1].state, State::Refused("no".into()));
    }

    fn read(json: &str) -> Result<Record, Unreadable> {
        Record::decode(&serde_json::from_str::<serde_json::Value>(json).unwrap())
    }

    /// What the first release wrote (`JSON.stringify` of its rows), byte for byte: an unsent
    /// message and a refused one survive the upgrade, and are written back as a record.
    #[test]
    fn rows_of_the_first_release_are_read_and_written_back_as_a_record() {
        let first_release = r#"[["0f1e2d3c4b5a69788796a5b4c3d2e1f0","general","Tess","written in a tunnel ☂",""],["aa","dev","Big Ben","too long","request body too large: at most 65536 bytes allowed"]]"#;
        let record = read(first_release).unwrap();
        assert_eq!(
            record.0,
            [
                Pending {
                    nonce: "0f1e2d3c4b5a69788796a5b4c3d2e1f0".into(),
                    room: "general".into(),
                    sender: "Tess".into(),
                    message: "written in a tunnel ☂".into(),
                    reply_to: None,
                    files: Vec::new(),
                    state: State::Sending,
                },
                Pending {
                    nonce: "aa".into(),
                    room: "dev".into(),
                    sender: "Big Ben".into(),
                    message: "too long".into(),
                    reply_to: None,
                    files: Vec::new(),
                    state: State::Refused(
                        "request body too large: at most 65536 bytes allowed".into()
                    ),
                },
            ]
        );
        let written = to_json(&record);
        assert!(
            written.starts_with(r#"{"v":3,"items":[{"nonce":"#),
            "{written}"
        );
        assert_eq!(read(&written), Ok(record));
        // A row that is no row is skipped, and so is an item that is no item; a record of a
        // later version is not read (and is said to be one).
        assert_eq!(read(r#"[["short"],5]"#), Ok(Record::default()));
        assert_eq!(
            read(r#"{"v":2,"items":[{"nonce":"n"},{"nonce":"m","room":"r","sender":"s","message":"t"}]}"#)
                .map(|record| record.0.len()),
            Ok(1)
        );
        // Version 2 (before files) is read as well.
        assert_eq!(
            read(r#"{"v":3,"items":[{"nonce":"m","room":"r","sender":"s","message":"","files":[{"id":"f","name":"a.png","size":3,"content_type":"image/png","width":1,"height":2}]}]}"#)
                .map(|record| record.0[0].files.len()),
            Ok(1)
        );
        assert!(read(r#"{"v":4,"items":[]}"#).is_err_and(|err| is_later_version(&err)));
        assert!(read(r#"{"items":[]}"#).is_err_and(|err| !is_later_version(&err)));
    }

    fn kept_state() -> impl Strategy<Value = State> {
        prop_oneof![Just(State::Sending), text().prop_map(State::Refused)]
    }

    proptest! {
        #[test]
        fn a_record_reads_back_what_it_wrote(
            items in proptest::collection::vec(
                (
                    (text(), text(), text(), text()),
                    proptest::option::of(quote()),
                    kept_state(),
                    proptest::collection::vec(file_info(), 0..3),
                ),
                0..5,
            )
        ) {
            let record = Record(
                items
                    .into_iter()
                    .map(|((nonce, room, sender, message), reply_to, state, files)| Pending {
                        nonce,
                        room,
                        sender,
                        message,
                        reply_to,
                        files,
                        state,
                    })
                    .collect(),
            );
            let json: serde_json::Value = serde_json::from_str(&to_json(&record)).unwrap();
            prop_assert_eq!(Record::decode(&json), Ok(record));
        }
    }
}
