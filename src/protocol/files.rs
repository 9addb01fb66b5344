//! Files in the protocol: their ids, names and types as the upload's request carries them, and
//! [`FileInfo`], what items and the upload's answer say of one. Pure rules, shared by the
//! server and the page (names are percent-encoded the same way in both).

use serde::{Deserialize, Serialize};

use super::Invalid;

/// Most files one message carries.
pub const MAX_FILES: usize = 10;

/// Most characters of a file's name (Unicode scalar values, after percent-decoding).
pub const MAX_FILE_NAME_CHARS: usize = 255;

/// Whether `id` has a file id's form: 22 to 64 of `A-Za-z0-9_-` (the server makes them from
/// 128 random bits or more: the URL is the capability to read the file).
pub fn is_file_id(id: &str) -> bool {
    (22..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks an uploaded file's name: 1 to [`MAX_FILE_NAME_CHARS`] characters, no `/`, `\` or
/// control character (NUL among them): a name is shown and offered as a download's name,
/// never a path.
pub fn check_file_name(name: &str) -> Result<(), Invalid> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_FILE_NAME_CHARS {
        return Err(Invalid(format!(
            "name: 1 to {MAX_FILE_NAME_CHARS} characters required, not {chars}"
        )));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(Invalid(
            "name: must not contain /, \\ or control characters".into(),
        ));
    }
    // Bidirectional controls would show `invoice\u{202e}fdp.exe` as `invoiceexe.pdf`.
    if name.chars().any(is_bidi_control) {
        return Err(Invalid(
            "name: must not contain bidirectional control characters".into(),
        ));
    }
    Ok(())
}

/// The characters that reorder the text around them (Unicode's bidirectional formatting
/// characters): a file's name may not hide its real extension with them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A file as items and the upload's answer carry it. `content_type` is the type the server
/// decided from the bytes (an image's), or the declared one when it is no image type.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub id: String,
    pub name: String,
    /// In bytes, as stored (an image after its metadata was removed): the download's length.
    pub size: u64,
    pub content_type: String,
    /// An image's size in pixels, the right way up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

impl FileInfo {
    /// Whether the page shows it as a picture: a recognised image, with its size.
    pub fn is_image(&self) -> bool {
        self.width.is_some() && self.content_type.starts_with("image/")
    }
}

/// The `name` of an upload's query string (`?name=<percent-encoded UTF-8>`), decoded and
/// checked ([`check_file_name`]).
pub fn upload_name(query: Option<&str>) -> Result<String, Invalid> {
    let missing = || Invalid("name: required, as ?name=<the file's name, percent-encoded>".into());
    let raw = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("name="))
        .ok_or_else(missing)?;
    let name =
        percent_decode(raw).ok_or_else(|| Invalid("name: not percent-encoded UTF-8".into()))?;
    check_file_name(&name)?;
    Ok(name)
}

/// `%XX` escapes decoded, every other byte kept (a `+` is a plus); `None` for a broken escape
/// or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
            // `from_str_radix` would take a sign: `%+1` is no escape.
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            at += 3;
        } else {
            out.push(bytes[at]);
            at += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Every byte of `text` but the unreserved ones (`A-Za-z0-9-._~`) as `%XX`: a name as one
/// segment of a URL's path, and as `filename*=UTF-8''` writes it (RFC 8187).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A declared `Content-Type` if it is a well-formed MIME type (`type/subtype`, tokens, with
/// parameters): trimmed, as declared.
pub fn declared_type(value: &str) -> Option<String> {
    let value = value.trim();
    let essence = value.split(';').next()?.trim();
    let (kind, subtype) = essence.split_once('/')?;
    let token = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let parameters = value.split(';').skip(1).all(|parameter| {
        let Some((name, val)) = parameter.trim().split_once('=') else {
            return false;
        };
        token(name.trim())
            && (token(val.trim()) || (val.len() >= 2 && val.starts_with('"') && val.ends_with('"')))
    });
    (token(kind)
        && token(subtype)
        && parameters
        && value.is_ascii()
        && !value.contains(char::is_control))
    .then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_decoded_strictly() {
        assert_eq!(upload_name(Some("name=a%20b.png")).unwrap(), "a b.png");
        assert_eq!(upload_name(Some("x=1&name=c++.txt")).unwrap(), "c++.txt");
        assert_eq!(
            upload_name(Some("name=%C3%A9t%C3%A9.pdf")).unwrap(),
            "été.pdf"
        );
        for bad in [
            None,
            Some(""),
            Some("name="),
            Some("name=%zz"),
            Some("name=%C3"),
            Some("name=a%2Fb"),
            Some("name=a%5Cb"),
            Some("name=a%00b"),
            Some("name=a%0Ab"),
            // U+202E, right-to-left override.
            Some("name=invoice%E2%80%AEfdp.exe"),
        ] {
            assert!(upload_name(bad).is_err(), "{bad:?}");
        }
        let long = "a".repeat(255);
        assert!(upload_name(Some(&format!("name={long}"))).is_ok());
        assert!(upload_name(Some(&format!("name={long}a"))).is_err());
    }

    #[test]
    fn declared_types_are_kept_only_when_well_formed() {
        assert_eq!(
            declared_type("application/pdf").as_deref(),
            Some("application/pdf")
        );
        assert_eq!(
            declared_type("text/plain; charset=utf-8").as_deref(),
            Some("text/plain; charset=utf-8")
        );
        for bad in [
            "",
            "pdf",
            "text/",
            "/plain",
            "text/plain; charset",
            "a b/c",
            "text/pl\u{e9}",
        ] {
            assert_eq!(declared_type(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn names_are_encoded_as_rfc_8187_says_and_decoded_back() {
        assert_eq!(percent_encode("report.pdf"), "report.pdf");
        assert_eq!(percent_encode("a b\"é;.txt"), "a%20b%22%C3%A9%3B.txt");
        assert_eq!(percent_encode("1/2?"), "1%2F2%3F");
        for name in ["a b\"é;.txt", "日本語.png", "%41+", ""] {
            assert_eq!(percent_decode(&percent_encode(name)).as_deref(), Some(name));
        }
        assert_eq!(percent_decode("%+1"), None);
    }
}
