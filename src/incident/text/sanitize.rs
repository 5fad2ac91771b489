//! Making user-supplied text safe to put into an issue body the app writes.
//!
//! Purpose: text typed by a declarer (title, summary, impact, links…) must not
//! @-mention or ping anyone, must not forge or hide the app's hidden markers
//! (`<!-- responder:… -->`), and must not swallow the rest of the body into an
//! unclosed code fence, nor add sections to the app's body (headings of level 1–3
//! become level 4, so the RCA read-back never mistakes a pasted `## Root cause` for
//! the real section). Must never drop user text silently: every change is
//! visible or invisible-but-harmless, and `#123` cross-references are kept.
//!
//! How: a ZERO WIDTH SPACE (U+200B) goes after `@` in `@name` / `@org/team` and
//! inside `<!--` and `-->`. GitHub links a mention only when `@` is directly
//! followed by the name, and starts an HTML comment only at the exact `<!--`, so
//! neither is recognised, while the text still reads the same. It is the same
//! character Renovate and Dependabot insert (`@&#8203;user`) for this reason. We
//! insert the raw character rather than the `&#8203;` entity so that text inside
//! code blocks does not show the entity literally.

/// The invisible separator inserted to break mentions and comment delimiters.
pub const ZWSP: char = '\u{200B}';

/// Neutralises mentions and HTML comment delimiters, and closes an unclosed fence.
pub fn sanitize_user_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len() + 16);
    let mut prev: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        match c {
            '@' => {
                let starts_name = chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '-' || *n == '_');
                let after_word = prev.is_some_and(|p| p.is_ascii_alphanumeric());
                if starts_name && !after_word {
                    out.push(ZWSP);
                }
            }
            // `<!--` → `<\u{200B}!--`
            '<' if chars.peek() == Some(&'!') => out.push(ZWSP),
            // `-->` → `--\u{200B}>` (also breaks `--!>`, which ends a comment too)
            '-' if prev == Some('-') && matches!(chars.peek(), Some('>') | Some('!')) => {
                out.push(ZWSP)
            }
            _ => {}
        }
        prev = Some(c);
    }
    demote_headings(&close_open_fence(out))
}

/// `#`, `##` and `###` headings outside code fences become `####`.
fn demote_headings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut open: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        match &open {
            Some(marker) => {
                if crate::incident::text::sections::closes_fence(t, marker) {
                    open = None;
                }
                out.push_str(line);
            }
            None => {
                open = crate::incident::text::sections::fence_marker(t);
                let hashes = t.chars().take_while(|c| *c == '#').count();
                let indent = line.len() - t.len();
                let is_heading = open.is_none()
                    && (1..=3).contains(&hashes)
                    && indent <= 3
                    && t[hashes..].starts_with([' ', '\t', '\n']);
                if is_heading {
                    out.push_str("####");
                    out.push_str(&t[hashes..]);
                } else {
                    out.push_str(line);
                }
            }
        }
    }
    out
}

/// One line for titles and table cells: newlines become spaces, then sanitised.
/// A run of three backticks or tildes is broken up, so inline text can never open a
/// code fence (a template may put it at the start of a line) — and so is never
/// given a closing fence on a line of its own.
pub fn sanitize_inline(text: &str) -> String {
    let one_line: String = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    sanitize_user_text(&break_fence_runs(&one_line))
}

/// "```" → "``\u{200B}`": the same look, but no fence.
fn break_fence_runs(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut run: Option<(char, usize)> = None;
    for c in text.chars() {
        run = match (c, run) {
            ('`' | '~', Some((r, n))) if r == c => Some((c, n + 1)),
            ('`' | '~', _) => Some((c, 1)),
            _ => None,
        };
        if let Some((_, 3)) = run {
            out.push(ZWSP);
            run = Some((c, 1));
        }
        out.push(c);
    }
    out
}

fn close_open_fence(mut text: String) -> String {
    if let Some(marker) = crate::incident::text::sections::unclosed_fence(&text) {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&marker);
        text.push('\n');
    }
    text
}

/// True when `text` would mention someone or open an HTML comment on GitHub
/// (used by tests and by callers that want to assert a body is clean).
pub fn has_live_mention_or_comment(text: &str) -> bool {
    if text.contains("<!--") {
        return true;
    }
    let bytes: Vec<char> = text.chars().collect();
    bytes.iter().enumerate().any(|(i, c)| {
        *c == '@'
            && bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphanumeric())
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inline_title_starting_with_a_fence_opens_no_code_block() {
        for title in ["```rust\nfn main()", "~~~ down", "a ```` b"] {
            let t = sanitize_inline(title);
            assert!(!t.contains('\n'), "{t:?}");
            assert!(!t.contains("```") && !t.contains("~~~"), "{t:?}");
            assert_eq!(t.replace(ZWSP, ""), title.replace('\n', " "));
            // At a line's start, it is no fence.
            assert_eq!(
                crate::incident::text::sections::fence_marker(&t),
                None,
                "{t:?}"
            );
        }
    }

    #[test]
    fn mentions_and_team_mentions_are_broken() {
        let s = sanitize_user_text("ping @alice and @acme/oncall, (@bob)");
        assert!(!has_live_mention_or_comment(&s), "{s:?}");
        assert!(s.contains("@\u{200B}acme/oncall"));
        assert_eq!(s.replace(ZWSP, ""), "ping @alice and @acme/oncall, (@bob)");
    }

    #[test]
    fn emails_and_cross_references_are_left_alone() {
        let s = sanitize_user_text("mail ops@example.com about #123 and acme/widgets#4");
        assert_eq!(s, "mail ops@example.com about #123 and acme/widgets#4");
    }

    #[test]
    fn markers_cannot_be_forged_or_hide_text() {
        let s = sanitize_user_text("x <!-- responder:incident=1 kind=rca --> y <!-- hidden");
        assert!(!s.contains("<!--"));
        assert!(!s.contains("-->"));
        assert!(!s.contains("<!-- responder:"));
        assert_eq!(
            s.replace(ZWSP, ""),
            "x <!-- responder:incident=1 kind=rca --> y <!-- hidden"
        );
    }

    #[test]
    fn an_unclosed_fence_is_closed() {
        let s = sanitize_user_text("log:\n```\npanic at x\n");
        assert!(s.ends_with("```\n"), "{s:?}");
        let balanced = "a\n```\nb\n```\n";
        assert_eq!(sanitize_user_text(balanced), balanced);
    }

    #[test]
    fn headings_cannot_add_sections() {
        let s =
            sanitize_user_text("# A\n## Root cause\n  ### x\n#### y\n#123\n```\n## in code\n```\n");
        assert_eq!(
            s,
            "#### A\n#### Root cause\n#### x\n#### y\n#123\n```\n## in code\n```\n"
        );
    }

    #[test]
    fn inline_text_is_one_line() {
        assert_eq!(sanitize_inline(" a\r\n b \n\n c"), "a b c");
    }
}
