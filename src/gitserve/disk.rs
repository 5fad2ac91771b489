//! The mirrors' disk use, for their cap (`RESPONDER_GIT_MIRROR_MAX_BYTES`).
//!
//! Purpose: measure what the mirrors under one root hold. Mirrors have their own
//! cap, apart from the diff cache's: the cache evicts answers it can recompute,
//! while a mirror is the recomputation's source and is never evicted. Blocking:
//! call it off the async threads. It follows no symbolic link.

use std::path::Path;

/// Bytes of the regular files under `root` (0 when it does not exist yet).
pub fn usage(root: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // `DirEntry::metadata` does not follow symbolic links.
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total += meta.len();
            }
        }
    }
    total
}
