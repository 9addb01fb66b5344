//! Waiting for news, room by room: what a held (long-polling) `sync` waits on.
//!
//! One [`Notify`] per room, made when first needed. A waiter registers with every room it
//! follows *before* it checks the tail for news, so a commit that lands between its check and
//! its wait still wakes it. A commit wakes the waiters of its rooms only, all at once
//! (`notify_waiters`: one short lock per room and commit, not one per waiter), and each then
//! builds its reply from the tail, where every message's JSON is already encoded. Nothing runs
//! for a waiting request in between: it is a parked future, not a task that polls.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use tokio::sync::Notify;

use crate::protocol::direct_members;
use tokio::sync::futures::OwnedNotified;

/// The bell that rings for a commit in any direct room of `member` (a fingerprint): what a sync
/// that follows a key's direct rooms waits on, for a conversation that has no message yet too.
/// Not a room's name (those never begin with `@`).
pub fn member_bell(member: &str) -> String {
    format!("@{member}")
}

#[derive(Default)]
pub struct Bells {
    rooms: RwLock<HashMap<String, Arc<Notify>>>,
}

impl Bells {
    /// Wakes whoever waits on any of `rooms` (repeats are fine: each room rings once), and for
    /// a direct room whoever waits on its members' bells ([`member_bell`]).
    pub fn ring<'a>(&self, rooms: impl IntoIterator<Item = &'a str>) {
        let mut rung: Vec<&str> = Vec::new();
        // Only lookups and `notify_waiters` run under this lock: nothing can tear it.
        let bells = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        for room in rooms {
            if rung.contains(&room) {
                continue;
            }
            rung.push(room);
            if let Some(bell) = bells.get(room) {
                bell.notify_waiters();
            }
            if let Some((a, b)) = direct_members(room) {
                for member in [a, b] {
                    if let Some(bell) = bells.get(&member_bell(member)) {
                        bell.notify_waiters();
                    }
                }
            }
        }
    }

    /// A wait for the next commit in any of `rooms`, registered now.
    pub fn listen(&self, rooms: &[String]) -> News {
        let mut waits = Vec::with_capacity(rooms.len());
        for room in rooms {
            let bell = self.bell(room);
            let mut wait = Box::pin(bell.notified_owned());
            wait.as_mut().enable();
            waits.push(wait);
        }
        News(waits)
    }

    /// Forgets the bells nobody waits on (made again when someone does), so that their number
    /// follows the rooms waited on lately, not every name ever waited on. Run now and then,
    /// off the request path.
    pub fn sweep(&self) {
        let mut bells = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        // A waiter holds its bell (its `OwnedNotified`): the map's is then not the only one.
        bells.retain(|_, bell| Arc::strong_count(bell) > 1);
        bells.shrink_to_fit();
    }

    /// How many bells there are.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.rooms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    fn bell(&self, room: &str) -> Arc<Notify> {
        if let Some(bell) = self
            .rooms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(room)
        {
            return Arc::clone(bell);
        }
        let mut bells = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(bells.entry(room.to_owned()).or_default())
    }
}

/// Resolves when a commit in one of its rooms happened after it was made.
pub struct News(Vec<Pin<Box<OwnedNotified>>>);

impl Future for News {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every wait is polled, so each keeps this task's waker.
        let mut ready = false;
        for wait in &mut self.0 {
            ready |= wait.as_mut().poll(cx).is_ready();
        }
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rooms(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[tokio::test]
    async fn a_ring_wakes_the_waiters_of_its_rooms_only() {
        let bells = Bells::default();
        let dev = bells.listen(&rooms(&["general", "dev"]));
        let ops = bells.listen(&rooms(&["ops"]));
        // Rung after the waits were made, before they are awaited: not lost.
        bells.ring(["dev", "dev", "other"]);
        tokio::time::timeout(Duration::from_secs(1), dev)
            .await
            .expect("dev's waiter is woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), ops)
                .await
                .is_err(),
            "ops's waiter sleeps on"
        );
        // A wait made after a ring is not woken by it.
        let late = bells.listen(&rooms(&["dev"]));
        assert!(
            tokio::time::timeout(Duration::from_millis(50), late)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_direct_room_rings_its_members_bells_and_idle_bells_are_swept() {
        let bells = Bells::default();
        let (ann, bob) = ("aaaaaaaa", "bbbbbbbb");
        let room = crate::protocol::direct_room(ann, bob);
        let of_ann = bells.listen(&[member_bell(ann)]);
        let of_eve = bells.listen(&[member_bell("eeeeeeee")]);
        bells.ring([room.as_str()]);
        tokio::time::timeout(Duration::from_secs(1), of_ann)
            .await
            .expect("a member's bell rings");
        // Eve still waits: her bell stays; Ann's and the room's go, nobody waits on them.
        let held = bells.len();
        bells.sweep();
        assert_eq!((held, bells.len()), (2, 1));
        drop(of_eve);
        bells.sweep();
        assert_eq!(bells.len(), 0);
    }
}
