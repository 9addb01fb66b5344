//! The one component that owns the conversation: the message list in a signal, the poller
//! that keeps it current, and the name of the person at this page.
//!
//! Polling rules: at most one `sync` in flight; a tick that finds one pending is skipped; a
//! full reply (the server's batch limit) or a request made while one was pending is followed at
//! once by another; while the tab is hidden ticks are skipped; after a failure, retry with
//! exponential back-off capped at 30 s and show "reconnecting" until a sync succeeds.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::browser::{self, Timer};
use super::composer::Composer;
use super::messages::MessageList;
use super::{ChatConfig, PageState};
use crate::protocol::{ChatMessage, ClientEnvelope, ServerEnvelope, SyncRequest};

/// The most messages a page keeps; older ones leave the page (not the server) so a tab left
/// open for weeks does not grow without bound.
pub const MAX_KEPT: usize = 2000;
/// The longest wait between retries of a failing sync.
pub const MAX_BACKOFF_MS: u32 = 30_000;

const NAME_KEY: &str = "chat.name";

/// Adds `incoming` to `kept`, which stays in ascending id order without duplicates.
pub fn merge(kept: &mut Vec<ChatMessage>, incoming: Vec<ChatMessage>) {
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
    if kept.len() > MAX_KEPT {
        kept.drain(..kept.len() - MAX_KEPT);
    }
}

/// How long to wait before retry number `failures` (1 for the first).
pub fn backoff_ms(poll_interval_ms: u64, failures: u32) -> u32 {
    let base = poll_interval_ms.clamp(100, u64::from(MAX_BACKOFF_MS));
    let factor = 1u64 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(u64::from(MAX_BACKOFF_MS)) as u32
}

/// The poller's state. Every field is a copyable handle into the reactive arena, owned by the
/// `Chat` component, so it is dropped (and its timers cancelled) when the component is.
#[derive(Clone, Copy)]
struct Poller {
    messages: RwSignal<Vec<ChatMessage>>,
    failures: RwSignal<u32>,
    config: ChatConfig,
    in_flight: StoredValue<bool>,
    /// A sync was asked for while one was in flight: run another as soon as it ends.
    again: StoredValue<bool>,
    /// The pending retry after a failure; while it is set, ticks are skipped.
    retry: StoredValue<Option<Timer>, LocalStorage>,
}

impl Poller {
    fn last_id(self) -> u64 {
        self.messages
            .try_with_untracked(|kept| kept.last().map_or(0, |m| m.id))
            .unwrap_or(0)
    }

    /// An interval tick: skipped while hidden, backing off, or with a sync in flight.
    fn tick(self) {
        let backing_off = self.retry.try_with_value(Option::is_some).unwrap_or(true);
        if browser::page_hidden() || backing_off || self.in_flight.get_value() {
            return;
        }
        self.sync();
    }

    /// Syncs now, or as soon as the sync in flight ends. Cancels a pending back-off.
    fn sync_now(self) {
        self.retry.try_set_value(None);
        if self.in_flight.get_value() {
            self.again.set_value(true);
        } else {
            self.sync();
        }
    }

    fn sync(self) {
        self.in_flight.set_value(true);
        self.again.set_value(false);
        let last = self.last_id();
        spawn_local(async move {
            let reply =
                browser::post(&ClientEnvelope::Sync(SyncRequest { last_message: last })).await;
            // The component may be gone by now; every access below tolerates that.
            if self.in_flight.try_set_value(false).is_some() {
                return;
            }
            match reply {
                Ok(ServerEnvelope::Sync(batch)) => {
                    let full = batch.len() >= self.config.limits.max_sync_batch;
                    if !batch.is_empty() {
                        self.messages.try_update(|kept| merge(kept, batch));
                    }
                    if self.failures.try_get_untracked().unwrap_or(0) != 0 {
                        self.failures.try_set(0);
                    }
                    if full || self.again.try_get_value().unwrap_or(false) {
                        self.sync();
                    }
                }
                Ok(ServerEnvelope::Status(_)) | Err(_) => self.failed(),
            }
        });
    }

    fn failed(self) {
        let Some(failures) = self.failures.try_update(|n| {
            *n += 1;
            *n
        }) else {
            return;
        };
        let delay = backoff_ms(self.config.poll_interval_ms, failures);
        let timer = browser::after(delay, move || {
            self.retry.try_set_value(None);
            self.sync_now();
        });
        self.retry.try_set_value(Some(timer));
    }
}

#[component]
pub fn Chat(page: PageState) -> impl IntoView {
    let config = page.config;
    let messages = RwSignal::new(page.messages);
    let failures = RwSignal::new(0u32);
    let name = RwSignal::new(String::new());
    let poller = Poller {
        messages,
        failures,
        config,
        in_flight: StoredValue::new(false),
        again: StoredValue::new(false),
        retry: StoredValue::new_local(None),
    };

    // Effects run only in the browser, once the page is hydrated: start polling there.
    Effect::new(move |_| {
        if let Some(saved) = browser::load(NAME_KEY) {
            name.set(saved);
        }
        let interval_ms = u32::try_from(config.poll_interval_ms).unwrap_or(u32::MAX);
        let ticker = browser::every(interval_ms, move || poller.tick());
        let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
            if !browser::page_hidden() {
                poller.sync_now();
            }
        });
        let online = window_event_listener(leptos::ev::online, move |_| poller.sync_now());
        // A page that arrived without history (the client-only build) loads it at once.
        if poller.last_id() == 0 {
            poller.sync_now();
        }
        // Nothing of the poller may outlive the component: stop the interval, the pending
        // retry and the listeners when it unmounts.
        let ticker = send_wrapper::SendWrapper::new(ticker);
        on_cleanup(move || {
            drop(ticker);
            poller.retry.try_set_value(None);
            visible.remove();
            online.remove();
        });
    });
    // The one place the name is remembered: whenever it changes (also when loaded above).
    Effect::watch(
        move || name.get(),
        |name, _, _| browser::save(NAME_KEY, name.trim()),
        false,
    );
    // Rows compare against this, so a keystroke that leaves the trimmed name as it was
    // touches none of them.
    let me = Memo::new(move |_| name.with(|name| name.trim().to_owned()));

    view! {
        // Always in the page, its text changing: a live region inserted together with its
        // text is often not announced.
        <p class="reconnecting" role="status">
            {move || (failures.get() > 0).then_some("Reconnecting…")}
        </p>
        <MessageList messages=messages.read_only() me/>
        <Composer name limits=config.limits on_sent=move |()| poller.sync_now()/>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: u64) -> ChatMessage {
        ChatMessage {
            id,
            sender: "a".into(),
            message: format!("m{id}"),
            sent_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn ids(kept: &[ChatMessage]) -> Vec<u64> {
        kept.iter().map(|m| m.id).collect()
    }

    #[test]
    fn merge_keeps_id_order_without_duplicates() {
        let mut kept = vec![message(1), message(3)];
        merge(&mut kept, vec![message(3), message(4), message(5)]);
        assert_eq!(ids(&kept), [1, 3, 4, 5]);
        merge(&mut kept, vec![message(2), message(5), message(1)]);
        assert_eq!(ids(&kept), [1, 2, 3, 4, 5]);
        merge(&mut kept, Vec::new());
        assert_eq!(ids(&kept), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn merge_drops_the_oldest_past_the_cap() {
        let mut kept = Vec::new();
        merge(&mut kept, (1..=MAX_KEPT as u64 + 10).map(message).collect());
        assert_eq!(kept.len(), MAX_KEPT);
        assert_eq!(kept[0].id, 11);
    }

    #[test]
    fn backoff_doubles_and_caps_at_30_seconds() {
        let delays: Vec<u32> = (1..=7).map(|n| backoff_ms(1000, n)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff_ms(1000, 1000), 30000);
    }
}
