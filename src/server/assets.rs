//! Static files of the site (WASM, JS, CSS, icon): read once at start-up, compressed once with
//! brotli and gzip, and served from memory in the encoding the browser accepts.
//!
//! With `hash-files` (Cargo.toml), cargo-leptos puts a content hash in the names of the WASM, JS
//! and CSS files. Without `--split` a name then never changes content, and those files are
//! cached for a year (`immutable`). With `--split` (the release build), cargo-leptos 0.3.10
//! hashes the names first and then rewrites the main JS and the WASM modules to import the
//! split loader by its final name (`src/compile/hash.rs`): a name can then stay while its
//! content changes, so only the stylesheet, which nothing rewrites, stays `immutable`.
//! Everything else is revalidated with its ETag (our own hash of the content). Compressing at
//! start-up rather than per request keeps first visits cheap for the server and costs nothing
//! on later ones.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::Path;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use leptos::config::LeptosOptions;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
/// The service worker's file: served at the root so that its scope is the whole site.
const SERVICE_WORKER: &str = "sw.js";
/// Files of `public/` the service worker keeps besides the hashed bundle: what the page and the
/// installed app show without a network.
const OFFLINE_FILES: [&str; 5] = [
    "favicon.svg",
    "favicon-unread.svg",
    "icon-192.png",
    "icon-512.png",
    "manifest.webmanifest",
];
/// The service worker's own policy: every response gets `default-src 'none'` (nothing runs in
/// it), but a worker's policy governs what the worker may do, and it fetches from this origin.
pub(super) const WORKER_POLICY: &str = "default-src 'self'; frame-ancestors 'none'";

struct Asset {
    content_type: &'static str,
    immutable: bool,
    /// A file of the client's bundle (under the site's `pkg/`): the build, kept offline.
    bundle: bool,
    etag: String,
    identity: Bytes,
    gzip: Option<Bytes>,
    brotli: Option<Bytes>,
}

/// The site's static files, in memory.
#[derive(Default)]
pub struct Assets {
    files: HashMap<String, Asset>,
    /// The stylesheet's hashed name, when cargo-leptos hashed it.
    stylesheet: Option<String>,
    /// The client's build: a hash of the hashed bundle's names and contents, when there is one.
    build: Option<String>,
}

/// Whether `cargo leptos watch` runs this server: files then change under it, so they are
/// read from disk rather than loaded and compressed once.
pub fn watching() -> bool {
    std::env::var_os("LEPTOS_WATCH").is_some()
}

/// The hashes cargo-leptos wrote next to the server binary (`hash.txt`: `js: <hash>` lines).
fn read_hashes(options: &LeptosOptions) -> HashMap<String, String> {
    if !options.hash_files {
        return HashMap::new();
    }
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_default()
        .join(options.hash_file.as_ref());
    let Ok(text) = std::fs::read_to_string(&path) else {
        tracing::warn!(path = %path.display(), "hash-files is on but the hash file is missing");
        return HashMap::new();
    };
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(kind, hash)| (kind.trim().to_owned(), hash.trim().to_owned()))
        .collect()
}

impl Assets {
    /// Reads and compresses every file under the site root. Blocking: call it off the runtime.
    pub fn load(options: &LeptosOptions) -> std::io::Result<Self> {
        let root = Path::new(options.site_root.as_ref());
        let hashes = read_hashes(options);
        let split = hashes.contains_key("split");
        let pkg = format!("{}/", options.site_pkg_dir);
        let stylesheet_hash = hashes.get("css");
        // Read first, then compressed on every core: most of a start-up's time.
        let mut read = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            for entry in entries {
                let path = entry?.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let Ok(relative) = path.strip_prefix(root) else {
                    continue;
                };
                let url_path = relative
                    .components()
                    .map(|part| part.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let hashed = hashes.values().any(|hash| url_path.contains(hash.as_str()));
                let stylesheet =
                    stylesheet_hash.is_some_and(|hash| url_path.contains(hash.as_str()));
                let immutable = hashed && (!split || stylesheet);
                read.push((url_path, std::fs::read(&path)?, immutable));
            }
        }
        let mut files = compress_all(read);
        for (path, asset) in files.iter_mut() {
            asset.bundle = path.starts_with(&pkg);
        }
        if let Some(worker) = files.get(SERVICE_WORKER) {
            let worker = service_worker(&worker.identity, &files);
            files.insert(SERVICE_WORKER.to_owned(), worker);
        }
        let stylesheet = hashes.get("css").map(|hash| {
            format!(
                "/{}/{}.{hash}.css",
                options.site_pkg_dir, options.output_name
            )
        });
        let build = build_of(&files);
        tracing::info!(files = files.len(), build = ?build, "static assets loaded and compressed");
        Ok(Self {
            files,
            stylesheet,
            build,
        })
    }

    /// The name of the client's build: changes whenever a file of the hashed bundle (WASM, JS,
    /// CSS, split chunks) does; `None` without one.
    pub fn build(&self) -> Option<&str> {
        self.build.as_deref()
    }

    /// Where the page links its stylesheet, if its name carries a hash.
    pub fn stylesheet_href(&self) -> Option<&str> {
        self.stylesheet.as_deref()
    }

    /// The response for `path` (without the leading `/`), or `None` if there is no such file.
    pub fn respond(&self, path: &str, request: &HeaderMap) -> Option<Response> {
        let asset = self.files.get(path)?;
        let (encoding, body, etag) = match preferred_encoding(request) {
            Encoding::Brotli if asset.brotli.is_some() => (
                Some("br"),
                asset.brotli.clone()?,
                format!("\"{}-br\"", asset.etag),
            ),
            Encoding::Brotli | Encoding::Gzip if asset.gzip.is_some() => (
                Some("gzip"),
                asset.gzip.clone()?,
                format!("\"{}-gz\"", asset.etag),
            ),
            _ => (None, asset.identity.clone(), format!("\"{}\"", asset.etag)),
        };
        let not_modified = request
            .get(header::IF_NONE_MATCH)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
        let mut response = if not_modified {
            Response::builder().status(StatusCode::NOT_MODIFIED)
        } else {
            Response::builder()
                .header(header::CONTENT_TYPE, asset.content_type)
                .header(header::CONTENT_LENGTH, body.len())
        };
        response = response
            .header(header::ETAG, etag)
            .header(header::VARY, HeaderValue::from_static("accept-encoding"))
            .header(
                header::CACHE_CONTROL,
                if asset.immutable {
                    IMMUTABLE
                } else {
                    REVALIDATE
                },
            );
        if path == SERVICE_WORKER {
            response = response.header(header::CONTENT_SECURITY_POLICY, WORKER_POLICY);
        }
        if let (Some(encoding), false) = (encoding, not_modified) {
            response = response.header(header::CONTENT_ENCODING, encoding);
        }
        let body = if not_modified {
            Body::empty()
        } else {
            Body::from(body)
        };
        response.body(body).ok()
    }
}

impl Asset {
    fn new(bytes: Vec<u8>, path: &str, immutable: bool) -> Self {
        let content_type = content_type(path);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let compressible = content_type != "application/octet-stream"
            && !content_type.starts_with("image/png")
            && bytes.len() > 256;
        let (gzip, brotli) = if compressible {
            (gzip(&bytes), brotli(&bytes))
        } else {
            (None, None)
        };
        let smaller = |packed: Option<Vec<u8>>| {
            packed
                .filter(|packed| packed.len() < bytes.len())
                .map(Bytes::from)
        };
        Self {
            content_type,
            immutable,
            bundle: false,
            etag: format!("{:016x}", hasher.finish()),
            gzip: smaller(gzip),
            brotli: smaller(brotli),
            identity: Bytes::from(bytes),
        }
    }
}

/// The files, compressed on as many threads as there are cores.
fn compress_all(read: Vec<(String, Vec<u8>, bool)>) -> HashMap<String, Asset> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let read = std::sync::Mutex::new(read);
    let done = std::sync::Mutex::new(HashMap::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let next = read.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let Some((path, bytes, immutable)) = next else {
                        break;
                    };
                    let asset = Asset::new(bytes, &path, immutable);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(path, asset);
                }
            });
        }
    });
    done.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// A hash of the client's bundle (names and contents), as 16 hex digits.
fn build_of(files: &HashMap<String, Asset>) -> Option<String> {
    let mut bundle: Vec<(&String, &Asset)> =
        files.iter().filter(|(_, asset)| asset.bundle).collect();
    if bundle.is_empty() {
        return None;
    }
    bundle.sort_unstable_by_key(|(path, _)| *path);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for (path, asset) in bundle {
        path.hash(&mut hasher);
        asset.etag.hash(&mut hasher);
    }
    Some(format!("{:016x}", hasher.finish()))
}

/// The service worker of this build: `public/sw.js` with the list of files it keeps (the hashed
/// bundle and [`OFFLINE_FILES`]) and a version made from their content, so that each build
/// installs a new worker, which replaces the old caches.
fn service_worker(template: &[u8], files: &HashMap<String, Asset>) -> Asset {
    let mut kept: Vec<&str> = files
        .iter()
        .filter(|(path, asset)| asset.bundle || OFFLINE_FILES.contains(&path.as_str()))
        .map(|(path, _)| path.as_str())
        .collect();
    kept.sort_unstable();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for path in &kept {
        path.hash(&mut hasher);
        files[*path].etag.hash(&mut hasher);
    }
    let list = kept
        .iter()
        .map(|path| format!("\"/{path}\""))
        .collect::<Vec<_>>()
        .join(",");
    let text = String::from_utf8_lossy(template)
        .replacen(
            "const VERSION = \"dev\";",
            &format!("const VERSION = \"{:016x}\";", hasher.finish()),
            1,
        )
        .replacen(
            "const PRECACHE = [];",
            &format!("const PRECACHE = [{list}];"),
            1,
        );
    Asset::new(text.into_bytes(), SERVICE_WORKER, false)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "wasm" => "application/wasm",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "txt" => "text/plain; charset=utf-8",
        "ico" => "image/x-icon",
        "png" => "image/png",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}

/// Gzip at zlib's best, for the browsers that do not take brotli (every current one does).
/// (zopfli made it about 5 % smaller, but took most of a start-up's time once the bundle was
/// split into some forty files: 9 s against 2 s on this machine.)
fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

fn brotli(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut packed = Vec::new();
    // The best quality costs about a second per MB: fine for a release bundle, too slow for a
    // debug one, which gets a quicker setting.
    let quality = if bytes.len() <= 2 << 20 { 11 } else { 5 };
    let params = brotli::enc::BrotliEncoderParams {
        quality,
        lgwin: 22,
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &bytes[..], &mut packed, &params).ok()?;
    Some(packed)
}

/// `body`, made per request (the page), compressed as `encoding` says: the encoding's name and
/// the bytes, or `None` for identity. Quicker settings than the static files' (made once at
/// start-up), since this runs for every page view.
pub(super) fn compress_page(body: &[u8], encoding: Encoding) -> Option<(&'static str, Vec<u8>)> {
    match encoding {
        Encoding::Brotli => {
            let mut packed = Vec::new();
            let params = brotli::enc::BrotliEncoderParams {
                quality: 5,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut packed, &params).ok()?;
            Some(("br", packed))
        }
        Encoding::Gzip => {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(body).ok()?;
            Some(("gzip", encoder.finish().ok()?))
        }
        Encoding::Identity => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// The best encoding the request accepts: brotli, then gzip, then none. `q=0` refuses one.
pub(super) fn preferred_encoding(request: &HeaderMap) -> Encoding {
    let mut brotli = false;
    let mut gzip = false;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|param| {
                param
                    .trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match name.as_str() {
                "br" => brotli = !refused,
                "gzip" => gzip = !refused,
                _ => {}
            }
        }
    }
    if brotli {
        Encoding::Brotli
    } else if gzip {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        headers
    }

    #[test]
    fn negotiates_brotli_then_gzip_then_identity() {
        assert_eq!(
            preferred_encoding(&accepting("gzip, deflate, br, zstd")),
            Encoding::Brotli
        );
        assert_eq!(preferred_encoding(&accepting("gzip")), Encoding::Gzip);
        assert_eq!(
            preferred_encoding(&accepting("br;q=0, gzip;q=0.5")),
            Encoding::Gzip
        );
        assert_eq!(
            preferred_encoding(&accepting("identity")),
            Encoding::Identity
        );
        assert_eq!(preferred_encoding(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn serves_compressed_files_with_cache_headers_and_etags() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("pkg")).unwrap();
        let js = "export function hydrate() {}\n".repeat(200);
        std::fs::write(dir.path().join("pkg/app.js"), &js).unwrap();
        let options = LeptosOptions::builder()
            .output_name("app")
            .site_root(dir.path().to_string_lossy().to_string())
            .build();
        let assets = Assets::load(&options).unwrap();

        let response = assets
            .respond("pkg/app.js", &accepting("gzip, br"))
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_ENCODING], "br");
        assert_eq!(headers[header::VARY], "accept-encoding");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            REVALIDATE,
            "not a hashed name"
        );
        let length: usize = headers[header::CONTENT_LENGTH]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(length < js.len() / 10, "compressed: {length}");
        let etag = headers[header::ETAG].clone();

        let mut again = accepting("br");
        again.insert(header::IF_NONE_MATCH, etag);
        let cached = assets.respond("pkg/app.js", &again).unwrap();
        assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);

        let plain = assets.respond("pkg/app.js", &HeaderMap::new()).unwrap();
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            plain.headers()[header::CONTENT_LENGTH],
            js.len().to_string()
        );
        assert!(
            assets
                .respond("pkg/missing.js", &HeaderMap::new())
                .is_none()
        );
    }

    async fn worker_of(dir: &Path) -> String {
        let options = LeptosOptions::builder()
            .output_name("app")
            .site_root(dir.to_string_lossy().to_string())
            .build();
        let response = Assets::load(&options)
            .unwrap()
            .respond(SERVICE_WORKER, &HeaderMap::new())
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers[header::CACHE_CONTROL], REVALIDATE);
        assert_eq!(headers[header::CONTENT_SECURITY_POLICY], WORKER_POLICY);
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_service_worker_lists_the_offline_files_and_changes_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let public = Path::new(env!("CARGO_MANIFEST_DIR")).join("public");
        for file in [SERVICE_WORKER, "favicon.svg", "manifest.webmanifest"] {
            std::fs::copy(public.join(file), dir.path().join(file)).unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), "not for offline use").unwrap();
        let worker = worker_of(dir.path()).await;
        assert!(
            worker.contains(r#"const PRECACHE = ["/favicon.svg","/manifest.webmanifest"];"#),
            "{worker}"
        );
        assert!(!worker.contains(r#"const VERSION = "dev";"#));

        std::fs::write(dir.path().join("favicon.svg"), "<svg/>").unwrap();
        let changed = worker_of(dir.path()).await;
        let version = |worker: &str| {
            worker
                .lines()
                .find(|line| line.starts_with("const VERSION"))
                .unwrap()
                .to_owned()
        };
        assert_ne!(
            version(&worker),
            version(&changed),
            "a new build, a new worker"
        );
    }
}
