//! Builds bare git repositories laid out like GitHub's (`refs/heads/main`,
//! `refs/pull/N/head`, HEAD → main) with the git CLI, for the fake, the tests and
//! the benchmarks; plus the isolated `git` helpers they share.
//!
//! Every commit gets a fixed author, committer and a date that only depends on its
//! position, so the same script always yields the same SHAs. It must never read
//! the user's or system git configuration (that would make SHAs machine-dependent).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a path holds after a commit. Modes are set exactly, whatever the path held
/// before and whatever the umask, because diffs report mode changes.
#[derive(Clone, Copy, Debug)]
pub enum Entry<'a> {
    /// A regular file, mode 100644.
    File(&'a [u8]),
    /// An executable file, mode 100755.
    Executable(&'a [u8]),
    /// A symbolic link to the given target.
    Symlink(&'a str),
    /// Nothing: the path is deleted.
    Deleted,
}

/// `Some(bytes)` is a regular file, `None` a deletion: the short form most tests use.
impl<'a> From<Option<&'a [u8]>> for Entry<'a> {
    fn from(content: Option<&'a [u8]>) -> Self {
        content.map_or(Entry::Deleted, Entry::File)
    }
}

/// One file change in a commit: `Some(bytes)` writes the file, `None` deletes it.
pub type Change<'a> = (&'a str, Option<&'a [u8]>);

/// Scripted builder of one bare repository; see the module doc.
pub struct RepoBuilder {
    work: PathBuf,
    bare: PathBuf,
    commits: u64,
    /// PR number → head SHA; a later `pull` for the same number moves its head.
    pulls: BTreeMap<u64, String>,
}

impl RepoBuilder {
    /// Starts an empty repository; `dir` gets a `work/` checkout and `repo.git`.
    pub fn new(dir: &Path) -> Self {
        let work = dir.join("work");
        std::fs::create_dir_all(&work).expect("create work dir");
        git(&work, &["init", "-q", "-b", "main"]);
        Self {
            work,
            bare: dir.join("repo.git"),
            commits: 0,
            pulls: BTreeMap::new(),
        }
    }

    /// Commits `files` on `branch` (created from nothing only for the first commit)
    /// and returns the new commit's SHA. Entries are [`Entry`] values or the short
    /// form of [`Change`].
    pub fn commit_on<'a, E>(&mut self, branch: &str, files: &[(&'a str, E)], msg: &str) -> String
    where
        E: Into<Entry<'a>> + Copy,
    {
        self.checkout(branch);
        for (path, entry) in files {
            self.put(path, (*entry).into());
        }
        // One `add -A` rather than one per file: large PRs have thousands of files.
        git(&self.work, &["add", "-A"]);
        self.commits += 1;
        let date = format!("@{} +0000", 1_700_000_000 + self.commits * 60);
        let out = command(&self.work)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(["commit", "-q", "--allow-empty", "--no-verify", "-m", msg])
            .output()
            .expect("run git commit");
        assert!(
            out.status.success(),
            "git commit: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.sha(branch)
    }

    /// Creates branch `new` at the tip of `from`.
    pub fn branch_from(&mut self, new: &str, from: &str) {
        git(&self.work, &["branch", new, from]);
    }

    /// Makes the current tip of `head_branch` the head of pull request `n`.
    pub fn pull(&mut self, n: u64, head_branch: &str) {
        let sha = self.sha(head_branch);
        self.pulls.insert(n, sha);
    }

    /// The SHA at the tip of `branch`.
    pub fn sha(&self, branch: &str) -> String {
        git_str(&self.work, &["rev-parse", &format!("refs/heads/{branch}")])
    }

    /// Pushes every branch and pull ref into the bare repository (force: branches
    /// and pull heads may have moved since the last call) and returns its path.
    pub fn publish(&self) -> PathBuf {
        let bare = self.bare.to_str().expect("utf-8 path").to_string();
        if !self.bare.exists() {
            git(&self.work, &["init", "-q", "--bare", "-b", "main", &bare]);
        }
        let mut refspecs = vec!["refs/heads/*:refs/heads/*".to_string()];
        for (n, sha) in &self.pulls {
            refspecs.push(format!("{sha}:refs/pull/{n}/head"));
        }
        let mut args = vec!["push", "-q", "--force", &bare];
        args.extend(refspecs.iter().map(String::as_str));
        git(&self.work, &args);
        git(&self.bare, &["symbolic-ref", "HEAD", "refs/heads/main"]);
        self.bare.clone()
    }

    fn put(&self, path: &str, entry: Entry<'_>) {
        let full = self.work.join(path);
        // Replace rather than overwrite: writing through a symlink would change its
        // target, and an existing file would keep its old mode.
        if full.symlink_metadata().is_ok() {
            std::fs::remove_file(&full).unwrap_or_else(|e| panic!("cannot delete {path}: {e}"));
        } else if matches!(entry, Entry::Deleted) {
            panic!("cannot delete {path}: it does not exist");
        }
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create parent dir");
        }
        let mode = match entry {
            Entry::File(bytes) => {
                std::fs::write(&full, bytes).expect("write file");
                0o644
            }
            Entry::Executable(bytes) => {
                std::fs::write(&full, bytes).expect("write file");
                0o755
            }
            Entry::Symlink(target) => {
                std::os::unix::fs::symlink(target, &full).expect("create symlink");
                return;
            }
            Entry::Deleted => return,
        };
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode))
            .expect("set file mode");
    }

    fn checkout(&self, branch: &str) {
        let has_commits = command(&self.work)
            .args(["rev-parse", "-q", "--verify", "HEAD"])
            .output()
            .expect("run git")
            .status
            .success();
        if has_commits {
            git(&self.work, &["checkout", "-q", branch]);
        } else {
            git(
                &self.work,
                &["symbolic-ref", "HEAD", &format!("refs/heads/{branch}")],
            );
        }
    }
}

/// A bare repository whose PR #1 (`many` into `main`) adds `n` files
/// `files/fNNNNN.txt`; for pagination, caps and benchmarks.
pub fn many_files(dir: &Path, n: usize) -> PathBuf {
    let mut b = RepoBuilder::new(dir);
    b.commit_on("main", &[("README.md", Some(&b"many files\n"[..]))], "init");
    b.branch_from("many", "main");
    let contents: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            (
                format!("files/f{i:05}.txt"),
                format!("line {i}\n").into_bytes(),
            )
        })
        .collect();
    let changes: Vec<Change<'_>> = contents
        .iter()
        .map(|(p, c)| (p.as_str(), Some(c.as_slice())))
        .collect();
    b.commit_on("many", &changes, &format!("add {n} files"));
    b.pull(1, "many");
    b.publish()
}

/// Environment that isolates git from the machine's configuration.
pub fn git_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("GIT_CONFIG_NOSYSTEM", "1"),
        ("GIT_CONFIG_GLOBAL", "/dev/null"),
        ("GIT_AUTHOR_NAME", "Fixture Author"),
        ("GIT_AUTHOR_EMAIL", "author@example.com"),
        ("GIT_COMMITTER_NAME", "Fixture Committer"),
        ("GIT_COMMITTER_EMAIL", "committer@example.com"),
        ("GIT_TERMINAL_PROMPT", "0"),
    ]
}

/// A git command in `dir`, isolated by [`git_env`] and from any repository the
/// caller's environment points at (tests may run inside a git hook).
fn command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .envs(git_env())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    cmd
}

/// Runs git in `dir`, panics with its stderr on failure, returns stdout unchanged
/// (diffs are compared byte for byte).
pub fn git_bytes(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = command(dir).args(args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// [`git_bytes`] as text.
pub fn git(dir: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&git_bytes(dir, args)).into_owned()
}

/// [`git`] without surrounding whitespace: for one-line answers such as SHAs.
pub fn git_str(dir: &Path, args: &[&str]) -> String {
    git(dir, args).trim().to_string()
}
