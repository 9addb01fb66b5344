//! The chat server binary: reads configuration, opens storage, serves until SIGTERM or Ctrl-C;
//! or, with `backup <file>`, copies the database while a server runs (`server::backup`), or
//! with `export`, writes what was said (`server::export`).
//!
//! Run it from the project root after `cargo leptos build --release`, e.g.
//! `LEPTOS_SITE_ADDR=0.0.0.0:3000 DATABASE_URL=sqlite://data/chat.db target/release/ajax-chat`.

use ajax_chat::server::config::Command;
use ajax_chat::server::{self, Config};
use clap::Parser;

/// jemalloc rather than glibc's malloc: hyper allocates an 8 KiB read buffer per request, and
/// glibc consolidates its small-chunk bins on every allocation of that size; jemalloc gave the
/// idle sync about 15 % and the 20-message sync about 20 % more throughput (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let config = Config::parse();
    // The commands are for a terminal or a cron job: plain errors on stderr, nothing else.
    let done = match &config.command {
        None => None,
        Some(Command::Backup { file }) => {
            Some(("backup", server::backup::run(&config.database_url, file)))
        }
        Some(Command::Export {
            rooms,
            format,
            since,
            out,
            key,
        }) => {
            let export = server::export::Export {
                rooms: rooms.clone(),
                format: *format,
                since: *since,
                out: out.clone(),
                key: key.clone(),
            };
            Some(("export", server::export::run(&config.database_url, export)))
        }
    };
    if let Some((command, done)) = done {
        return match done {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("ajax-chat {command}: {}", chain(&*err));
                std::process::ExitCode::FAILURE
            }
        };
    }
    server::init_tracing(config.log_format);
    let served = match config.runtime() {
        Ok(runtime) => runtime.block_on(server::start(config, server::shutdown_signal())),
        Err(err) => Err(err.into()),
    };
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// An error with its causes, `: `-separated.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
