//! The chat server (feature `ssr`).
//!
//! # Layout
//! - [`config`]: flags and environment, with every default in one place.
//! - [`lifecycle`]: [`start`] (the binary) and [`run`] (tests), signals, logging.
//! - [`state`]: what every handler reaches ([`AppState`]).
//! - [`router`]: the routes and the headers of every response; [`ajax`] (`POST /ajax`), `page`
//!   (`GET /`), [`assets`] (static files), [`error`] (the one error type and its status
//!   envelope).
//! - [`listen`] (the accept loop) and `connection` (one connection, parked while idle).
//! - [`files`]: `POST /files` and `GET /files/<id>` (uploads kept in storage, served safely),
//!   with `images` (recognised, measured, stripped of metadata, thumbnailed).
//! - [`identity`]: fingerprints of clients' keys, and the operator's token.
//! - [`limit`]: the client's address and per-client rate limits.
//! - [`metrics`]: `GET /metrics` for the operator's monitoring, on a listener of its own.
//! - [`rooms`]: the rooms served, and the checks of room names in envelopes and paths.
//! - [`store`]: the caching layer over the SQLite and PostgreSQL backends.
//! - [`backup`]: `ajax-chat backup <file>`, an online copy of the SQLite database;
//!   [`export`]: `ajax-chat export`, what was said as JSON Lines or HTML.
//!
//! Tests drive [`app`] in-process with `tower::ServiceExt::oneshot`, or [`run`] a real server on
//! `127.0.0.1:0`.

pub mod ajax;
pub mod assets;
pub mod backup;
pub mod bots;
pub mod config;
mod connection;
pub mod error;
pub mod export;
pub mod files;
pub mod identity;
mod images;
pub mod lifecycle;
pub mod limit;
pub mod listen;
pub mod metrics;
mod page;
mod progress;
pub mod rooms;
pub mod router;
pub mod state;
pub mod store;
mod whole;

pub use config::Config;
pub use lifecycle::{init_tracing, run, shutdown_signal, start};
pub use listen::ListenOptions;
pub use router::app;
pub use state::AppState;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
