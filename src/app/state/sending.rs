//! Sending: the outbox's queue (the model's rules) sent in order, one message at a time, with
//! back-off, kept in localStorage across reloads and tabs (`chat.outbox`, a versioned record).

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::uploads::Held;
use super::{ChatState, Connection};
use crate::app::model::files::{Attaching, attaching};
use crate::app::model::log::find;
use crate::app::model::outbox::{
    Pending, Queue, Record, Reply, State, classify, is_later_version, merge_kept,
};
use crate::app::model::poll::backoff_ms;
use crate::app::platform::{self, Timer};
use crate::protocol::json::to_json;
use crate::protocol::{ClientEnvelope, PostMessage, Quote};

const OUTBOX_KEY: &str = "chat.outbox";
/// Where an outbox record that could not be read is kept, untouched.
const UNREADABLE_KEY: &str = "chat.outbox.unreadable";

/// Why a message was not put in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// No name typed: the composer asks for one.
    NoName,
    /// Nothing but white space, and no file: nothing to send.
    Blank,
    /// A file failed to upload: `Retry` or `Remove` it first.
    UploadFailed,
    /// It waits for its files to upload ([`ChatState::held`]): the box is free meanwhile.
    Held,
}

/// The timer of the next retry.
#[derive(Clone, Copy)]
pub(super) struct Sender(StoredValue<Option<Timer>, LocalStorage>);

impl Sender {
    pub fn new() -> Self {
        Self(StoredValue::new_local(None))
    }

    fn set(self, timer: Option<Timer>) {
        self.0.try_set_value(timer);
    }
}

/// What the outbox in localStorage holds: its items (read by the version that wrote it, or
/// migrated from an earlier one), or `None` when a later version wrote it: a tab of a newer
/// build is open, and its record is its own to write. A record that is no record at all is
/// kept aside (`chat.outbox.unreadable`) rather than overwritten, and logged.
fn stored() -> Option<Vec<Pending>> {
    let Some(text) = platform::load(OUTBOX_KEY) else {
        return Some(Vec::new());
    };
    match platform::read::<Record>(&text) {
        Some(Ok(Record(items))) => Some(items),
        Some(Err(later)) if is_later_version(&later) => None,
        _ => {
            leptos::logging::warn!("the outbox in localStorage is unreadable: kept aside");
            platform::save(UNREADABLE_KEY, &text);
            platform::save(OUTBOX_KEY, "");
            Some(Vec::new())
        }
    }
}

impl ChatState {
    /// Takes the messages this browser's outbox kept (from this or an earlier visit, or
    /// another tab) and starts sending them.
    pub(super) fn restore_outbox(self) {
        let found = stored().unwrap_or_default();
        self.outbox.update(|queue| {
            queue.items = found;
            queue.online = platform::online();
        });
        // Written back as a record: rows of an earlier release are migrated once.
        self.save_outbox();
        self.flush();
    }

    /// Keeps the queue in localStorage, merged with other tabs' entries; never over a later
    /// version's record (then this tab's messages wait only in this tab, which still sends
    /// them).
    fn save_outbox(self) {
        let Some(stored) = stored() else {
            leptos::logging::warn!("the outbox in localStorage is a later version's: not written");
            return;
        };
        let kept = self
            .outbox
            .with_untracked(|queue| merge_kept(stored, &queue.items, &queue.forgotten));
        if kept.is_empty() {
            // Nothing waits: no record at all (an earlier one is then not read again).
            if platform::load(OUTBOX_KEY).is_some() {
                platform::save(OUTBOX_KEY, "");
            }
        } else {
            platform::save(OUTBOX_KEY, &to_json(&Record(kept)));
        }
    }

    /// The browser says it is offline: the line at the top says so.
    pub(super) fn went_offline(self) {
        self.outbox.update(|queue| queue.online = false);
    }

    /// The network is back (the `online` event): send at once, back-off forgotten.
    pub(super) fn back_online(self) {
        self.outbox.update(|queue| {
            queue.online = true;
            queue.failures = 0;
        });
        self.flush();
    }

    /// A sync succeeded: if sending failed on the network, the network is back.
    pub(super) fn reachable(self) {
        if self.outbox.with_untracked(|queue| queue.unreachable) {
            self.flush();
        }
    }

    /// Puts `message` in the outbox under the name typed, with the composer's files, shown at
    /// once, and sends what is waiting. The page checks only that there is a name and a text
    /// or a file: lengths are the server's to check (its refusal shows in the message's line).
    /// While files are still uploading the message is held, and goes once they are stored
    /// ([`Unsent::Held`]).
    pub fn send(self, message: String) -> Result<(), Unsent> {
        let sender = self.name.with_untracked(|name| name.trim().to_owned());
        if sender.is_empty() {
            return Err(Unsent::NoName);
        }
        let has_files = self.uploads.with_untracked(|uploads| !uploads.is_empty());
        if message.trim().is_empty() && !has_files {
            return Err(Unsent::Blank);
        }
        // Files alone: the white space typed beside them is no text.
        let message = if message.trim().is_empty() {
            String::new()
        } else {
            message
        };
        // Where it goes and what it answers are decided now, not when its files are in.
        let pending = Pending {
            nonce: platform::new_nonce(),
            room: self.room.get_untracked(),
            sender,
            message,
            reply_to: self.replying.get_untracked(),
            files: Vec::new(),
            state: State::Sending,
        };
        match self.uploads.with_untracked(|uploads| attaching(uploads)) {
            Attaching::Failed => return Err(Unsent::UploadFailed),
            Attaching::Waiting => {
                self.held.set(Some(Held(pending)));
                self.replying.set(None);
                return Err(Unsent::Held);
            }
            Attaching::Ready(files) => self.enqueue(Pending { files, ..pending }),
        }
        self.replying.set(None);
        Ok(())
    }

    /// Puts `pending` in the outbox with the composer's files (stored: it carries their ids),
    /// shown at once, and sends what is waiting.
    pub(super) fn enqueue(self, pending: Pending) {
        self.uploads.set(Vec::new());
        self.forget_picked();
        self.outbox.update(|queue| queue.items.push(pending));
        self.save_outbox();
        self.flush();
    }

    /// `Reply` on message `id`: the next message sent answers it (quoted above the box).
    pub fn reply(self, id: u64) {
        let quote = self
            .messages
            .with_untracked(|kept| find(kept, id).map(Quote::of));
        if quote.is_some() {
            self.replying.set(quote);
        }
    }

    /// `Cancel reply`: the next message answers nothing.
    pub fn cancel_reply(self) {
        self.replying.set(None);
    }

    /// `Retry` of a refused message, with the name typed now.
    pub fn resend(self, nonce: &str) {
        let name = self.name.with_untracked(|name| name.trim().to_owned());
        self.outbox.update(|queue| queue.retry(nonce, &name));
        self.save_outbox();
        self.flush();
    }

    /// `Send without quote`: a refused reply goes again as a message of its own.
    pub fn resend_without_quote(self, nonce: &str) {
        let name = self.name.with_untracked(|name| name.trim().to_owned());
        self.outbox
            .update(|queue| queue.without_quote(nonce, &name));
        self.save_outbox();
        self.flush();
    }

    /// `Discard`: the refused message leaves the outbox, for good.
    pub fn discard(self, nonce: &str) {
        self.outbox.update(|queue| queue.discard(nonce));
        self.save_outbox();
    }

    /// Sends the first message still to send, if none is on its way; then the next, and so on.
    fn flush(self) {
        if self.connection.get_untracked() == Connection::NewVersion {
            return;
        }
        self.sending.set(None);
        let online = platform::online();
        let mut next = None;
        self.outbox.update(|queue: &mut Queue| {
            if !online {
                // The `online` event sends it.
                if queue.waiting() {
                    queue.online = false;
                    queue.wait_for_network();
                }
                return;
            }
            next = queue.take_next();
            if next.is_none() && queue.sending.is_none() {
                queue.unreachable = false;
            }
        });
        let Some(next) = next else {
            return;
        };
        let post = PostMessage {
            reply_to: next.reply_id(),
            sender: next.sender,
            message: next.message,
            nonce: Some(next.nonce.clone()),
            room: Some(next.room),
            // Files are attached with the key they were uploaded with: this browser's.
            key: self.key(),
            files: (!next.files.is_empty())
                .then(|| next.files.iter().map(|file| file.id.clone()).collect()),
        };
        spawn_local(async move {
            let exchange = platform::post(&ClientEnvelope::Message(post)).await;
            // The page may be gone by now: nothing more to do then.
            if self.outbox.try_get_untracked().is_none() {
                return;
            }
            self.check_build(exchange.build.as_deref());
            let unreadable = matches!(exchange.reply, platform::Reply::Unreadable(..));
            let status = exchange.status;
            let reply = if unreadable {
                // Stored or not, this page cannot tell: it stays in the outbox, for the new
                // version to send (its nonce stores it once).
                self.new_version();
                Reply::Later { network: false }
            } else {
                classify(status, exchange.envelope())
            };
            let stored = match &reply {
                Reply::Stored { author, .. } => Some(author.clone()),
                _ => None,
            };
            let mut go_on = false;
            self.outbox
                .update(|queue| go_on = queue.answered(next.nonce, reply));
            if go_on {
                self.save_outbox();
            }
            if let Some(author) = stored {
                self.learn_author(author);
                let cursor = self.cursor();
                self.outbox.update(|queue| queue.settle(cursor));
                self.sync_now();
            }
            if go_on {
                self.flush();
            } else if self.connection.get_untracked() != Connection::NewVersion {
                let failures = self.outbox.with_untracked(|queue| queue.failures);
                let delay = backoff_ms(self.settings.poll_interval_ms, failures);
                self.sending
                    .set(Some(platform::after(delay, move || self.flush())));
            }
        });
    }
}
