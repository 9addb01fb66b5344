//! Polling rules, as numbers: how long to wait between tries, when a held poll counts as
//! stalled, and when a tab that follows another's poll stops trusting it.
//!
//! One `sync` follows every room of the navigation; at most one is in flight; a full reply (the
//! server's batch limit) or a request made while one was pending is followed at once by
//! another; after a failure, retry with exponential back-off capped at 30 s. With long polling
//! each sync asks to be held until there is news, and the next goes out as soon as the answer
//! is in, or [`NEWS_PAUSE_MS`] after an answer with news. The interval timer stays as the
//! heartbeat: it restarts polling after a failure and replaces a poll that stalled.

/// The longest wait between retries of a failing sync.
pub const MAX_BACKOFF_MS: u32 = 30_000;
/// Long polling: how long a page that just got news waits before it polls again, so that a busy
/// room costs each browser at most about two requests a second, not one per message.
pub const NEWS_PAUSE_MS: u32 = 500;
/// A long poll with no answer this long after its wait is over is abandoned for a new one.
pub const STALLED_AFTER_MS: u64 = 10_000;

/// How long to wait before retry number `failures` (1 for the first).
pub fn backoff_ms(poll_interval_ms: u64, failures: u32) -> u32 {
    let base = poll_interval_ms.clamp(100, u64::from(MAX_BACKOFF_MS));
    let factor = 1u64 << failures.saturating_sub(1).min(16);
    base.saturating_mul(factor).min(u64::from(MAX_BACKOFF_MS)) as u32
}

/// Whether a sync sent at `started` (ms) and still unanswered at `now` has stalled: it has
/// waited out its `wait_ms` (`long_poll_ms`, 0 for none) and [`STALLED_AFTER_MS`] more.
pub fn stalled(now: u64, started: u64, long_poll_ms: u64) -> bool {
    now.saturating_sub(started) > long_poll_ms + STALLED_AFTER_MS
}

/// How long the tabs of a browser may go without hearing from one another before one counts as
/// gone or asleep: a held poll ends at least every `long_poll_ms`, and each end (or failure) is
/// passed on; without long polling the leader syncs every `poll_interval_ms`, or at least every
/// back-off (at most 30 s) while the server fails.
pub fn silence_ms(poll_interval_ms: u64, long_poll_ms: u64) -> u64 {
    long_poll_ms
        .max(3 * poll_interval_ms)
        .max(u64::from(MAX_BACKOFF_MS))
        + STALLED_AFTER_MS
}

/// Whether a tab that follows the leader's poll has heard nothing from it for so long (`quiet`
/// ms) that the leader must be gone or asleep.
pub fn leader_silent(quiet: u64, poll_interval_ms: u64, long_poll_ms: u64) -> bool {
    quiet > silence_ms(poll_interval_ms, long_poll_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_30_seconds() {
        let delays: Vec<u32> = (1..=7).map(|n| backoff_ms(1000, n)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(backoff_ms(1000, 1000), 30000);
    }

    #[test]
    fn stalls_and_silence() {
        assert!(!stalled(35_000, 0, 25_000));
        assert!(stalled(35_001, 0, 25_000));
        assert!(stalled(10_001, 0, 0));
        // The longest a leader stays quiet is a back-off of 30 s, and 10 s more.
        assert!(!leader_silent(40_000, 1000, 25_000));
        assert!(leader_silent(40_001, 1000, 25_000));
        assert!(!leader_silent(40_000, 1000, 0));
        assert!(leader_silent(40_001, 1000, 0));
    }
}
