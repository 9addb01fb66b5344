//! Syncing: the rules are the model's (`model::poll`), the timers and requests the platform's.
//!
//! One tab of a browser polls for all of them (the leader, chosen with a Web Lock; another
//! takes over when it closes, is frozen, or falls silent): a browser opens at most six HTTP/1.1
//! connections to a host, and a long poll per tab would leave none to send with once six tabs
//! are open. The leader passes each reply on to the other tabs (a `BroadcastChannel`), and each
//! failure, which is also its heartbeat; the others take a reply in as their own. A tab that
//! finds a gap before a reply (it was frozen), or comes back into view, syncs once itself
//! (without waiting for news). Without Web Locks (they need a secure context: `https://`, or
//! `localhost`) every tab polls for itself, and more than five tabs open at once wait on each
//! other again.
//!
//! Hidden tabs keep the long poll (one request per wait while nothing happens), so news
//! reaches them at once. Without long polling the interval polls, and rests while nobody looks
//! (no tab of the browser visible) unless notifications are on.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::{ChatState, Connection, Settings};
use crate::app::model::log::{apply, merge};
use crate::app::model::poll::{NEWS_PAUSE_MS, backoff_ms, leader_silent, silence_ms, stalled};
use crate::app::model::rooms::{self, Place};
use crate::app::model::tabs::{Presence, TabMessage, Tabs};
use crate::app::platform::{self, Channel, Claim, Listener, Reply, Timer};
use crate::protocol::json::to_json;
use crate::protocol::{ChatMessage, ClientEnvelope, ServerEnvelope, SyncRequest};

/// The Web Lock whose holder polls for the browser, and the channel its tabs talk on.
const LEADER_LOCK: &str = "chat.poll";
const CHANNEL: &str = "chat.tabs";

/// This tab's part in polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Polls for itself (the browser has no Web Locks).
    Alone,
    /// Polls for every tab of the browser, and passes the replies on.
    Leader,
    /// Takes in what the leader passes on.
    Follower,
}

/// What polling keeps between calls: not reactive (views read `connection`).
struct Poll {
    /// The newest id taken in, in any room: what the next sync asks to follow.
    cursor: u64,
    in_flight: bool,
    /// The number of the newest sync, and when it was sent (ms since the epoch): the answer to
    /// one that was abandoned is not taken.
    generation: u64,
    started: u64,
    /// A sync was asked for while one was in flight: run another as soon as it ends.
    again: bool,
    /// A sync was asked for while this tab followed: if the lead comes to it before a sync of
    /// its own has run (the Wake went to no leader while the lock was being granted, or to one
    /// that closed), it syncs at once rather than at the next tick.
    asked: bool,
    failures: u32,
    stopped: bool,
    /// The key the sync in flight was sent with (it follows that key's direct rooms): a sync
    /// asked for once this browser has another (one was just made) is sent anew.
    asked_with: Option<String>,
    /// Whether the page knows this key's direct rooms (the first `rooms` reply is in): until
    /// then their messages that syncs bring are not counted (nor notified): the reply counts
    /// them.
    directs_known: bool,
    /// The server refused this browser's key on a sync (a malformed one, or a deleted bot's
    /// token taken from a link): syncs go without it, the served rooms at least.
    key_refused: bool,
    /// The next sync, when one is scheduled (a retry after a failure, or the pause after news);
    /// while it is set, ticks are skipped.
    retry: Option<Timer>,
    ticker: Option<Timer>,
    role: Role,
    /// This tab, to the others.
    tab: String,
    channel: Option<Channel>,
    /// The claim on the lead, and its number (a late word that a claim was lost is about it
    /// only if the numbers match).
    claim: Option<Claim>,
    claim_number: u64,
    /// The leader's: where the tabs are.
    tabs: Tabs,
    /// When the leader was last heard from (a follower's), in ms since the epoch.
    heard: u64,
    lifecycle: Vec<Listener>,
}

/// Polling's state, as a handle.
#[derive(Clone, Copy)]
pub(super) struct Poller(StoredValue<Poll, LocalStorage>);

impl Poller {
    pub fn new(cursor: u64) -> Self {
        Self(StoredValue::new_local(Poll {
            cursor,
            in_flight: false,
            generation: 0,
            started: 0,
            again: false,
            asked: false,
            failures: 0,
            stopped: false,
            asked_with: None,
            directs_known: false,
            key_refused: false,
            retry: None,
            ticker: None,
            role: Role::Alone,
            tab: platform::new_nonce(),
            channel: None,
            claim: None,
            claim_number: 0,
            tabs: Tabs::default(),
            heard: 0,
            lifecycle: Vec::new(),
        }))
    }

    fn with<T>(self, read: impl FnOnce(&Poll) -> T) -> Option<T> {
        self.0.try_with_value(read)
    }

    fn update<T>(self, change: impl FnOnce(&mut Poll) -> T) -> Option<T> {
        self.0.try_update_value(change)
    }
}

impl ChatState {
    /// The newest id taken in, in any room.
    pub(super) fn cursor(self) -> u64 {
        self.poll.with(|poll| poll.cursor).unwrap_or(0)
    }

    /// The key a sync is sent with now: this browser's, unless the server refused it.
    fn sync_key(self) -> Option<String> {
        let refused = self.poll.with(|poll| poll.key_refused).unwrap_or(true);
        self.existing_key().filter(|_| !refused)
    }

    /// The key's direct rooms are known (or could not be asked for): their messages count
    /// from now on.
    pub(super) fn follow_direct(self) {
        self.poll.update(|poll| poll.directs_known = true);
    }

    /// How long tabs may go unheard (see `model::poll::silence_ms`).
    fn silence_ms(self) -> u64 {
        silence_ms(self.settings.poll_interval_ms, self.settings.long_poll_ms)
    }

    /// Starts the heartbeat, the listeners, and the tabs' arrangement (from the effect that
    /// starts the page; everything stops when it is cleaned up).
    pub(super) fn start_polling(self) {
        let interval_ms = u32::try_from(self.settings.poll_interval_ms).unwrap_or(u32::MAX);
        let ticker = platform::every(interval_ms, move || self.tick());
        let visible = window_event_listener(leptos::ev::visibilitychange, move |_| {
            self.visible.set(!platform::hidden());
            self.looked();
        });
        let online = window_event_listener(leptos::ev::online, move |_| {
            self.back_online();
            self.sync_now();
        });
        let offline = window_event_listener(leptos::ev::offline, move |_| self.went_offline());
        let gone = window_event_listener(leptos::ev::pagehide, move |_| self.leave());
        // Back from the back-forward cache: the others forgot this tab when it left.
        let back = window_event_listener(leptos::ev::pageshow, move |_| self.woke());
        // Back and Forward: a room's newest page is shown in place, any other is loaded.
        let moved = window_event_listener(leptos::ev::popstate, move |_| self.went_back());
        // A key link opened in this page: only its fragment changed.
        let linked = window_event_listener(leptos::ev::hashchange, move |_| self.took_link());
        // Another tab made this browser's key, learnt its fingerprint, or switched keys.
        let stored = window_event_listener(leptos::ev::storage, move |ev| {
            self.stored_elsewhere(ev.key(), ev.old_value(), ev.new_value());
        });
        // A tab the browser freezes cannot poll: it hands the lead over (or takes back its
        // request for it), and asks again when it wakes.
        let lifecycle = vec![
            platform::on_document("freeze", move || self.step_down()),
            platform::on_document("resume", move || self.woke()),
        ];
        let channel = Channel::open(CHANNEL, move |text| self.heard(&text));
        let has_channel = channel.is_some();
        self.visible.set(!platform::hidden());
        self.poll.update(|poll| {
            poll.ticker = Some(ticker);
            poll.heard = platform::now_ms();
            poll.channel = channel;
            poll.lifecycle = lifecycle;
        });
        // Where this tab is, told to the leader whenever it changes.
        Effect::new(move |_| {
            let presence = Presence {
                tab: self.poll.with(|poll| poll.tab.clone()).unwrap_or_default(),
                room: self.room.get(),
                looking: !self.newer.get() && self.visible.get(),
            };
            self.present(presence);
        });
        if !(has_channel && self.stand_for_leader(false)) {
            // No Web Locks: this tab polls for itself. A long-polling page starts its poll at
            // once; so does a page that arrived without history (the client-only build).
            self.poll.update(|poll| poll.role = Role::Alone);
            if self.settings.long_poll_ms > 0 || self.cursor() == 0 {
                self.sync_now();
            }
        }
        // Nothing of the poller may outlive the component.
        on_cleanup(move || {
            self.leave();
            self.stop_polling();
            self.poll.update(|poll| {
                poll.channel = None;
                poll.lifecycle.clear();
            });
            for listener in [visible, online, offline, gone, back, moved, linked, stored] {
                listener.remove();
            }
        });
    }

    /// Stops polling for good (a new version is out, or the page is going): and lets another
    /// tab lead.
    pub(super) fn stop_polling(self) {
        self.poll.update(|poll| {
            poll.stopped = true;
            poll.ticker = None;
            poll.retry = None;
            poll.generation += 1;
            poll.in_flight = false;
            if poll.role == Role::Leader {
                poll.role = Role::Follower;
            }
            if let Some(claim) = poll.claim.take() {
                claim.release();
            }
        });
    }

    fn role(self) -> Role {
        self.poll.with(|poll| poll.role).unwrap_or(Role::Alone)
    }

    /// Asks for the lead (queued behind the tab that has it; `steal`: taken from it). Whether
    /// the browser has Web Locks.
    fn stand_for_leader(self, steal: bool) -> bool {
        if self.poll.with(|poll| poll.stopped).unwrap_or(true) {
            return false;
        }
        let Some(number) = self.poll.update(|poll| {
            poll.claim_number += 1;
            poll.claim_number
        }) else {
            return false;
        };
        let claim = platform::claim(
            LEADER_LOCK,
            steal,
            move || self.lead(number),
            move || self.lost_lead(number),
        );
        let Some(claim) = claim else {
            return false;
        };
        self.poll.update(|poll| {
            if let Some(earlier) = poll.claim.replace(claim) {
                earlier.release();
            }
            if poll.role == Role::Alone {
                poll.role = Role::Follower;
            }
            poll.heard = platform::now_ms();
        });
        if self.role() == Role::Follower {
            self.tell(&TabMessage::Presence(self.presence()));
        }
        true
    }

    /// This tab now polls for the browser (by its claim `number`). A long poll starts at once
    /// (the last leader's is gone with it), and so does a page that arrived without history
    /// (the client-only build) or asked for a sync that nobody ran (its message was just
    /// stored); otherwise the next tick polls.
    fn lead(self, number: u64) {
        let me = self.presence();
        let now = platform::now_ms();
        let current = self.poll.update(|poll| {
            if poll.claim_number != number || poll.stopped {
                return None;
            }
            poll.role = Role::Leader;
            poll.tabs = Tabs::default();
            poll.tabs.update(me, now);
            Some(poll.asked)
        });
        let Some(Some(asked)) = current else {
            return;
        };
        self.tell(&TabMessage::Hello);
        if self.settings.long_poll_ms > 0 || self.cursor() == 0 || asked {
            self.sync_now();
        }
    }

    /// Another tab took the lead (it stole it: this one was silent too long). The poll this tab
    /// holds is dropped; it follows, and stands again for when the new leader goes.
    fn lost_lead(self, number: u64) {
        let lost = self.poll.update(|poll| {
            if poll.claim_number != number {
                return false;
            }
            poll.claim = None;
            poll.role = Role::Follower;
            poll.heard = platform::now_ms();
            poll.generation += 1;
            poll.in_flight = false;
            poll.retry = None;
            true
        });
        if lost == Some(true) {
            self.stand_for_leader(false);
        }
    }

    /// The browser freezes this tab: it lets another lead, and takes back a request for the
    /// lead that still waits (a frozen tab handed the lock could not use it).
    fn step_down(self) {
        self.poll.update(|poll| {
            if poll.role == Role::Leader {
                poll.role = Role::Follower;
                poll.generation += 1;
                poll.in_flight = false;
                poll.retry = None;
            }
            if let Some(claim) = poll.claim.take() {
                claim.release();
            }
        });
    }

    /// The tab is back (from being frozen, or from the back-forward cache): it stands for the
    /// lead again, tells where it is, and catches up on what it missed.
    fn woke(self) {
        if self.poll.with(|poll| poll.claim.is_none()).unwrap_or(false) {
            self.stand_for_leader(false);
        }
        self.tell(&TabMessage::Presence(self.presence()));
        if self.role() == Role::Follower {
            self.catch_up();
        }
    }

    /// The tab is closing: the others stop counting it.
    fn leave(self) {
        if let Some(tab) = self.poll.with(|poll| poll.tab.clone()) {
            self.tell(&TabMessage::Gone { tab });
        }
    }

    fn presence(self) -> Presence {
        Presence {
            tab: self.poll.with(|poll| poll.tab.clone()).unwrap_or_default(),
            room: self.room.get_untracked(),
            looking: !self.newer.get_untracked() && self.visible.get_untracked(),
        }
    }

    /// Tells the leader (or, leading, itself) where this tab is.
    fn present(self, presence: Presence) {
        match self.role() {
            Role::Leader => {
                let now = platform::now_ms();
                self.poll.update(|poll| poll.tabs.update(presence, now));
            }
            Role::Follower => self.tell(&TabMessage::Presence(presence)),
            Role::Alone => {}
        }
    }

    /// The leader learns where another tab is. If it is the first to look (a leader without
    /// long polling rests while nobody looks), it syncs now.
    fn seen_at(self, presence: Presence) {
        let looking = presence.looking;
        let now = platform::now_ms();
        let fresh = self.silence_ms();
        let first = self.poll.update(|poll| {
            let before = poll.tabs.anyone_looking(now, fresh);
            poll.tabs.update(presence, now);
            !before
        });
        if looking && first == Some(true) {
            self.sync_now();
        }
    }

    /// Sends a message to the other tabs.
    fn tell(self, message: &TabMessage) {
        self.poll.with(|poll| {
            if let Some(channel) = &poll.channel {
                channel.post(&to_json(message));
            }
        });
    }

    /// A message from another tab.
    fn heard(self, text: &str) {
        let Some(Ok(message)) = platform::read::<TabMessage>(text) else {
            // Another build's tab, speaking another version: it will reload, or this one will.
            return;
        };
        let role = self.role();
        match message {
            TabMessage::Synced { from, reply, build } => {
                self.poll.update(|poll| poll.heard = platform::now_ms());
                if role != Role::Follower {
                    return;
                }
                self.check_build(build.as_deref());
                // Still here, and where: the leader forgets tabs that stop saying so.
                self.tell(&TabMessage::Presence(self.presence()));
                if matches!(self.connection.get_untracked(), Connection::Reconnecting(_)) {
                    self.connection.set(Connection::Connected);
                }
                if from > self.cursor() {
                    // This tab missed what came before (it was frozen): it catches up itself,
                    // which brings this reply's items too.
                    self.catch_up();
                    return;
                }
                match platform::read::<ServerEnvelope>(&reply) {
                    Some(Ok(ServerEnvelope::Sync(items))) => self.receive(items),
                    // A reply the leader read and this tab cannot: another build.
                    _ => self.new_version(),
                }
            }
            TabMessage::Failing { next_ms } => {
                self.poll.update(|poll| poll.heard = platform::now_ms());
                if role == Role::Follower
                    && self.connection.get_untracked() != Connection::NewVersion
                {
                    self.connection.set(Connection::Reconnecting(next_ms));
                }
            }
            TabMessage::Wake if role == Role::Leader => self.sync_now(),
            TabMessage::Presence(presence) if role == Role::Leader => self.seen_at(presence),
            TabMessage::Gone { tab } if role == Role::Leader => {
                self.poll.update(|poll| poll.tabs.gone(&tab));
            }
            TabMessage::Hello => {
                self.poll.update(|poll| poll.heard = platform::now_ms());
                self.tell(&TabMessage::Presence(self.presence()));
            }
            _ => {}
        }
    }

    /// The tab came into view, or left it. Coming into view, a follower catches up itself
    /// (the leader's poll may be held for a while yet).
    fn looked(self) {
        if self.visible.get_untracked() {
            if !self.newer.get_untracked() {
                self.mark_seen();
            }
            match self.role() {
                Role::Follower => self.catch_up(),
                Role::Leader | Role::Alone => self.sync_now(),
            }
        }
    }

    /// Whether this browser wants news while nobody looks: notifications are on.
    fn wants_news_unseen(self) -> bool {
        self.notifications.on.get_untracked()
    }

    /// An interval tick, the heartbeat.
    fn tick(self) {
        let Some((role, in_flight, started, backing_off, quiet)) = self.poll.with(|poll| {
            (
                poll.role,
                poll.in_flight,
                poll.started,
                poll.retry.is_some(),
                platform::now_ms().saturating_sub(poll.heard),
            )
        }) else {
            return;
        };
        let Settings {
            poll_interval_ms,
            long_poll_ms,
            ..
        } = self.settings;
        let now = platform::now_ms();
        if role == Role::Follower {
            // Its own catch-up that has stalled is abandoned for a new one.
            if in_flight && stalled(now, started, 0) {
                self.sync();
            }
            // The leader is gone or asleep: take over, if this tab wants news at all.
            let visible = self.visible.get_untracked();
            let wants = long_poll_ms > 0 || visible || self.wants_news_unseen();
            if wants && leader_silent(quiet, poll_interval_ms, long_poll_ms) {
                self.stand_for_leader(true);
            }
            return;
        }
        if in_flight {
            // A long poll with no answer 10 s past its wait has stalled: abandon it.
            if stalled(now, started, long_poll_ms) {
                self.sync();
            }
            return;
        }
        // Without long polling, nobody looking and no notifications: rest.
        let fresh = self.silence_ms();
        let looking = match role {
            Role::Leader => self
                .poll
                .with(|poll| poll.tabs.anyone_looking(now, fresh))
                .unwrap_or(true),
            _ => self.visible.get_untracked(),
        };
        let resting = long_poll_ms == 0 && !looking && !self.wants_news_unseen();
        if backing_off || resting {
            return;
        }
        self.sync();
    }

    /// Syncs now, or as soon as the sync in flight ends; cancels a pending back-off or pause.
    /// A follower asks the leader to.
    pub(super) fn sync_now(self) {
        match self.role() {
            Role::Follower => {
                self.poll.update(|poll| poll.asked = true);
                self.tell(&TabMessage::Wake);
            }
            Role::Leader | Role::Alone => {
                let wanted = self.sync_key();
                let now = self.poll.update(|poll| {
                    poll.retry = None;
                    if poll.in_flight && poll.asked_with != wanted {
                        // Held for a key this browser no longer syncs with (it made one since):
                        // abandoned for one that is.
                        poll.generation += 1;
                        poll.in_flight = false;
                    }
                    if poll.in_flight {
                        poll.again = true;
                    }
                    !poll.in_flight && !poll.stopped
                });
                if now == Some(true) {
                    self.sync();
                }
            }
        }
    }

    /// A follower's own sync, not held and not passed on: to fill a gap, or to be current at
    /// once. While one is in flight, another follows it.
    fn catch_up(self) {
        let now = self.poll.update(|poll| {
            if poll.in_flight {
                poll.again = true;
            }
            !poll.in_flight
        });
        if now == Some(true) {
            self.sync();
        }
    }

    fn sync(self) {
        let Some((number, last, role)) = self
            .poll
            .update(|poll| {
                if poll.stopped {
                    return None;
                }
                poll.generation += 1;
                poll.started = platform::now_ms();
                poll.in_flight = true;
                poll.again = false;
                poll.asked = false;
                Some((poll.generation, poll.cursor, poll.role))
            })
            .flatten()
        else {
            return;
        };
        // A follower catching up asks for what is there now; only a poller waits for news.
        let held = role != Role::Follower && self.settings.long_poll_ms > 0;
        // The served rooms by name; with a key, its direct rooms too, a conversation's first
        // message included.
        let key = self.sync_key();
        self.poll.update(|poll| poll.asked_with.clone_from(&key));
        let keyed = key.is_some();
        let request = SyncRequest {
            last_message: last,
            rooms: Some(self.rooms.with_untracked(|rooms| {
                rooms
                    .iter()
                    .filter(|room| !rooms::is_direct(&room.name))
                    .map(|room| room.name.clone())
                    .collect()
            })),
            wait_ms: held.then_some(self.settings.long_poll_ms),
            direct: key.is_some(),
            key,
        };
        spawn_local(async move {
            let exchange = platform::post(&ClientEnvelope::Sync(request)).await;
            // The page may be gone by now, or this sync abandoned (stalled, or the lead lost).
            let current = self.poll.update(|poll| {
                let current = poll.generation == number;
                if current {
                    poll.in_flight = false;
                }
                current
            });
            if current != Some(true) {
                return;
            }
            let leading = role == Role::Leader && self.role() == Role::Leader;
            match exchange.reply {
                Reply::Envelope(ServerEnvelope::Sync(items), text) => {
                    if leading {
                        self.tell(&TabMessage::Synced {
                            from: last,
                            reply: text,
                            build: exchange.build.clone(),
                        });
                    }
                    self.check_build(exchange.build.as_deref());
                    self.synced(items);
                }
                Reply::Unreadable(..) => self.new_version(),
                Reply::Envelope(ServerEnvelope::Status(_), _)
                    if keyed && matches!(exchange.status, 400 | 403) =>
                {
                    leptos::logging::warn!(
                        "the server refuses this browser's key: syncing without it"
                    );
                    self.poll.update(|poll| poll.key_refused = true);
                    self.sync();
                }
                _ => self.failed(leading),
            }
        });
    }

    /// A sync succeeded with `items`: take them in, then poll again as the rules say.
    fn synced(self, items: Vec<ChatMessage>) {
        let full = items.len() >= self.settings.max_sync_batch;
        let news = !items.is_empty();
        self.receive(items);
        let failed_before = self
            .poll
            .update(|poll| std::mem::replace(&mut poll.failures, 0))
            .unwrap_or(0);
        if failed_before > 0
            && matches!(self.connection.get_untracked(), Connection::Reconnecting(_))
        {
            self.connection.set(Connection::Connected);
        }
        self.reachable();
        let again = full || self.poll.with(|poll| poll.again).unwrap_or(false);
        if self.role() == Role::Follower {
            // A full batch, or a gap found meanwhile: once more.
            if again {
                self.catch_up();
            }
            return;
        }
        let long = self.settings.long_poll_ms > 0;
        // Long polling: the next poll at once, unless this one brought news.
        if again || (long && !news) {
            self.sync_now();
        } else if long {
            // A busy room would otherwise cost a request per message per browser.
            self.pause(NEWS_PAUSE_MS);
        }
    }

    /// Syncs again after `delay`; until then ticks are skipped, and `sync_now` cuts it short.
    fn pause(self, delay: u32) {
        let timer = platform::after(delay, move || {
            self.poll.update(|poll| poll.retry = None);
            self.sync_now();
        });
        self.poll.update(|poll| poll.retry = Some(timer));
    }

    /// A sync failed: try again after the back-off, and say when (a leader tells the other
    /// tabs too: they show it, and hear that it is still there).
    fn failed(self, leading: bool) {
        let Some(failures) = self.poll.update(|poll| {
            poll.failures += 1;
            poll.failures
        }) else {
            return;
        };
        let delay = backoff_ms(self.settings.poll_interval_ms, failures);
        if self.connection.get_untracked() != Connection::NewVersion {
            self.connection.set(Connection::Reconnecting(delay));
        }
        if leading {
            self.tell(&TabMessage::Failing { next_ms: delay });
        }
        if self.role() != Role::Follower {
            self.pause(delay);
        }
    }

    /// Takes in the items of a sync (this tab's, or the leader's passed on): the shown room's
    /// messages join the log, the others count; edits and deletes change the messages they are
    /// about; the outbox lets go of what arrived; and the leader notifies.
    pub(super) fn receive(self, items: Vec<ChatMessage>) {
        self.learn_names(&items);
        let reader = self.reader();
        let place_room = self.room.get_untracked();
        let place = Place {
            room: &place_room,
            live: !self.newer.get_untracked(),
            hidden: !self.visible.get_untracked(),
            direct_known: self.poll.with(|poll| poll.directs_known).unwrap_or(false),
        };
        let mut cursor = self.cursor();
        let mut received = Default::default();
        self.rooms.update(|rooms| {
            received = rooms::receive(rooms, &mut cursor, items, place, &reader);
        });
        self.poll.update(|poll| poll.cursor = cursor);
        let rooms::Received {
            shown,
            events,
            unread,
            mine,
        } = received;
        // Messages sent from here that this batch brought leave the outbox: no line twice.
        for message in &mine {
            self.outbox.update(|queue| queue.arrived(message));
        }
        if self.outbox.with_untracked(|queue| queue.settles(cursor)) {
            self.outbox.update(|queue| queue.settle(cursor));
        }
        if !events.is_empty() {
            self.messages.update(|kept| apply(kept, events));
        }
        if !shown.is_empty() {
            self.messages.update(|kept| {
                merge(kept, shown, true);
            });
            if place.live && !place.hidden {
                self.mark_seen();
            }
        }
        match self.role() {
            Role::Follower => {}
            role => {
                let now = platform::now_ms();
                let fresh = self.silence_ms();
                // The leader is one of the tabs: still here, and where.
                if role == Role::Leader {
                    let me = self.presence();
                    self.poll.update(|poll| poll.tabs.update(me, now));
                }
                let tabs = self.poll.with(|poll| poll.tabs.clone()).unwrap_or_default();
                for (message, mentioned) in unread {
                    if !tabs.looking_at(&message.room, now, fresh) {
                        self.notifications.message(&message, mentioned);
                    }
                }
            }
        }
    }
}
