//! Files: `POST /files` stores one (streamed into storage a chunk at a time, refused while
//! reading once it is too large), a `message` with `files` attaches it, and `GET /files/<id>`
//! serves it back so that nothing uploaded can run as a page of this origin: images as
//! themselves, everything else as a download, both sandboxed by their own CSP.
//!
//! A file's id is random (192 bits) and its URL is the capability to read it, as a link to a
//! shared document is elsewhere: anyone who has the URL can read the file.

use std::sync::{Arc, LazyLock};

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use super::ajax::address_of;
use super::bots;
use super::error::AjaxError;
use super::identity::new_file_id;
use super::images::{self, Examined, Format};
use super::limit::ClientAddr;
use super::state::AppState;
use super::store::files::{CHUNK_BYTES, chunks_of};
use super::store::{Upload, now_micros};
use crate::protocol::{
    FileInfo, Invalid, KEY_CHARS, ServerEnvelope, check_key, declared_type, is_file_id,
    percent_encode, upload_name,
};

/// The header that carries the uploader's key (a URL would keep it in logs and history).
pub const KEY_HEADER: &str = "x-chat-key";

/// Images examined at once: decoding one may take a few hundred MB, so a crowd of uploads
/// waits here rather than all decoding together.
static DECODING: LazyLock<tokio::sync::Semaphore> =
    LazyLock::new(|| tokio::sync::Semaphore::new(1));

/// `POST /files?name=<name>`: the raw body is the file. Refusals, in this order, store
/// nothing: 429 over the client's upload rate; 400 a missing or malformed name or key; 403 no
/// key, a banned author or address; 413 over `--max-file-bytes` (by `Content-Length` at once,
/// else while reading); 400 an image too large to decode. Answered 201 with a `file` envelope
/// once the file is durably stored.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, AjaxError> {
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    if let Some(ip) = client {
        state
            .upload_limit
            .check(ip)
            .map_err(AjaxError::RateLimited)?;
    }
    let name = upload_name(query.as_deref())?;
    let key = match headers.get(KEY_HEADER) {
        None => None,
        Some(value) => {
            let key = value.to_str().ok().filter(|key| check_key(key).is_ok());
            Some(key.ok_or_else(|| {
                Invalid(format!(
                    "X-Chat-Key: {} to {} of A-Z, a-z, 0-9, _ and - required",
                    KEY_CHARS.start(),
                    KEY_CHARS.end()
                ))
            })?)
        }
    };
    let Some(key) = key else {
        return Err(AjaxError::Forbidden(
            "not allowed: an upload needs the key of its sender (X-Chat-Key)".into(),
        ));
    };
    // A revoked bot's token is refused rather than taken for a browser's key.
    bots::bot_of_key(&state, key).await?;
    let author = state.identity.fingerprint(key);
    let address = address_of(client);
    let bans = state.store.bans().await?;
    let banned = bans.iter().any(|ban| {
        ban.author.as_deref() == Some(author.as_str())
            || (ban.address.is_some() && ban.address == address)
    });
    if banned {
        return Err(AjaxError::Forbidden(
            "not allowed: this author or address is banned".into(),
        ));
    }
    let max = state.limits.max_file_bytes;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > max) {
        return Err(too_large(max));
    }
    let declared_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(declared_type);
    let id = new_file_id().ok_or(AjaxError::NoRandomness)?;
    let files = state.store.files();
    files
        .begin_upload(&Upload {
            id: id.clone(),
            name: name.clone(),
            author,
            address,
            created: now_micros(),
        })
        .await?;
    let stored = receive(&state, &id, body, max).await;
    let (size, head) = match stored {
        Ok(received) => received,
        Err(refused) => {
            drop_quietly(&state, &id).await;
            return Err(refused);
        }
    };
    let mut file = FileInfo {
        id: id.clone(),
        name,
        size,
        content_type: declared_type
            .filter(|kind| !kind.to_ascii_lowercase().starts_with("image/"))
            .unwrap_or_else(|| "application/octet-stream".to_owned()),
        width: None,
        height: None,
    };
    let mut thumb = None;
    if let Some(format) = Format::recognise(&head) {
        match examine(&state, &file, format).await {
            Ok(Some((examined, bytes))) => {
                // Only an image whose metadata was removed is written again.
                if let Some(bytes) = bytes {
                    store_bytes(&state, &id, bytes).await?;
                }
                file.size = examined.size;
                file.content_type = format.mime().to_owned();
                file.width = examined.width;
                file.height = examined.height;
                thumb = Some(examined.thumb);
            }
            Ok(None) => {
                // It claims an image's signature and is none: a plain file, never served as
                // what it claims.
                file.content_type = "application/octet-stream".to_owned();
            }
            Err(refused) => {
                drop_quietly(&state, &id).await;
                return Err(refused);
            }
        }
    }
    if !files.finish_upload(&file, thumb).await? {
        drop_quietly(&state, &id).await;
        return Err(gone());
    }
    tracing::debug!(id = %file.id, size = file.size, "file stored");
    Ok((StatusCode::CREATED, Json(ServerEnvelope::File(file))).into_response())
}

/// Removes what was stored of a refused upload; if that fails too, the sweep removes it.
async fn drop_quietly(state: &AppState, id: &str) {
    if let Err(err) = state.store.files().drop_upload(id).await {
        tracing::warn!(
            error = &err as &dyn std::error::Error,
            "dropping an upload failed"
        );
    }
}

/// An upload removed while it was received: its author or address was banned with purge (or
/// it took longer than storage keeps an unfinished upload).
fn gone() -> AjaxError {
    AjaxError::Forbidden("not allowed: the upload was removed before it was finished".into())
}

fn too_large(max: u64) -> AjaxError {
    AjaxError::TooLarge(usize::try_from(max).unwrap_or(usize::MAX))
}

/// Reads the body into storage a chunk at a time: its size and first bytes, or why it was
/// refused (over `max`, unreadable, or a client that stalls longer than the body timeout
/// between two pieces).
async fn receive(
    state: &AppState,
    id: &str,
    body: Body,
    max: u64,
) -> Result<(u64, Vec<u8>), AjaxError> {
    let files = state.store.files();
    let mut stream = body.into_data_stream();
    let mut chunk = Vec::with_capacity(CHUNK_BYTES);
    let mut head = Vec::new();
    let mut size = 0u64;
    let mut seq = 0u32;
    loop {
        let next = tokio::time::timeout(state.body_timeout, stream.next())
            .await
            .map_err(|_| AjaxError::BodyTimeout)?;
        let Some(piece) = next else {
            break;
        };
        let mut piece = &piece.map_err(|_| AjaxError::BodyUnreadable)?[..];
        size += piece.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        if head.len() < 16 {
            head.extend_from_slice(&piece[..piece.len().min(16 - head.len())]);
        }
        while !piece.is_empty() {
            let room = CHUNK_BYTES - chunk.len();
            let (now, later) = piece.split_at(piece.len().min(room));
            chunk.extend_from_slice(now);
            piece = later;
            if chunk.len() == CHUNK_BYTES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES));
                if !files.put_chunk(id, seq, full).await? {
                    return Err(gone());
                }
                seq += 1;
            }
        }
    }
    if !chunk.is_empty() && !files.put_chunk(id, seq, chunk).await? {
        return Err(gone());
    }
    Ok((size, head))
}

/// What examining an image found that the upload keeps.
struct Image {
    size: u64,
    width: Option<u32>,
    height: Option<u32>,
    thumb: Vec<u8>,
}

/// Reads a stored upload back and examines it as `format` (one at a time, off the runtime):
/// the image and its new bytes (if its metadata was removed), `None` if it is no image after all, or 400 if it is too large.
async fn examine(
    state: &AppState,
    file: &FileInfo,
    format: Format,
) -> Result<Option<(Image, Option<Vec<u8>>)>, AjaxError> {
    let _turn = DECODING.acquire().await.map_err(|_| AjaxError::Panic)?;
    let files = state.store.files();
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or(0));
    let (_, last) = chunks_of(0, file.size);
    for seq in 0..=last {
        match files.chunk(&file.id, seq).await? {
            Some(chunk) => bytes.extend(chunk),
            None => break,
        }
    }
    let examined = tokio::task::spawn_blocking(move || images::examine(format, bytes))
        .await
        .map_err(|_| AjaxError::Panic)?;
    Ok(match examined {
        Examined::TooLarge => {
            return Err(Invalid(format!(
                "image too large: at most {} pixels on a side and {} million in all",
                images::MAX_SIDE,
                images::MAX_PIXELS / 1_000_000
            ))
            .into());
        }
        Examined::NotAnImage => None,
        Examined::Unclean => {
            return Err(Invalid(
                "image refused: its metadata cannot be removed from it (it may be damaged)".into(),
            )
            .into());
        }
        Examined::Image {
            bytes,
            width,
            height,
            thumb,
        } => Some((
            Image {
                size: bytes.as_ref().map_or(file.size, |bytes| bytes.len() as u64),
                width: Some(width),
                height: Some(height),
                thumb,
            },
            bytes,
        )),
    })
}

/// Replaces an upload's chunks with `bytes` (an image without its metadata).
async fn store_bytes(state: &AppState, id: &str, bytes: Vec<u8>) -> Result<(), AjaxError> {
    let files = state.store.files();
    for (seq, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
        let seq = u32::try_from(seq).unwrap_or(u32::MAX);
        if !files.put_chunk(id, seq, chunk.to_vec()).await? {
            return Err(gone());
        }
    }
    Ok(())
}

/// `GET /files/<id>` (and `/files/<id>/<name>`): the file, with `Range` answered 206.
pub async fn download(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let mut parts = path.splitn(2, '/');
    let id = parts.next().unwrap_or_default();
    let rest = parts.next();
    let answer = match rest {
        Some("thumb") => thumbnail(&state, id).await,
        _ => serve(&state, id, &headers).await,
    };
    answer.unwrap_or_else(IntoResponse::into_response)
}

fn not_found() -> AjaxError {
    AjaxError::NotFound("no such file".into())
}

async fn thumbnail(state: &AppState, id: &str) -> Result<Response, AjaxError> {
    if !is_file_id(id) {
        return Err(not_found());
    }
    let thumb = state.store.files().thumb(id).await?.ok_or_else(not_found)?;
    let mut response = Response::new(Body::from(thumb.clone()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(images::thumb_mime(&thumb)),
    );
    protect(headers, &format!("\"{id}-thumb\""));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    Ok(response)
}

/// The headers every file and thumbnail is served with: cached for good (a file never
/// changes), never sniffed, and sandboxed should a browser ever render it as a document.
fn protect(headers: &mut HeaderMap, etag: &str) {
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
}

async fn serve(state: &AppState, id: &str, request: &HeaderMap) -> Result<Response, AjaxError> {
    if !is_file_id(id) {
        return Err(not_found());
    }
    let files = state.store.files();
    let file = files.file(id).await?.ok_or_else(not_found)?;
    let etag = format!("\"{id}\"");
    // Only the four recognised formats are served as what they are; every other file, whatever
    // was declared for it, is a download.
    let image = file.is_image()
        && matches!(
            file.content_type.as_str(),
            "image/png" | "image/jpeg" | "image/gif" | "image/webp"
        );
    let (kind, disposition) = if image {
        (file.content_type.as_str(), "inline")
    } else {
        ("application/octet-stream", "attachment")
    };
    let mut headers = HeaderMap::new();
    if let Ok(kind) = HeaderValue::from_str(kind) {
        headers.insert(header::CONTENT_TYPE, kind);
    }
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{disposition}; filename*=UTF-8''{}",
        percent_encode(&file.name)
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    protect(&mut headers, &etag);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if unchanged {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().extend(headers);
        return Ok(response);
    }
    // A range is of this file only if `If-Range` (when sent) names it; else the whole file.
    let same_file = request
        .get(header::IF_RANGE)
        .is_none_or(|tag| tag.to_str().is_ok_and(|tag| tag.trim() == etag));
    let range = match request.get(header::RANGE).filter(|_| same_file) {
        None => None,
        Some(value) => match byte_range(value.to_str().unwrap_or_default(), file.size) {
            Ok(range) => range,
            Err(()) => {
                let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", file.size)) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
                response.headers_mut().extend(headers);
                return Ok(response);
            }
        },
    };
    let (start, end, status) = match range {
        Some((start, end)) => {
            if let Ok(value) =
                HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, file.size))
            {
                headers.insert(header::CONTENT_RANGE, value);
            }
            (start, end, StatusCode::PARTIAL_CONTENT)
        }
        None => (0, file.size, StatusCode::OK),
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    let body = if start == end {
        Body::empty()
    } else {
        Body::from_stream(chunk_stream(
            Arc::clone(&state.store),
            id.to_owned(),
            start,
            end,
        ))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().extend(headers);
    Ok(response)
}

/// Bytes `start..end` of a file, read from storage one chunk at a time as the client takes them.
fn chunk_stream(
    store: Arc<dyn super::store::Store>,
    id: String,
    start: u64,
    end: u64,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    let (first, last) = chunks_of(start, end);
    futures_util::stream::iter(first..=last).then(move |seq| {
        let store = Arc::clone(&store);
        let id = id.clone();
        async move {
            let chunk = store
                .files()
                .chunk(&id, seq)
                .await
                .map_err(std::io::Error::other)?
                .ok_or_else(|| std::io::Error::other("a chunk of a file is missing"))?;
            let chunk_start = u64::from(seq) * CHUNK_BYTES as u64;
            let from = usize::try_from(start.saturating_sub(chunk_start)).unwrap_or(0);
            let to = usize::try_from(end - chunk_start)
                .unwrap_or(usize::MAX)
                .min(chunk.len());
            Ok(chunk.get(from..to).unwrap_or_default().to_vec())
        }
    })
}

/// One `bytes=` range of a file of `size` bytes, as `start..end`: `Ok(None)` for a header this
/// server does not answer with a part (several ranges: the whole file is), `Err` for a range
/// outside the file (416).
fn byte_range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((from, to)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    // Digits beyond what a u64 holds are still a number: past any file's end.
    let number = |text: &str| {
        let text = text.trim();
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().unwrap_or(u64::MAX))
    };
    let (start, end) = match (from.trim().is_empty(), to.trim().is_empty()) {
        // The last N bytes.
        (true, false) => {
            let suffix = number(to).ok_or(())?;
            if suffix == 0 {
                return Err(());
            }
            (size.saturating_sub(suffix), size)
        }
        (false, true) => (number(from).ok_or(())?, size),
        (false, false) => {
            let (start, last) = (number(from).ok_or(())?, number(to).ok_or(())?);
            if last < start {
                return Ok(None);
            }
            (start, last.saturating_add(1).min(size))
        }
        (true, true) => return Ok(None),
    };
    if start >= size {
        return Err(());
    }
    Ok(Some((start, end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_http_says() {
        assert_eq!(byte_range("bytes=0-9", 100), Ok(Some((0, 10))));
        assert_eq!(byte_range("bytes=90-", 100), Ok(Some((90, 100))));
        assert_eq!(byte_range("bytes=-10", 100), Ok(Some((90, 100))));
        assert_eq!(byte_range("bytes=-200", 100), Ok(Some((0, 100))));
        assert_eq!(byte_range("bytes=95-200", 100), Ok(Some((95, 100))));
        assert_eq!(byte_range("bytes=100-", 100), Err(()));
        assert_eq!(byte_range("bytes=-0", 100), Err(()));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(byte_range("items=0-1", 100), Ok(None));
        assert_eq!(byte_range("bytes=9-1", 100), Ok(None));
        assert_eq!(
            byte_range("bytes=0-99999999999999999999999", 100),
            Ok(Some((0, 100)))
        );
        assert_eq!(byte_range("bytes=x-1", 100), Err(()));
    }
}
