//! Cutting a PR's unified diff into pages an agent can hold.
//!
//! Purpose: the one rule of `pull_request_diff`'s pages. A page takes whole files
//! while they fit in the byte budget; a file whose diff alone is larger than the
//! budget is cut at a hunk boundary (a line boundary inside one huge hunk, a
//! character boundary inside one huge line, so progress is always made). Pages hold
//! the diff's own bytes and nothing else: concatenated in order they are the diff,
//! byte for byte. Pure: no I/O, no knowledge of where the diff came from.

use std::ops::Range;

/// Where a page starts: the `file`-th changed file of the PR (an index into the
/// PR's file list), `offset` bytes into that file's part of the diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub file: usize,
    pub offset: usize,
}

/// How a file too big for one page was cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutAt {
    /// Before a `@@` line: every page holds whole hunks.
    Hunk,
    /// After a newline, inside one hunk larger than the budget.
    Line,
    /// Inside one line larger than the budget, at a UTF-8 character boundary.
    Character,
}

/// The part of one file's diff a page holds when it does not hold all of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub file: usize,
    /// Byte range of the file's part held here.
    pub held: Range<usize>,
    /// The length of the file's whole part.
    pub len: usize,
    /// How the page's end was chosen (`None` when the file's part ends here).
    pub cut: Option<CutAt>,
}

/// One page of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub body: Vec<u8>,
    /// Indices of the files this page holds, whole or in part, in order.
    pub files: Vec<usize>,
    /// The file held only in part, if any (at most one per page: the first file
    /// may continue from the previous page, or the only file may go on to the next).
    pub split: Option<Split>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Position>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the cursor points past the end of a file's diff")]
    BadOffset,
}

/// The page of `unified` starting at `start`, holding at most `max_bytes` bytes of
/// the files `selected` (indices into `parts`, ascending). `max_bytes` must be at
/// least 4 so a page can always hold one character.
pub fn cut(
    unified: &[u8],
    parts: &[Range<usize>],
    selected: &[usize],
    start: Position,
    max_bytes: usize,
) -> Result<Page, PageError> {
    let mut k = selected.partition_point(|&i| i < start.file);
    // A start on a file outside the selection (or past it) starts at a file's top.
    let mut offset = match selected.get(k) {
        Some(&i) if i == start.file => start.offset,
        _ => 0,
    };
    let mut page = Page {
        body: Vec::new(),
        files: Vec::new(),
        split: None,
        next: None,
    };
    while let Some(&i) = selected.get(k) {
        let whole = &unified[parts[i].clone()];
        if offset > 0 && offset >= whole.len() {
            return Err(PageError::BadOffset);
        }
        let rest = &whole[offset..];
        let room = max_bytes - page.body.len();
        if rest.len() <= room {
            page.body.extend_from_slice(rest);
            page.files.push(i);
            if offset > 0 {
                page.split = Some(Split {
                    file: i,
                    held: offset..whole.len(),
                    len: whole.len(),
                    cut: None,
                });
            }
            k += 1;
            offset = 0;
            continue;
        }
        if !page.body.is_empty() {
            // The next page starts with this file, whole if it fits there.
            break;
        }
        let (end, how) = split_point(rest, room);
        page.body.extend_from_slice(&rest[..end]);
        page.files.push(i);
        page.split = Some(Split {
            file: i,
            held: offset..offset + end,
            len: whole.len(),
            cut: Some(how),
        });
        offset += end;
        break;
    }
    page.next = selected.get(k).map(|&file| Position { file, offset });
    Ok(page)
}

/// Where to end a page inside `rest` (longer than `room`): after as much as fits,
/// preferring the last hunk boundary, then the last line boundary, then the last
/// character boundary. Always at least 1 byte when `room >= 4`.
fn split_point(rest: &[u8], room: usize) -> (usize, CutAt) {
    let mut last_line = None;
    let mut last_hunk = None;
    let mut at = 0;
    while let Some(n) = rest[at..].iter().position(|&b| b == b'\n') {
        let next = at + n + 1;
        if next > room {
            break;
        }
        last_line = Some(next);
        if rest[next..].starts_with(b"@@ ") {
            last_hunk = Some(next);
        }
        at = next;
    }
    if let Some(h) = last_hunk {
        return (h, CutAt::Hunk);
    }
    if let Some(l) = last_line {
        return (l, CutAt::Line);
    }
    // One line longer than the page: keep whole UTF-8 characters on each page.
    let mut end = room;
    while end > 1 && (rest[end] & 0xC0) == 0x80 {
        end -= 1;
    }
    (end, CutAt::Character)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, hunks: &[&str]) -> String {
        let mut s = format!("diff --git a/{name} b/{name}\n--- a/{name}\n+++ b/{name}\n");
        for h in hunks {
            s.push_str(h);
        }
        s
    }

    /// The diff and each file's byte range in it.
    fn diff(files: &[String]) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut out = Vec::new();
        let mut parts = Vec::new();
        for f in files {
            let start = out.len();
            out.extend_from_slice(f.as_bytes());
            parts.push(start..out.len());
        }
        (out, parts)
    }

    fn all_pages(unified: &[u8], parts: &[Range<usize>], sel: &[usize], max: usize) -> Vec<Page> {
        let mut pages = Vec::new();
        let mut at = Some(Position {
            file: sel.first().copied().unwrap_or(0),
            offset: 0,
        });
        while let Some(pos) = at {
            let p = cut(unified, parts, sel, pos, max).unwrap();
            assert!(p.body.len() <= max, "page of {} > {max}", p.body.len());
            assert!(!p.body.is_empty(), "an empty page makes no progress");
            at = p.next;
            pages.push(p);
        }
        pages
    }

    fn hunk(n: usize, lines: usize) -> String {
        let mut h = format!("@@ -{n},{lines} +{n},{lines} @@\n");
        for l in 0..lines {
            h.push_str(&format!("+line {l} of hunk {n}\n"));
        }
        h
    }

    #[test]
    fn whole_files_fill_a_page_and_the_pages_join_to_the_diff() {
        let files: Vec<String> = (0..10)
            .map(|i| file(&format!("f{i}"), &[&hunk(1, 3)]))
            .collect();
        let (u, parts) = diff(&files);
        let sel: Vec<usize> = (0..10).collect();
        let one = parts[0].len();
        let pages = all_pages(&u, &parts, &sel, one * 3 + 5);
        assert_eq!(pages.len(), 4);
        assert_eq!(pages[0].files, vec![0, 1, 2]);
        assert!(pages.iter().all(|p| p.split.is_none()));
        let joined: Vec<u8> = pages.iter().flat_map(|p| p.body.clone()).collect();
        assert_eq!(joined, u);
    }

    #[test]
    fn a_file_bigger_than_the_page_is_cut_at_hunk_boundaries() {
        let big = file(
            "big",
            &[&hunk(1, 5), &hunk(20, 5), &hunk(40, 5), &hunk(60, 5)],
        );
        let files = vec![
            file("a", &[&hunk(1, 1)]),
            big.clone(),
            file("z", &[&hunk(1, 1)]),
        ];
        let (u, parts) = diff(&files);
        let max = big.len() / 2;
        let pages = all_pages(&u, &parts, &[0, 1, 2], max);
        let joined: Vec<u8> = pages.iter().flat_map(|p| p.body.clone()).collect();
        assert_eq!(joined, u);
        // `a` alone, then `big` in pieces that each end just before a hunk.
        assert_eq!(pages[0].files, vec![0]);
        let first_cut = pages[1].split.clone().unwrap();
        assert_eq!(first_cut.file, 1);
        assert_eq!(first_cut.cut, Some(CutAt::Hunk));
        assert_eq!(first_cut.held.start, 0);
        let cut_at = first_cut.held.end;
        assert!(big.as_bytes()[cut_at..].starts_with(b"@@ "));
        // The tail of `big` shares its page with `z`.
        let last = pages.last().unwrap();
        assert_eq!(last.files, vec![1, 2]);
        let tail = last.split.clone().unwrap();
        assert_eq!(tail.held.end, big.len());
        assert_eq!(tail.cut, None);
    }

    #[test]
    fn one_hunk_bigger_than_the_page_is_cut_at_lines_and_one_line_at_characters() {
        let huge_hunk = file("h", &[&hunk(1, 200)]);
        let (u, parts) = diff(std::slice::from_ref(&huge_hunk));
        let pages = all_pages(&u, &parts, &[0], 300);
        assert!(pages.len() > 5);
        assert!(pages.iter().all(|p| p.body.ends_with(b"\n")));
        assert_eq!(pages[1].split.as_ref().unwrap().cut, Some(CutAt::Line));
        assert_eq!(
            pages
                .iter()
                .flat_map(|p| p.body.clone())
                .collect::<Vec<_>>(),
            u
        );

        let long_line = file("l", &[&format!("@@ -1 +1 @@\n+{}\n", "ü".repeat(500))]);
        let (u, parts) = diff(std::slice::from_ref(&long_line));
        let pages = all_pages(&u, &parts, &[0], 101);
        for p in &pages {
            assert!(
                std::str::from_utf8(&p.body).is_ok(),
                "a page cut a character"
            );
        }
        assert_eq!(
            pages
                .iter()
                .flat_map(|p| p.body.clone())
                .collect::<Vec<_>>(),
            u
        );
    }

    #[test]
    fn only_selected_files_are_paged() {
        let files: Vec<String> = (0..6)
            .map(|i| file(&format!("f{i}"), &[&hunk(1, 2)]))
            .collect();
        let (u, parts) = diff(&files);
        let pages = all_pages(&u, &parts, &[1, 4], 10_000);
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].files, vec![1, 4]);
        let want = [files[1].as_bytes(), files[4].as_bytes()].concat();
        assert_eq!(pages[0].body, want);
    }

    #[test]
    fn an_offset_past_a_files_end_is_refused() {
        let files = vec![file("a", &[&hunk(1, 2)])];
        let (u, parts) = diff(&files);
        let pos = Position {
            file: 0,
            offset: parts[0].len() + 1,
        };
        assert_eq!(cut(&u, &parts, &[0], pos, 100), Err(PageError::BadOffset));
    }
}
