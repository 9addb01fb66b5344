//! Changing what was said: editing and deleting one's own messages, reacting to anyone's, and
//! the operator deleting anyone's and banning an author with all their messages. Each goes to the server at once (not
//! through the outbox: it changes what others see, so it should not happen later unseen); on
//! success the page syncs, so the change shows here as on every other page; a refusal says why.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ChatState;
use crate::app::model::log::find;
use crate::app::platform::{self, Reply};
use crate::protocol::{
    BanRequest, ClientEnvelope, DeleteRequest, EditRequest, Outcome, ReactRequest, ServerEnvelope,
};

impl ChatState {
    /// Opens the edit box of message `id`.
    pub fn edit(self, id: u64) {
        self.editing.set(Some(id));
    }

    pub fn cancel_edit(self) {
        self.editing.set(None);
    }

    /// Saves `text` as message `id`'s (nothing if it is blank or unchanged).
    pub fn save_edit(self, id: u64, text: String) {
        self.editing.set(None);
        let unchanged = self
            .messages
            .with_untracked(|kept| find(kept, id).is_none_or(|m| m.message == text));
        if text.trim().is_empty() || unchanged {
            return;
        }
        self.change(ClientEnvelope::Edit(EditRequest {
            id,
            message: text,
            key: self.key(),
            admin: None,
            nonce: Some(platform::new_nonce()),
        }));
    }

    /// Deletes message `id`, after asking: one's own with this browser's key, anyone's with the
    /// operator's token.
    pub fn delete(self, id: u64) {
        let Some(author) = self
            .messages
            .with_untracked(|kept| find(kept, id).map(|m| m.author.clone()))
        else {
            return;
        };
        if !platform::confirm("Delete this message? This cannot be undone.") {
            return;
        }
        let mine = author.is_some() && author == self.me.get_untracked();
        let (key, admin) = if mine {
            (self.key(), None)
        } else {
            (None, self.admin.get_untracked())
        };
        self.change(ClientEnvelope::Delete(DeleteRequest {
            id,
            key,
            admin,
            nonce: Some(platform::new_nonce()),
        }));
    }

    /// Toggles this browser's reaction `emoji` on message `id`.
    pub fn react(self, id: u64, emoji: &str) {
        self.change(ClientEnvelope::React(ReactRequest {
            id,
            emoji: emoji.to_owned(),
            key: self.key(),
            nonce: Some(platform::new_nonce()),
        }));
    }

    /// The operator bans the author of message `id` and deletes all their messages, after
    /// asking.
    pub fn ban_author_of(self, id: u64) {
        let author = self
            .messages
            .with_untracked(|kept| find(kept, id).and_then(|m| m.author.clone()));
        let (Some(admin), Some(author)) = (self.admin.get_untracked(), author) else {
            return;
        };
        if platform::confirm(&format!("Ban {author} and delete all their messages?")) {
            self.change(ClientEnvelope::Ban(BanRequest {
                admin,
                author: Some(author),
                address: None,
                purge: true,
            }));
        }
    }

    /// Sends an edit, a delete, a reaction or a ban, and says how it went.
    fn change(self, envelope: ClientEnvelope) {
        spawn_local(async move {
            let exchange = platform::post(&envelope).await;
            self.check_build(exchange.build.as_deref());
            match exchange.reply {
                Reply::Envelope(ServerEnvelope::Status(status), _)
                    if status.status == Outcome::Succeeded =>
                {
                    // A reaction's reply names this browser's fingerprint: learnt here too.
                    self.learn_author(status.author);
                    self.sync_now();
                }
                Reply::Envelope(ServerEnvelope::Status(status), _) => {
                    platform::alert(&status.message)
                }
                Reply::Unreadable(..) => self.new_version(),
                _ => platform::alert("Could not reach the server. Try again."),
            }
        });
    }
}
