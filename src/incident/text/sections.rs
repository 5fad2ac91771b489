//! Markdown sections of an issue body, as issue forms and our templates render them.
//!
//! Purpose: split a body into `(heading, content)` pairs by `##`/`###` headings,
//! ignoring `#` lines inside fenced code blocks, and tell "no answer" from an answer.
//! Must never interpret the content: form.rs and rca.rs decide what a section means.

/// One heading and the text under it (up to the next heading of level 2 or 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Heading text as written, without the `#`s.
    pub heading: String,
    pub content: String,
}

/// Splits at `## ` and `### ` headings outside code fences; text before the first
/// heading is dropped (it is the preamble our templates put above the sections).
pub fn split(body: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut fence: Option<String> = None;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            if closes_fence(trimmed, open) {
                fence = None;
            }
        } else if let Some(marker) = fence_marker(trimmed) {
            fence = Some(marker);
        } else if let Some(heading) = heading_text(line) {
            out.push(Section {
                heading: heading.to_string(),
                content: String::new(),
            });
            continue;
        }
        if let Some(last) = out.last_mut() {
            last.content.push_str(line);
            last.content.push('\n');
        }
    }
    out
}

/// The run of three or more backticks or tildes opening a fence, if `line` opens one.
pub fn fence_marker(trimmed: &str) -> Option<String> {
    for ch in ['`', '~'] {
        let n = trimmed.chars().take_while(|c| *c == ch).count();
        if n >= 3 {
            return Some(std::iter::repeat_n(ch, n).collect());
        }
    }
    None
}

/// A closing fence is the opening character only, at least as many times.
pub fn closes_fence(trimmed: &str, open: &str) -> bool {
    let t = trimmed.trim_end();
    let ch = open.chars().next().unwrap_or('`');
    t.len() >= open.len() && t.chars().all(|c| c == ch)
}

/// The marker of the code fence still open at the end of `text`, if any.
pub fn unclosed_fence(text: &str) -> Option<String> {
    let mut open: Option<String> = None;
    for line in text.lines() {
        let t = line.trim_start();
        match &open {
            Some(m) if closes_fence(t, m) => open = None,
            Some(_) => {}
            None => open = fence_marker(t),
        }
    }
    open
}

/// The text of a `## ` or `### ` heading line, without its `#`s.
pub fn heading_text(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("### ")
        .or_else(|| line.strip_prefix("## "))?;
    let text = rest.trim().trim_end_matches('#').trim();
    (!text.is_empty()).then_some(text)
}

/// Removes `<!-- … -->` comments (our templates' guidance for the writer).
pub fn strip_html_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The answer in a section, or `None` when it holds no answer: empty, GitHub's
/// `_No response_`, a dropdown's `None`, only comments, or only empty list items,
/// checkboxes and table skeletons from a template.
pub fn answer(content: &str) -> Option<String> {
    let cleaned = strip_html_comments(content);
    let text = cleaned.trim();
    if text.is_empty() || text == "_No response_" || text == "None" {
        return None;
    }
    if text.lines().all(is_skeleton_line) {
        return None;
    }
    Some(text.to_string())
}

fn is_skeleton_line(line: &str) -> bool {
    let t = line.trim();
    // One list marker: `-`, `*`, `+`, or digits followed by `.` or `)`.
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    let t = if let Some(rest) = t.strip_prefix(['-', '*', '+']) {
        rest
    } else if digits > 0 && t[digits..].starts_with(['.', ')']) {
        &t[digits + 1..]
    } else {
        t
    };
    let t = t.trim();
    let t = t
        .strip_prefix("[ ]")
        .or_else(|| t.strip_prefix("[x]"))
        .or_else(|| t.strip_prefix("[X]"))
        .unwrap_or(t)
        .trim();
    t.is_empty() || t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_headings_but_not_inside_fences() {
        let body = "preamble\n## A\none\n```\n## not a heading\n```\n### B\ntwo\n";
        let s = split(body);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].heading, "A");
        assert!(s[0].content.contains("## not a heading"));
        assert_eq!(s[1].content, "two\n");
    }

    #[test]
    fn no_answer_forms_are_recognised() {
        for empty in [
            "",
            "\n_No response_\n",
            "None",
            "<!-- write here -->",
            "1. \n2. \n",
            "- [ ] \n",
            "| | |\n|---|---|\n| | |",
        ] {
            assert_eq!(answer(empty), None, "{empty:?}");
        }
        assert_eq!(
            answer("\n<!-- hint -->\nreal text\n"),
            Some("real text".into())
        );
        assert_eq!(answer("1. because"), Some("1. because".into()));
        assert_eq!(answer("42"), Some("42".into()));
        assert_eq!(answer("- 1"), Some("- 1".into()));
    }
}
