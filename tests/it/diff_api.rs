//! PR diffs for agents through the real router, client, mirror and the fake GitHub.

use std::time::Duration;

use responder::settings::SettingsArgs;
use serde_json::Value;

use crate::support::fake_github::{FakeGitHub, Fault, RepoOpts};
use crate::support::git_fixture::{RepoBuilder, git};
use crate::support::service::{TestService, agent_token, app_args};

const INSTALLATION: u64 = 5;

pub(crate) struct Setup {
    pub(crate) fake: FakeGitHub,
    pub(crate) svc: TestService,
    pub(crate) token: String,
    pub(crate) _tmp: tempfile::TempDir,
}

/// `acme/widgets`: main moves on after the PR branched; the PR renames, deletes, adds
/// a binary file, a non-ASCII path and a file without a final newline.
pub(crate) async fn setup() -> Setup {
    setup_with(|_| {}).await
}

/// [`setup`] with settings changed by `configure`.
pub(crate) async fn setup_with(configure: impl FnOnce(&mut SettingsArgs)) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(&tmp.path().join("src"));
    let long: String = (0..40)
        .map(|i| format!("line {i} of a file that will move\n"))
        .collect();
    b.commit_on(
        "main",
        &[
            ("README.md", Some(b"hello\n".as_slice())),
            ("src/old_name.rs", Some(long.as_bytes())),
            ("doomed.txt", Some(b"bye\n".as_slice())),
            ("src/lib.rs", Some(b"fn a() {}\n".as_slice())),
        ],
        "init",
    );
    b.branch_from("feature", "main");
    let mut moved = long.clone();
    moved.push_str("one more line\n");
    b.commit_on(
        "feature",
        &[
            ("src/old_name.rs", None),
            ("src/new_name.rs", Some(moved.as_bytes())),
            ("doomed.txt", None),
            (
                "assets/logo.png",
                Some(&[0x89, b'P', b'N', b'G', 0, 1, 2, 3, 0, 255][..]),
            ),
            ("docs/über.md", Some("grüße\n".as_bytes())),
            ("src/lib.rs", Some(b"fn a() {}\nfn b() {}".as_slice())),
        ],
        "feature work",
    );
    b.commit_on(
        "main",
        &[("base_only.txt", Some(b"only on main\n".as_slice()))],
        "main moves on",
    );
    b.pull(1, "feature");
    // #2 has the same commits as #1 (a reopened or duplicated PR).
    b.pull(2, "feature");
    let bare = b.publish();
    let fake = FakeGitHub::start().await;
    fake.add_repo(
        "acme",
        "widgets",
        &bare,
        RepoOpts {
            installation: Some(INSTALLATION),
            public: false,
        },
    );
    fake.add_pull("acme", "widgets", 1);
    fake.add_pull("acme", "widgets", 2);
    let mut args = app_args(&tmp.path().join("data"), &fake);
    configure(&mut args);
    let svc = TestService::start_with(args, |_| {}).await;
    let token = agent_token(&["acme/widgets"], &["diff:read"], 3600);
    Setup {
        fake,
        svc,
        token,
        _tmp: tmp,
    }
}

impl Setup {
    pub(crate) async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.get_with(path_and_query, &self.token, None).await
    }

    async fn get_with(
        &self,
        path_and_query: &str,
        token: &str,
        etag: Option<&str>,
    ) -> reqwest::Response {
        let mut req = reqwest::Client::new()
            .get(format!("{}{path_and_query}", self.svc.url))
            .bearer_auth(token);
        if let Some(e) = etag {
            req = req.header("if-none-match", e);
        }
        req.send().await.unwrap()
    }

    pub(crate) async fn files(&self, query: &str) -> Value {
        let resp = self
            .get(&format!("/v1/repos/acme/widgets/pulls/1/files{query}"))
            .await;
        assert_eq!(resp.status(), 200, "{:?}", resp.text().await);
        resp.json().await.unwrap()
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("git-upload-pack"))
            .count()
    }
}

fn names(v: &Value) -> Vec<String> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap().to_string())
        .collect()
}

/// The comparable part of a file entry (both sources must agree on it).
fn entries(v: &Value) -> Vec<Value> {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            serde_json::json!([
                f["filename"],
                f["status"],
                f["additions"],
                f["deletions"],
                f["changes"],
                f["patch"],
                f["previous_filename"]
            ])
        })
        .collect()
}

#[tokio::test]
async fn complete_api_answer_is_used_and_git_agrees_with_it() {
    let s = setup().await;
    let api = s.files("").await;
    assert_eq!(api["source"], "api");
    assert_eq!(api["complete"], true);
    assert_eq!(api["fallback_reason"], Value::Null);
    assert_eq!(s.fetches(), 0);
    let git = s.files("?via=git").await;
    assert_eq!(git["source"], "git");
    assert_eq!(entries(&api), entries(&git), "API and git disagree");
    assert_eq!(api["merge_base_sha"], git["merge_base_sha"]);
    assert_eq!(api["head_sha"], git["head_sha"]);
    // Three-dot: the file only main changed after branching is absent.
    assert!(
        !names(&git).contains(&"base_only.txt".to_string()),
        "{:?}",
        names(&git)
    );
    let by_name = |n: &str| {
        git["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["filename"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("src/new_name.rs")["status"], "renamed");
    assert_eq!(
        by_name("src/new_name.rs")["previous_filename"],
        "src/old_name.rs"
    );
    assert_eq!(by_name("doomed.txt")["status"], "removed");
    assert_eq!(by_name("assets/logo.png")["binary"], true);
    assert_eq!(by_name("assets/logo.png")["patch"], Value::Null);
    assert!(
        by_name("src/lib.rs")["patch"]
            .as_str()
            .unwrap()
            .ends_with("\\ No newline at end of file")
    );
    assert_eq!(by_name("docs/über.md")["status"], "added");

    // The unified diff from git is byte-identical to the git CLI's.
    let unified = s.get("/v1/repos/acme/widgets/pulls/1/diff?via=git").await;
    assert_eq!(
        unified.headers()["content-type"],
        "text/x-diff; charset=utf-8"
    );
    assert_eq!(unified.headers()["x-responder-source"], "git");
    let body = unified.bytes().await.unwrap();
    let bare = s._tmp.path().join("src/repo.git");
    let (mb, head) = (
        git["merge_base_sha"].as_str().unwrap(),
        git["head_sha"].as_str().unwrap(),
    );
    let cli = std::process::Command::new("git")
        .current_dir(&bare)
        .args(["diff", "--no-color", "-M", mb, head])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&cli)
    );
}

#[tokio::test]
async fn each_github_failure_or_lie_falls_back_to_git_with_its_reason() {
    let files = "/repos/acme/widgets/pulls/1/files";
    type Inject = Box<dyn Fn(&FakeGitHub)>;
    let cases: Vec<(&str, Inject, &str)> = vec![
        (
            "404",
            Box::new(move |f| f.fault("GET", files, Fault::Status(404), 1)),
            "files endpoint returned 404",
        ),
        (
            "406",
            Box::new(move |f| f.fault("GET", files, Fault::TooLarge, 1)),
            "406 too_large",
        ),
        (
            "not_available",
            Box::new(move |f| f.fault("GET", files, Fault::NotAvailable(422), 1)),
            "not_available",
        ),
        (
            "truncated",
            Box::new(|f| f.cap_files(3)),
            "truncated at 3 of 5 files",
        ),
        (
            "missing patch",
            Box::new(|f| f.drop_patch("acme", "widgets", 1, "src/new_name.rs")),
            "omitted the patch of src/new_name.rs",
        ),
        (
            "metadata 404",
            Box::new(|f| f.fault("GET", "/repos/acme/widgets/pulls/1", Fault::Status(404), 1)),
            "pull request metadata: files endpoint returned 404",
        ),
    ];
    let reference = {
        let s = setup().await;
        entries(&s.files("?via=git").await)
    };
    for (name, inject, reason) in cases {
        let s = setup().await;
        inject(&s.fake);
        let v = s.files("").await;
        assert_eq!(v["source"], "git", "{name}: {v}");
        assert_eq!(v["complete"], true, "{name}");
        let got = v["fallback_reason"].as_str().unwrap_or_default();
        assert!(
            got.contains(reason),
            "{name}: reason {got:?} lacks {reason:?}"
        );
        assert_eq!(entries(&v), reference, "{name}: the git answer differs");
    }
}

#[tokio::test]
async fn via_api_says_when_githubs_answer_is_incomplete() {
    let s = setup().await;
    s.fake.cap_files(2);
    let v = s.files("?via=api").await;
    assert_eq!(v["source"], "api");
    assert_eq!(v["complete"], false);
    assert!(
        v["incomplete_reason"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{v}"
    );
}

#[tokio::test]
async fn names_and_tokens_are_checked_before_anything_else() {
    let s = setup().await;
    let other = agent_token(&["acme/gadgets"], &["diff:read"], 3600);
    let expired = agent_token(&["acme/widgets"], &["diff:read"], -10);
    let wrong_scope = agent_token(&["acme/widgets"], &["incidents:write"], 3600);
    let path = "/v1/repos/acme/widgets/pulls/1/files";
    assert_eq!(s.get_with(path, &other, None).await.status(), 403);
    assert_eq!(s.get_with(path, &wrong_scope, None).await.status(), 403);
    assert_eq!(s.get_with(path, &expired, None).await.status(), 401);
    assert_eq!(s.get_with(path, "garbage", None).await.status(), 401);
    let none = reqwest::get(format!("{}{path}", s.svc.url)).await.unwrap();
    assert_eq!(none.status(), 401);
    // A repository that does not exist answers the same 403 to a token without it.
    assert_eq!(
        s.get_with("/v1/repos/acme/nope/pulls/1/files", &other, None)
            .await
            .status(),
        403
    );
    // Case does not matter.
    let upper = s.get("/v1/repos/Acme/Widgets/pulls/1/files").await;
    assert_eq!(upper.status(), 200);
    let v: Value = upper.json().await.unwrap();
    assert_eq!(v["repository"], "acme/widgets");
    for bad in [
        "/v1/repos/acme/../pulls/1/files",
        "/v1/repos/acme/%2e%2e/pulls/1/files",
        "/v1/repos/acme/a%2Fb/pulls/1/files",
        &format!("/v1/repos/acme/{}/pulls/1/files", "x".repeat(101)),
        &format!("/v1/repos/{}/x/pulls/1/files", "o".repeat(40)),
    ] {
        let everything = agent_token(&["acme/*"], &["diff:read"], 3600);
        let status = s.get_with(bad, &everything, None).await.status();
        assert!(status == 400 || status == 404, "{bad}: {status}");
    }
    let git_dir = s.svc.data_dir.join("git");
    let made: Vec<_> = walk(&git_dir);
    assert!(
        made.iter().all(|p| !p.contains("..") && !p.contains("%")),
        "{made:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path().display().to_string());
            out.extend(walk(&e.path()));
        }
    }
    out
}

#[tokio::test]
async fn fifty_identical_cold_requests_share_one_fetch() {
    let s = setup().await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/repos/acme/widgets/pulls/1/files?via=git", s.svc.url);
    let calls = (0..50).map(|_| {
        let (client, url, token) = (client.clone(), url.clone(), s.token.clone());
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    });
    let mut bodies = Vec::new();
    for c in calls {
        bodies.push(c.await.unwrap());
    }
    assert!(bodies.iter().all(|b| b == &bodies[0]), "answers differ");
    assert!(bodies[0].contains("\"source\":\"git\""), "{}", bodies[0]);
    assert_eq!(s.fetches(), 1);
}

#[tokio::test]
async fn cached_answers_carry_etags_and_honour_if_none_match() {
    let s = setup().await;
    let first = s.get("/v1/repos/acme/widgets/pulls/1/diff?via=git").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_string();
    let again = s
        .get_with(
            "/v1/repos/acme/widgets/pulls/1/diff?via=git",
            &s.token,
            Some(&etag),
        )
        .await;
    assert_eq!(again.status(), 304);
    assert_eq!(s.fetches(), 1);
    // Within the head TTL a cached answer costs GitHub nothing.
    s.fake.clear_requests();
    assert_eq!(
        s.get("/v1/repos/acme/widgets/pulls/1/files?via=git")
            .await
            .status(),
        200
    );
    assert_eq!(s.fake.requests().len(), 0, "{:?}", s.fake.requests());
    // A byte budget cuts at a file boundary and says so.
    let cut = s
        .get("/v1/repos/acme/widgets/pulls/1/diff?via=git&max_bytes=300")
        .await;
    assert_eq!(cut.headers()["x-responder-truncated"], "true");
    let text = cut.text().await.unwrap();
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("# responder: truncated at 300 bytes; omitted"),
        "{text}"
    );
    // Path filters apply to both routes.
    let v = s.files("?via=git&path=src/**").await;
    assert_eq!(names(&v), ["src/lib.rs", "src/new_name.rs"]);
    let d = s
        .get("/v1/repos/acme/widgets/pulls/1/diff?via=git&path=docs/*")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(d.matches("diff --git").count(), 1, "{d}");
}

/// GETs `path` with `Accept-Encoding: accept` (and `If-None-Match: etag`); reqwest
/// here does not decompress, so the body is what went over the wire.
async fn get_encoded(s: &Setup, path: &str, accept: &str, etag: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .get(format!("{}{path}", s.svc.url))
        .bearer_auth(&s.token)
        .header("accept-encoding", accept);
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    req.send().await.unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

#[tokio::test]
async fn whole_answers_go_gzipped_to_callers_that_accept_it() {
    let s = setup().await;
    for route in ["diff", "files"] {
        let path = format!("/v1/repos/acme/widgets/pulls/1/{route}?via=git");
        let plain = get_encoded(&s, &path, "identity", None).await;
        assert_eq!(plain.headers().get("content-encoding"), None);
        assert_eq!(plain.headers()["vary"], "accept-encoding");
        let plain_tag = plain.headers()["etag"].to_str().unwrap().to_string();
        let plain = plain.bytes().await.unwrap();

        let zipped = get_encoded(&s, &path, "br;q=1.0, gzip;q=0.8", None).await;
        assert_eq!(zipped.status(), 200);
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        assert_eq!(zipped.headers()["x-responder-source"], "git");
        let tag = zipped.headers()["etag"].to_str().unwrap().to_string();
        assert_ne!(tag, plain_tag, "another representation, another ETag");
        assert_eq!(gunzip(&zipped.bytes().await.unwrap()), plain, "{route}");

        let again = get_encoded(&s, &path, "gzip", Some(&tag)).await;
        assert_eq!(again.status(), 304);
        assert_eq!(again.headers().get("content-encoding"), None);
        // The identity tag does not match the gzip representation.
        let other = get_encoded(&s, &path, "gzip", Some(&plain_tag)).await;
        assert_eq!(other.status(), 200);

        let refused = get_encoded(&s, &path, "gzip;q=0", None).await;
        assert_eq!(refused.headers().get("content-encoding"), None);
        assert_eq!(refused.bytes().await.unwrap(), plain);
    }
    // A filtered or cut answer is made per request: it goes out as it is.
    let filtered = get_encoded(
        &s,
        "/v1/repos/acme/widgets/pulls/1/diff?via=git&path=docs/*",
        "gzip",
        None,
    )
    .await;
    assert_eq!(filtered.headers().get("content-encoding"), None);
    assert!(filtered.text().await.unwrap().starts_with("diff --git"));
}

#[tokio::test]
async fn missing_pr_and_missing_installation_are_named() {
    let s = setup().await;
    let resp = s.get("/v1/repos/acme/widgets/pulls/99/files").await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "pr_not_found");
    assert!(
        v["message"].as_str().unwrap().contains("refs/pull/99/head"),
        "{v}"
    );

    let bare = s._tmp.path().join("src/repo.git");
    s.fake.add_repo(
        "acme",
        "elsewhere",
        &bare,
        RepoOpts {
            installation: None,
            public: false,
        },
    );
    let token = agent_token(&["acme/*"], &["diff:read"], 3600);
    let resp = s
        .get_with("/v1/repos/acme/elsewhere/pulls/1/files", &token, None)
        .await;
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "not_installed");
}

#[tokio::test]
async fn a_broken_git_server_is_a_502_and_the_mirror_stays_usable() {
    let s = setup().await;
    s.fake.fault(
        "POST",
        "/acme/widgets.git/git-upload-pack",
        Fault::Status(500),
        1,
    );
    let resp = s.get("/v1/repos/acme/widgets/pulls/1/files?via=git").await;
    assert_eq!(resp.status(), 502);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"], "git_fetch_failed", "{v}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(s.files("?via=git").await["source"], "git");
    let _ = git;
}

#[tokio::test]
async fn the_diff_command_works_anonymously_on_a_public_repository() {
    let s = setup().await;
    let bare = s._tmp.path().join("src/repo.git");
    s.fake.add_repo(
        "octo",
        "public",
        &bare,
        RepoOpts {
            installation: None,
            public: true,
        },
    );
    s.fake.add_pull("octo", "public", 1);
    let data = s._tmp.path().join("cli-data");
    let (api, server) = (s.fake.api_url(), s.fake.server_url());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_responder"))
            .args(["diff", "Octo/Public#1", "--format", "json", "--via", "git"])
            .env_clear()
            .env("GITHUB_API_URL", api)
            .env("GITHUB_SERVER_URL", server)
            .env("RESPONDER_DATA_DIR", data)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["repository"], "octo/public");
    assert_eq!(v["source"], "git");
    assert_eq!(v["files"].as_array().unwrap().len(), 5);
}
