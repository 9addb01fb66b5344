//! Files attached to messages, stored in the database beside them (one backup holds
//! everything, every instance serves every file).
//!
//! A file is a row (its description, its thumbnail, the message it is attached to) and its
//! bytes in chunks of [`CHUNK_BYTES`], so that an upload is written and a download read one
//! chunk at a time: nothing holds a whole large file in memory. An upload's row is pending
//! (no size) until [`FileStore::finish_upload`]: a pending file is unknown to every reader, and
//! one never finished is swept. Attaching is part of a post's commit (the backends check the
//! files with [`attachable`]); deleting a message or purging an author deletes their files'
//! rows and bytes in the same transaction.

use crate::protocol::FileInfo;

use super::{Refusal, StoreError};

/// The bytes of one stored chunk: every chunk of a file but its last has exactly this many, so
/// that a byte range maps to chunks without a lookup.
pub const CHUNK_BYTES: usize = 256 * 1024;

/// How long a stored file may wait to be attached to a message before it is removed.
pub const UNATTACHED_MICROS: i64 = 24 * 60 * 60 * 1_000_000;

/// How long an upload may stay unfinished (its client gone mid-body, the server stopped)
/// before its chunks are removed: far longer than any body may take to arrive.
pub const PENDING_MICROS: i64 = 60 * 60 * 1_000_000;

/// A new upload, as the row it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub id: String,
    pub name: String,
    /// The fingerprint of the key it was uploaded with: only that key may attach it.
    pub author: String,
    /// Kept so that a ban of the address purges the file with its messages.
    pub address: Option<String>,
    /// In microseconds since the Unix epoch.
    pub created: i64,
}

/// What storage knows of a stored file that a post wants to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    pub info: FileInfo,
    pub author: String,
    /// The message it is attached to, if it is.
    pub message: Option<i64>,
}

/// Whether a post by `author` may attach `found` (each of its ids' rows, in its order; `None`
/// for an unknown or unfinished file): refusals in the protocol's order (another key's file,
/// then an unknown one, then one attached already), else the files' descriptions, in order.
pub(crate) fn attachable(
    found: Vec<Option<FileRow>>,
    author: Option<&str>,
) -> Result<Vec<FileInfo>, Refusal> {
    if found
        .iter()
        .flatten()
        .any(|row| Some(row.author.as_str()) != author)
    {
        return Err(Refusal::NotYourFile);
    }
    let rows: Vec<FileRow> = found
        .into_iter()
        .collect::<Option<_>>()
        .ok_or(Refusal::NoSuchFile)?;
    if rows.iter().any(|row| row.message.is_some()) {
        return Err(Refusal::FileAttached);
    }
    Ok(rows.into_iter().map(|row| row.info).collect())
}

/// A message's files as the backends store them on its row: JSON, `None` for none, so that a
/// read of the log needs no join.
pub(crate) fn stored_files(files: &[FileInfo]) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    serde_json::to_string(files).ok()
}

/// The files stored as [`stored_files`] wrote them.
pub(crate) fn files_of(stored: Option<&str>) -> Option<Vec<FileInfo>> {
    let json = stored?;
    serde_json::from_str(json)
        .inspect_err(
            |err| tracing::error!(error = %err, "a message's stored files are not readable"),
        )
        .ok()
}

/// The chunks that hold bytes `start..end` of a file: first and last index, inclusive.
pub fn chunks_of(start: u64, end: u64) -> (u32, u32) {
    let chunk = CHUNK_BYTES as u64;
    let index = |at: u64| u32::try_from(at / chunk).unwrap_or(u32::MAX);
    (index(start), index(end.saturating_sub(1).max(start)))
}

/// Files: what the upload and download endpoints need from storage. Every call is its own
/// transaction; attaching and deleting are part of [`super::Write`]s.
#[async_trait::async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Starts an upload: its row, pending.
    async fn begin_upload(&self, upload: &Upload) -> Result<(), StoreError>;

    /// Stores chunk `seq` of a pending upload (replacing one stored before under that index);
    /// `false`, storing nothing, when the upload is not pending any more (its author was
    /// purged while it was sent, or it was swept).
    async fn put_chunk(&self, id: &str, seq: u32, bytes: Vec<u8>) -> Result<bool, StoreError>;

    /// Finishes an upload: its description (size, type, pixels) and thumbnail; chunks beyond
    /// its size are removed. From now on it can be read and attached. `false` when the upload
    /// is not pending any more (as [`FileStore::put_chunk`]).
    async fn finish_upload(
        &self,
        file: &FileInfo,
        thumb: Option<Vec<u8>>,
    ) -> Result<bool, StoreError>;

    /// Removes a pending upload and its chunks (refused while reading, or its client gone).
    async fn drop_upload(&self, id: &str) -> Result<(), StoreError>;

    /// A finished file's description, whether attached or not.
    async fn file(&self, id: &str) -> Result<Option<FileInfo>, StoreError>;

    /// Chunk `seq` of a finished file.
    async fn chunk(&self, id: &str, seq: u32) -> Result<Option<Vec<u8>>, StoreError>;

    /// A finished image's thumbnail.
    async fn thumb(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes files never attached [`UNATTACHED_MICROS`] after their upload, uploads never
    /// finished [`PENDING_MICROS`] after they began, and chunks of no file; says how many
    /// files.
    async fn sweep_files(&self, now: i64) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(author: &str, message: Option<i64>) -> Option<FileRow> {
        Some(FileRow {
            info: FileInfo {
                id: format!("{author}-file-id-of-22-chars"),
                ..FileInfo::default()
            },
            author: author.into(),
            message,
        })
    }

    #[test]
    fn attaching_is_refused_in_the_protocol_s_order() {
        let ana = Some("ana");
        assert_eq!(attachable(vec![row("ana", None)], ana).unwrap().len(), 1);
        // Another key's file comes first, whatever else is wrong.
        assert_eq!(
            attachable(vec![None, row("ana", Some(4)), row("ben", None)], ana),
            Err(Refusal::NotYourFile)
        );
        assert_eq!(
            attachable(vec![row("ana", Some(4)), None], ana),
            Err(Refusal::NoSuchFile)
        );
        assert_eq!(
            attachable(vec![row("ana", None), row("ana", Some(4))], ana),
            Err(Refusal::FileAttached)
        );
        assert_eq!(
            attachable(vec![row("ana", None)], None),
            Err(Refusal::NotYourFile)
        );
    }

    #[test]
    fn a_byte_range_maps_to_its_chunks() {
        let chunk = CHUNK_BYTES as u64;
        assert_eq!(chunks_of(0, 1), (0, 0));
        assert_eq!(chunks_of(0, chunk), (0, 0));
        assert_eq!(chunks_of(0, chunk + 1), (0, 1));
        assert_eq!(chunks_of(chunk - 1, chunk + 1), (0, 1));
        assert_eq!(chunks_of(3 * chunk, 3 * chunk + 10), (3, 3));
    }
}
