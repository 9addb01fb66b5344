//! The server's configuration, from flags or the environment (flags win), and the one place
//! its defaults are written: the constants below are what a server started without flags gets,
//! and what the in-process tests' state ([`super::AppState::new`]) and the listener's options
//! (`ListenOptions`, which reads a `Config`) start from.

use std::net::SocketAddr;
use std::time::Duration;

use crate::protocol::Limits;

use super::identity::MIN_ADMIN_TOKEN;
use super::limit::{BadRate, Rate};
use super::rooms::{BadRoom, Rooms};

/// How often the page polls when nothing says otherwise, in milliseconds.
pub const POLL_INTERVAL_MS: u64 = 1000;
/// How long the page's syncs wait for news, in milliseconds: below the 60 s idle timeouts of
/// common proxies (nginx's `proxy_read_timeout`).
pub const LONG_POLL_MS: u64 = 25_000;
/// Seconds a client has for a request's headers, and then for its body.
pub const REQUEST_TIMEOUT_SECS: u64 = 10;
/// Open connections at most.
pub const MAX_CONNECTIONS: usize = 20_000;

#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "ajax-chat",
    version,
    about = "A web chat: Leptos page, JSON envelopes over POST /ajax"
)]
pub struct Config {
    /// Address to listen on [default: site-addr in Cargo.toml, else 127.0.0.1:3000]
    #[arg(long, env = "LEPTOS_SITE_ADDR")]
    pub addr: Option<SocketAddr>,
    /// Where messages are stored: sqlite://<path> (embedded) or postgres://<user>@<host>/<db>
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/chat.db",
        global = true
    )]
    pub database_url: String,
    /// The rooms served, comma-separated; `general` is always one (added first if missing)
    #[arg(long, env = "CHAT_ROOMS", default_value = "general", value_parser = parse_rooms)]
    pub rooms: Rooms,
    /// How often the page polls for new messages, in milliseconds
    #[arg(long, env = "CHAT_POLL_INTERVAL_MS", default_value_t = POLL_INTERVAL_MS,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub poll_interval_ms: u64,
    /// How long the page's syncs wait for news, in milliseconds (0: no long polling; the page
    /// polls every poll interval)
    #[arg(long, env = "CHAT_LONG_POLL_MS", default_value_t = LONG_POLL_MS,
          value_parser = clap::value_parser!(u64).range(0..=crate::protocol::MAX_WAIT_MS))]
    pub long_poll_ms: u64,
    /// Most characters in a sender name
    #[arg(long, env = "CHAT_MAX_SENDER_CHARS", default_value_t = Limits::default().max_sender_chars)]
    pub max_sender_chars: usize,
    /// Most characters in a message
    #[arg(long, env = "CHAT_MAX_MESSAGE_CHARS", default_value_t = Limits::default().max_message_chars)]
    pub max_message_chars: usize,
    /// Most messages in one sync reply
    #[arg(long, env = "CHAT_MAX_SYNC_BATCH", default_value_t = Limits::default().max_sync_batch)]
    pub max_sync_batch: usize,
    /// Largest request body, in bytes
    #[arg(long, env = "CHAT_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest file an upload stores, in bytes
    #[arg(long, env = "CHAT_MAX_FILE_BYTES", default_value_t = Limits::default().max_file_bytes)]
    pub max_file_bytes: u64,
    /// Open connections at most; more are closed on accept
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value_t = MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Messages per second one client may post, sustained (0: no limit)
    #[arg(long, env = "CHAT_MESSAGE_RATE", default_value_t = 5.0, value_parser = parse_rate)]
    pub message_rate: f64,
    /// Messages one client may post in a burst
    #[arg(long, env = "CHAT_MESSAGE_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub message_burst: u32,
    /// Syncs per second one client may send, sustained (0: no limit)
    #[arg(long, env = "CHAT_SYNC_RATE", default_value_t = 50.0, value_parser = parse_rate)]
    pub sync_rate: f64,
    /// Syncs one client may send in a burst
    #[arg(long, env = "CHAT_SYNC_BURST", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub sync_burst: u32,
    /// Messages per second one bot may post, sustained (0: no limit)
    #[arg(long, env = "CHAT_BOT_RATE", default_value_t = 1.0, value_parser = parse_rate)]
    pub bot_rate: f64,
    /// Messages one bot may post in a burst
    #[arg(long, env = "CHAT_BOT_BURST", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub bot_burst: u32,
    /// Files per second one client may upload, sustained (0: no limit)
    #[arg(long, env = "CHAT_UPLOAD_RATE", default_value_t = 10.0 / 60.0, value_parser = parse_rate)]
    pub upload_rate: f64,
    /// Files one client may upload in a burst
    #[arg(long, env = "CHAT_UPLOAD_BURST", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub upload_burst: u32,
    /// Seconds a client has to send a request's headers, and then its body
    #[arg(long, env = "CHAT_REQUEST_TIMEOUT_SECS", default_value_t = REQUEST_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Behind a proxy: rate-limit by the last X-Forwarded-For entry, not the proxy's address
    #[arg(long, env = "CHAT_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Threads serving HTTP [default: one per core]
    #[arg(long, env = "CHAT_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
    /// The operator's token for `delete` of any message, `ban`, `unban` and `bans` (at least 32
    /// characters; without it there is no operator). Best given in the environment, not as a
    /// flag that other users can read in the process list.
    #[arg(long, env = "CHAT_ADMIN_TOKEN", hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<AdminToken>,
    /// Serve `GET /metrics` (Prometheus text format) on this address, e.g. 127.0.0.1:9464; a
    /// listener of its own, never the public one [default: no metrics]
    #[arg(long, env = "CHAT_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// How logs are written to stderr: `text`, or `json` (one object per line)
    #[arg(long, env = "CHAT_LOG_FORMAT", value_enum, ignore_case = true,
          default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Without a command: serve
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the binary does instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copy the SQLite database (`--database-url`), while the server runs, to FILE: a
    /// consistent copy, written under a temporary name and renamed when complete
    Backup {
        /// Where the copy goes (replaced if it exists)
        file: std::path::PathBuf,
    },
    /// Write what was said (`--database-url`), as JSON Lines (one item per line, as in `sync`)
    /// or as one self-contained HTML file per room that a browser opens offline
    Export {
        /// Only this room (may be given more than once) [default: every room with messages]
        #[arg(long = "room", value_name = "ROOM")]
        rooms: Vec<String>,
        /// `jsonl` or `html`
        #[arg(long, value_enum, ignore_case = true, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Only messages sent at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z)
        #[arg(long, value_parser = parse_time)]
        since: Option<time::OffsetDateTime>,
        /// JSON Lines: the file [default: standard output]; HTML: the folder for the rooms'
        /// files, `<room>.html` [default: the current folder]
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// The key of a member of a direct room named with --room: direct rooms are exported
        /// only so (best given in the environment, not as a flag others see in the process list)
        #[arg(long, env = "CHAT_EXPORT_KEY", hide_env_values = true)]
        key: Option<String>,
    },
}

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Jsonl,
    Html,
}

fn parse_time(text: &str) -> Result<time::OffsetDateTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map_err(|err| format!("{err}: an RFC 3339 time is required, e.g. 2026-12-01T00:00:00Z"))
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The operator's token; its `Debug` does not show it, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

fn parse_admin_token(token: &str) -> Result<AdminToken, String> {
    let chars = token.chars().count();
    if chars < MIN_ADMIN_TOKEN {
        return Err(format!(
            "{chars} characters: at least {MIN_ADMIN_TOKEN} required"
        ));
    }
    Ok(AdminToken(token.to_owned()))
}

fn parse_rooms(list: &str) -> Result<Rooms, BadRoom> {
    Rooms::parse(list)
}

/// A rate in requests per second: 0, or what [`Rate::new`] takes; refused at start-up
/// otherwise.
fn parse_rate(text: &str) -> Result<f64, BadRate> {
    let rate: f64 = text
        .parse()
        .map_err(|_| BadRate::NotANumber(text.to_owned()))?;
    Rate::new(rate, 1).map(|_| rate)
}

impl Config {
    /// The runtime the server runs on, with [`Config::worker_threads`] threads serving HTTP.
    ///
    /// One per core by default, as tokio's own default. Until 2026-12-07 it was one per core but
    /// one, leaving a core to the storage threads and the kernel's network work for a shorter
    /// tail under saturation. On this machine at half its former speed that tail costs little
    /// (the idle sync's p99 1.0-1.2x the bare handler's), while one thread answering every held
    /// poll alone made long polling to 10,000 pages 1.9x slower than a bare server (two: 0.9-1.1x)
    /// and served 0.66x the bare handler's idle syncs (two: 0.85x). BENCHMARKS.md, "Held answers,
    /// layers and threads", has the measurements.
    pub fn runtime(&self) -> std::io::Result<tokio::runtime::Runtime> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = self.worker_threads.map_or(cores, usize::from);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }

    /// The database URL as a log may show it: a password in it is replaced by `***`.
    pub fn database_for_log(&self) -> String {
        without_password(&self.database_url)
    }

    pub fn limits(&self) -> Limits {
        Limits {
            max_sender_chars: self.max_sender_chars,
            max_message_chars: self.max_message_chars,
            max_sync_batch: self.max_sync_batch.max(1),
            max_body_bytes: self.max_body_bytes,
            max_file_bytes: self.max_file_bytes,
        }
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// The limit of `message` requests per client, if any.
    pub fn message_rate(&self) -> Result<Option<Rate>, BadRate> {
        Rate::new(self.message_rate, self.message_burst)
    }

    /// The limit of `sync` requests per client, if any.
    pub fn sync_rate(&self) -> Result<Option<Rate>, BadRate> {
        Rate::new(self.sync_rate, self.sync_burst)
    }

    pub fn bot_rate(&self) -> Result<Option<Rate>, BadRate> {
        Rate::new(self.bot_rate, self.bot_burst)
    }

    /// The limit of uploads per client, if any.
    pub fn upload_rate(&self) -> Result<Option<Rate>, BadRate> {
        Rate::new(self.upload_rate, self.upload_burst)
    }
}

/// What a log may show of a database URL: a SQLite one as it is (a path), a PostgreSQL one
/// as its user, hosts, ports and database only, read the way the driver reads it, so that no
/// password (in the `user:password@` part, in `?password=`, or anywhere the driver would take
/// one from) can be shown.
fn without_password(url: &str) -> String {
    if !crate::server::store::is_postgres(url) {
        return url.to_owned();
    }
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "postgres://(a URL the driver cannot read)".to_owned();
    };
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_database_password_never_reaches_the_log() {
        for (url, shown) in [
            (
                "postgres://chat:s3cr:et@db.example:5432/chat?sslmode=disable",
                "postgres://chat@db.example:5432/chat",
            ),
            // The driver reads the user part up to the last `@`: a `/` in a password too.
            (
                "postgres://chat:pa/ss-s3cret@db/chat",
                "postgres://chat@db:5432/chat",
            ),
            (
                "postgresql://chat@db:6543/chat?password=s3cret",
                "postgres://chat@db:6543/chat",
            ),
            (
                "postgres://chat@[::1]:5433/chat",
                "postgres://chat@::1:5433/chat",
            ),
            ("sqlite://data/chat.db", "sqlite://data/chat.db"),
            ("sqlite:chat.db", "sqlite:chat.db"),
        ] {
            let logged = without_password(url);
            assert_eq!(logged, shown, "{url}");
            assert!(!logged.contains("s3c"), "{logged}");
        }
    }

    fn workers(args: &[&str]) -> usize {
        let config = Config::try_parse_from([&["ajax-chat"], args].concat()).unwrap();
        config.runtime().unwrap().metrics().num_workers()
    }

    #[test]
    fn http_threads_are_one_per_core_by_default_and_can_be_set() {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(workers(&[]), cores);
        assert_eq!(workers(&["--worker-threads", "3"]), 3);
        assert!(Config::try_parse_from(["ajax-chat", "--worker-threads", "0"]).is_err());
    }

    #[test]
    fn rooms_come_from_the_flag_or_the_environment() {
        let config = Config::try_parse_from(["ajax-chat", "--rooms", "dev,ops"]).unwrap();
        assert_eq!(config.rooms.names(), ["general", "dev", "ops"]);
        let config = Config::try_parse_from(["ajax-chat"]).unwrap();
        assert_eq!(config.rooms.names(), ["general"]);
        let err = Config::try_parse_from(["ajax-chat", "--rooms", "dev,Ops"]).unwrap_err();
        assert!(err.to_string().contains("Ops"), "{err}");
    }

    #[test]
    fn rates_outside_their_range_are_refused_at_start_up() {
        let parse = |args: &[&str]| Config::try_parse_from([&["ajax-chat"], args].concat());
        for bad in ["-1", "1e-9", "NaN", "inf", "fast"] {
            let flag = format!("--message-rate={bad}");
            let err = parse(&[&flag]).unwrap_err().to_string();
            assert!(err.contains("--message-rate"), "{err}");
        }
        assert!(parse(&["--sync-burst", "0"]).is_err());
        let config = parse(&["--message-rate", "0", "--sync-rate", "0.5"]).unwrap();
        assert_eq!(config.message_rate(), Ok(None));
        assert!(config.sync_rate().unwrap().is_some());
        // The defaults limit both kinds.
        let defaults = parse(&[]).unwrap();
        assert!(defaults.message_rate().unwrap().is_some());
        assert!(defaults.sync_rate().unwrap().is_some());
        assert_eq!(
            defaults.bot_rate(),
            Ok(Rate::new(1.0, 60).unwrap()),
            "a bot: one a second, sixty at once"
        );
        assert_eq!(parse(&["--bot-rate", "0"]).unwrap().bot_rate(), Ok(None));
    }
}
