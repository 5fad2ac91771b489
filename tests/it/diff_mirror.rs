//! Mirrors: fetching PR refs into a bare mirror (file:// and smart HTTP with a
//! token), incrementally, past leftovers of an interrupted fetch, without the token
//! ever reaching disk, errors or logs; and fifty identical cold requests sharing
//! one fetch.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use responder::diff::{GitErrorKind, GitPool, LocalDiff, Mirrors, SingleFlight, diff, pr_refspecs};
use responder::types::{PrNumber, RepoName, Secret, Sha};

use tempfile::TempDir;

use crate::diff_git::assert_agrees_with_git_cli;
use crate::support::fake_github::{FakeGitHub, LoggedRequest, RepoOpts};
use crate::support::git_fixture::{RepoBuilder, git_str};

fn repo() -> RepoName {
    "Acme/Widgets".parse().unwrap()
}

fn refspecs() -> Vec<String> {
    pr_refspecs(PrNumber(1), "main").unwrap()
}

/// A PR's origin: a base branch, a PR branched from it, and main moving on
/// afterwards. The builder stays open so tests can push the PR further.
struct Origin {
    dir: TempDir,
    builder: RepoBuilder,
    bare: PathBuf,
    head: String,
}

impl Origin {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = RepoBuilder::new(dir.path());
        let files: Vec<(String, String)> = (0..20)
            .map(|i| {
                let path = format!("src/file{i}.rs");
                (path, format!("fn f{i}() {{}}\n").repeat(10))
            })
            .collect();
        let base: Vec<(&str, Option<&[u8]>)> = files
            .iter()
            .map(|(p, c)| (p.as_str(), Some(c.as_bytes())))
            .collect();
        builder.commit_on("main", &base, "base");
        builder.branch_from("pr", "main");
        let moved = files[2].1.as_bytes();
        let head = builder.commit_on(
            "pr",
            &[
                ("src/file1.rs", Some(&b"changed\n"[..])),
                ("src/file2.rs", None),
                ("lib/file2.rs", Some(moved)),
            ],
            "pr",
        );
        builder.commit_on(
            "main",
            &[("src/file3.rs", Some(&b"main moved on\n"[..]))],
            "main moves",
        );
        builder.pull(1, "pr");
        let bare = builder.publish();
        Self {
            dir,
            builder,
            bare,
            head,
        }
    }

    /// Commits `path` on the PR branch, publishes it and returns the new head.
    fn push_to_pr(&mut self, path: &str, content: &str, msg: &str) -> String {
        let head = self
            .builder
            .commit_on("pr", &[(path, Some(content.as_bytes()))], msg);
        self.builder.pull(1, "pr");
        self.builder.publish();
        head
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    fn mirrors(&self) -> Mirrors {
        Mirrors::new(self.dir.path().join("mirrors"))
    }
}

/// The fake GitHub serving `origin` as `acme/widgets` over smart HTTP; the URL.
async fn serve(origin: &Origin, opts: RepoOpts) -> (FakeGitHub, String) {
    let gh = FakeGitHub::start().await;
    gh.add_repo("acme", "widgets", &origin.bare, opts);
    let url = format!("{}/acme/widgets.git", gh.server_url());
    (gh, url)
}

fn is_git_fetch(r: &LoggedRequest) -> bool {
    r.method == "POST" && r.path.ends_with("/git-upload-pack")
}

#[test]
fn fetch_from_a_file_url_builds_a_mirror_whose_diff_agrees_with_git_cli() {
    let origin = Origin::new();
    let root = origin.dir.path().join("mirrors");
    let mirrors = Mirrors::new(root.clone());
    let stats = mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    assert!(stats.received_objects > 0);
    let path = mirrors.path_for(&repo());
    assert_eq!(path, root.join("acme").join("widgets.git"));
    let pr_head = mirrors.resolve(&repo(), "refs/pull/1/head").unwrap();
    let base = mirrors.resolve(&repo(), "refs/heads/main").unwrap();
    assert_eq!(pr_head.as_str(), origin.head);
    assert_eq!(base.as_str(), git_str(&origin.bare, &["rev-parse", "main"]));
    assert_eq!(stats.default_branch.as_deref(), Some("refs/heads/main"));
    assert_agrees_with_git_cli(&path, base.as_str(), pr_head.as_str());
}

#[test]
fn a_second_fetch_transfers_only_what_is_new() {
    let mut origin = Origin::new();
    let mirrors = origin.mirrors();
    let first = mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    let again = mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    assert_eq!(again.received_objects, 0, "nothing new, nothing sent");
    let new_head = origin.push_to_pr("src/file5.rs", "one more change\n", "pr again");
    let third = mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    assert!(
        third.received_objects > 0 && third.received_objects <= 4,
        "{third:?} after {first:?}"
    );
    assert_eq!(
        mirrors
            .resolve(&repo(), "refs/pull/1/head")
            .unwrap()
            .as_str(),
        new_head
    );
}

#[test]
fn a_mirror_with_locks_left_by_a_killed_fetch_still_fetches() {
    let mut origin = Origin::new();
    let mirrors = origin.mirrors();
    mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    let path = mirrors.path_for(&repo());
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for leftover in [
        "refs/pull/1/head.lock",
        "packed-refs.lock",
        "refs/heads/main.lock",
        "objects/pack/pack_git2_tmp",
    ] {
        let mut file = std::fs::File::create(path.join(leftover)).unwrap();
        file.write_all(b"left by a killed fetch").unwrap();
        file.set_modified(an_hour_ago).unwrap();
    }
    let new_head = origin.push_to_pr("src/file6.rs", "after the crash\n", "pr after crash");
    mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    assert_eq!(
        mirrors
            .resolve(&repo(), "refs/pull/1/head")
            .unwrap()
            .as_str(),
        new_head
    );
    assert!(!path.join("refs/pull/1/head.lock").exists());
    assert!(!path.join("objects/pack/pack_git2_tmp").exists());
}

#[test]
fn a_half_created_mirror_is_rebuilt() {
    let origin = Origin::new();
    let mirrors = origin.mirrors();
    std::fs::create_dir_all(mirrors.path_for(&repo()).join("objects")).unwrap();
    mirrors
        .fetch(&repo(), &origin.url(), None, &refspecs())
        .unwrap();
    assert_eq!(
        mirrors
            .resolve(&repo(), "refs/pull/1/head")
            .unwrap()
            .as_str(),
        origin.head
    );
}

#[test]
fn a_missing_pull_ref_or_repository_is_not_found() {
    let origin = Origin::new();
    let mirrors = origin.mirrors();
    let err = mirrors
        .fetch(
            &repo(),
            &origin.url(),
            None,
            &pr_refspecs(PrNumber(99), "main").unwrap(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), GitErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("refs/pull/99/head"), "{err}");
    let missing = format!("file://{}/nope.git", origin.dir.path().display());
    let err = mirrors
        .fetch(&repo(), &missing, None, &refspecs())
        .unwrap_err();
    assert_eq!(err.kind(), GitErrorKind::NotFound, "{err}");
    let err = mirrors.resolve(&repo(), "refs/pull/42/head").unwrap_err();
    assert_eq!(err.kind(), GitErrorKind::NotFound, "{err}");
}

#[test]
fn base_branch_names_that_are_not_refs_are_refused() {
    assert!(pr_refspecs(PrNumber(1), "main:refs/heads/evil").is_none());
    assert!(pr_refspecs(PrNumber(1), "a..b").is_none());
    assert!(pr_refspecs(PrNumber(1), "release/1.0").is_some());
}

#[test]
fn credentials_in_the_remote_url_are_refused_without_echoing_them() {
    let mirrors = Mirrors::new(tempfile::tempdir().unwrap().path().join("m"));
    let err = mirrors
        .fetch(
            &repo(),
            "https://x-access-token:ghs_leak@example.com/acme/widgets.git",
            None,
            &refspecs(),
        )
        .unwrap_err();
    assert!(!err.to_string().contains("ghs_leak"), "{err}");
}

/// Collects everything logged at any level while `f` runs on this thread.
fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    // tracing-core caches each callsite's interest globally and, while a single
    // dispatcher is registered, computes it from the registering thread's default
    // only: a fetch on another test's thread would then mark the mirror's callsites
    // "never" for this one too. A second, idle dispatcher makes it ask every live one.
    let _idle = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[test]
fn the_token_goes_only_to_the_server_never_to_disk_errors_or_logs() {
    let origin = Origin::new();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let private = RepoOpts {
        installation: Some(7),
        public: false,
    };
    let (gh, url) = rt.block_on(serve(&origin, private));
    let token = gh.issue_token(7);
    let token = token.as_str();
    let mirrors = origin.mirrors();

    let (result, logs) =
        capture_logs(|| mirrors.fetch(&repo(), &url, Some(&Secret::new(token)), &refspecs()));
    result.unwrap();
    assert!(
        logs.contains("fetched into mirror"),
        "logging works: {logs}"
    );
    assert!(!logs.contains(token), "token in logs: {logs}");
    assert_eq!(
        mirrors
            .resolve(&repo(), "refs/pull/1/head")
            .unwrap()
            .as_str(),
        origin.head
    );
    let mirror = mirrors.path_for(&repo());
    for entry in walk(&mirror) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(token),
            "token written to {}",
            entry.display()
        );
    }

    let wrong = Secret::new("ghs_WrongToken456");
    let (result, logs) = capture_logs(|| mirrors.fetch(&repo(), &url, Some(&wrong), &refspecs()));
    let err = result.unwrap_err();
    assert_eq!(err.kind(), GitErrorKind::Auth, "{err}");
    assert!(
        !err.to_string().contains("ghs_WrongToken456")
            && !format!("{err:?}").contains("ghs_WrongToken456")
    );
    assert!(!logs.contains("ghs_WrongToken456"), "{logs}");
    let failed_logins = gh
        .requests()
        .iter()
        .filter(|r| r.status == 401 && r.with_credential)
        .count();
    assert_eq!(failed_logins, 1, "asked once, then gave up");

    let err = mirrors.fetch(&repo(), &url, None, &refspecs()).unwrap_err();
    assert_eq!(err.kind(), GitErrorKind::Auth, "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_identical_cold_requests_make_one_fetch_and_fifty_identical_answers() {
    let origin = Origin::new();
    let public = RepoOpts {
        installation: None,
        public: true,
    };
    let (gh, url) = serve(&origin, public).await;
    let mirrors = Arc::new(origin.mirrors());
    let pool = GitPool::new(4);
    type Answer = Result<Arc<LocalDiff>, responder::diff::GitError>;
    let flight: Arc<SingleFlight<(RepoName, PrNumber), Answer>> = Arc::new(SingleFlight::new());

    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (mirrors, pool, flight, url) =
            (mirrors.clone(), pool.clone(), flight.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let work = {
                let mirrors = mirrors.clone();
                async move {
                    pool.run(&repo(), move || {
                        mirrors.fetch(&repo(), &url, None, &refspecs())?;
                        let base = mirrors.resolve(&repo(), "refs/heads/main")?;
                        let head = mirrors.resolve(&repo(), "refs/pull/1/head")?;
                        diff(&mirrors.path_for(&repo()), &base, &head).map(Arc::new)
                    })
                    .await
                }
            };
            flight.run((repo(), PrNumber(1)), work).await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap().unwrap());
    }
    let fetches = gh.requests().iter().filter(|r| is_git_fetch(r)).count();
    assert_eq!(fetches, 1, "one fetch for fifty requests");
    let first = &answers[0];
    assert_eq!(first.head, Sha::new(&origin.head).unwrap());
    for a in &answers {
        assert_eq!(a.unified, first.unified);
        assert_eq!(a.files, first.files);
    }
}
