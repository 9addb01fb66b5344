//! Desktop notifications: the `Notifications` button (with `aria-pressed`) asks the browser's
//! permission and turns them on or off for this browser; each room's choice, `All`, `Mentions`
//! (the default) or `Off`, is kept in localStorage. While they are on, a hidden tab keeps
//! polling, and a message by someone else that its room's choice covers, arriving while the tab
//! is hidden or another room is shown, shows one notification (`#room · sender`, the text's
//! first 200 characters); clicking it opens the message's permalink in this tab. Several within
//! a few seconds are collapsed into one per room (the browser replaces a notification that has
//! the same tag).

use leptos::prelude::*;

use super::browser;
use super::chat::Chat;
use crate::protocol::ChatMessage;

/// Whether notifications are on in this browser.
pub const NOTIFY_KEY: &str = "chat.notify";
/// Each room's choice, as `room:all,other:off` (room names have neither `:` nor `,`).
const CHOICES_KEY: &str = "chat.notify.rooms";
/// Messages of one room this close together share a notification.
const COLLAPSE_MS: u64 = 5_000;
/// The most characters of a message a notification shows.
const BODY_CHARS: usize = 200;

/// What a room notifies of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    All,
    Mentions,
    Off,
}

impl Choice {
    fn name(self) -> &'static str {
        match self {
            Choice::All => "all",
            Choice::Mentions => "mentions",
            Choice::Off => "off",
        }
    }

    fn from_name(name: &str) -> Self {
        match name {
            "all" => Choice::All,
            "off" => Choice::Off,
            _ => Choice::Mentions,
        }
    }
}

/// `room`'s choice in the stored list (`Mentions` when it has none).
pub fn choice_of(choices: &str, room: &str) -> Choice {
    choices
        .split(',')
        .filter_map(|entry| entry.split_once(':'))
        .find(|(name, _)| *name == room)
        .map_or(Choice::Mentions, |(_, choice)| Choice::from_name(choice))
}

/// The stored list with `room` set to `choice`.
pub fn with_choice(choices: &str, room: &str, choice: Choice) -> String {
    choices
        .split(',')
        .filter(|entry| entry.split_once(':').is_some_and(|(name, _)| name != room))
        .map(str::to_owned)
        .chain((choice != Choice::Mentions).then(|| format!("{room}:{}", choice.name())))
        .collect::<Vec<_>>()
        .join(",")
}

/// The notifications of one page: whether they are on, the rooms' choices, and when each
/// room last notified (for collapsing).
#[derive(Clone, Copy)]
pub struct Notifier {
    pub on: RwSignal<bool>,
    pub choices: RwSignal<String>,
    recent: StoredValue<Vec<(String, u64, u32)>>,
}

impl Notifier {
    pub fn new() -> Self {
        Self {
            on: RwSignal::new(false),
            choices: RwSignal::new(String::new()),
            recent: StoredValue::new(Vec::new()),
        }
    }

    /// What this browser chose before (permission revoked since: off).
    pub fn restore(self) {
        let on = browser::load(NOTIFY_KEY).is_some() && browser::notifications_allowed();
        self.on.set(on);
        self.choices
            .set(browser::load(CHOICES_KEY).unwrap_or_default());
    }

    /// Puts the state on the controls: the button pressed or not, and the choice of `room`
    /// (shown only while notifications are on).
    pub fn show(self, room: &str) {
        let on = self.on.get_untracked();
        browser::set_attribute(BUTTON_ID, "aria-pressed", if on { "true" } else { "false" });
        browser::set_attribute(CHOICE_ID, "hidden", if on { "" } else { "hidden" });
        let choice = self
            .choices
            .with_untracked(|choices| choice_of(choices, room));
        browser::set_value(CHOICE_ID, choice.name());
    }

    pub fn set_choice(self, room: &str, choice: Choice) {
        let choices = self
            .choices
            .with_untracked(|list| with_choice(list, room, choice));
        browser::save(CHOICES_KEY, &choices);
        self.choices.set(choices);
    }

    /// Turns notifications on (asking the browser's permission first) or off.
    pub fn toggle(self, room: RwSignal<String>) {
        if self.on.get_untracked() {
            browser::save(NOTIFY_KEY, "");
            self.on.set(false);
            self.show(&room.get_untracked());
            return;
        }
        browser::ask_notifications(move |granted| {
            if granted {
                browser::save(NOTIFY_KEY, "on");
                self.on.try_set(true);
                if let Some(room) = room.try_get_untracked() {
                    self.show(&room);
                }
            } else {
                browser::alert(
                    "Notifications are blocked for this site: allow them in the browser's site settings first.",
                );
            }
        });
    }

    /// Notifies of `message`, which arrived while the tab was hidden or another room shown,
    /// if notifications are on and its room's choice covers it (`mentions_me` says whether it
    /// mentions the reader; the reader's own messages never come here).
    pub fn message(self, message: &ChatMessage, mentions_me: bool) {
        let choice = self
            .choices
            .with_untracked(|choices| choice_of(choices, &message.room));
        let covered = match choice {
            Choice::All => true,
            Choice::Mentions => mentions_me,
            Choice::Off => false,
        };
        if !self.on.get_untracked() || !covered {
            return;
        }
        let now = browser::now_ms();
        let mut count = 1;
        self.recent.update_value(|recent| {
            match recent.iter_mut().find(|(room, ..)| *room == message.room) {
                Some((_, at, seen)) => {
                    *seen = if now.saturating_sub(*at) < COLLAPSE_MS {
                        *seen + 1
                    } else {
                        1
                    };
                    *at = now;
                    count = *seen;
                }
                None => recent.push((message.room.clone(), now, 1)),
            }
        });
        let title = if count > 1 {
            format!("#{} · {count} new messages", message.room)
        } else {
            format!("#{} · {}", message.room, message.sender)
        };
        let body: String = message.message.chars().take(BODY_CHARS).collect();
        let href = format!("/r/{}/{}", message.room, message.id);
        browser::notify(&title, &body, &message.room, &href);
    }
}

const BUTTON_ID: &str = "notify-toggle";
const CHOICE_ID: &str = "notify-choice";

/// The button and, while notifications are on, the room shown's choice. Drawn once; their
/// state is set on the elements by [`Notifier::show`] (no reactive attributes: smaller bundle).
#[component]
pub fn NotifyControls(chat: Chat) -> impl IntoView {
    let notifier = chat.notifier;
    view! {
        <div class="notify">
            <button
                type="button"
                id=BUTTON_ID
                aria-pressed="false"
                on:click=move |_| notifier.toggle(chat.room)
            >
                "Notifications"
            </button>
            <select
                id=CHOICE_ID
                aria-label="Notify me of"
                hidden=true
                on:change=move |ev| {
                    let room = chat.room.get_untracked();
                    notifier.set_choice(&room, Choice::from_name(&event_target_value(&ev)));
                }
            >
                <option value="all">"All"</option>
                <option value="mentions">"Mentions"</option>
                <option value="off">"Off"</option>
            </select>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_kept_per_room_with_mentions_the_default() {
        assert_eq!(choice_of("", "dev"), Choice::Mentions);
        let list = with_choice("", "dev", Choice::All);
        let list = with_choice(&list, "ops", Choice::Off);
        assert_eq!(list, "dev:all,ops:off");
        assert_eq!(choice_of(&list, "dev"), Choice::All);
        assert_eq!(choice_of(&list, "ops"), Choice::Off);
        assert_eq!(choice_of(&list, "general"), Choice::Mentions);
        assert_eq!(with_choice(&list, "dev", Choice::Mentions), "ops:off");
    }
}
