//! The small pieces of git's CLI output format that libgit2 does not reproduce:
//! path quoting (`core.quotePath` default) and object-id abbreviation (`core.abbrev`
//! default "auto").
//!
//! Purpose: make the unified diff byte-identical to `git diff --no-color -M`. It must
//! never guess at a format: each function mirrors one named routine of git.

use std::path::Path;

use git2::{ErrorCode, Odb, Oid};

/// git's `quote_c_style` with `core.quotePath=true`: returns `None` when the name
/// needs no quoting, else the escaped bytes *without* the surrounding quotes.
fn c_escape(name: &[u8]) -> Option<Vec<u8>> {
    let needs = |b: u8| b < 0x20 || b == b'"' || b == b'\\' || b >= 0x7f;
    if !name.iter().any(|&b| needs(b)) {
        return None;
    }
    let mut out = Vec::with_capacity(name.len() + 8);
    for &b in name {
        let short = match b {
            0x07 => Some(b'a'),
            0x08 => Some(b'b'),
            b'\t' => Some(b't'),
            b'\n' => Some(b'n'),
            0x0b => Some(b'v'),
            0x0c => Some(b'f'),
            b'\r' => Some(b'r'),
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            _ => None,
        };
        match short {
            Some(c) => out.extend_from_slice(&[b'\\', c]),
            None if needs(b) => {
                out.push(b'\\');
                out.push(b'0' + (b >> 6));
                out.push(b'0' + ((b >> 3) & 7));
                out.push(b'0' + (b & 7));
            }
            None => out.push(b),
        }
    }
    Some(out)
}

/// git's `quote_c_style(name)`: the name, or `"…"` with escapes.
pub fn quote(out: &mut Vec<u8>, name: &[u8]) {
    quote_prefixed(out, b"", name);
}

/// git's `quote_two(prefix, name)`: `a/name`, or `"a/na\303\274me"` when the name
/// needs quoting (the prefix goes inside the quotes).
pub fn quote_prefixed(out: &mut Vec<u8>, prefix: &[u8], name: &[u8]) {
    match c_escape(name) {
        None => {
            out.extend_from_slice(prefix);
            out.extend_from_slice(name);
        }
        Some(escaped) => {
            out.push(b'"');
            out.extend_from_slice(prefix);
            out.extend_from_slice(&escaped);
            out.push(b'"');
        }
    }
}

/// git's automatic abbreviation length (`core.abbrev` unset): from the number of
/// packed objects, as `repo_approximate_object_count` counts them; at least 7.
pub fn auto_abbrev_len(repo_path: &Path) -> usize {
    abbrev_for_count(packed_object_count(repo_path))
}

/// About 2^bits objects expect a collision at 2^(bits/2); four bits per hex digit.
fn abbrev_for_count(count: u64) -> usize {
    let msb = if count == 0 {
        0
    } else {
        63 - count.leading_zeros() as usize
    };
    (msb + 1).div_ceil(2).max(7)
}

/// Sums the object counts in the headers of `objects/pack/*.idx` that have a pack.
fn packed_object_count(repo_path: &Path) -> u64 {
    let dir = repo_path.join("objects").join("pack");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut total = 0u64;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "idx") || !path.with_extension("pack").exists() {
            continue;
        }
        if let Some(n) = idx_object_count(&path) {
            total += n;
        }
    }
    total
}

/// The last fan-out entry of a pack index is its object count (v2 has an 8-byte
/// header before the fan-out table; v1 has none).
fn idx_object_count(path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut head = [0u8; 8];
    f.read_exact(&mut head).ok()?;
    let offset = if head[..4] == [0xff, b't', b'O', b'c'] {
        8 + 255 * 4
    } else {
        255 * 4
    };
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut n = [0u8; 4];
    f.read_exact(&mut n).ok()?;
    Some(u64::from(u32::from_be_bytes(n)))
}

/// git's `find_unique_abbrev`: the shortest prefix of at least `min` hex digits that
/// names no other object in the repository.
pub fn unique_abbrev(odb: &Odb<'_>, id: Oid, min: usize) -> String {
    let hex = id.to_string();
    if id.is_zero() {
        // The missing side of an addition or deletion: no object to look for (and
        // a miss makes libgit2 rescan the pack directory).
        return hex[..min.min(hex.len())].to_owned();
    }
    let mut len = min.min(hex.len());
    while len < hex.len() {
        match odb.exists_prefix(id, len) {
            Ok(found) if found == id => break,
            Err(e) if e.code() == ErrorCode::NotFound => break,
            // Another object shares the prefix (or several do): one more digit.
            _ => len += 1,
        }
    }
    hex[..len].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(name: &str) -> String {
        let mut out = Vec::new();
        quote_prefixed(&mut out, b"a/", name.as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn quoting_matches_git_quote_path_default() {
        assert_eq!(q("src/main.rs"), "a/src/main.rs");
        assert_eq!(q("with space.txt"), "a/with space.txt");
        assert_eq!(q("docs/über.md"), r#""a/docs/\303\274ber.md""#);
        assert_eq!(q("tab\there"), r#""a/tab\there""#);
        assert_eq!(q("quote\"back\\"), r#""a/quote\"back\\""#);
        assert_eq!(q("del\x7f"), r#""a/del\177""#);
    }

    #[test]
    fn auto_abbrev_grows_with_object_count_like_git() {
        let len = abbrev_for_count;
        assert_eq!(len(0), 7);
        assert_eq!(len(16_383), 7);
        assert_eq!(len(16_384), 8);
        assert_eq!(len(1 << 20), 11);
    }
}
