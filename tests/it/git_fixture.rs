//! Real git repositories built with the git CLI, for the git-fallback tests: a work
//! tree with fixed commit dates, and a bare "origin" holding `main` and
//! `refs/pull/N/head` as GitHub does.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// Runs git with the user's and system's configuration shut out, so output does
/// not depend on the machine.
pub fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = git_command(dir).args(args).output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Fixture")
        .env("GIT_AUTHOR_EMAIL", "fixture@example.com")
        .env("GIT_COMMITTER_NAME", "Fixture")
        .env("GIT_COMMITTER_EMAIL", "fixture@example.com")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd
}

pub fn git_str(dir: &Path, args: &[&str]) -> String {
    String::from_utf8(git(dir, args)).unwrap().trim().to_owned()
}

pub struct Fixture {
    pub dir: TempDir,
    pub work: PathBuf,
    pub origin: PathBuf,
    commits: u32,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        let origin = dir.path().join("origin.git");
        git(dir.path(), &["init", "-q", "-b", "main", "work"]);
        git(
            dir.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        Self {
            dir,
            work,
            origin,
            commits: 0,
        }
    }

    pub fn write(&self, path: &str, bytes: impl AsRef<[u8]>) {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn remove(&self, path: &str) {
        git(&self.work, &["rm", "-q", path]);
    }

    pub fn rename(&self, from: &str, to: &str) {
        std::fs::create_dir_all(self.work.join(to).parent().unwrap()).unwrap();
        git(&self.work, &["mv", from, to]);
    }

    pub fn git(&self, args: &[&str]) -> String {
        git_str(&self.work, args)
    }

    /// Commits everything with a fixed, increasing date; returns the commit id.
    pub fn commit(&mut self, message: &str) -> String {
        self.commits += 1;
        let date = format!("2024-01-01T00:{:02}:00Z", self.commits);
        git(&self.work, &["add", "-A"]);
        let out = git_command(&self.work)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.git(&["rev-parse", "HEAD"])
    }

    /// Pushes `main` and `branch` (as `refs/pull/{n}/head`) to the bare origin.
    pub fn publish(&self, branch: &str, n: u64) {
        let origin = self.origin.to_str().unwrap();
        git(&self.work, &["push", "-q", origin, "main:refs/heads/main"]);
        git(
            &self.work,
            &[
                "push",
                "-q",
                "-f",
                origin,
                &format!("{branch}:refs/pull/{n}/head"),
            ],
        );
    }

    pub fn origin_url(&self) -> String {
        format!("file://{}", self.origin.display())
    }
}
