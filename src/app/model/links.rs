//! Links in message text: `http://` and `https://` URLs become links, and nothing else becomes
//! markup. The same split runs on the server (the rendered page) and in the browser (hydration,
//! and messages that arrive by polling), so both produce the same markup.
//!
//! A URL starts at the start of the text or after a character that is not a letter or digit,
//! with its scheme in any case, and runs to the next white space, `<`, `>` or `"`; trailing
//! `.,;:!?` and an unbalanced `)` stay outside it (repeatedly), so "see https://x.org/a)." links
//! `https://x.org/a`. Any other scheme (`javascript:`, `data:`) stays text.

/// A piece of a message's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Link(&'a str),
}

/// The length of the scheme `text` starts with (`http://` or `https://`, any case), if any.
fn scheme(text: &str) -> Option<usize> {
    let starts = |prefix: &str| {
        text.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    if starts("https://") {
        Some(8)
    } else if starts("http://") {
        Some(7)
    } else {
        None
    }
}

/// `url` without its trailing punctuation and unbalanced closing parentheses.
fn trim_end(mut url: &str) -> &str {
    loop {
        if let Some(shorter) = url.strip_suffix(['.', ',', ';', ':', '!', '?']) {
            url = shorter;
        } else if url.ends_with(')') && url.matches(')').count() > url.matches('(').count() {
            url = &url[..url.len() - 1];
        } else {
            return url;
        }
    }
}

/// `text` as plain pieces and links, in order; no piece is empty.
pub fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut plain = 0;
    let mut previous: Option<char> = None;
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let boundary = previous.is_none_or(|c| !c.is_alphanumeric());
        if let Some(scheme) = scheme(rest).filter(|_| boundary) {
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
                .unwrap_or(rest.len());
            let url = trim_end(&rest[..end]);
            if url.len() > scheme {
                if plain < at {
                    pieces.push(Piece::Text(&text[plain..at]));
                }
                pieces.push(Piece::Link(url));
                at += url.len();
                plain = at;
                previous = url.chars().next_back();
                continue;
            }
        }
        let Some(c) = rest.chars().next() else {
            break;
        };
        previous = Some(c);
        at += c.len_utf8();
    }
    if plain < text.len() {
        pieces.push(Piece::Text(&text[plain..]));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::Piece::{Link, Text};
    use super::*;

    #[test]
    fn urls_become_links_and_nothing_else_does() {
        assert_eq!(
            pieces("see https://x.org/a?b=1#c now"),
            [Text("see "), Link("https://x.org/a?b=1#c"), Text(" now")]
        );
        assert_eq!(pieces("HTTP://X.ORG"), [Link("HTTP://X.ORG")]);
        assert_eq!(
            pieces("(see http://x.org/wiki/A_(b))."),
            [Text("(see "), Link("http://x.org/wiki/A_(b)"), Text(")."),]
        );
        assert_eq!(
            pieces("http://x.org/a.,;:!?)"),
            [Link("http://x.org/a"), Text(".,;:!?)")]
        );
        assert_eq!(
            pieces("a<https://x.org/\"b>"),
            [Text("a<"), Link("https://x.org/"), Text("\"b>")]
        );
    }

    #[test]
    fn other_schemes_glued_words_and_bare_schemes_stay_text() {
        for text in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "xhttps://x.org",
            "éhttps://x.org",
            "https://",
            "http://.",
            "ftp://x.org",
            "",
        ] {
            assert!(
                pieces(text).iter().all(|piece| matches!(piece, Text(_))),
                "{text:?}: {:?}",
                pieces(text)
            );
        }
        assert_eq!(pieces("1https://x.org"), [Text("1https://x.org")]);
        assert_eq!(pieces("-https://x.org"), [Text("-"), Link("https://x.org")]);
    }

    #[test]
    fn pieces_put_back_together_are_the_text() {
        for text in [
            "a http://b c https://d.e/f) g",
            "http://a http://b",
            "ünï https://ü.de/ö.",
        ] {
            let joined: String = pieces(text)
                .iter()
                .map(|piece| match piece {
                    Text(t) | Link(t) => *t,
                })
                .collect();
            assert_eq!(joined, text);
        }
    }
}
