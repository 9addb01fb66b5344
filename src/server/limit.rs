//! Per-client rate limits: a token bucket per client address and kind of request, so one
//! client's flood cannot crowd out the others. Over the limit a request is refused with 429,
//! `Retry-After`, and a status-1 envelope, before it is decoded further or touches storage.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The address of the client on a connection; the accept loop puts it on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// A sustained rate with a burst on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// Buckets unused for this long are forgotten (a full bucket is the same as none).
const FORGET_AFTER: Duration = Duration::from_secs(120);
/// Past this many clients, forgotten buckets are swept before a new one is added.
const SWEEP_ABOVE: usize = 10_000;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets for one kind of request. `None` rate: unlimited.
pub struct Limiter {
    rate: Option<Rate>,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl Limiter {
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client`; when there is none, says how long until there is.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limiter poisoned");
        if buckets.len() >= SWEEP_ABOVE && !buckets.contains_key(&client) {
            buckets.retain(|_, bucket| now.duration_since(bucket.updated) < FORGET_AFTER);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: rate.burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate.per_second).min(rate.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / rate.per_second;
            Err(Duration::from_secs_f64(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_per_client() {
        let limiter = Limiter::new(Some(Rate {
            per_second: 5.0,
            burst: 20.0,
        }));
        let ann: IpAddr = "192.0.2.1".parse().unwrap();
        let bob: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..20 {
            assert!(limiter.check(ann).is_ok());
        }
        let wait = limiter.check(ann).unwrap_err();
        assert!(
            wait > Duration::from_millis(100) && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
        assert!(
            limiter.check(bob).is_ok(),
            "another client has its own bucket"
        );
        std::thread::sleep(Duration::from_millis(220));
        assert!(limiter.check(ann).is_ok(), "refilled at 5 per second");
    }

    #[test]
    fn no_rate_means_no_limit() {
        let limiter = Limiter::new(None);
        let ann: IpAddr = "192.0.2.1".parse().unwrap();
        assert!((0..10_000).all(|_| limiter.check(ann).is_ok()));
    }
}
