//! Uploaded images: recognised by their bytes (never by the type a client declares), measured
//! from their header and refused before any pixel is allocated when they are too large
//! (decompression bombs), their metadata removed without touching their pixels, a thumbnail
//! made.
//!
//! Only PNG, JPEG, GIF and WebP are images here: the four a browser shows inline with no
//! script in them. Everything else is a plain file, served as a download.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, metadata::Orientation};

/// The widest or tallest image stored as one, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// The most pixels of an image stored as one.
pub const MAX_PIXELS: u64 = 50_000_000;
/// A thumbnail's longest side, in pixels.
pub const THUMB_SIDE: u32 = 400;
/// Most bytes a decoder may allocate: a 50-megapixel RGBA image and some room.
const MAX_ALLOC: u64 = MAX_PIXELS * 4 + 64 * 1024 * 1024;

/// The image formats stored as images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl Format {
    /// The format whose signature `head` (a file's first bytes, 12 at least) starts with.
    pub fn recognise(head: &[u8]) -> Option<Self> {
        if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if head.starts_with(b"\xff\xd8\xff") {
            Some(Self::Jpeg)
        } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            None
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }

    fn decoder_format(self) -> ImageFormat {
        match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Gif => ImageFormat::Gif,
            Self::Webp => ImageFormat::WebP,
        }
    }
}

/// What an upload that starts like an image turned out to be.
#[derive(Debug)]
pub enum Examined {
    /// An image: its bytes without metadata (but its orientation; `None` when there was none
    /// to remove, and the stored bytes stay as they are), its size the right way up, and its
    /// thumbnail (PNG or JPEG).
    Image {
        bytes: Option<Vec<u8>>,
        width: u32,
        height: u32,
        thumb: Vec<u8>,
    },
    /// Over [`MAX_SIDE`] on a side or [`MAX_PIXELS`] in all, by its header: not decoded.
    TooLarge,
    /// It does not decode as the format it claims: stored as a plain file.
    NotAnImage,
    /// It decodes, but its structure is too broken to remove its metadata safely: refused.
    Unclean,
}

/// Examines an upload whose first bytes are `format`'s signature. Blocking (it decodes): run it
/// off the async runtime.
pub fn examine(format: Format, bytes: Vec<u8>) -> Examined {
    // The header alone first, read here: a bomb is refused before any decoder is made (a
    // decoder may refuse it too, by its own limits, but that would make it "no image").
    let Some((width, height)) = dimensions(format, &bytes) else {
        return Examined::NotAnImage;
    };
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Examined::TooLarge;
    }
    let reader = || ImageReader::with_format(Cursor::new(&bytes[..]), format.decoder_format());
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    let mut reader = reader();
    reader.limits(limits);
    let Ok(mut decoder) = reader.into_decoder() else {
        return Examined::NotAnImage;
    };
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    // The decoders check a picture's sides against the limits, not the bytes it takes (16 bits
    // a channel doubles them): checked here, before a byte is allocated.
    if decoder.total_bytes() > MAX_ALLOC {
        return Examined::TooLarge;
    }
    let picture = match DynamicImage::from_decoder(decoder) {
        Ok(picture) => picture,
        // Within the header's limits, but more than the decoder may allocate (16 bits a
        // channel): too large as well.
        Err(image::ImageError::Limits(_)) => return Examined::TooLarge,
        Err(_) => return Examined::NotAnImage,
    };
    // The thumbnail is made first and turned upright alone: the whole picture is never
    // copied (a turned copy of a 50-megapixel image would double what it takes).
    let (width, height) = (picture.width(), picture.height());
    let Some(thumb) = thumbnail(picture, orientation) else {
        return Examined::NotAnImage;
    };
    // It decodes, but its metadata cannot be told from its pixels: refused, never stored
    // with its location.
    let Some(stripped) = strip(format, &bytes, exif_value(orientation)) else {
        return Examined::Unclean;
    };
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (width, height) = if turned {
        (height, width)
    } else {
        (width, height)
    };
    Examined::Image {
        bytes: (stripped != bytes).then_some(stripped),
        width,
        height,
        thumb,
    }
}

/// An image's width and height as its header states them (before its orientation), read
/// without a decoder.
fn dimensions(format: Format, bytes: &[u8]) -> Option<(u32, u32)> {
    let be16 = |at: usize| Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let le16 = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    let be32 = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let le24 = |at: usize| {
        let b = bytes.get(at..at + 3)?;
        Some(u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16)
    };
    match format {
        Format::Png => (bytes.get(12..16)? == b"IHDR").then_some((be32(16)?, be32(20)?)),
        Format::Gif => Some((u32::from(le16(6)?), u32::from(le16(8)?))),
        Format::Webp => match bytes.get(12..16)? {
            b"VP8 " => (bytes.get(23..26)? == [0x9d, 0x01, 0x2a])
                .then_some((u32::from(le16(26)? & 0x3fff), u32::from(le16(28)? & 0x3fff))),
            b"VP8L" => {
                let bits = u32::from_le_bytes(bytes.get(21..25)?.try_into().ok()?);
                (*bytes.get(20)? == 0x2f)
                    .then_some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
            }
            b"VP8X" => Some((le24(24)? + 1, le24(27)? + 1)),
            _ => None,
        },
        Format::Jpeg => {
            let mut at = 2;
            loop {
                if *bytes.get(at)? != 0xff {
                    return None;
                }
                let marker = *bytes.get(at + 1)?;
                match marker {
                    0xff => at += 1,
                    0x01 | 0xd0..=0xd7 => at += 2,
                    0xd9 | 0xda => return None,
                    // Start of frame (every kind but DHT, JPG and DAC).
                    0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                        return Some((u32::from(be16(at + 7)?), u32::from(be16(at + 5)?)));
                    }
                    _ => at += 2 + usize::from(be16(at + 2)?),
                }
            }
        }
    }
}

/// A thumbnail of at most [`THUMB_SIDE`] on its longest side (never enlarged), the right way
/// up: PNG when the picture has transparency, JPEG otherwise.
fn thumbnail(picture: DynamicImage, orientation: Orientation) -> Option<Vec<u8>> {
    let mut small = if picture.width() <= THUMB_SIDE && picture.height() <= THUMB_SIDE {
        picture
    } else {
        let small = picture.thumbnail(THUMB_SIDE, THUMB_SIDE);
        drop(picture);
        small
    };
    small.apply_orientation(orientation);
    let mut out = Cursor::new(Vec::new());
    if small.color().has_alpha() {
        small.to_rgba8().write_to(&mut out, ImageFormat::Png).ok()?;
    } else {
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82);
        small.to_rgb8().write_with_encoder(encoder).ok()?;
    }
    Some(out.into_inner())
}

/// The type of a thumbnail made by [`thumbnail`].
pub fn thumb_mime(thumb: &[u8]) -> &'static str {
    match Format::recognise(thumb) {
        Some(format) => format.mime(),
        None => "application/octet-stream",
    }
}

/// The EXIF value of an orientation (1 to 8), `None` for upright.
fn exif_value(orientation: Orientation) -> Option<u8> {
    let value = match orientation {
        Orientation::NoTransforms => return None,
        Orientation::FlipHorizontal => 2,
        Orientation::Rotate180 => 3,
        Orientation::FlipVertical => 4,
        Orientation::Rotate90FlipH => 5,
        Orientation::Rotate90 => 6,
        Orientation::Rotate270FlipH => 7,
        Orientation::Rotate270 => 8,
    };
    Some(value)
}

/// A TIFF structure (big-endian) with one entry: the orientation tag. What an image keeps of
/// its EXIF data, so that it still shows the right way up.
fn orientation_tiff(value: u8) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08".to_vec();
    tiff.extend_from_slice(&[0, 1]); // one entry
    tiff.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, value, 0, 0]);
    tiff.extend_from_slice(&[0, 0, 0, 0]); // no next directory
    tiff
}

/// `bytes` without their metadata (EXIF, XMP, IPTC, comments and text), keeping only an
/// orientation other than upright; the compressed pixels are copied as they are. `None` when
/// the file's structure is broken.
pub fn strip(format: Format, bytes: &[u8], orientation: Option<u8>) -> Option<Vec<u8>> {
    match format {
        Format::Jpeg => strip_jpeg(bytes, orientation),
        Format::Png => strip_png(bytes, orientation),
        Format::Webp => strip_webp(bytes, orientation),
        // GIF carries no EXIF: nothing to remove.
        Format::Gif => Some(bytes.to_vec()),
    }
}

/// JPEG: keeps the main image alone: drops APP1 (EXIF, XMP), APP2 but an ICC profile (MPF,
/// the index of the images a camera appends), APP13 (IPTC) and comment segments, before and
/// between scans, and everything after the main image's end (appended previews, gain maps,
/// each with EXIF of its own); adds an APP1 with the orientation alone after the leading APP0
/// (JFIF) if there is one. The scans' entropy-coded data is copied as it is.
fn strip_jpeg(bytes: &[u8], orientation: Option<u8>) -> Option<Vec<u8>> {
    const END: [u8; 2] = [0xff, 0xd9];
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..2)?);
    let mut at = 2;
    let mut added = orientation.is_none();
    loop {
        // A file that stops without its end marker (decoders show what it has): ended here.
        let Some(&byte) = bytes.get(at) else {
            out.extend_from_slice(&END);
            return Some(out);
        };
        // Bytes between segments that are no marker are skipped, as decoders skip them.
        if byte != 0xff {
            at += 1;
            continue;
        }
        let Some(&marker) = bytes.get(at + 1) else {
            out.extend_from_slice(&END);
            return Some(out);
        };
        if marker == 0xff {
            // Fill byte.
            at += 1;
            continue;
        }
        if !added && marker != 0xe0 {
            let mut app1 = b"Exif\x00\x00".to_vec();
            app1.extend(orientation_tiff(orientation?));
            out.extend_from_slice(&[0xff, 0xe1]);
            out.extend_from_slice(&u16::try_from(app1.len() + 2).ok()?.to_be_bytes());
            out.extend(app1);
            added = true;
        }
        // The end of the main image: nothing after it is kept.
        if marker == 0xd9 {
            out.extend_from_slice(&END);
            return Some(out);
        }
        // Markers without a length.
        if marker == 0x01 || (0xd0..=0xd7).contains(&marker) {
            out.extend_from_slice(&bytes[at..at + 2]);
            at += 2;
            continue;
        }
        let length = usize::from(u16::from_be_bytes([
            *bytes.get(at + 2)?,
            *bytes.get(at + 3)?,
        ]));
        if length < 2 {
            return None;
        }
        let end = at + 2 + length;
        let segment = bytes.get(at..end)?;
        let icc = marker == 0xe2 && segment.get(4..16) == Some(b"ICC_PROFILE\0");
        if !matches!(marker, 0xe1 | 0xe2 | 0xed | 0xfe) || icc {
            out.extend_from_slice(segment);
        }
        at = end;
        if marker == 0xda {
            // A scan: its entropy-coded data runs to the next marker; a stuffed 0xFF00, a
            // restart marker and fill bytes before one are data.
            let data = at;
            while let Some(&byte) = bytes.get(at) {
                if byte == 0xff {
                    match bytes.get(at + 1) {
                        Some(0x00 | 0xd0..=0xd7) => at += 2,
                        Some(0xff) => at += 1,
                        _ => break,
                    }
                } else {
                    at += 1;
                }
            }
            out.extend_from_slice(&bytes[data..at.min(bytes.len())]);
        }
    }
}

/// PNG: drops `eXIf` and the text chunks (`tEXt`, `zTXt`, `iTXt`, which hold XMP), adds an
/// `eXIf` with the orientation alone before the first `IDAT`.
fn strip_png(bytes: &[u8], orientation: Option<u8>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..8)?);
    let mut at = 8;
    let mut added = orientation.is_none();
    while at < bytes.len() {
        let length =
            usize::try_from(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?)).ok()?;
        let kind = bytes.get(at + 4..at + 8)?;
        let end = at.checked_add(12)?.checked_add(length)?;
        let chunk = bytes.get(at..end)?;
        if kind == b"IDAT" && !added {
            let tiff = orientation_tiff(orientation?);
            out.extend_from_slice(&u32::try_from(tiff.len()).ok()?.to_be_bytes());
            let start = out.len();
            out.extend_from_slice(b"eXIf");
            out.extend(tiff);
            let crc = crc32(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
            added = true;
        }
        if !matches!(kind, b"eXIf" | b"tEXt" | b"zTXt" | b"iTXt") {
            out.extend_from_slice(chunk);
        }
        at = end;
        if kind == b"IEND" {
            break;
        }
    }
    Some(out)
}

/// WebP: drops the `EXIF` and `XMP ` chunks (and their flags in `VP8X`), adds an `EXIF` chunk
/// with the orientation alone to an extended file. (A simple file has no room for metadata.)
fn strip_webp(bytes: &[u8], orientation: Option<u8>) -> Option<Vec<u8>> {
    const EXIF_FLAG: u8 = 0x08;
    const XMP_FLAG: u8 = 0x04;
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(bytes.get(..12)?);
    let mut at = 12;
    let mut extended_flags = None;
    while at < bytes.len() {
        let kind = bytes.get(at..at + 4)?;
        let length = usize::try_from(u32::from_le_bytes(
            bytes.get(at + 4..at + 8)?.try_into().ok()?,
        ))
        .ok()?;
        let end = at.checked_add(8)?.checked_add(length + (length & 1))?;
        let chunk = bytes.get(at..end.min(bytes.len()))?;
        match kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                extended_flags = Some(out.len() + 8);
                out.extend_from_slice(chunk);
            }
            _ => out.extend_from_slice(chunk),
        }
        at = end;
    }
    if let Some(flags) = extended_flags {
        let mut value = *out.get(flags)? & !(EXIF_FLAG | XMP_FLAG);
        if let Some(orientation) = orientation {
            let tiff = orientation_tiff(orientation);
            out.extend_from_slice(b"EXIF");
            out.extend_from_slice(&u32::try_from(tiff.len()).ok()?.to_le_bytes());
            out.extend(tiff);
            value |= EXIF_FLAG;
        }
        out[flags] = value;
    }
    let riff = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff.to_le_bytes());
    Some(out)
}

/// CRC-32 (ISO 3309, as PNG uses it).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let picture = DynamicImage::ImageRgb8(image::RgbImage::new(width, height));
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn headers_give_the_size_a_decoder_finds() {
        for (format, kind) in [
            (Format::Png, ImageFormat::Png),
            (Format::Jpeg, ImageFormat::Jpeg),
            (Format::Gif, ImageFormat::Gif),
            (Format::Webp, ImageFormat::WebP),
        ] {
            let bytes = encoded(37, 11, kind);
            assert_eq!(Format::recognise(&bytes), Some(format));
            assert_eq!(dimensions(format, &bytes), Some((37, 11)), "{format:?}");
            match examine(format, bytes) {
                Examined::Image { width, height, .. } => assert_eq!((width, height), (37, 11)),
                other => panic!("{format:?}: {other:?}"),
            }
        }
    }

    fn has(haystack: &[u8], needle: &[u8]) -> bool {
        haystack
            .windows(needle.len())
            .any(|window| window == needle)
    }

    /// A PNG with the metadata a tool may write: an `eXIf` (orientation 8 and a GPS note) and
    /// XMP in an `iTXt`, before its pixels.
    #[test]
    fn a_png_keeps_its_pixels_and_its_orientation_alone() {
        let plain = encoded(30, 20, ImageFormat::Png);
        let idat = plain.windows(4).position(|w| w == b"IDAT").unwrap() - 4;
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut out = (data.len() as u32).to_be_bytes().to_vec();
            let body: Vec<u8> = kind.iter().chain(data).copied().collect();
            out.extend(&body);
            out.extend(crc32(&body).to_be_bytes());
            out
        };
        let mut exif = orientation_tiff(8);
        exif.extend(b"GPS 48.8584N");
        let mut tagged = plain[..idat].to_vec();
        tagged.extend(chunk(b"eXIf", &exif));
        tagged.extend(chunk(
            b"iTXt",
            b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta>Secret Garden",
        ));
        tagged.extend(&plain[idat..]);
        let Examined::Image {
            bytes,
            width,
            height,
            ..
        } = examine(Format::Png, tagged)
        else {
            panic!("not an image");
        };
        let bytes = bytes.expect("metadata removed");
        assert!(!has(&bytes, b"GPS") && !has(&bytes, b"Secret") && !has(&bytes, b"iTXt"));
        // Orientation 8 (turned 270 degrees): 20 x 30 as shown.
        assert_eq!((width, height), (20, 30));
        let mut decoder = ImageReader::with_format(Cursor::new(&bytes), ImageFormat::Png)
            .into_decoder()
            .unwrap();
        assert_eq!(decoder.orientation().unwrap(), Orientation::Rotate270);
        let again = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            again,
            image::load_from_memory(&plain).unwrap(),
            "same pixels"
        );
    }

    /// An extended WebP with EXIF and XMP chunks (and their flags in `VP8X`).
    #[test]
    fn a_webp_loses_its_exif_and_xmp_chunks_and_their_flags() {
        let simple = encoded(30, 20, ImageFormat::WebP);
        let image_chunk = &simple[12..];
        let mut body = b"WEBP".to_vec();
        body.extend(b"VP8X");
        body.extend(10u32.to_le_bytes());
        body.push(0x08 | 0x04);
        body.extend([0, 0, 0]);
        body.extend(&29u32.to_le_bytes()[..3]);
        body.extend(&19u32.to_le_bytes()[..3]);
        body.extend(image_chunk);
        for (kind, data) in [
            (&b"EXIF"[..], &b"MM\0*GPS 48.8584N"[..]),
            (b"XMP ", b"<x>Secret</x>"),
        ] {
            body.extend(kind);
            body.extend((data.len() as u32).to_le_bytes());
            body.extend(data);
            if data.len() % 2 == 1 {
                body.push(0);
            }
        }
        let mut tagged = b"RIFF".to_vec();
        tagged.extend((body.len() as u32).to_le_bytes());
        tagged.extend(body);
        assert_eq!(dimensions(Format::Webp, &tagged), Some((30, 20)));
        let Examined::Image {
            bytes,
            width,
            height,
            ..
        } = examine(Format::Webp, tagged)
        else {
            panic!("not an image");
        };
        let bytes = bytes.expect("metadata removed");
        assert_eq!((width, height), (30, 20));
        assert!(!has(&bytes, b"GPS") && !has(&bytes, b"Secret"));
        assert_eq!(bytes[20] & (0x08 | 0x04), 0, "flags cleared");
        assert_eq!(
            u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize,
            bytes.len() - 8
        );
        assert!(image::load_from_memory(&bytes).is_ok());
    }

    /// JPEGs that decoders show though they are not by the book: each is stripped, never
    /// refused or kept with its EXIF.
    #[test]
    fn a_jpeg_that_decoders_forgive_is_stripped_too() {
        let plain = encoded(64, 48, ImageFormat::Jpeg);
        let mut exif = b"Exif\0\0".to_vec();
        exif.extend(orientation_tiff(6));
        exif.extend(b"GPS 48.8584N");
        let mut tagged = plain[..2].to_vec();
        tagged.extend([0xff, 0xe1]);
        tagged.extend(((exif.len() + 2) as u16).to_be_bytes());
        tagged.extend(&exif);
        tagged.extend(&plain[2..]);
        // Without its end marker; with garbage before a segment; with fill bytes.
        let truncated = tagged[..tagged.len() - 2].to_vec();
        let mut garbage = tagged[..2].to_vec();
        garbage.extend([0x00, 0x13]);
        garbage.extend(&tagged[2..]);
        for broken in [tagged.clone(), truncated, garbage] {
            let stripped = strip(Format::Jpeg, &broken, Some(6)).expect("stripped");
            assert!(!has(&stripped, b"GPS"));
            assert!(stripped.ends_with(&[0xff, 0xd9]));
            assert!(image::load_from_memory(&stripped).is_ok());
        }
        // Truncated anywhere, it never panics.
        for cut in 0..tagged.len() {
            let _ = strip(Format::Jpeg, &tagged[..cut], Some(6));
        }
    }

    #[test]
    fn crc32_is_png_s() {
        // The CRC of an IEND chunk's type, as every PNG ends with it.
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
    }

    #[test]
    fn signatures_are_recognised_and_nothing_else() {
        assert_eq!(
            Format::recognise(b"\x89PNG\r\n\x1a\n...."),
            Some(Format::Png)
        );
        assert_eq!(
            Format::recognise(b"\xff\xd8\xff\xe0..."),
            Some(Format::Jpeg)
        );
        assert_eq!(Format::recognise(b"GIF89a......"), Some(Format::Gif));
        assert_eq!(
            Format::recognise(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(Format::Webp)
        );
        assert_eq!(Format::recognise(b"RIFF\0\0\0\0WAVEfmt "), None);
        assert_eq!(Format::recognise(b"<svg xmlns="), None);
        assert_eq!(Format::recognise(b""), None);
    }
}
