//! Desktop notifications: on or off for this browser (`chat.notify`, after the browser's
//! permission), each room's choice (`chat.notify.rooms`), and showing one for a message that
//! arrives unseen (the rules are `model::notify`'s). Only the tab that polls for the browser
//! notifies, and only of rooms no tab shows.

use leptos::prelude::*;

use crate::app::model::notify::{Choice, Recent, choice_of, with_choice};
use crate::app::platform;
use crate::protocol::ChatMessage;

/// Whether notifications are on in this browser.
const NOTIFY_KEY: &str = "chat.notify";
/// Each room's choice, as `room:all,other:off` (room names have neither `:` nor `,`).
const CHOICES_KEY: &str = "chat.notify.rooms";

/// The notifications of one page.
#[derive(Clone, Copy)]
pub struct Notifications {
    pub on: RwSignal<bool>,
    choices: RwSignal<String>,
    recent: StoredValue<Recent>,
}

impl Notifications {
    pub(super) fn new() -> Self {
        Self {
            on: RwSignal::new(false),
            choices: RwSignal::new(String::new()),
            recent: StoredValue::new(Recent::default()),
        }
    }

    /// What this browser chose before (permission revoked since: off).
    pub fn restore(self) {
        let on = platform::load(NOTIFY_KEY).is_some() && platform::notifications_allowed();
        self.on.set(on);
        self.choices
            .set(platform::load(CHOICES_KEY).unwrap_or_default());
    }

    /// `room`'s choice (followed when read in a view).
    pub fn choice(self, room: &str) -> Choice {
        self.choices.with(|choices| choice_of(choices, room))
    }

    pub fn set_choice(self, room: &str, choice: Choice) {
        let choices = self
            .choices
            .with_untracked(|list| with_choice(list, room, choice));
        platform::save(CHOICES_KEY, &choices);
        self.choices.set(choices);
    }

    /// Turns notifications on (asking the browser's permission first) or off.
    pub fn toggle(self) {
        if self.on.get_untracked() {
            platform::save(NOTIFY_KEY, "");
            self.on.set(false);
            return;
        }
        platform::ask_notifications(move |granted| {
            if granted {
                platform::save(NOTIFY_KEY, "on");
                self.on.try_set(true);
            } else {
                platform::alert(
                    "Notifications are blocked for this site: allow them in the browser's site settings first.",
                );
            }
        });
    }

    /// Notifies of `message`, which arrived unseen, if notifications are on and its room's
    /// choice covers it (`mentioned`: it mentions the reader). Settings changed in another tab
    /// count: they are read from storage.
    pub fn message(self, message: &ChatMessage, mentioned: bool) {
        let on = platform::load(NOTIFY_KEY).is_some();
        let choices = platform::load(CHOICES_KEY).unwrap_or_default();
        if !on || !choice_of(&choices, &message.room).covers(mentioned) {
            return;
        }
        let now = platform::now_ms();
        let Some(note) = self
            .recent
            .try_update_value(|recent| recent.note(message, now))
        else {
            return;
        };
        platform::notify(&note.title, &note.body, &note.tag, &note.href);
    }
}
