//! The upload benchmark (BENCHMARKS.md, "Files"): the release server on a fresh SQLite database,
//! driven over HTTP, each figure beside a ceiling measured in the same run.
//!
//! - **Images with thumbnails**: 100 KB JPEG photos uploaded by 4 clients for a while, per
//!   second; the ceiling is this process decoding the same photo and making its thumbnail (the
//!   least the job needs), per second, on one core.
//! - **A 10 MiB upload**: its time (a plain file, streamed), median of 5; the ceiling is writing
//!   the same bytes to a file on the same disk and syncing it.
//! - **Memory**: the server's peak RSS (VmHWM) after 32 concurrent 10 MiB uploads, beside its
//!   peak before them; target <= 400 MB. Then after a 24-megapixel photo (decoded whole).
//!
//! ```sh
//! cargo leptos build --release --split
//! cargo run --release --features ssr --example uploads
//! ```

use std::io::{BufRead, BufReader, Cursor, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

type Error = Box<dyn std::error::Error + Send + Sync>;

const KEY: &str = "upload-benchmark-key-0123456789";
const MIB: usize = 1024 * 1024;

struct Server {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(binary: &str) -> Result<Self, Error> {
        let dir = tempfile::tempdir()?;
        let mut child = Command::new(binary)
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("chat.db").display()),
            )
            .env("CHAT_UPLOAD_RATE", "0")
            .env("CHAT_REQUEST_TIMEOUT_SECS", "120")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| format!("start {binary}: {err} (build it first)"))?;
        let mut lines = BufReader::new(child.stderr.take().ok_or("no stderr")?).lines();
        let addr = loop {
            let line = lines.next().ok_or("the server exited before listening")??;
            if let Some(rest) = line.split("addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .parse()?;
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Self {
            child,
            addr,
            _dir: dir,
        })
    }

    /// Peak resident memory so far, in bytes.
    fn peak_rss(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|status| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix("VmHWM:"))
                    .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            })
            .unwrap_or(0)
            * 1024
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Uploads `body` as `name`: its status and how long the whole exchange took.
async fn upload(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Body>,
    addr: SocketAddr,
    name: &str,
    kind: &str,
    body: Body,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let request = hyper::Request::post(format!("http://{addr}/files?name={name}"))
        .header("content-type", kind)
        .header("x-chat-key", KEY)
        .body(body)?;
    let response = client.request(request).await?;
    let status = response.status();
    let reply = response.into_body().collect().await?.to_bytes();
    if status != 201 {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&reply)).into());
    }
    Ok(started.elapsed())
}

fn whole(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed()
}

/// `size` bytes made as they are sent, 64 KiB at a time: the client holds no whole file.
fn streamed(size: usize) -> Body {
    let pieces = size.div_ceil(64 * 1024);
    let stream = futures_util::stream::iter(0..pieces).map(move |at| {
        let length = (size - at * 64 * 1024).min(64 * 1024);
        Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![(at % 251) as u8; length])))
    });
    BodyExt::boxed(StreamBody::new(stream))
}

/// A photo-like JPEG of `width` x `height` (640 x 480: about 100 KB): noise over a gradient,
/// which compresses as a photo does.
fn photo(width: u32, height: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % 48) as u8
    };
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([
            (x * 255 / width) as u8 / 2 + noise(),
            (y * 255 / height) as u8 / 2 + noise(),
            120 + noise(),
        ])
    });
    let mut out = Cursor::new(Vec::new());
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 70);
    image::DynamicImage::ImageRgb8(picture)
        .write_with_encoder(encoder)
        .expect("encode");
    out.into_inner()
}

/// What the server must do at least for one image: decode it and make its thumbnail.
fn thumbnail_of(bytes: &[u8]) -> usize {
    let picture = image::load_from_memory(bytes).expect("decode");
    let small = picture.thumbnail(400, 400);
    let mut out = Cursor::new(Vec::new());
    small
        .to_rgb8()
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .expect("encode");
    out.into_inner().len()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let binary = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/release/ajax-chat".into());
    let seconds = 8;
    let server = Server::start(&binary)?;
    let addr = server.addr;
    let http = client();

    // Images: the ceiling first, on one core.
    let jpeg = photo(640, 480);
    let started = Instant::now();
    let mut made = 0u32;
    while started.elapsed() < Duration::from_secs(seconds) {
        thumbnail_of(&jpeg);
        made += 1;
    }
    let ceiling = f64::from(made) / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut clients = Vec::new();
    for client in 0..4 {
        let (http, jpeg) = (http.clone(), jpeg.clone());
        clients.push(tokio::spawn(async move {
            let mut done = 0u32;
            while Instant::now() < deadline {
                upload(
                    &http,
                    addr,
                    &format!("photo-{client}.jpg"),
                    "image/jpeg",
                    whole(jpeg.clone()),
                )
                .await
                .expect("upload");
                done += 1;
            }
            done
        }));
    }
    let mut uploaded = 0;
    for client in clients {
        uploaded += client.await?;
    }
    let per_second = f64::from(uploaded) / started.elapsed().as_secs_f64();
    println!(
        "images: {} B JPEG (640 x 480), {per_second:.1} uploads/s with thumbnails (4 clients); \
         ceiling, decoding and thumbnailing in-process on one core: {ceiling:.1}/s; ratio {:.2}",
        jpeg.len(),
        per_second / ceiling
    );

    // One 10 MiB file: its upload, and the same bytes written and synced to the same disk.
    let mut times = Vec::new();
    for _ in 0..5 {
        let took = upload(
            &http,
            addr,
            "big.bin",
            "application/octet-stream",
            streamed(10 * MIB),
        )
        .await?;
        times.push(took.as_secs_f64() * 1000.0);
    }
    let mut disk = Vec::new();
    let scratch = tempfile::tempdir()?;
    let bytes = vec![7u8; 10 * MIB];
    for at in 0..5 {
        let started = Instant::now();
        let mut file = std::fs::File::create(scratch.path().join(format!("{at}.bin")))?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        disk.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let (upload_ms, disk_ms) = (median(times), median(disk));
    println!(
        "10 MiB upload: median {upload_ms:.0} ms of 5; ceiling, writing and syncing 10 MiB to \
         the same disk: {disk_ms:.0} ms; ratio {:.1}",
        upload_ms / disk_ms
    );

    // Memory: 32 uploads of 10 MiB at once.
    let before = server.peak_rss();
    let started = Instant::now();
    let mut running = Vec::new();
    for n in 0..32 {
        let http = http.clone();
        running.push(tokio::spawn(async move {
            upload(
                &http,
                addr,
                &format!("many-{n}.bin"),
                "application/octet-stream",
                streamed(10 * MIB),
            )
            .await
        }));
    }
    for upload in running {
        upload.await??;
    }
    let after = server.peak_rss();
    println!(
        "32 concurrent 10 MiB uploads: done in {:.1} s; server peak RSS {:.0} MB (before them \
         {:.0} MB); target <= 400 MB: {}",
        started.elapsed().as_secs_f64(),
        after as f64 / 1e6,
        before as f64 / 1e6,
        if after <= 400_000_000 {
            "met"
        } else {
            "not met"
        }
    );

    // One large photo, decoded whole for its thumbnail.
    let large = photo(6000, 4000);
    let took = upload(&http, addr, "large.jpg", "image/jpeg", whole(large.clone())).await?;
    println!(
        "a 24-megapixel photo ({} B): uploaded in {:.0} ms; server peak RSS since start {:.0} MB",
        large.len(),
        took.as_secs_f64() * 1000.0,
        server.peak_rss() as f64 / 1e6
    );
    Ok(())
}
