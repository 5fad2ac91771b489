//! The on-disk diff cache: one entry per (repository, merge-base, head), holding the
//! file list (JSON) and the unified diff, under a byte cap with LRU eviction.
//!
//! Purpose: a diff of fixed commits never changes, so it is computed once. Entries
//! appear atomically (written in a temporary directory, then renamed) and disappear
//! atomically (renamed away, then deleted), so a crash or a concurrent reader never
//! sees half an entry. It never stores anything but the diff: no tokens, no URLs.
//!
//! Recency is the modification time of an entry's `diff` file, refreshed on every
//! hit; eviction removes the least recently used entries until under the cap.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use super::model::FileEntry;
use crate::types::{RepoName, Sha};

const FILES: &str = "files.json";
const DIFF: &str = "diff";
/// Temporary directories older than this are leftovers of a crash.
const STALE_TMP: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("diff cache I/O failed on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("could not encode the file list for the diff cache: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Where a cached diff came from, kept beside it so a cached answer says the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CacheMeta {
    pub source: String,
    pub fallback_reason: Option<String>,
    pub base_sha: String,
    /// The PR the entry was computed for (absent in entries of older versions):
    /// `fallback_reason` is true of that PR's request, not of another's.
    #[serde(default)]
    pub number: Option<u64>,
}

#[derive(serde::Deserialize)]
struct Stored {
    meta: CacheMeta,
    files: Vec<FileEntry>,
}

#[derive(serde::Serialize)]
struct StoredRef<'a> {
    meta: &'a CacheMeta,
    files: &'a [FileEntry],
}

/// A cached diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDiff {
    pub meta: CacheMeta,
    pub files: Vec<FileEntry>,
    pub unified: Vec<u8>,
}

pub struct DiffCache {
    dir: PathBuf,
    cap_bytes: u64,
    /// One eviction pass at a time in this process (passes in other processes
    /// are harmless: removal is rename-then-delete).
    evicting: Mutex<()>,
}

/// The strong ETag of a diff: the same for the same (repo, merge-base, head),
/// whichever source (API or git) computed it.
pub fn etag(repo: &RepoName, merge_base: &Sha, head: &Sha) -> String {
    format!("\"{}\"", &key(repo, merge_base, head)[..32])
}

fn key(repo: &RepoName, merge_base: &Sha, head: &Sha) -> String {
    let mut h = Sha256::new();
    h.update(repo.full().as_bytes());
    h.update(b"\n");
    h.update(merge_base.as_str().as_bytes());
    h.update(b"\n");
    h.update(head.as_str().as_bytes());
    hex::encode(h.finalize())
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CacheError + '_ {
    move |source| CacheError::Io {
        path: path.to_owned(),
        source,
    }
}

impl DiffCache {
    /// A cache in `dir` (created if missing) holding at most `cap_bytes` of entries.
    pub fn new(dir: PathBuf, cap_bytes: u64) -> Result<Self, CacheError> {
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Self {
            dir,
            cap_bytes,
            evicting: Mutex::new(()),
        })
    }

    fn entry_dir(&self, repo: &RepoName, merge_base: &Sha, head: &Sha) -> PathBuf {
        self.dir.join(key(repo, merge_base, head))
    }

    /// The entry, if present; a hit makes it the most recently used.
    pub fn get(
        &self,
        repo: &RepoName,
        merge_base: &Sha,
        head: &Sha,
    ) -> Result<Option<CachedDiff>, CacheError> {
        let dir = self.entry_dir(repo, merge_base, head);
        let diff_path = dir.join(DIFF);
        let unified = match fs::read(&diff_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&diff_path)(e)),
        };
        let files_path = dir.join(FILES);
        let json = match fs::read(&files_path) {
            Ok(b) => b,
            // Evicted between the two reads.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(&files_path)(e)),
        };
        let Ok(Stored { meta, files }) = serde_json::from_slice(&json) else {
            tracing::warn!(entry = %dir.display(), "unreadable diff cache entry; dropping it");
            self.remove_entry(&dir);
            return Ok(None);
        };
        touch(&diff_path);
        Ok(Some(CachedDiff {
            meta,
            files,
            unified,
        }))
    }

    /// Stores an entry (a no-op if another writer got there first), then evicts
    /// least recently used entries until the cache is under its cap.
    pub fn put(
        &self,
        repo: &RepoName,
        merge_base: &Sha,
        head: &Sha,
        meta: &CacheMeta,
        files: &[FileEntry],
        unified: &[u8],
    ) -> Result<(), CacheError> {
        let json = serde_json::to_vec(&StoredRef { meta, files })?;
        let target = self.entry_dir(repo, merge_base, head);
        let tmp = self.dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let write = || -> Result<(), CacheError> {
            fs::create_dir(&tmp).map_err(io_err(&tmp))?;
            fs::write(tmp.join(FILES), &json).map_err(io_err(&tmp))?;
            fs::write(tmp.join(DIFF), unified).map_err(io_err(&tmp))?;
            Ok(())
        };
        if let Err(e) = write() {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        if fs::rename(&tmp, &target).is_err() {
            // Already there (a concurrent writer): same key, same content.
            let _ = fs::remove_dir_all(&tmp);
        }
        self.evict();
        Ok(())
    }

    /// Bytes held by complete entries.
    pub fn total_bytes(&self) -> u64 {
        self.entries().iter().map(|e| e.bytes).sum()
    }

    fn entries(&self) -> Vec<Entry> {
        let Ok(read) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut out = Vec::new();
        for e in read.flatten() {
            let name = e.file_name();
            let path = e.path();
            if name.to_string_lossy().starts_with('.') {
                let stale = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| now.duration_since(m).unwrap_or_default() > STALE_TMP);
                if stale {
                    let _ = fs::remove_dir_all(&path);
                }
                continue;
            }
            let (Ok(d), Ok(f)) = (
                fs::metadata(path.join(DIFF)),
                fs::metadata(path.join(FILES)),
            ) else {
                continue;
            };
            out.push(Entry {
                used: d.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                bytes: d.len() + f.len(),
                path,
            });
        }
        out
    }

    fn evict(&self) {
        let _one_pass = self.evicting.lock().unwrap_or_else(|p| p.into_inner());
        let mut entries = self.entries();
        let mut total: u64 = entries.iter().map(|e| e.bytes).sum();
        if total <= self.cap_bytes {
            return;
        }
        entries.sort_by_key(|e| e.used);
        for e in entries {
            if total <= self.cap_bytes {
                break;
            }
            tracing::debug!(entry = %e.path.display(), bytes = e.bytes, "evicting diff cache entry");
            self.remove_entry(&e.path);
            total -= e.bytes;
        }
    }

    fn remove_entry(&self, dir: &Path) {
        let away = self.dir.join(format!(".del-{}", uuid::Uuid::new_v4()));
        if fs::rename(dir, &away).is_ok() {
            let _ = fs::remove_dir_all(&away);
        }
    }
}

struct Entry {
    path: PathBuf,
    used: SystemTime,
    bytes: u64,
}

fn touch(path: &Path) {
    if let Ok(f) = fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::model::FileStatus;

    fn repo() -> RepoName {
        "acme/widgets".parse().unwrap()
    }

    fn sha(c: char) -> Sha {
        Sha::new(&c.to_string().repeat(40)).unwrap()
    }

    fn files() -> Vec<FileEntry> {
        vec![FileEntry {
            filename: "a.rs".into(),
            status: FileStatus::Modified,
            additions: 1,
            deletions: 0,
            changes: 1,
            patch: Some("@@ -1 +1,2 @@\n a\n+b".into()),
            previous_filename: None,
            binary: false,
        }]
    }

    /// Sizes of one entry with a 1000-byte diff.
    fn entry_bytes() -> u64 {
        let stored = StoredRef {
            meta: &CacheMeta::default(),
            files: &files(),
        };
        1000 + serde_json::to_vec(&stored).unwrap().len() as u64
    }

    fn put(cache: &DiffCache, head: char) {
        cache
            .put(
                &repo(),
                &sha('0'),
                &sha(head),
                &CacheMeta::default(),
                &files(),
                &[b'x'; 1000],
            )
            .unwrap();
        // mtime resolution is fine-grained, but keep the order unambiguous.
        std::thread::sleep(Duration::from_millis(5));
    }

    fn has(cache: &DiffCache, head: char) -> bool {
        cache.entry_dir(&repo(), &sha('0'), &sha(head)).exists()
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiffCache::new(tmp.path().into(), 1 << 20).unwrap();
        assert_eq!(cache.get(&repo(), &sha('0'), &sha('a')).unwrap(), None);
        put(&cache, 'a');
        let got = cache.get(&repo(), &sha('0'), &sha('a')).unwrap().unwrap();
        assert_eq!(got.files, files());
        assert_eq!(got.unified, vec![b'x'; 1000]);
        assert_eq!(cache.get(&repo(), &sha('0'), &sha('b')).unwrap(), None);
    }

    #[test]
    fn going_over_the_cap_evicts_the_least_recently_used_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiffCache::new(tmp.path().into(), entry_bytes() * 3).unwrap();
        put(&cache, 'a');
        put(&cache, 'b');
        put(&cache, 'c');
        assert!(cache.get(&repo(), &sha('0'), &sha('a')).unwrap().is_some());
        std::thread::sleep(Duration::from_millis(5));
        put(&cache, 'd');
        assert!(has(&cache, 'a'), "a was used recently and must survive");
        assert!(!has(&cache, 'b'), "b is the least recently used");
        assert!(has(&cache, 'c') && has(&cache, 'd'));
        assert!(cache.total_bytes() <= entry_bytes() * 3);
    }

    #[test]
    fn leftovers_of_a_crashed_write_are_never_read_as_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = DiffCache::new(tmp.path().into(), 1 << 20).unwrap();
        let half = cache.entry_dir(&repo(), &sha('0'), &sha('a'));
        fs::create_dir_all(&half).unwrap();
        fs::write(half.join(DIFF), b"partial").unwrap();
        assert_eq!(cache.get(&repo(), &sha('0'), &sha('a')).unwrap(), None);
        fs::create_dir_all(tmp.path().join(".tmp-crashed")).unwrap();
        assert_eq!(cache.total_bytes(), 0);
    }

    #[test]
    fn etag_is_stable_and_names_repo_merge_base_and_head() {
        let e = etag(&repo(), &sha('0'), &sha('a'));
        assert_eq!(
            e,
            etag(&"Acme/Widgets".parse().unwrap(), &sha('0'), &sha('a'))
        );
        assert!(e.starts_with('"') && e.ends_with('"') && e.len() == 34);
        assert_ne!(e, etag(&repo(), &sha('0'), &sha('b')));
        assert_ne!(e, etag(&repo(), &sha('1'), &sha('a')));
        assert_ne!(
            e,
            etag(&"acme/other".parse().unwrap(), &sha('0'), &sha('a'))
        );
    }
}
