//! What a message's text becomes on the page: plain text, links, and code. The text stays plain
//! on the wire; this split runs on the server (the rendered page) and in the browser (hydration,
//! messages that arrive by polling), and the one view over it (`views::row::rich_text`) draws
//! the same markup in both.
//!
//! - A **code block** opens with a line that is exactly ```` ``` ````, optionally followed by a
//!   language word, and closes with another such line or at the end of the message. Its lines
//!   are kept as they are, white space included.
//! - Outside blocks, a run between two backticks on one line is **inline code**; a lone
//!   backtick (or two with nothing between them) stays text.
//! - What is left is split into text and [`links`]. Inside code nothing is interpreted: no
//!   link, no mention ([`prose`] is the text that may mention someone).

use super::links::{self, Piece};

/// A piece of a message as it is drawn; no piece is empty but a block's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    Text(&'a str),
    Link(&'a str),
    /// Inline code: never holds a line break or a backtick.
    Code(&'a str),
    /// A code block's lines, without its fences, exactly as written.
    Block(&'a str),
}

/// Whether `line` is a fence: ```` ``` ```` and at most a language word (letters, digits and
/// `_+#.-`). A line ending in `\r` (text written on Windows) counts without it.
fn is_fence(line: &str) -> bool {
    let line = line.strip_suffix('\r').unwrap_or(line);
    line.strip_prefix("```").is_some_and(|language| {
        language
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '+' | '#' | '.' | '-'))
    })
}

/// `text` as the parts the page draws, in order.
pub fn parts(text: &str) -> Vec<Part<'_>> {
    let mut parts = Vec::new();
    // Where the text outside blocks began, and where the line being looked at begins.
    let mut prose = 0;
    let mut line = 0;
    while line < text.len() {
        let end = text[line..].find('\n').map_or(text.len(), |at| line + at);
        if !is_fence(&text[line..end]) {
            line = end + 1;
            continue;
        }
        // The line break before the fence belongs to the fence: the block starts a new line.
        let before = text[prose..line]
            .strip_suffix('\n')
            .unwrap_or(&text[prose..line]);
        inline(before, &mut parts);
        let code = (end + 1).min(text.len());
        let mut close = code;
        loop {
            if close >= text.len() {
                // Never closed: the block runs to the end of the message.
                parts.push(Part::Block(&text[code..]));
                return parts;
            }
            let close_end = text[close..].find('\n').map_or(text.len(), |at| close + at);
            if is_fence(&text[close..close_end]) {
                let lines = &text[code..close];
                parts.push(Part::Block(lines.strip_suffix('\n').unwrap_or(lines)));
                line = (close_end + 1).min(text.len());
                prose = line;
                break;
            }
            close = close_end + 1;
        }
    }
    inline(&text[prose.min(text.len())..], &mut parts);
    parts
}

/// The text outside code blocks: inline code between backticks on one line, and the rest as
/// text and links.
fn inline<'a>(text: &'a str, parts: &mut Vec<Part<'a>>) {
    let mut plain = 0;
    let mut at = 0;
    while let Some(open) = text[at..].find('`').map(|found| at + found) {
        let rest = &text[open + 1..];
        let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
        match line.find('`') {
            Some(close) if close > 0 => {
                prose_parts(&text[plain..open], parts);
                parts.push(Part::Code(&line[..close]));
                at = open + 1 + close + 1;
                plain = at;
            }
            // A lone backtick, or two with nothing between: text.
            _ => at = open + 1,
        }
    }
    prose_parts(&text[plain..], parts);
}

fn prose_parts<'a>(text: &'a str, parts: &mut Vec<Part<'a>>) {
    parts.extend(links::pieces(text).into_iter().map(|piece| match piece {
        Piece::Text(text) => Part::Text(text),
        Piece::Link(url) => Part::Link(url),
    }));
}

/// The text of `text` outside code, piece by piece: what may mention someone.
pub fn prose(text: &str) -> impl Iterator<Item = &str> {
    parts(text).into_iter().filter_map(|part| match part {
        Part::Text(text) | Part::Link(text) => Some(text),
        Part::Code(_) | Part::Block(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::Part::{Block, Code, Link, Text};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn backticks_on_one_line_are_inline_code() {
        assert_eq!(
            parts("run `cargo test` now"),
            [Text("run "), Code("cargo test"), Text(" now")]
        );
        assert_eq!(parts("a ` lone"), [Text("a ` lone")]);
        assert_eq!(parts("empty `` pair"), [Text("empty `` pair")]);
        assert_eq!(
            parts("not `across\nlines` here"),
            [Text("not `across\nlines` here")]
        );
        assert_eq!(parts("`a` and `b`"), [Code("a"), Text(" and "), Code("b")]);
        assert_eq!(
            parts("``x``"),
            [Text("`"), Code("x"), Text("`")],
            "single backticks: the first pair is empty, so it is text"
        );
    }

    #[test]
    fn nothing_inside_code_is_a_link() {
        assert_eq!(
            parts("see `https://x.org` or https://y.org"),
            [
                Text("see "),
                Code("https://x.org"),
                Text(" or "),
                Link("https://y.org")
            ]
        );
        assert_eq!(
            parts("```\nhttps://x.org @ana\n```"),
            [Block("https://x.org @ana")]
        );
        assert_eq!(prose("hi `@ana` @ben").collect::<String>(), "hi  @ben");
    }

    #[test]
    fn fenced_lines_are_a_block_kept_exactly() {
        assert_eq!(
            parts("look:\n```rust\nfn main() {\n    <b>\n}\n```\nafter"),
            [
                Text("look:"),
                Block("fn main() {\n    <b>\n}"),
                Text("after")
            ]
        );
        assert_eq!(
            parts("```\n  two\n\n  lines  \n```"),
            [Block("  two\n\n  lines  ")]
        );
        assert_eq!(
            parts("open\n```\nto the end\n"),
            [Text("open"), Block("to the end\n")],
            "never closed: to the message's end"
        );
        assert_eq!(parts("```"), [Block("")]);
        assert_eq!(parts("```\n```"), [Block("")]);
        assert_eq!(
            parts("```\r\nwindows\r\n```\r\nx"),
            [Block("windows\r"), Text("x")]
        );
        assert_eq!(
            parts("a\n```\nb\n```\n```\nc\n```"),
            [Text("a"), Block("b"), Block("c")]
        );
    }

    #[test]
    fn fences_are_whole_lines() {
        assert_eq!(parts(" ```\nx"), [Text(" ```\nx")]);
        assert_eq!(parts("```rust code\nx"), [Text("```rust code\nx")]);
        assert_eq!(parts("```a`b\nx"), [Text("``"), Code("a"), Text("b\nx")]);
        // The block starts at the line that is a fence, and runs to the end.
        assert_eq!(
            parts("say ```rust\nx\n```"),
            [Text("say ```rust\nx"), Block("")]
        );
    }

    /// Puts the parts back together: text and links as they are, inline code between
    /// backticks.
    fn joined(parts: &[Part<'_>]) -> String {
        parts
            .iter()
            .map(|part| match part {
                Text(text) | Link(text) => (*text).to_owned(),
                Code(code) => format!("`{code}`"),
                Block(code) => format!("\n```\n{code}\n```\n"),
            })
            .collect()
    }

    proptest! {
        /// Text without fences loses nothing: every character is in a part, in order.
        #[test]
        fn text_without_fences_is_all_there(text in "[a-z `\n:/.@<>]{0,40}") {
            prop_assume!(!text.contains("```"));
            let parts = parts(&text);
            prop_assert_eq!(joined(&parts), text.clone());
            for part in &parts {
                if let Code(code) = part {
                    prop_assert!(!code.is_empty() && !code.contains(['\n', '`']));
                }
            }
        }

        /// Any text splits into parts that are pieces of it, in order, none overlapping: nothing
        /// is shown twice or out of place.
        #[test]
        fn any_text_splits_in_order(text in prop_oneof![any::<String>(), "[a `\n]{0,40}"]) {
            let start = text.as_ptr() as usize;
            let mut done = 0;
            for part in parts(&text) {
                let (Text(piece) | Link(piece) | Code(piece) | Block(piece)) = part;
                let at = piece.as_ptr() as usize - start;
                prop_assert!(at >= done && at + piece.len() <= text.len(), "{:?} in {:?}", part, text);
                done = at + piece.len();
            }
        }
    }
}
