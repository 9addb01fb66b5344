//! Helpers shared by the protocol and server tests: a fresh database in a temporary folder,
//! and the router or a real server over it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use ajax_chat::server::store::{self, Store};
use ajax_chat::server::{AppState, app};
use axum::Router;
use leptos::config::LeptosOptions;
use tempfile::TempDir;

pub struct Fixture {
    pub dir: TempDir,
    pub store: Arc<dyn Store>,
    pub state: AppState,
}

impl Fixture {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = open_store(&db_path(&dir)).await;
        let state = AppState::new(Arc::clone(&store), leptos_options());
        Self { dir, store, state }
    }

    pub fn router(&self) -> Router {
        app(self.state.clone())
    }

    pub fn db_path(&self) -> PathBuf {
        db_path(&self.dir)
    }
}

pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("chat.db")
}

pub async fn open_store(path: &std::path::Path) -> Arc<dyn Store> {
    store::open(&format!("sqlite://{}", path.display()))
        .await
        .expect("open store")
}

pub fn leptos_options() -> LeptosOptions {
    LeptosOptions::builder().output_name("ajax-chat").build()
}
