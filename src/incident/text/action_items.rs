//! An RCA's action items: `- [ ] what — owner: @login — issue: #123`.
//!
//! Purpose: read the task-list items of an RCA's "Action items" section into typed
//! items (what, owner, linked issue, checked) with a key that survives edits of
//! whitespace and letter case, and write an issue reference onto an item's line
//! without changing any other byte of the body. Pure; must never decide what an
//! item leads to (the service does), nor make text safe to post (the writer of the
//! follow-up issue sanitises).
//!
//! Tolerant where people type differently: `—`, `–` or a spaced `-` between fields,
//! `owner: alice` with or without `@`, `issue: #12`, `acme/evals#12` or the issue's
//! URL, `[x]` or `[X]` for done, any list marker. Lines inside code fences and HTML
//! comments (the template's guidance) are not items.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::incident::text::rca::section_key;
use crate::incident::text::sections::{closes_fence, fence_marker, heading_text};
use crate::types::{IssueNumber, Login, RepoName};

/// At most this many characters of an item's text are kept (a pasted log line
/// must not become a 1 MB issue); the key is computed from all of it.
pub const MAX_WHAT_CHARS: usize = 1000;

/// One task-list item of the Action items section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionItem {
    /// `[x]`: already done.
    pub checked: bool,
    /// What to do, as written (fields removed), at most [`MAX_WHAT_CHARS`].
    pub what: String,
    pub owner: Option<Login>,
    /// The issue the item names, if any: then it is linked, never created.
    pub issue: Option<IssueRef>,
    pub key: ItemKey,
}

/// An issue named by an item: `#12` (the RCA's repository) or in `repo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueRef {
    pub repo: Option<RepoName>,
    pub number: IssueNumber,
}

/// Identifies an item across edits: a digest of its text with whitespace runs
/// collapsed, letter case folded and invisible characters dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemKey(String);

impl ItemKey {
    pub fn of(what: &str) -> ItemKey {
        let cleaned: String = what
            .chars()
            .filter(|c| !matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}'))
            .flat_map(char::to_lowercase)
            .collect();
        let normal = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
        let normal = normal.trim_end_matches(['.', ' ']);
        let digest = hex::encode(Sha256::digest(normal.as_bytes()));
        ItemKey(digest[..32].to_string())
    }

    /// A key as stored.
    pub fn stored(key: String) -> ItemKey {
        ItemKey(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The items of every "Action items" section of `body`, in order.
pub fn action_items(body: &str) -> Vec<ActionItem> {
    item_lines(body)
        .into_iter()
        .filter_map(|(_, line)| parse_item(line))
        .collect()
}

/// `body` with ` — issue: <reference>` appended to each item line that names no
/// issue and whose key `refs` maps; `None` when no line changes. Every other byte
/// stays as it was.
pub fn link_items(body: &str, refs: &HashMap<ItemKey, String>) -> Option<String> {
    let mut inserts: Vec<(usize, &str)> = Vec::new();
    for (start, line) in item_lines(body) {
        let Some(item) = parse_item(line) else {
            continue;
        };
        if item.issue.is_some() {
            continue;
        }
        if let Some(r) = refs.get(&item.key) {
            inserts.push((start + line.trim_end().len(), r.as_str()));
        }
    }
    if inserts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(body.len() + inserts.len() * 16);
    let mut at = 0;
    for (pos, r) in inserts {
        out.push_str(&body[at..pos]);
        out.push_str(" — issue: ");
        out.push_str(r);
        at = pos;
    }
    out.push_str(&body[at..]);
    Some(out)
}

/// The lines of the Action items sections (byte offset, text without its line
/// break), outside code fences and HTML comments. A heading Responder does not
/// know (`### Short term`) stays in the section above, as the RCA reader has it.
fn item_lines(body: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut in_section, mut fence, mut comment) = (false, None::<String>, false);
    let mut offset = 0;
    for raw in body.split_inclusive('\n') {
        let start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let t = line.trim_start();
        if let Some(open) = &fence {
            if closes_fence(t, open) {
                fence = None;
            }
            continue;
        }
        if comment {
            comment = !line.contains("-->");
            continue;
        }
        if let Some(m) = fence_marker(t) {
            fence = Some(m);
            continue;
        }
        if let Some(h) = heading_text(line) {
            if let Some(key) = section_key(h) {
                in_section = key == "action-items";
            }
            continue;
        }
        // A comment opened and not closed on this line hides the lines below it.
        if let Some(open) = line.rfind("<!--") {
            comment = !line[open..].contains("-->");
        }
        if in_section {
            out.push((start, line));
        }
    }
    out
}

/// One item line; `None` for anything that is not a task-list item with text.
pub fn parse_item(line: &str) -> Option<ActionItem> {
    let rest = strip_list_marker(line.trim_start())?;
    let (checked, content) = match rest.get(..3)? {
        "[ ]" => (false, &rest[3..]),
        "[x]" | "[X]" => (true, &rest[3..]),
        _ => return None,
    };
    if !content.is_empty() && !content.starts_with(char::is_whitespace) {
        return None; // `[x]foo` is a link reference, not a checkbox
    }
    // Inline guidance (`<!-- … -->`) and an unclosed comment's start are no text.
    let content = strip_comments(content);
    let (what, owner, issue) = fields(content.trim());
    if what.is_empty() {
        return None;
    }
    let key = ItemKey::of(&what);
    let what = match what.char_indices().nth(MAX_WHAT_CHARS) {
        Some((cut, _)) => format!("{}…", &what[..cut]),
        None => what,
    };
    Some(ActionItem {
        checked,
        what,
        owner,
        issue,
        key,
    })
}

fn strip_list_marker(t: &str) -> Option<&str> {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = if let Some(r) = t.strip_prefix(['-', '*', '+']) {
        r
    } else if (1..=9).contains(&digits) && t[digits..].starts_with(['.', ')']) {
        &t[digits + 1..]
    } else {
        return None;
    };
    rest.starts_with([' ', '\t']).then(|| rest.trim_start())
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("<!--") {
        out.push_str(&rest[..open]);
        match rest[open..].find("-->") {
            Some(close) => rest = &rest[open + close + 3..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// The item's text and its `owner:` and `issue:` fields. The text is the line up
/// to the first field, exactly as written, plus any later part that is no field
/// (or a field whose value does not read: `owner: the SRE team` stays visible).
fn fields(content: &str) -> (String, Option<Login>, Option<IssueRef>) {
    let (mut owner, mut issue) = (None, None);
    // Where the text before the first field ends, and what is no field after it.
    let (mut lead_end, mut later) = (0, Vec::new());
    let mut seen_field = false;
    for (sep_start, seg) in segments(content) {
        let seg_text = seg.trim();
        if owner.is_none()
            && let Some(v) = field_value(seg_text, &["owner", "owners", "assignee"])
            && let Some(login) = single_token(v).and_then(Login::parse)
        {
            owner = Some(login);
            seen_field = true;
            continue;
        }
        if issue.is_none()
            && let Some(v) = field_value(seg_text, &["issue", "tracked in", "ticket"])
            && let Some(r) = single_token(v).and_then(issue_ref)
        {
            issue = Some(r);
            seen_field = true;
            continue;
        }
        if !seen_field {
            // Still before any field: keep the original text, separators and all.
            lead_end = sep_start + seg.len();
        } else if !seg_text.is_empty() {
            later.push(seg_text);
        }
    }
    let mut what = content[..lead_end].trim().to_string();
    for part in later {
        if !what.is_empty() {
            what.push_str(" — ");
        }
        what.push_str(part);
    }
    (what, owner, issue)
}

/// Splits at `—`, `–`, or a run of `-` with whitespace on both sides; each part
/// with the byte offset where it starts.
fn segments(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut seg_start = 0;
    let mut prev_space = true;
    let mut iter = s.char_indices().peekable();
    while let Some((pos, c)) = iter.next() {
        let dash = matches!(c, '—' | '–');
        if dash || (c == '-' && prev_space) {
            let mut end = pos + c.len_utf8();
            while let Some(&(p, n)) = iter.peek() {
                if !matches!(n, '-' | '—' | '–') {
                    break;
                }
                end = p + n.len_utf8();
                iter.next();
            }
            let spaced_after = s[end..].starts_with(char::is_whitespace) || end == s.len();
            if dash || spaced_after {
                out.push((seg_start, &s[seg_start..pos]));
                seg_start = end;
            }
            prev_space = false;
            continue;
        }
        prev_space = c.is_whitespace();
    }
    out.push((seg_start, &s[seg_start..]));
    out
}

/// The value of `label: value` for any of `labels` (any letter case).
fn field_value<'a>(seg: &'a str, labels: &[&str]) -> Option<&'a str> {
    let (label, value) = seg.split_once(':')?;
    let label = label.trim();
    labels
        .iter()
        .any(|l| label.eq_ignore_ascii_case(l))
        .then(|| value.trim())
}

/// The value when it is one token (trailing `.`, `,`, `;`, `)` dropped).
fn single_token(v: &str) -> Option<&str> {
    let v = v.trim().trim_end_matches(['.', ',', ';', ')']);
    (!v.is_empty() && !v.contains(char::is_whitespace)).then_some(v)
}

/// `#12`, `acme/evals#12`, a Markdown link to an issue, or an issue or pull
/// request URL on any GitHub host (`…/owner/repo/issues/12`).
fn issue_ref(v: &str) -> Option<IssueRef> {
    // `[#12](https://…/issues/12)`: the address is what counts.
    let v = match v.find("](") {
        Some(i) if v.starts_with('[') => v[i + 2..].trim_end_matches(')'),
        _ => v,
    };
    let number = |s: &str| s.parse::<u64>().ok().filter(|n| *n > 0).map(IssueNumber);
    if let Some(n) = v.strip_prefix('#') {
        return Some(IssueRef {
            repo: None,
            number: number(n)?,
        });
    }
    if let Some(rest) = v
        .strip_prefix("https://")
        .or_else(|| v.strip_prefix("http://"))
    {
        let path = rest.split(['?', '#']).next()?.trim_end_matches('/');
        // host[/prefix]/owner/repo/(issues|pull)/N[/files…]
        let parts: Vec<&str> = path.split('/').collect();
        let k = (3..parts.len()).find(|&k| matches!(parts[k], "issues" | "pull"))?;
        return Some(IssueRef {
            repo: Some(RepoName::new(parts[k - 2], parts[k - 1]).ok()?),
            number: number(parts.get(k + 1)?)?,
        });
    }
    let (repo, n) = v.split_once('#')?;
    Some(IssueRef {
        repo: Some(repo.parse().ok()?),
        number: number(n)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(line: &str) -> ActionItem {
        parse_item(line).unwrap_or_else(|| panic!("no item in {line:?}"))
    }

    fn login(s: &str) -> Option<Login> {
        Login::parse(s)
    }

    #[test]
    fn the_templates_spelling_reads_every_field() {
        let i = item("- [ ] Stream the dataset — owner: @alice — issue: #12");
        assert_eq!(i.what, "Stream the dataset");
        assert_eq!(i.owner, login("alice"));
        assert_eq!(
            i.issue,
            Some(IssueRef {
                repo: None,
                number: IssueNumber(12)
            })
        );
        assert!(!i.checked);
    }

    #[test]
    fn separators_owner_spellings_and_checkboxes_are_tolerated() {
        for line in [
            "- [ ] Stream the dataset - owner: alice",
            "* [ ] Stream the dataset – Owner: @Alice",
            "+ [ ] Stream the dataset —owner:alice",
            "1. [ ] Stream the dataset -- owner: @alice.",
            "  - [ ]   Stream the dataset ---  OWNER:   alice  ",
        ] {
            let i = item(line);
            assert_eq!(i.what, "Stream the dataset", "{line:?}");
            assert_eq!(i.owner, login("alice"), "{line:?}");
            assert_eq!(i.issue, None);
        }
        assert!(item("- [x] Done already — owner: bob").checked);
        assert!(item("- [X] Done already").checked);
    }

    #[test]
    fn issues_are_read_from_numbers_references_and_urls() {
        let here = |n| {
            Some(IssueRef {
                repo: None,
                number: IssueNumber(n),
            })
        };
        let there = |r: &str, n| {
            Some(IssueRef {
                repo: Some(r.parse().unwrap()),
                number: IssueNumber(n),
            })
        };
        assert_eq!(item("- [ ] a — issue: #7").issue, here(7));
        assert_eq!(
            item("- [ ] a — issue: Acme/Other#8").issue,
            there("acme/other", 8)
        );
        assert_eq!(
            item("- [ ] a — issue: https://github.com/acme/evals/issues/9").issue,
            there("acme/evals", 9)
        );
        assert_eq!(
            item("- [ ] a — issue: https://ghe.example.com/acme/evals/pull/10/files#x").issue,
            there("acme/evals", 10)
        );
        assert_eq!(
            item("- [ ] a — issue: [#11](https://github.com/acme/evals/issues/11)").issue,
            there("acme/evals", 11)
        );
        // What does not read stays in the text, visible, and links nothing.
        let i = item("- [ ] a — issue: soon");
        assert_eq!((i.issue, i.what.as_str()), (None, "a — issue: soon"));
        assert_eq!(item("- [ ] a — issue: #0").issue, None);
    }

    #[test]
    fn dashes_inside_the_text_are_kept_as_written() {
        let i = item("- [ ] Roll-back the 2–3 canary pods - then re-check — owner: bob");
        assert_eq!(i.what, "Roll-back the 2–3 canary pods - then re-check");
        assert_eq!(i.owner, login("bob"));
        let i = item("- [ ] Add an alert — owner: bob — before Friday");
        assert_eq!(i.what, "Add an alert — before Friday");
    }

    #[test]
    fn an_owner_that_is_no_login_is_not_an_owner_but_stays_visible() {
        for (line, what) in [
            (
                "- [ ] Page better — owner: the SRE team",
                "Page better — owner: the SRE team",
            ),
            (
                "- [ ] Page better — owner: @acme/sre",
                "Page better — owner: @acme/sre",
            ),
            (
                "- [ ] Page better — owner: -bob",
                "Page better — owner: -bob",
            ),
        ] {
            let i = item(line);
            assert_eq!((i.owner, i.what.as_str()), (None, what), "{line:?}");
        }
    }

    #[test]
    fn non_items_are_not_items() {
        for line in [
            "- [ ] ",
            "- [ ]",
            "- [ ] — owner: alice",
            "- plain bullet — owner: alice",
            "[ ] no list marker",
            "-[ ] no space",
            "- [x]foo",
            "- [ ] <!-- what to do -->",
            "Some prose — owner: alice",
            "",
        ] {
            assert_eq!(parse_item(line), None, "{line:?}");
        }
    }

    #[test]
    fn keys_survive_whitespace_and_case_but_not_new_words() {
        let a = item("- [ ] Stream the dataset — owner: alice").key;
        assert_eq!(a, item("-  [ ]   stream  THE dataset. — owner: bob").key);
        assert_eq!(a, item("- [x] Stream\u{200B} the dataset").key);
        assert_ne!(a, item("- [ ] Stream the whole dataset").key);
        assert_eq!(a.as_str().len(), 32);
    }

    const RCA: &str = "## Root cause\n\n- [ ] not an action item\n\n## Action items\n\n<!-- One per line: - [ ] what to do — owner: login — issue: #123 -->\n- [ ] Stream the dataset — owner: @alice\n- [ ] Alert on memory — issue: #12\n- [x] Roll back the image — owner: bob\n\n### Long term\n\n- [ ] Load test — owner: carol\n<!--\n- [ ] commented out\n-->\n```\n- [ ] in a fence\n```\n\n## Runbook updates\n\n- [ ] not one either\n";

    #[test]
    fn only_the_action_items_section_counts_with_its_own_subheadings() {
        let items = action_items(RCA);
        let whats: Vec<&str> = items.iter().map(|i| i.what.as_str()).collect();
        assert_eq!(
            whats,
            [
                "Stream the dataset",
                "Alert on memory",
                "Roll back the image",
                "Load test"
            ]
        );
        // The issue form's `###` headings read the same.
        let form = RCA.replace("## ", "### ");
        assert_eq!(action_items(&form).len(), 4);
    }

    #[test]
    fn linking_appends_to_the_right_lines_and_changes_nothing_else() {
        let stream = item("- [ ] Stream the dataset").key;
        let alert = item("- [ ] Alert on memory").key;
        let refs = HashMap::from([(stream, "#40".to_string()), (alert, "#41".to_string())]);
        let crlf = RCA.replace('\n', "\r\n");
        for body in [RCA.to_string(), crlf] {
            let out = link_items(&body, &refs).unwrap();
            let nl = if body.contains('\r') { "\r\n" } else { "\n" };
            let want = body.replacen(
                &format!("- [ ] Stream the dataset — owner: @alice{nl}"),
                &format!("- [ ] Stream the dataset — owner: @alice — issue: #40{nl}"),
                1,
            );
            assert_eq!(out, want, "only the item without an issue changed");
            let again = action_items(&out);
            assert_eq!(again[0].issue.as_ref().unwrap().number, IssueNumber(40));
            assert_eq!(
                link_items(&out, &refs),
                None,
                "linking twice changes nothing"
            );
        }
        assert_eq!(link_items("no items here", &refs), None);
    }

    #[test]
    fn hostile_input_is_bounded_and_mentions_are_kept_for_the_sanitiser() {
        let huge = format!("- [ ] {} — owner: alice", "x".repeat(2_000_000));
        let started = std::time::Instant::now();
        let i = item(&huge);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(i.what.chars().count(), MAX_WHAT_CHARS + 1);
        assert!(i.what.ends_with('…'));
        assert_eq!(i.owner, login("alice"));
        let dashes = format!("- [ ] a {}b", "- ".repeat(100_000));
        assert!(parse_item(&dashes).is_some());
        let i = item("- [ ] Ping @bob and @acme/sre <!-- x --> — owner: alice");
        assert_eq!(i.what, "Ping @bob and @acme/sre");
        let many: String = (0..10_000).map(|n| format!("- [ ] item {n}\n")).collect();
        assert_eq!(
            action_items(&format!("## Action items\n{many}")).len(),
            10_000
        );
    }
}
