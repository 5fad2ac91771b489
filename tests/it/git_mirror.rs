//! The git mirror for sandboxes through the real git CLI, the real router and the
//! fake GitHub: clones and PR fetches with an agent token, 401/403 as git sees them,
//! pushes refused, and the installation token nowhere in a clone or a log.

use std::path::{Path, PathBuf};
use std::process::Output;

use responder::settings::SettingsArgs;

use crate::support::fake_github::{FakeGitHub, RepoOpts};
use crate::support::git_fixture::{RepoBuilder, git_env, git_str};
use crate::support::service::{TestService, agent_token, app_args};

pub(crate) const INSTALLATION: u64 = 5;

/// `acme/evals` on the fake GitHub (PR #7 from `feature`, main moving on after it),
/// `acme/other` beside it, and a service in front.
pub(crate) struct World {
    pub(crate) fake: FakeGitHub,
    pub(crate) svc: TestService,
    /// Reads git's `$RESPONDER_TOKEN`: git:read on acme/evals.
    pub(crate) token: String,
    pub(crate) builder: RepoBuilder,
    pub(crate) bare: PathBuf,
    pub(crate) tmp: tempfile::TempDir,
}

pub(crate) async fn world(configure: impl FnOnce(&mut SettingsArgs)) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(&tmp.path().join("origin"));
    b.commit_on(
        "main",
        &[
            ("README.md", Some(&b"evals\n"[..])),
            ("src/lib.rs", Some(&b"pub fn score() -> u32 { 1 }\n"[..])),
        ],
        "init",
    );
    b.branch_from("feature", "main");
    b.commit_on(
        "feature",
        &[("src/lib.rs", Some(&b"pub fn score() -> u32 { 2 }\n"[..]))],
        "better score",
    );
    b.commit_on(
        "main",
        &[("CHANGELOG.md", Some(&b"main moved on\n"[..]))],
        "main moves on",
    );
    b.pull(7, "feature");
    let bare = b.publish();
    let mut other = RepoBuilder::new(&tmp.path().join("other"));
    other.commit_on("main", &[("x", Some(&b"x\n"[..]))], "other");
    let other_bare = other.publish();

    let fake = FakeGitHub::start().await;
    let private = RepoOpts {
        installation: Some(INSTALLATION),
        public: false,
    };
    fake.add_repo("acme", "evals", &bare, private.clone());
    fake.add_repo("acme", "other", &other_bare, private);
    fake.add_pull("acme", "evals", 7);
    let mut args = app_args(&tmp.path().join("data"), &fake);
    configure(&mut args);
    let svc = TestService::start_with(args, |_| {}).await;
    World {
        fake,
        svc,
        token: agent_token(&["acme/evals"], &["git:read"], 3600),
        builder: b,
        bare,
        tmp,
    }
}

impl World {
    pub(crate) fn url(&self, repo: &str) -> String {
        format!("{}/v1/git/{repo}.git", self.svc.url)
    }

    /// The mirror Responder keeps (and the diff service shares).
    pub(crate) fn mirror(&self) -> PathBuf {
        self.svc.data_dir.join("git/acme/evals.git")
    }

    /// The PR's head as GitHub has it.
    pub(crate) fn pr_head(&self) -> String {
        git_str(&self.bare, &["rev-parse", "refs/pull/7/head"])
    }

    /// Commits on the PR's branch on GitHub; the new head.
    pub(crate) fn push_to_pr(&mut self, path: &str, content: &str) -> String {
        let head = self
            .builder
            .commit_on("feature", &[(path, Some(content.as_bytes()))], "more");
        self.builder.pull(7, "feature");
        self.builder.publish();
        head
    }

    /// Fetches GitHub served for `owner/repo` with the App's credential: each
    /// libgit2 fetch asks for `info/refs` once with it (after one anonymous try).
    pub(crate) fn github_fetches(&self, repo: &str) -> usize {
        let path = format!("/{repo}.git/info/refs");
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == path && r.with_credential)
            .count()
    }
}

/// The git CLI as a sandbox runs it: isolated from the machine's configuration, no
/// terminal prompt, and (with `token`) the README's credential helper reading
/// `$RESPONDER_TOKEN`.
pub(crate) async fn git(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new("git");
    cmd.current_dir(dir)
        .envs(git_env())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    if let Some(t) = token {
        cmd.env("RESPONDER_TOKEN", t).args([
            "-c",
            "credential.helper=!f(){ echo username=x; echo password=$RESPONDER_TOKEN; }; f",
        ]);
    }
    cmd.args(args).output().await.expect("run git")
}

/// [`git`] that must succeed; its stdout, trimmed.
pub(crate) async fn git_ok(dir: &Path, token: Option<&str>, args: &[&str]) -> String {
    let out = git(dir, token, args).await;
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every file under `dir`.
pub(crate) fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.file_type().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_clones_then_fetches_a_pr_and_finds_its_merge_base() {
    let w = world(|_| {}).await;
    let sandbox = w.tmp.path().join("sandbox");
    std::fs::create_dir_all(&sandbox).unwrap();
    git_ok(
        &sandbox,
        Some(&w.token),
        &["clone", "-q", &w.url("acme/evals")],
    )
    .await;
    let clone = sandbox.join("evals");
    let main = git_str(&w.bare, &["rev-parse", "main"]);
    assert_eq!(git_ok(&clone, None, &["rev-parse", "HEAD"]).await, main);
    assert_eq!(
        git_ok(&clone, None, &["symbolic-ref", "--short", "HEAD"]).await,
        "main",
        "the clone checks out GitHub's default branch"
    );
    assert_eq!(
        git_ok(&clone, None, &["rev-parse", "--is-shallow-repository"]).await,
        "false"
    );

    git_ok(
        &clone,
        Some(&w.token),
        &["fetch", "-q", "origin", "pull/7/head"],
    )
    .await;
    let fetched = git_ok(&clone, None, &["rev-parse", "FETCH_HEAD"]).await;
    assert_eq!(fetched, w.pr_head(), "the PR's head as GitHub has it");
    let mb = git_ok(&clone, None, &["merge-base", "origin/main", "FETCH_HEAD"]).await;
    assert_eq!(
        mb,
        git_str(&w.bare, &["merge-base", "main", "refs/pull/7/head"])
    );
    assert_ne!(mb, main, "main moved on after the PR branched");
    let files = git_ok(
        &clone,
        None,
        &["diff", "--name-only", &format!("{mb}...FETCH_HEAD")],
    )
    .await;
    assert_eq!(files, "src/lib.rs");
    assert_eq!(
        w.github_fetches("acme/evals"),
        1,
        "clone and fetch within the TTL"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_v0_partial_and_shallow_clones_work() {
    let w = world(|_| {}).await;
    let dir = w.tmp.path();
    let url = w.url("acme/evals");
    let main = git_str(&w.bare, &["rev-parse", "main"]);

    git_ok(
        dir,
        Some(&w.token),
        &["-c", "protocol.version=0", "clone", "-q", &url, "v0"],
    )
    .await;
    assert_eq!(
        git_ok(&dir.join("v0"), None, &["rev-parse", "HEAD"]).await,
        main
    );
    git_ok(
        &dir.join("v0"),
        Some(&w.token),
        &[
            "-c",
            "protocol.version=0",
            "fetch",
            "-q",
            "origin",
            "pull/7/head",
        ],
    )
    .await;
    assert_eq!(
        git_ok(&dir.join("v0"), None, &["rev-parse", "FETCH_HEAD"]).await,
        w.pr_head()
    );

    git_ok(
        dir,
        Some(&w.token),
        &["clone", "-q", "--filter=blob:none", &url, "partial"],
    )
    .await;
    let partial = dir.join("partial");
    assert_eq!(
        git_ok(&partial, None, &["config", "remote.origin.promisor"]).await,
        "true",
        "the server honoured the filter"
    );
    assert_eq!(
        git_ok(&partial, None, &["show", "HEAD:README.md"]).await,
        "evals"
    );

    git_ok(
        dir,
        Some(&w.token),
        &["clone", "-q", "--depth", "1", &url, "shallow"],
    )
    .await;
    let shallow = dir.join("shallow");
    assert_eq!(
        git_ok(&shallow, None, &["rev-list", "--count", "HEAD"]).await,
        "1"
    );
    git_ok(&shallow, Some(&w.token), &["fetch", "-q", "--unshallow"]).await;
    assert_eq!(
        git_ok(&shallow, None, &["rev-list", "--count", "HEAD"]).await,
        "2"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_git_is_asked_for_credentials_and_cannot_prompt() {
    let w = world(|_| {}).await;
    let out = git(w.tmp.path(), None, &["clone", &w.url("acme/evals"), "anon"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("terminal prompts disabled"),
        "git was asked for credentials: {}",
        stderr(&out)
    );
    let resp = reqwest::get(format!(
        "{}/info/refs?service=git-upload-pack",
        w.url("acme/evals")
    ))
    .await
    .unwrap();
    assert_eq!(resp.status(), 401);
    let challenge = resp.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let bad = git(
        w.tmp.path(),
        Some("not-a-token"),
        &["clone", &w.url("acme/evals"), "bad"],
    )
    .await;
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("malformed, badly signed or expired"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(
        w.github_fetches("acme/evals"),
        0,
        "nothing fetched for strangers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_repository_is_forbidden_alike_whether_it_exists_or_not() {
    let w = world(|_| {}).await;
    let client = reqwest::Client::new();
    let mut answers = Vec::new();
    for repo in ["acme/other", "acme/nowhere"] {
        let resp = client
            .get(format!("{}/info/refs?service=git-upload-pack", w.url(repo)))
            .basic_auth("x", Some(&w.token))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        answers.push((status, resp.text().await.unwrap().replace(repo, "REPO")));
        let out = git(
            w.tmp.path(),
            Some(&w.token),
            &["clone", &w.url(repo), "denied"],
        )
        .await;
        assert!(stderr(&out).contains("403"), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("does not grant scope git:read"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(answers[0].0, 403);
    assert_eq!(answers[0], answers[1], "existence is not revealed");
    let diff_only = agent_token(&["acme/evals"], &["diff:read"], 3600);
    let out = git(
        w.tmp.path(),
        Some(&diff_only),
        &["clone", &w.url("acme/evals")],
    )
    .await;
    assert!(
        stderr(&out).contains("403"),
        "scope is required: {}",
        stderr(&out)
    );
    assert_eq!(w.github_fetches("acme/other"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_refused_and_the_mirror_is_left_as_it_was() {
    let w = world(|_| {}).await;
    let dir = w.tmp.path();
    git_ok(
        dir,
        Some(&w.token),
        &["clone", "-q", &w.url("acme/evals"), "c"],
    )
    .await;
    let refs_before = git_str(&w.mirror(), &["for-each-ref"]);
    let objects_before = git_str(&w.mirror(), &["count-objects", "-v"]);
    let clone = dir.join("c");
    std::fs::write(clone.join("evil.txt"), "evil\n").unwrap();
    git_ok(&clone, None, &["add", "evil.txt"]).await;
    git_ok(&clone, None, &["commit", "-q", "-m", "evil"]).await;
    let out = git(
        &clone,
        Some(&w.token),
        &["push", "origin", "HEAD:refs/heads/evil"],
    )
    .await;
    assert!(!out.status.success(), "push accepted");
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    let resp = reqwest::Client::new()
        .post(format!("{}/git-receive-pack", w.url("acme/evals")))
        .basic_auth("x", Some(&w.token))
        .body("0000")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(git_str(&w.mirror(), &["for-each-ref"]), refs_before);
    assert_eq!(
        git_str(&w.mirror(), &["count-objects", "-v"]),
        objects_before
    );
    assert!(git_str(&w.bare, &["for-each-ref", "refs/heads/evil"]).is_empty());
}
