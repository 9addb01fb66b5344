//! Files through the real router, on the backend the fixture opens (SQLite here;
//! `scripts/test` runs this file over PostgreSQL too): uploads streamed into storage and refused
//! in the protocol's order, images recognised by their bytes (bombs refused from their header,
//! EXIF location removed with the picture still upright, a thumbnail), downloads that can never
//! run as a page of the chat's origin, byte ranges, attaching to a message, and deletion that
//! takes the bytes out of the database.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use ajax_chat::server::identity::Identity;
use ajax_chat::server::limit::{ClientAddr, Limiter, Rate};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use common::Fixture;
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "an-operator-token-of-at-least-32-characters";
const ANN: &str = "ann-key-0123456789abcdefghij";
const BOB: &str = "bob-key-0123456789abcdefghij";
/// The chunk size storage keeps files in (`store::files::CHUNK_BYTES`).
const CHUNK: usize = 256 * 1024;

struct Chat {
    fx: Fixture,
    router: Router,
}

impl Chat {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(configure: impl FnOnce(&mut Fixture)) -> Self {
        let mut fx = Fixture::new().await;
        fx.state.identity = Arc::new(Identity::new(fx.store.secret(), Some(ADMIN)));
        fx.state.limits.max_file_bytes = 3 * CHUNK as u64 + 1000;
        configure(&mut fx);
        let router = fx.router();
        Self { fx, router }
    }

    async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// `POST /files?name=<name>` with `key` (none: no header) and `content_type`.
    async fn upload_as(
        &self,
        name: &str,
        key: Option<&str>,
        content_type: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(format!("/files?name={name}"));
        if let Some(key) = key {
            request = request.header("x-chat-key", key);
        }
        if let Some(kind) = content_type {
            request = request.header("content-type", kind);
        }
        let mut request = request.body(body).unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr("10.0.0.1".parse().unwrap()));
        json_of(self.send(request).await).await
    }

    /// Ann uploads `bytes`: the `file` envelope's data.
    async fn upload(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> Value {
        let (status, reply) = self
            .upload_as(name, Some(ANN), Some(content_type), Body::from(bytes))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        assert_eq!(reply["type"], "file");
        reply["data"].clone()
    }

    async fn get(&self, path: &str, range: Option<&str>) -> Response<Body> {
        let mut request = Request::get(path);
        if let Some(range) = range {
            request = request.header("range", range);
        }
        self.send(request.body(Body::empty()).unwrap()).await
    }

    async fn call(&self, body: Value) -> (StatusCode, Value) {
        let request = Request::post("/ajax")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        json_of(self.send(request).await).await
    }

    async fn expect(&self, body: Value, status: StatusCode) -> Value {
        let (got, reply) = self.call(body.clone()).await;
        assert_eq!(got, status, "{body} -> {reply}");
        reply
    }

    /// How many rows `sql` (a `SELECT COUNT(*)`, written for SQLite's table names) counts in
    /// the database itself.
    async fn count(&self, sql: &str) -> i64 {
        if self.fx.url.starts_with("postgres") {
            let sql = sql
                .replace("file_chunks", "chat_file_chunks")
                .replace("FROM files", "FROM chat_files");
            let (client, connection) = tokio_postgres::connect(&self.fx.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(connection);
            let count: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
            drop(client);
            let _ = driver.await;
            count
        } else {
            let db = rusqlite::Connection::open(self.fx.db_path()).unwrap();
            db.query_row(sql, [], |row| row.get(0)).unwrap()
        }
    }
}

async fn json_of(response: Response<Body>) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn bytes_of(response: Response<Body>) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn header(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// A body sent in pieces without a length (`Transfer-Encoding: chunked` on the wire).
fn streamed(pieces: usize, piece: usize) -> Body {
    let stream = futures_util::stream::iter(
        (0..pieces).map(move |n| Ok::<_, std::io::Error>(vec![n as u8; piece])),
    );
    Body::from_stream(stream)
}

/// A photo-like JPEG of `width` x `height`.
fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(picture)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_pixel(width, height, image::Rgba([10, 200, 30, 128]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgba8(picture)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

/// What a phone writes into a photo: EXIF with the orientation (6: turn 90° clockwise to
/// show), the camera's make and a GPS position, as a little-endian TIFF in an APP1 segment
/// right after the JPEG's start.
fn with_exif(jpeg: &[u8]) -> Vec<u8> {
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    // IFD0 at 8: three entries, then the next-IFD offset (0).
    let ifd0_end = 8 + 2 + 3 * 12 + 4;
    let make_at = ifd0_end as u32;
    let make = b"SnoopCam\0";
    let gps_at = make_at + make.len() as u32;
    tiff.extend_from_slice(&3u16.to_le_bytes());
    // Make (ASCII), Orientation (SHORT 6), GPS IFD pointer (LONG).
    tiff.extend_from_slice(&[0x0f, 0x01, 2, 0]);
    tiff.extend_from_slice(&(make.len() as u32).to_le_bytes());
    tiff.extend_from_slice(&make_at.to_le_bytes());
    tiff.extend_from_slice(&[0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    tiff.extend_from_slice(&[0x25, 0x88, 4, 0, 1, 0, 0, 0]);
    tiff.extend_from_slice(&gps_at.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(make);
    // GPS IFD: latitude ref "N" and a processing method that names the place.
    let place = b"ASCII\0\0\0Secret Garden 48.8584N";
    let place_at = gps_at + 2 + 2 * 12 + 4;
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&[0x01, 0x00, 2, 0, 2, 0, 0, 0, b'N', 0, 0, 0]);
    tiff.extend_from_slice(&[0x1b, 0x00, 7, 0]);
    tiff.extend_from_slice(&(place.len() as u32).to_le_bytes());
    tiff.extend_from_slice(&place_at.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(place);
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xff, 0xe1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend(app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// A PNG of a few dozen bytes whose header claims `width` x `height` RGBA pixels of `depth`
/// bits a channel (no pixel data at all).
fn png_claiming(width: u32, height: u32, depth: u8) -> Vec<u8> {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[depth, 6, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&ihdr);
    out.extend_from_slice(&crc32(&ihdr).to_be_bytes());
    // The start of its pixel data (two zero bytes, zlib-stored): decoders read up to here.
    let idat = b"IDAT\x78\x01\x01\x02\x00\xfd\xff\x00\x00\x00\x02\x00\x01";
    out.extend_from_slice(&((idat.len() - 4) as u32).to_be_bytes());
    out.extend_from_slice(idat);
    out.extend_from_slice(&crc32(idat).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(b"IEND");
    out.extend_from_slice(&crc32(b"IEND").to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn is_file_id(id: &str) -> bool {
    (22..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[tokio::test]
async fn a_file_is_stored_and_served_back_as_a_download_that_cannot_run() {
    let chat = Chat::new().await;
    let page = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let file = chat
        .upload(
            "r%C3%A9sum%C3%A9%20%22final%22.html",
            "text/html",
            page.clone(),
        )
        .await;
    let id = file["id"].as_str().unwrap();
    assert!(is_file_id(id), "{id}");
    assert_eq!(file["name"], "résumé \"final\".html");
    assert_eq!(file["size"], page.len());
    // The declared type is kept for what it says; it is never what the file is served as.
    assert_eq!(file["content_type"], "text/html");
    assert!(file.get("width").is_none());

    for path in [format!("/files/{id}"), format!("/files/{id}/page.html")] {
        let response = chat.get(&path, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(&response, "content-type"),
            "application/octet-stream"
        );
        assert_eq!(
            header(&response, "content-disposition"),
            "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.html"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        assert_eq!(
            header(&response, "content-security-policy"),
            "default-src 'none'; sandbox"
        );
        assert_eq!(
            header(&response, "cache-control"),
            "private, max-age=31536000, immutable"
        );
        assert_eq!(header(&response, "content-length"), page.len().to_string());
        assert!(!header(&response, "etag").is_empty());
        assert_eq!(bytes_of(response).await, page);
    }
    // An SVG, which could hold a script, is a download too, and an unknown type is kept out.
    let svg = chat
        .upload("x.svg", "image/svg+xml", b"<svg onload=alert(1)/>".to_vec())
        .await;
    assert_eq!(svg["content_type"], "application/octet-stream");
    let response = chat
        .get(&format!("/files/{}", svg["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(
        header(&response, "content-type"),
        "application/octet-stream"
    );
    assert!(header(&response, "content-disposition").starts_with("attachment;"));
    let odd = chat.upload("a.bin", "not a type", vec![1, 2, 3]).await;
    assert_eq!(odd["content_type"], "application/octet-stream");
    // Not an image: no thumbnail; unknown ids: 404.
    assert_eq!(
        chat.get(&format!("/files/{id}/thumb"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    for unknown in [
        "/files/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/files/short",
        "/files/../ajax",
    ] {
        assert_eq!(
            chat.get(unknown, None).await.status(),
            StatusCode::NOT_FOUND,
            "{unknown}"
        );
    }
}

#[tokio::test]
async fn uploads_are_refused_in_the_protocol_s_order_and_store_nothing() {
    let chat = Chat::new().await;
    let body = || Body::from(vec![7u8; 10]);
    let refused = |status: StatusCode, reply: &Value| {
        assert_eq!(reply["type"], "status", "{reply}");
        assert_eq!(reply["data"]["status"], 1, "{reply}");
        status
    };
    // 400: a missing or malformed name, or a malformed key (before "no key").
    let long = "n".repeat(256);
    for name in [
        "",
        "a%2Fb",
        "a%5Cb",
        "%00",
        "%E2%28",
        "a%0Db",
        long.as_str(),
    ] {
        let (status, reply) = chat.upload_as(name, Some(ANN), None, body()).await;
        assert_eq!(
            refused(status, &reply),
            StatusCode::BAD_REQUEST,
            "{name}: {reply}"
        );
    }
    let request = Request::post("/files")
        .header("x-chat-key", ANN)
        .body(body())
        .unwrap();
    assert_eq!(chat.send(request).await.status(), StatusCode::BAD_REQUEST);
    let (status, reply) = chat.upload_as("", None, None, body()).await;
    assert_eq!(
        refused(status, &reply),
        StatusCode::BAD_REQUEST,
        "a bad name comes first"
    );
    let (status, reply) = chat.upload_as("a.txt", Some("short"), None, body()).await;
    assert_eq!(refused(status, &reply), StatusCode::BAD_REQUEST);
    // 403: no key; a banned author.
    let (status, reply) = chat.upload_as("a.txt", None, None, body()).await;
    assert_eq!(refused(status, &reply), StatusCode::FORBIDDEN);
    let bob = chat.fx.state.identity.fingerprint(BOB);
    chat.expect(
        json!({"type": "ban", "data": {"admin": ADMIN, "author": bob}}),
        StatusCode::OK,
    )
    .await;
    let (status, reply) = chat.upload_as("a.txt", Some(BOB), None, body()).await;
    assert_eq!(refused(status, &reply), StatusCode::FORBIDDEN);
    // 413: by its declared length at once, and a body without one while it is read, chunks
    // already stored and all.
    let max = chat.fx.state.limits.max_file_bytes;
    let request = Request::post("/files?name=big.bin")
        .header("x-chat-key", ANN)
        .header("content-length", (2u64 << 30).to_string())
        .body(Body::empty())
        .unwrap();
    let (status, reply) = json_of(chat.send(request).await).await;
    assert_eq!(
        refused(status, &reply),
        StatusCode::PAYLOAD_TOO_LARGE,
        "{reply}"
    );
    let pieces = (max as usize).div_ceil(64 * 1024) + 1;
    let (status, reply) = chat
        .upload_as("big.bin", Some(ANN), None, streamed(pieces, 64 * 1024))
        .await;
    assert_eq!(
        refused(status, &reply),
        StatusCode::PAYLOAD_TOO_LARGE,
        "{reply}"
    );
    assert_eq!(chat.count("SELECT COUNT(*) FROM files").await, 0);
    assert_eq!(chat.count("SELECT COUNT(*) FROM file_chunks").await, 0);
    // Exactly the limit is stored.
    let (status, reply) = chat
        .upload_as(
            "max.bin",
            Some(ANN),
            None,
            Body::from(vec![1u8; max as usize]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["data"]["size"], max);
}

#[tokio::test]
async fn uploads_have_their_own_rate() {
    let chat = Chat::with(|fx| {
        fx.state.upload_limit = Arc::new(Limiter::new(Rate::new(0.001, 2).unwrap()));
    })
    .await;
    for _ in 0..2 {
        let (status, _) = chat
            .upload_as("a.txt", Some(ANN), None, Body::from("hi"))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut request = Request::post("/files?name=a.txt")
        .header("x-chat-key", ANN)
        .body(Body::from("hi"))
        .unwrap();
    request
        .extensions_mut()
        .insert(ClientAddr("10.0.0.1".parse().unwrap()));
    let response = chat.send(request).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!header(&response, "retry-after").is_empty());
    // Posting is another budget.
    let post = json!({"type": "message", "data": {"sender": "Ann", "message": "still here"}});
    chat.expect(post, StatusCode::OK).await;
}

#[tokio::test]
async fn a_photo_keeps_no_location_stays_upright_and_has_a_thumbnail() {
    let chat = Chat::new().await;
    // Stored 600 x 400, shown turned: 400 x 600. After its end, as phones append them, a
    // preview with EXIF of its own.
    let main = with_exif(&jpeg(600, 400));
    let mut photo = main.clone();
    photo.extend(with_exif(&jpeg(32, 24)));
    assert!(contains(&photo, b"Secret Garden"));
    let file = chat.upload("photo.jpg", "image/jpeg", photo.clone()).await;
    assert_eq!(file["content_type"], "image/jpeg");
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(400), Some(600))
    );
    let id = file["id"].as_str().unwrap();
    let response = chat.get(&format!("/files/{id}"), None).await;
    assert_eq!(header(&response, "content-type"), "image/jpeg");
    assert_eq!(
        header(&response, "content-disposition"),
        "inline; filename*=UTF-8''photo.jpg"
    );
    let stored = bytes_of(response).await;
    assert_eq!(file["size"], stored.len(), "size is the stored size");
    assert!(stored.len() < photo.len());
    for secret in [&b"Secret Garden"[..], b"SnoopCam"] {
        assert!(
            !contains(&stored, secret),
            "metadata left in the stored photo"
        );
    }
    // The pixels are the same bytes: only segments before the scan were touched.
    let scan = |bytes: &[u8]| {
        let at = bytes.windows(2).position(|w| w == [0xff, 0xda]).unwrap();
        bytes[at..].to_vec()
    };
    assert_eq!(scan(&stored), scan(&main), "the main image alone");
    // And it still says which way is up.
    let mut decoder =
        image::ImageReader::with_format(Cursor::new(&stored), image::ImageFormat::Jpeg)
            .into_decoder()
            .unwrap();
    assert_eq!(
        image::ImageDecoder::orientation(&mut decoder).unwrap(),
        image::metadata::Orientation::Rotate90
    );
    // The thumbnail is upright and at most 400 px on a side, aspect kept.
    let response = chat.get(&format!("/files/{id}/thumb"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let thumb = image::load_from_memory(&bytes_of(response).await).unwrap();
    assert_eq!(thumb.height(), 400);
    assert!((266..=267).contains(&thumb.width()), "{}", thumb.width());
}

#[tokio::test]
async fn images_are_known_by_their_bytes_and_bombs_refused_from_their_header() {
    let chat = Chat::new().await;
    // A PNG sent as anything is a PNG; a small one is its own thumbnail's size.
    let dot = png(30, 20);
    let file = chat
        .upload("dot.png", "application/octet-stream", dot.clone())
        .await;
    assert_eq!(file["content_type"], "image/png");
    // Nothing to remove from it: stored as it came.
    let stored = chat
        .get(&format!("/files/{}", file["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(bytes_of(stored).await, dot);
    assert_eq!(
        (file["width"].as_u64(), file["height"].as_u64()),
        (Some(30), Some(20))
    );
    let thumb = chat
        .get(
            &format!("/files/{}/thumb", file["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(header(&thumb, "content-type"), "image/png");
    let thumb = image::load_from_memory(&bytes_of(thumb).await).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (30, 20));
    // "image/png" on bytes that are none: a plain file.
    let fake = chat
        .upload(
            "fake.png",
            "image/png",
            b"\x89PNG\r\n\x1a\nnot really".to_vec(),
        )
        .await;
    assert_eq!(fake["content_type"], "application/octet-stream");
    assert!(fake.get("width").is_none());
    let response = chat
        .get(&format!("/files/{}", fake["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(
        header(&response, "content-type"),
        "application/octet-stream"
    );
    // A bomb: a PNG of a few dozen bytes claiming 100,000 x 100,000 pixels; one over the side
    // limit, one over the pixel limit, and one within both whose 16-bit channels would take
    // 392 MB, more than the decoder may allocate.
    for (width, height, depth) in [
        (100_000, 100_000, 8),
        (16_385, 10, 8),
        (10_000, 5_001, 8),
        (7_000, 7_000, 16),
    ] {
        let bomb = png_claiming(width, height, depth);
        assert!(bomb.len() < 100);
        let (status, reply) = chat
            .upload_as("bomb.png", Some(ANN), Some("image/png"), Body::from(bomb))
            .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{width}x{height}x{depth}: {reply}"
        );
        assert!(
            reply["data"]["message"]
                .as_str()
                .unwrap()
                .starts_with("image too large"),
            "{reply}"
        );
    }
    assert_eq!(
        chat.count("SELECT COUNT(*) FROM files").await,
        2,
        "the bombs left nothing"
    );
}

#[tokio::test]
async fn byte_ranges_are_answered_206() {
    let chat = Chat::new().await;
    let bytes: Vec<u8> = (0..CHUNK * 2 + 100).map(|n| (n % 251) as u8).collect();
    let file = chat.upload("log.txt", "text/plain", bytes.clone()).await;
    let path = format!("/files/{}", file["id"].as_str().unwrap());
    let whole = chat.get(&path, None).await;
    assert_eq!(header(&whole, "accept-ranges"), "bytes");
    let cases = [
        ("bytes=0-9", 0, 10),
        ("bytes=262140-262149", CHUNK - 4, CHUNK + 6),
        ("bytes=-50", bytes.len() - 50, bytes.len()),
        ("bytes=524000-", 524_000, bytes.len()),
    ];
    for (range, start, end) in cases {
        let response = chat.get(&path, Some(range)).await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            header(&response, "content-range"),
            format!("bytes {start}-{}/{}", end - 1, bytes.len())
        );
        assert_eq!(
            header(&response, "content-length"),
            (end - start).to_string()
        );
        assert_eq!(
            header(&response, "content-disposition"),
            "attachment; filename*=UTF-8''log.txt"
        );
        assert_eq!(bytes_of(response).await, &bytes[start..end], "{range}");
    }
    let response = chat.get(&path, Some("bytes=999999-")).await;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(&response, "content-range"),
        format!("bytes */{}", bytes.len())
    );
}

#[tokio::test]
async fn files_are_attached_once_by_their_uploader_and_carried_by_items() {
    let chat = Chat::new().await;
    let one = chat.upload("one.txt", "text/plain", b"one".to_vec()).await;
    let two = chat.upload("two.png", "image/png", png(8, 8)).await;
    let (one_id, two_id) = (one["id"].as_str().unwrap(), two["id"].as_str().unwrap());
    let post = |key: Option<&str>, files: Value, text: &str| {
        let mut data = json!({"sender": "Ann", "message": text, "files": files});
        if let Some(key) = key {
            data["key"] = json!(key);
        }
        json!({"type": "message", "data": data})
    };
    // 400 malformed.
    for files in [
        json!([]),
        json!(["not an id"]),
        json!([one_id, one_id]),
        json!((0..11).map(|n| format!("{n:0>22}")).collect::<Vec<_>>()),
        json!("one"),
    ] {
        chat.expect(post(Some(ANN), files, ""), StatusCode::BAD_REQUEST)
            .await;
    }
    // Files or not, a text of white space only is no message.
    chat.expect(
        post(Some(ANN), json!([one_id]), "  "),
        StatusCode::BAD_REQUEST,
    )
    .await;
    // 403: no key, another key's file (even beside an unknown one).
    chat.expect(post(None, json!([one_id]), ""), StatusCode::FORBIDDEN)
        .await;
    let unknown = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    chat.expect(
        post(Some(BOB), json!([unknown, one_id]), ""),
        StatusCode::FORBIDDEN,
    )
    .await;
    // 404 unknown.
    chat.expect(
        post(Some(ANN), json!([one_id, unknown]), ""),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Stored with an empty text, files in the order given.
    let reply = chat
        .expect(post(Some(ANN), json!([two_id, one_id]), ""), StatusCode::OK)
        .await;
    let id = reply["data"]["id"].as_u64().unwrap();
    // 409: attached already.
    chat.expect(
        post(Some(ANN), json!([one_id]), "again"),
        StatusCode::CONFLICT,
    )
    .await;
    // Items carry them: sync (seed-shaped and with rooms), history, search.
    let expected = json!([two, one]);
    let sync = chat
        .expect(
            json!({"type": "sync", "data": {"last_message": 0}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(sync["data"][0]["files"], expected);
    assert!(sync["data"][0].get("message").is_none());
    let history = chat
        .expect(
            json!({"type": "history", "data": {"room": "general"}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(history["data"][0]["files"], expected);
    let with_text = post(
        Some(ANN),
        json!([chat.upload("c.txt", "text/plain", b"c".to_vec()).await["id"]]),
        "findable words",
    );
    chat.expect(with_text, StatusCode::OK).await;
    let found = chat
        .expect(
            json!({"type": "search", "data": {"q": "findable"}}),
            StatusCode::OK,
        )
        .await;
    assert_eq!(found["data"][0]["files"][0]["name"], "c.txt");
    // Read from the database too, not only from the tail in memory: a second store opened
    // on it (as another instance, or after a restart) loads them.
    let second = ajax_chat::server::store::open(&chat.fx.url).await.unwrap();
    let page = second.history("general", u64::MAX, 10).await.unwrap();
    assert_eq!(page[0].id, id);
    assert_eq!(
        serde_json::to_value(&page[0].files).unwrap(),
        expected,
        "as stored"
    );
    second.close().await;
}

#[tokio::test]
async fn deleting_a_message_or_purging_its_author_removes_the_bytes() {
    let chat = Chat::new().await;
    let secret = b"the contents of a file that must not outlive its message".to_vec();
    let file = chat.upload("a.txt", "text/plain", secret.clone()).await;
    let post = json!({"type": "message", "data": {"sender": "Ann", "message": "see", "key": ANN, "files": [file["id"]]}});
    let id = chat.expect(post, StatusCode::OK).await["data"]["id"]
        .as_u64()
        .unwrap();
    let path = format!("/files/{}", file["id"].as_str().unwrap());
    assert_eq!(chat.get(&path, None).await.status(), StatusCode::OK);
    assert_eq!(chat.count("SELECT COUNT(*) FROM file_chunks").await, 1);
    chat.expect(
        json!({"type": "delete", "data": {"id": id, "key": ANN}}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(chat.get(&path, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(chat.count("SELECT COUNT(*) FROM files").await, 0);
    assert_eq!(chat.count("SELECT COUNT(*) FROM file_chunks").await, 0);

    // A purge takes attached and unattached files alike.
    let attached = chat.upload("b.txt", "text/plain", b"b".to_vec()).await;
    let loose = chat.upload("c.txt", "text/plain", b"c".to_vec()).await;
    let post = json!({"type": "message", "data": {"sender": "Ann", "message": "b", "key": ANN, "files": [attached["id"]]}});
    chat.expect(post, StatusCode::OK).await;
    let ann = chat.fx.state.identity.fingerprint(ANN);
    chat.expect(
        json!({"type": "ban", "data": {"admin": ADMIN, "author": ann, "purge": true}}),
        StatusCode::OK,
    )
    .await;
    for file in [attached, loose] {
        let path = format!("/files/{}", file["id"].as_str().unwrap());
        assert_eq!(chat.get(&path, None).await.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(chat.count("SELECT COUNT(*) FROM files").await, 0);
    assert_eq!(chat.count("SELECT COUNT(*) FROM file_chunks").await, 0);
}

#[tokio::test]
async fn files_never_attached_are_swept_after_a_day() {
    let chat = Chat::new().await;
    let kept = chat.upload("kept.txt", "text/plain", b"k".to_vec()).await;
    let post = json!({"type": "message", "data": {"sender": "Ann", "message": "k", "key": ANN, "files": [kept["id"]]}});
    chat.expect(post, StatusCode::OK).await;
    let loose = chat.upload("loose.txt", "text/plain", b"l".to_vec()).await;
    let files = chat.fx.store.files();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    assert_eq!(
        files.sweep_files(now).await.unwrap(),
        0,
        "not a day old yet"
    );
    let day = 24 * 60 * 60 * 1_000_000;
    assert_eq!(files.sweep_files(now + day + 1).await.unwrap(), 1);
    let loose = format!("/files/{}", loose["id"].as_str().unwrap());
    assert_eq!(chat.get(&loose, None).await.status(), StatusCode::NOT_FOUND);
    let kept = format!("/files/{}", kept["id"].as_str().unwrap());
    assert_eq!(chat.get(&kept, None).await.status(), StatusCode::OK);
}

/// Posts attaching files the sweep finds stale, while it sweeps: each post is stored with its
/// files or refused with 404 and stores nothing, and the sweep goes through; none is failed by
/// waiting on another. On PostgreSQL a post naming its files against the order the sweep took
/// them in deadlocked with it, and so did two posts of one batch (the writer takes their files
/// post by post) until the sweep stopped waiting on locked rows.
#[tokio::test]
async fn posts_attaching_stale_files_and_the_sweep_never_fail_each_other() {
    const ROUNDS: usize = 40;
    let chat = Chat::new().await;
    let files = chat.fx.store.files();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    let later = now + 2 * 24 * 60 * 60 * 1_000_000;
    let post = |text: String, files: &[String]| json!({"type": "message", "data": {"sender": "Ann", "message": text, "key": ANN, "files": files}});
    let (mut stored, mut swept) = (0, 0);
    for round in 0..ROUNDS {
        let mut ids = Vec::new();
        for name in ["a.txt", "b.txt", "c.txt", "d.txt"] {
            let file = chat.upload(name, "text/plain", b"x".to_vec()).await;
            ids.push(file["id"].as_str().unwrap().to_owned());
        }
        ids.sort();
        // Each names its files against the order of their ids; sent together, they are most
        // often committed in one batch, the highest ids first.
        let first = [ids[3].clone(), ids[2].clone()];
        let second = [ids[1].clone(), ids[0].clone()];
        // The sweep starts a little later each round, to land at every point of the posts.
        let sweep = async {
            for _ in 0..round * 3 {
                tokio::task::yield_now().await;
            }
            files.sweep_files(later).await
        };
        let (one, two, sweep) = tokio::join!(
            chat.call(post(format!("round {round}, first"), &first)),
            chat.call(post(format!("round {round}, second"), &second)),
            sweep
        );
        sweep.expect("the sweep goes through");
        for ((status, reply), named) in [(one, &first), (two, &second)] {
            match status {
                StatusCode::OK => {
                    stored += 1;
                    for id in named {
                        let file = chat.get(&format!("/files/{id}"), None).await;
                        assert_eq!(file.status(), StatusCode::OK, "round {round}: {id}");
                    }
                }
                StatusCode::NOT_FOUND => swept += 1,
                _ => panic!("round {round}: {status} {reply}"),
            }
        }
    }
    assert_eq!(stored + swept, 2 * ROUNDS);
    // A refused post stored nothing: the log holds the stored ones alone.
    let (_, log) = chat
        .call(json!({"type": "sync", "data": {"last_message": 0}}))
        .await;
    assert_eq!(log["data"].as_array().unwrap().len(), stored);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the bytes and however they arrive, they come back identical.
    #[test]
    fn a_file_s_bytes_come_back_identical(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            (CHUNK - 3..CHUNK + 3, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
            proptest::collection::vec(any::<u8>(), CHUNK * 2..CHUNK * 2 + 5000),
        ],
        piece in 1usize..70_000,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let chat = Chat::new().await;
            let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
                bytes.chunks(piece).map(|p| Ok(p.to_vec())).collect();
            let body = Body::from_stream(futures_util::stream::iter(pieces));
            let (status, reply) = chat.upload_as("any", Some(ANN), None, body).await;
            assert_eq!(status, StatusCode::CREATED, "{reply}");
            let id = reply["data"]["id"].as_str().unwrap().to_owned();
            let response = chat.get(&format!("/files/{id}"), None).await;
            let back = bytes_of(response).await;
            // An image's signature would make it an image: random bytes never start so.
            assert_eq!(back, bytes);
            assert_eq!(reply["data"]["size"], bytes.len());
        });
    }
}

#[tokio::test]
async fn an_upload_whose_author_is_purged_while_it_is_sent_is_refused_and_leaves_nothing() {
    let chat = Chat::new().await;
    let (pieces, waiting) = tokio::sync::mpsc::channel::<Vec<u8>>(1);
    let body = Body::from_stream(futures_util::stream::unfold(waiting, |mut waiting| async {
        let piece = waiting.recv().await?;
        Some((Ok::<_, std::io::Error>(piece), waiting))
    }));
    let sending = {
        let router = chat.router.clone();
        let mut request = Request::post("/files?name=long.log")
            .header("x-chat-key", ANN)
            .body(body)
            .unwrap();
        request
            .extensions_mut()
            .insert(ClientAddr("10.0.0.1".parse().unwrap()));
        tokio::spawn(async move { json_of(router.oneshot(request).await.unwrap()).await })
    };
    // One whole chunk is stored...
    pieces.send(vec![1; CHUNK + 10]).await.unwrap();
    while chat.count("SELECT COUNT(*) FROM file_chunks").await == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // ...when the operator bans its author with purge; then the rest arrives.
    let ann = chat.fx.state.identity.fingerprint(ANN);
    chat.expect(
        json!({"type": "ban", "data": {"admin": ADMIN, "author": ann, "purge": true}}),
        StatusCode::OK,
    )
    .await;
    pieces.send(vec![2; CHUNK]).await.unwrap();
    drop(pieces);
    let (status, reply) = sending.await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_eq!(chat.count("SELECT COUNT(*) FROM files").await, 0);
    assert_eq!(chat.count("SELECT COUNT(*) FROM file_chunks").await, 0);
}
