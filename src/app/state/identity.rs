//! Who this browser is: its secret key (made once, kept in localStorage), the fingerprint the
//! server shows for it, and another browser's key brought by a link, which the person keeps or
//! switches to in a dialog that shows both fingerprints. Nothing in a URL changes who a
//! browser is by itself.
//!
//! The shell's first script moves a `#key=…` fragment into sessionStorage (`chat.link`) and out
//! of the address bar and the history before anything else runs; it stays there until the
//! person has chosen, so a reload asks again.

use leptos::prelude::*;

use super::ChatState;
use crate::app::model::identity::{Offered, key_of_link, link_of_key};
use crate::app::model::poll::backoff_ms;
use crate::app::platform;
use crate::protocol::{ClientEnvelope, FingerprintRequest, Outcome, ServerEnvelope};

/// localStorage: the browser's secret key, and the fingerprint the server showed for it.
const KEY_KEY: &str = "chat.key";
const AUTHOR_KEY: &str = "chat.author";
/// sessionStorage: a link's fragment, until the person has chosen.
const LINK_KEY: &str = "session.chat.link";
/// How many times the fingerprints of a choice are asked for (the back-off makes it about a
/// minute at the default poll interval) before the dialog says the server cannot be reached.
const MAX_ASKS: u32 = 6;

impl ChatState {
    /// This browser's secret key: made once, kept in localStorage. `None` where the browser
    /// cannot make one (no `crypto.getRandomValues`): then messages go without a key, and the
    /// composer says so.
    pub fn key(self) -> Option<String> {
        if let Some(key) = platform::load(KEY_KEY) {
            return Some(key);
        }
        let key = platform::new_key();
        match &key {
            Some(key) => {
                platform::save(KEY_KEY, key);
                // From now on the sync follows this key's direct rooms: the one held without
                // it is sent anew.
                self.sync_now();
            }
            None => self.keyless.set(true),
        }
        key
    }

    /// This browser's key if it has one (none is made: reading needs no key, only a direct
    /// room does).
    pub(super) fn existing_key(self) -> Option<String> {
        platform::load(KEY_KEY)
    }

    /// This browser's fingerprint: the one the server showed, or else asked for now. `None`
    /// without a key, or while the server cannot be reached.
    pub(super) async fn known_print(self) -> Option<String> {
        if let Some(me) = self.me.get_untracked() {
            return Some(me);
        }
        let key = self.existing_key()?;
        let print = fingerprint(&key).await?;
        // Unless the key changed meanwhile (another tab switched it).
        if self.existing_key().as_deref() == Some(key.as_str()) {
            self.learn_author(Some(print.clone()));
        }
        Some(print)
    }

    /// Remembers the fingerprint the server showed for this browser's key.
    pub(super) fn learn_author(self, author: Option<String>) {
        if let Some(author) = author {
            platform::save(AUTHOR_KEY, &author);
            self.me.set(Some(author));
        }
    }

    /// Who this browser is, and a key a link brought, if one did.
    pub(super) fn restore_identity(self) {
        self.me.set(platform::load(AUTHOR_KEY));
        if platform::load(KEY_KEY).is_none() && platform::random_bytes::<1>().is_none() {
            self.keyless.set(true);
        }
        self.took_link();
    }

    /// A key link was opened (on load, or in this page, where only the fragment changed):
    /// offers its key, unless it is this browser's own.
    pub(super) fn took_link(self) {
        if let Some(fragment) = platform::take_key_fragment() {
            platform::save(LINK_KEY, &fragment);
        }
        let Some(fragment) = platform::load(LINK_KEY) else {
            return;
        };
        // Compared with the key this browser has, if any (none is made for the comparison).
        let mine = platform::load(KEY_KEY);
        match key_of_link(&fragment) {
            Some(theirs) if Some(theirs) != mine.as_deref() => {
                self.offered.set(Some(theirs.to_owned()));
            }
            // Not a key, or this browser's own: nothing to choose.
            _ => platform::save(LINK_KEY, ""),
        }
    }

    /// The fingerprints a choice of key shows: this browser's (empty where it has no key) and
    /// that of the key `theirs`, as the server computes them. Asked again with back-off while
    /// the server cannot answer, for about a minute; `None` then.
    pub async fn prints_for(self, theirs: String) -> Option<Offered> {
        for attempt in 1..=MAX_ASKS {
            let mine = match (self.me.get_untracked(), platform::load(KEY_KEY)) {
                (Some(known), _) => Some(known),
                (None, Some(key)) => fingerprint(&key).await,
                (None, None) => Some(String::new()),
            };
            if let (Some(mine), Some(their_print)) = (mine, fingerprint(&theirs).await) {
                return Some(Offered {
                    key: theirs,
                    theirs: their_print,
                    mine,
                });
            }
            if attempt < MAX_ASKS {
                platform::sleep(backoff_ms(self.settings.poll_interval_ms, attempt)).await;
            }
        }
        None
    }

    /// The person keeps this browser's key: the link is forgotten.
    pub fn keep_key(self) {
        platform::save(LINK_KEY, "");
        self.offered.set(None);
    }

    /// The person switches to the link's key (`offered`, with its fingerprint): from now on this
    /// browser writes as its owner. The page loads again: what it shows, counts and follows
    /// (the direct rooms above all) was the other key's.
    pub fn switch_key(self, offered: Offered) {
        platform::save(LINK_KEY, "");
        platform::save(KEY_KEY, &offered.key);
        self.keyless.set(false);
        self.learn_author(Some(offered.theirs));
        self.offered.set(None);
        platform::reload();
    }

    /// Another tab of this browser changed what it remembers (`storage` event; `key` `None`:
    /// it cleared everything): a fingerprint learnt there is this tab's too; a key switched
    /// there (or cleared) makes this page load again, as it does in that tab. A key made there
    /// is this tab's from its next sync on.
    pub(super) fn stored_elsewhere(
        self,
        key: Option<String>,
        old: Option<String>,
        new: Option<String>,
    ) {
        match key.as_deref() {
            Some(AUTHOR_KEY) => {
                if let Some(author) = new {
                    self.me.set(Some(author));
                }
            }
            Some(KEY_KEY) if old.is_some() && old != new => platform::reload(),
            None => platform::reload(),
            _ => {}
        }
    }

    /// Copies the link that carries this browser's key to another device; whether it could.
    pub async fn copy_link(self) -> bool {
        match self.key() {
            Some(key) => platform::copy(&link_of_key(&platform::origin(), &key)).await,
            None => false,
        }
    }
}

/// The fingerprint the server shows for `key`, if it could be asked.
async fn fingerprint(key: &str) -> Option<String> {
    let ask = ClientEnvelope::Fingerprint(FingerprintRequest {
        key: key.to_owned(),
    });
    match platform::post(&ask).await.envelope() {
        Some(ServerEnvelope::Status(status)) if status.status == Outcome::Succeeded => {
            status.author
        }
        _ => None,
    }
}
