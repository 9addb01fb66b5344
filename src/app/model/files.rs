//! Files on the page: how a message shows them (a thumbnail that keeps its place, or a link
//! with a human size), and the composer's uploads (what is on its way, what is ready, what
//! failed) that a message waits for.

use crate::protocol::{FileInfo, percent_encode};

/// A thumbnail's longest side, in pixels, as the server makes it.
pub const THUMB_SIDE: u32 = 400;

/// A size as people read it: `512 B`, `12 KB`, `1.5 MB`, `12 MB` (powers of 1000, as file
/// managers show them; one decimal under 10). Whole numbers only: no float formatting.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    // Rounded to a whole number of the unit, or to tenths under 10; the next unit once the
    // whole number rounds to 1000.
    let bytes = u128::from(bytes);
    let rounded = |scale: u128| (bytes + scale / 2) / scale;
    let mut scale = 1000u128;
    let mut unit = 0;
    while rounded(scale) >= 1000 && unit < UNITS.len() - 1 {
        scale *= 1000;
        unit += 1;
    }
    let tenths = rounded(scale / 10);
    if tenths < 100 {
        format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
    } else {
        format!("{} {}", rounded(scale), UNITS[unit])
    }
}

/// The size a thumbnail of a `width` x `height` image is drawn at: within [`THUMB_SIDE`] on
/// each side, aspect kept, never enlarged (as the server made it), so that nothing moves when
/// it loads.
pub fn thumb_size(width: u32, height: u32) -> (u32, u32) {
    let longest = width.max(height).max(1);
    if longest <= THUMB_SIDE {
        return (width.max(1), height.max(1));
    }
    let scale = |side: u32| {
        ((u64::from(side) * u64::from(THUMB_SIDE) + u64::from(longest) / 2) / u64::from(longest))
            .max(1) as u32
    };
    (scale(width), scale(height))
}

/// Where a file is downloaded from: its id, then its name (so that a saved link ends in it).
pub fn file_href(file: &FileInfo) -> String {
    format!("/files/{}/{}", file.id, percent_encode(&file.name))
}

/// Where an image's thumbnail is.
pub fn thumb_href(file: &FileInfo) -> String {
    format!("/files/{}/thumb", file.id)
}

/// Where an upload of the composer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadState {
    Uploading,
    /// Stored: what the message attaches.
    Done(FileInfo),
    /// Failed on its way (the network, the server's refusal), with the reason: `Retry` or
    /// `Remove`.
    Failed(String),
    /// Refused before it was sent (too large, one file too many), with the reason: `Remove`.
    Refused(String),
}

/// A file picked, pasted or dropped into the composer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Tells uploads apart on the page (two files may have one name).
    pub local: u32,
    pub name: String,
    pub size: u64,
    pub state: UploadState,
}

/// What the composer's uploads allow a message to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attaching {
    /// Every file is stored: these go with the message, in the order they were added.
    Ready(Vec<FileInfo>),
    /// Some are still on their way: the message waits.
    Waiting,
    /// One failed: the message waits for a retry or a removal.
    Failed,
}

/// What the uploads allow ([`Attaching`]).
pub fn attaching(uploads: &[Upload]) -> Attaching {
    if uploads.iter().any(|upload| {
        matches!(
            upload.state,
            UploadState::Failed(_) | UploadState::Refused(_)
        )
    }) {
        return Attaching::Failed;
    }
    let mut ready = Vec::with_capacity(uploads.len());
    for upload in uploads {
        match &upload.state {
            UploadState::Done(file) => ready.push(file.clone()),
            _ => return Attaching::Waiting,
        }
    }
    Attaching::Ready(ready)
}

/// A name for a file that has none (an image pasted from the clipboard): `pasted-image.png`.
pub fn pasted_name(name: &str, content_type: &str) -> String {
    if !name.trim().is_empty() && name != "image.png" {
        return name.to_owned();
    }
    let extension = match content_type {
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/png" => "png",
        _ => "bin",
    };
    format!("pasted-image.{extension}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_a_file_manager_shows_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.0 KB");
        assert_eq!(human_size(12_288), "12 KB");
        assert_eq!(human_size(999_499), "999 KB");
        assert_eq!(human_size(999_500), "1.0 MB");
        assert_eq!(human_size(1_500_000), "1.5 MB");
        assert_eq!(human_size(10_485_760), "10 MB");
        assert_eq!(human_size(3_000_000_000), "3.0 GB");
    }

    #[test]
    fn thumbnails_keep_their_aspect_and_are_never_enlarged() {
        assert_eq!(thumb_size(30, 20), (30, 20));
        assert_eq!(thumb_size(400, 600), (267, 400));
        assert_eq!(thumb_size(4000, 1000), (400, 100));
        assert_eq!(thumb_size(10_000, 1), (400, 1));
        assert_eq!(thumb_size(0, 0), (1, 1));
    }

    #[test]
    fn links_end_in_the_file_s_name() {
        let file = FileInfo {
            id: "abc_DEF-0123456789abcdef".into(),
            name: "résumé 1/2?.pdf".into(),
            ..FileInfo::default()
        };
        assert_eq!(
            file_href(&file),
            "/files/abc_DEF-0123456789abcdef/r%C3%A9sum%C3%A9%201%2F2%3F.pdf"
        );
        assert_eq!(thumb_href(&file), "/files/abc_DEF-0123456789abcdef/thumb");
    }

    fn upload(local: u32, state: UploadState) -> Upload {
        Upload {
            local,
            name: format!("{local}.txt"),
            size: 1,
            state,
        }
    }

    #[test]
    fn a_message_waits_for_every_upload_and_stops_at_a_failed_one() {
        let file = |id: &str| FileInfo {
            id: id.into(),
            ..FileInfo::default()
        };
        assert_eq!(attaching(&[]), Attaching::Ready(vec![]));
        let done = [
            upload(1, UploadState::Done(file("a"))),
            upload(2, UploadState::Done(file("b"))),
        ];
        assert_eq!(
            attaching(&done),
            Attaching::Ready(vec![file("a"), file("b")])
        );
        let waiting = [done[0].clone(), upload(3, UploadState::Uploading)];
        assert_eq!(attaching(&waiting), Attaching::Waiting);
        let failed = [
            upload(3, UploadState::Uploading),
            upload(4, UploadState::Failed("no".into())),
        ];
        assert_eq!(attaching(&failed), Attaching::Failed);
    }

    #[test]
    fn a_pasted_image_gets_a_name() {
        assert_eq!(pasted_name("", "image/png"), "pasted-image.png");
        assert_eq!(pasted_name("image.png", "image/png"), "pasted-image.png");
        assert_eq!(pasted_name("  ", "image/jpeg"), "pasted-image.jpg");
        assert_eq!(pasted_name("shot.png", "image/png"), "shot.png");
    }
}
