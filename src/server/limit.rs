//! Per-client rate limits, from the `governor` crate: one keyed limiter per kind of request
//! (the handler picks which by envelope type), so one client's flood cannot crowd out the
//! others. Over the limit a request is refused with 429, `Retry-After` and a status-1 envelope,
//! before it touches storage.
//!
//! A client is its address, except that an IPv6 client is its /64 prefix: one host usually
//! holds a whole /64, and keyed by full address it could take a fresh budget per address.

use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The address of the client on a connection; the accept loop puts it on every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The address the nearest proxy saw: the last entry of the last `X-Forwarded-For` header
/// (entries before it were sent by the client or earlier proxies and prove nothing).
pub fn forwarded_for(headers: &axum::http::HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

/// A sustained rate with a burst on top, checked when the configuration is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: NonZeroU32,
}

/// The slowest and fastest sustained rates a limit may have, per second.
pub const RATES: std::ops::RangeInclusive<f64> = 0.001..=1_000_000.0;

/// A configured rate that no limiter can have.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BadRate {
    #[error("a rate must be 0 (no limit) or from {min} to {max} per second, not {0}", min = RATES.start(), max = RATES.end())]
    OutOfRange(f64),
    #[error("a burst must be at least 1")]
    ZeroBurst,
    #[error("a rate must be a number of requests per second, not {0:?}")]
    NotANumber(String),
}

impl Rate {
    /// `per_second` requests a second with bursts of `burst`; `None` (no limit) for a rate of
    /// zero. Anything outside [`RATES`], or not a number, is refused.
    pub fn new(per_second: f64, burst: u32) -> Result<Option<Self>, BadRate> {
        if per_second == 0.0 {
            return Ok(None);
        }
        if !RATES.contains(&per_second) {
            return Err(BadRate::OutOfRange(per_second));
        }
        let burst = NonZeroU32::new(burst).ok_or(BadRate::ZeroBurst)?;
        Ok(Some(Self { per_second, burst }))
    }

    fn quota(self) -> Quota {
        // In range by construction: a period from 1 µs to 1000 s.
        let period = Duration::from_secs_f64(1.0 / self.per_second);
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(self.burst)
    }
}

/// The key a client is limited by: its IPv4 address, or the /64 of its IPv6 address (an
/// IPv4-mapped IPv6 address counts as the IPv4 one).
pub fn client_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// Rate limits of one kind of request, per client (an address by default; a bot's limit is
/// kept per bot). Without a rate: unlimited.
pub struct Limiter<K: Hash + Eq + Clone = IpAddr> {
    limiter: Option<DefaultKeyedRateLimiter<K>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Option<Rate>) -> Self {
        Self {
            limiter: rate.map(|rate| RateLimiter::keyed(rate.quota())),
        }
    }

    /// Counts one request of `key`; over the limit, says how long until one is allowed.
    pub fn check_key(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets clients whose budget is full again (the same as never seen), so memory follows
    /// the clients of the last minutes, not all clients ever. Run now and then, off the
    /// request path.
    pub fn sweep(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// Clients with a budget in use.
    #[cfg(test)]
    fn clients(&self) -> usize {
        self.limiter.as_ref().map_or(0, |limiter| limiter.len())
    }
}

impl Limiter<IpAddr> {
    /// Counts one request of the client at `client` ([`client_key`]).
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_key(&client_key(client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: f64, burst: u32) -> Option<Rate> {
        Rate::new(per_second, burst).unwrap()
    }

    #[test]
    fn a_burst_then_the_sustained_rate_per_client() {
        let limiter = Limiter::new(rate(5.0, 20));
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

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_an_ipv4_client_its_address() {
        let limiter = Limiter::new(rate(0.001, 2));
        let v6 = |addr: &str| -> IpAddr { addr.parse().unwrap() };
        // Two addresses of one /64 share one budget.
        assert!(limiter.check(v6("2001:db8:1:2::1")).is_ok());
        assert!(
            limiter
                .check(v6("2001:db8:1:2:ffff:ffff:ffff:ffff"))
                .is_ok()
        );
        assert!(limiter.check(v6("2001:db8:1:2:abcd::9")).is_err());
        // The next /64 is another client.
        assert!(limiter.check(v6("2001:db8:1:3::1")).is_ok());
        // IPv4 clients are told apart by address, and a mapped address is the IPv4 one.
        for _ in 0..2 {
            assert!(limiter.check(v6("192.0.2.1")).is_ok());
        }
        assert!(limiter.check(v6("::ffff:192.0.2.1")).is_err());
        assert!(limiter.check(v6("192.0.2.2")).is_ok());
        assert_eq!(limiter.clients(), 4);
    }

    #[test]
    fn rates_are_checked_when_configured() {
        assert_eq!(Rate::new(0.0, 20), Ok(None));
        assert!(Rate::new(5.0, 20).unwrap().is_some());
        for bad in [-1.0, 1e-9, f64::NAN, f64::INFINITY, 1e12] {
            assert!(Rate::new(bad, 20).is_err(), "{bad}");
        }
        assert!(Rate::new(5.0, 0).is_err());
        // The extremes of the range make working limiters.
        for per_second in [*RATES.start(), *RATES.end()] {
            let limiter = Limiter::new(rate(per_second, 1));
            assert!(limiter.check("192.0.2.1".parse().unwrap()).is_ok());
        }
    }

    #[test]
    fn sweeping_forgets_clients_whose_budget_is_full() {
        let limiter = Limiter::new(rate(1_000_000.0, 1));
        for n in 0..100u8 {
            assert!(limiter.check(IpAddr::from([192, 0, 2, n])).is_ok());
        }
        assert_eq!(limiter.clients(), 100);
        std::thread::sleep(Duration::from_millis(5));
        limiter.sweep();
        assert_eq!(limiter.clients(), 0);
    }

    #[test]
    fn the_proxy_added_entry_is_the_last_one() {
        use axum::http::{HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded_for(&headers), None);
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 10.0.0.7"),
        );
        assert_eq!(forwarded_for(&headers), "10.0.0.7".parse().ok());
        headers.append("x-forwarded-for", HeaderValue::from_static(" 2001:db8::1 "));
        assert_eq!(forwarded_for(&headers), "2001:db8::1".parse().ok());
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("not an address"),
        );
        assert_eq!(forwarded_for(&headers), None);
    }
}
