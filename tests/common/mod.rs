//! Helpers shared by the protocol and server tests: a fresh database in a temporary folder,
//! the router over it, and an HTTP client for real servers.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use ajax_chat::server::store::{self, Store};
use ajax_chat::server::{AppState, app};
use axum::Router;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use leptos::config::LeptosOptions;
use serde_json::Value;
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

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs `body` to `/ajax` on a real server: the HTTP status and the JSON reply, or `None` when
/// no reply arrived (connection refused or cut).
pub async fn post_ajax(
    client: &HttpClient,
    addr: SocketAddr,
    body: &Value,
) -> Option<(u16, Value)> {
    let request = hyper::Request::post(format!("http://{addr}/ajax"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.ok()?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.ok()?.to_bytes();
    Some((
        status,
        serde_json::from_slice(&bytes).expect("every reply is JSON"),
    ))
}
