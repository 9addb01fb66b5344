//! What an operator's monitoring scrapes: `GET /metrics` in the Prometheus text format (0.0.4),
//! served on a listener of its own (`--metrics-addr`), never on the public one, where
//! `/metrics` is an unknown path like any other.
//!
//! The metrics are the Prometheus project's Rust client's (`prometheus-client`): counters and
//! histograms are atomics that the request path bumps without a lock, and the registry writes
//! them out with the names Prometheus's conventions ask for (`ajax_chat_..._total` for
//! counters, `_seconds` for durations). Storage registers its own ([`crate::server::store`]:
//! messages stored, commits, database errors); everything else is here.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::state::AppState;
use super::store::Store;

/// Every metric name starts with this.
pub const PREFIX: &str = "ajax_chat";

/// One `/ajax` request: the envelope's `type` (`invalid` for a body that is not one) and the
/// HTTP status it was answered with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    r#type: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

/// Which rate budget refused a request: `message` (writes) or `sync` (reads).
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BucketLabel {
    bucket: &'static str,
}

/// Request latency buckets: 0.5 ms to about 33 s (a held long poll lasts up to 25 s, and
/// `wait_ms` up to 30 s), each twice the one before.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 17))
}

/// Every envelope `type` (as `ClientEnvelope::type_name` gives it), `invalid`, and `bot_post`
/// for `POST /bots/<room>/messages`: their
/// latency histograms and 200 counters are made at start, so that the request path finds them
/// without the families' lock and hash, and every series shows from the first scrape.
const TYPES: [&str; 17] = [
    "message",
    "sync",
    "history",
    "rooms",
    "edit",
    "delete",
    "react",
    "ban",
    "unban",
    "bans",
    "search",
    "fingerprint",
    "bot",
    "bots",
    "bot_delete",
    "invalid",
    "bot_post",
];

/// The server's metrics and the registry that writes them out.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<TypeLabel, Histogram, fn() -> Histogram>,
    /// Each of [`TYPES`]' latency histogram and 200 counter, from the families above.
    by_type: [(Histogram, Counter); TYPES.len()],
    rate_limited: Family<BucketLabel, Counter>,
    /// Connections open now, kept by the accept loop.
    pub open_connections: Gauge,
    /// Syncs held now: set from [`super::state::HeldSyncs`] when scraped.
    held: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics { .. }")
    }
}

impl Metrics {
    /// The metrics of a server over `store`, whose own metrics join them.
    pub fn new(store: &dyn Store) -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests to /ajax, by envelope type and HTTP status",
            requests.clone(),
        );
        let latency = Family::new_with_constructor(latency_buckets as fn() -> Histogram);
        registry.register_with_unit(
            "request_duration",
            "Time from an /ajax request's body to its answer, by envelope type (held syncs \
             included)",
            Unit::Seconds,
            latency.clone(),
        );
        let rate_limited = Family::<BucketLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused with 429, by rate budget",
            rate_limited.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "HTTP connections open on the public listener",
            open_connections.clone(),
        );
        let held = Gauge::default();
        registry.register("held_polls", "Syncs held waiting for news", held.clone());
        store.register_metrics(&mut registry);
        let by_type = TYPES.map(|kind| {
            let ok = RequestLabels {
                r#type: kind,
                status: StatusCode::OK.as_u16(),
            };
            (
                latency.get_or_create_owned(&TypeLabel { r#type: kind }),
                requests.get_or_create_owned(&ok),
            )
        });
        Self {
            registry,
            requests,
            latency,
            by_type,
            rate_limited,
            open_connections,
            held,
        }
    }

    /// Counts one `/ajax` request of envelope type `kind`, answered with HTTP status `status`
    /// after `took`.
    pub fn request(&self, kind: &'static str, status: u16, took: Duration) {
        let labels = RequestLabels {
            r#type: kind,
            status,
        };
        match TYPES.iter().position(|known| *known == kind) {
            Some(at) => {
                let (latency, ok) = &self.by_type[at];
                latency.observe(took.as_secs_f64());
                if status == StatusCode::OK.as_u16() {
                    ok.inc();
                } else {
                    self.requests.get_or_create(&labels).inc();
                }
            }
            None => {
                self.requests.get_or_create(&labels).inc();
                self.latency
                    .get_or_create(&TypeLabel { r#type: kind })
                    .observe(took.as_secs_f64());
            }
        }
    }

    /// Counts a request refused by the `bucket` rate budget.
    pub fn rate_limited(&self, bucket: &'static str) {
        self.rate_limited
            .get_or_create(&BucketLabel { bucket })
            .inc();
    }

    /// Everything, in the Prometheus text format; `held` is the number of syncs held now.
    pub fn render(&self, held: usize) -> String {
        self.held.set(i64::try_from(held).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing into a `String` cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}

/// The metrics listener's routes: `GET /metrics`, and 404 for anything else.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .with_state(state)
}

async fn scrape(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(state.held.count());
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        text,
    )
        .into_response()
}
