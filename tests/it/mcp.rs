//! The MCP server end to end: the official MCP Python SDK (not Responder's code)
//! against the real service and `responder mcp`, over Streamable HTTP and stdio,
//! both protocol revisions, the fake GitHub behind them.

use std::time::Duration;

use serde_json::{Value, json};

use crate::mcp_client::{call, op, python, run, text, tool_names};
use crate::support::fake_github::{FakeGitHub, RepoOpts};
use crate::support::git_fixture::{RepoBuilder, git_bytes};
use crate::support::service::{AGENT_SECRET, TestService, agent_token, app_args};

const ALL_TOOLS: [&str; 4] = [
    "pull_request_files",
    "pull_request_diff",
    "declare_incident",
    "get_incident",
];

struct World {
    fake: FakeGitHub,
    svc: TestService,
    builder: RepoBuilder,
    bare: std::path::PathBuf,
    tmp: tempfile::TempDir,
}

/// `acme/widgets` with PR #1 (a small edit, a new doc, and `src/big.rs` whose diff
/// has six hunks), and `acme/secret`, which exists but no test token grants.
async fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(&tmp.path().join("src"));
    let big: String = (0..120).map(|i| format!("line {i} of big\n")).collect();
    b.commit_on(
        "main",
        &[
            ("README.md", Some(b"hello\n".as_slice())),
            ("src/lib.rs", Some(b"fn a() {}\n".as_slice())),
            ("src/big.rs", Some(big.as_bytes())),
        ],
        "init",
    );
    b.branch_from("feature", "main");
    let edited: String = (0..120)
        .map(|i| match i % 20 {
            0 => format!("line {i} of big, edited on the branch\n"),
            _ => format!("line {i} of big\n"),
        })
        .collect();
    b.commit_on(
        "feature",
        &[
            ("src/lib.rs", Some(b"fn a() {}\nfn b() {}\n".as_slice())),
            ("docs/guide.md", Some("grüße\n".as_bytes())),
            ("src/big.rs", Some(edited.as_bytes())),
        ],
        "feature work",
    );
    b.pull(1, "feature");
    let bare = b.publish();
    let fake = FakeGitHub::start().await;
    let installed = RepoOpts {
        installation: Some(5),
        public: false,
    };
    fake.add_repo("acme", "widgets", &bare, installed.clone());
    fake.add_pull("acme", "widgets", 1);
    fake.add_repo("acme", "secret", &bare, installed);
    fake.add_pull("acme", "secret", 1);
    let svc = TestService::start_with(app_args(&tmp.path().join("data"), &fake), |_| {}).await;
    World {
        fake,
        svc,
        builder: b,
        bare,
        tmp,
    }
}

impl World {
    fn http(&self, token: &str, mode: &str, ops: Value) -> Value {
        json!({"transport": "http", "url": format!("{}/mcp", self.svc.url), "token": token,
               "mode": mode, "ops": ops})
    }

    /// `responder mcp` as an agent runtime would start it, pointed at the fake.
    fn stdio(&self, token: Option<&str>, mode: &str, ops: Value) -> Value {
        let mut env = json!({
            "PATH": std::env::var("PATH").unwrap_or_default(),
            "RESPONDER_DATA_DIR": self.tmp.path().join("stdio-data"),
            "GITHUB_API_URL": self.fake.api_url(),
            "GITHUB_SERVER_URL": self.fake.server_url(),
            "GITHUB_APP_ID": self.fake.app_id().to_string(),
            "GITHUB_APP_PRIVATE_KEY": self.fake.private_key_pem(),
            "RESPONDER_AGENT_SECRET": AGENT_SECRET,
        });
        if let Some(t) = token {
            env["RESPONDER_AGENT_TOKEN"] = json!(t);
        }
        json!({"transport": "stdio", "command": env!("CARGO_BIN_EXE_responder"),
               "args": ["mcp"], "env": env, "mode": mode, "ops": ops})
    }

    fn git_diff(&self, merge_base: &str, head: &str) -> Vec<u8> {
        git_bytes(&self.bare, &["diff", "--no-color", "-M", merge_base, head])
    }
}

/// Every page's text, concatenated.
fn joined(pages: &[Value]) -> String {
    pages.iter().map(text).collect()
}

/// One call of every tool, and a paged diff, for a caller allowed all of them.
fn every_tool(dedup_key: &str) -> Value {
    json!([
        {"call": "pull_request_files", "args": {"repo": "acme/widgets", "number": 1, "fields": "names"}},
        {"page": "pull_request_files", "args": {"repo": "acme/widgets", "number": 1, "fields": "patches", "limit": 1}},
        {"page": "pull_request_diff", "args": {"repo": "acme/widgets", "number": 1, "max_bytes": 1000}},
        {"call": "declare_incident", "args": {"repo": "acme/widgets", "title": "Evals stall", "severity": "sev2", "dedup_key": dedup_key}},
        {"call": "declare_incident", "args": {"repo": "acme/widgets", "title": "Evals stall", "severity": "SEV2", "dedup_key": dedup_key}},
    ])
}

/// What every run of [`every_tool`] must show.
fn assert_every_tool(w: &World, out: &Value) {
    let names = call(out, 0);
    assert!(!names["is_error"].as_bool().unwrap(), "{names}");
    let files = &names["structured"]["files"];
    assert_eq!(names["structured"]["total_files"], 3);
    assert_eq!(
        files[0],
        json!({"filename": "docs/guide.md", "status": "added"})
    );
    let patches = op(out, 1);
    assert_eq!(patches.len(), 3, "limit 1 pages one file at a time");
    assert!(patches[2]["structured"]["files"][0]["patch"].is_string());
    assert_eq!(patches[2]["structured"]["next_cursor"], Value::Null);

    let pages = op(out, 2);
    let s = &pages[0]["structured"];
    let want = w.git_diff(
        s["merge_base_sha"].as_str().unwrap(),
        s["head_sha"].as_str().unwrap(),
    );
    assert_eq!(
        joined(pages).as_bytes(),
        want,
        "pages joined differ from git diff"
    );
    assert!(pages.len() >= 3, "a 1000-byte budget pages this diff");
    for p in pages {
        assert!(text(p).len() <= 1000, "a page over max_bytes");
    }
    // src/big.rs alone is bigger than 1000 bytes: split at a hunk, and said so.
    let split: Vec<&Value> = pages
        .iter()
        .map(|p| &p["structured"]["split"])
        .filter(|s| !s.is_null())
        .collect();
    assert!(
        split
            .iter()
            .any(|s| s["filename"] == "src/big.rs" && s["cut_at"] == "hunk"),
        "{split:?}"
    );
    // The description is also text, for clients that show models no structured content.
    assert!(
        pages[0]["texts"][1]
            .as_str()
            .unwrap()
            .contains("next_cursor")
    );

    let first = call(out, 3);
    let again = call(out, 4);
    assert!(!first["is_error"].as_bool().unwrap(), "{first}");
    assert_eq!(first["structured"]["created"], true);
    assert_eq!(
        again["structured"]["created"], false,
        "the dedup_key opened one incident"
    );
    assert_eq!(first["structured"]["id"], again["structured"]["id"]);
    assert!(
        first["structured"]["bug_issue"]["number"].is_u64(),
        "{first}"
    );
}

#[tokio::test]
async fn an_mcp_sdk_client_over_http_uses_every_tool_its_token_allows() {
    let Some(py) = python() else { return };
    let w = world().await;
    let all = agent_token(&["acme/widgets"], &["diff:read", "incidents:write"], 3600);
    // The handshake revision (initialize), every tool.
    let out = run(&py, &w.http(&all, "legacy", every_tool("k1"))).await;
    assert_eq!(out["protocol_version"], "2025-11-25");
    assert_eq!(out["server_name"], "responder");
    assert_eq!(tool_names(&out), ALL_TOOLS);
    assert_every_tool(&w, &out);
    let id = call(&out, 3)["structured"]["id"].as_i64().unwrap();

    // The current revision (discovery, no initialize); diff:read alone sees no
    // declare_incident, and reads the incident through get_incident.
    let read = agent_token(&["acme/widgets"], &["diff:read"], 3600);
    let ops = json!([
        {"call": "get_incident", "args": {"id": id}},
        {"call": "declare_incident", "args": {"repo": "acme/widgets", "title": "t", "severity": "SEV3"}},
        {"call": "pull_request_diff", "args": {"repo": "acme/secret", "number": 1}},
        {"call": "pull_request_diff", "args": {"repo": "acme/nothing-here", "number": 1}},
        {"call": "pull_request_files", "args": {"repo": "acme/widgets", "number": 1, "fields": "everything"}},
    ]);
    let out = run(&py, &w.http(&read, "auto", ops)).await;
    assert_eq!(out["protocol_version"], "2026-07-28");
    assert_eq!(
        tool_names(&out),
        ["pull_request_files", "pull_request_diff", "get_incident"]
    );
    let got = call(&out, 0);
    assert_eq!(got["structured"]["id"], id, "{got}");
    assert_eq!(got["structured"]["severity"], "SEV2");
    let refused = call(&out, 1);
    assert!(refused["is_error"].as_bool().unwrap());
    assert!(text(refused).contains("incidents:write"), "{refused}");
    // A repository the token does not grant: one text, whether it exists or not.
    let (real, invented) = (call(&out, 2), call(&out, 3));
    assert!(real["is_error"].as_bool().unwrap() && invented["is_error"].as_bool().unwrap());
    assert_eq!(
        text(real).replace("acme/secret", "REPO"),
        text(invented).replace("acme/nothing-here", "REPO")
    );
    assert_eq!(
        text(real),
        "the token does not grant scope diff:read on acme/secret"
    );
    assert!(text(call(&out, 4)).contains("fields"), "{}", call(&out, 4));
    // Nothing was asked of GitHub about the repository the token does not grant.
    assert!(
        !w.fake
            .requests()
            .iter()
            .any(|r| r.path.contains("acme/secret")),
        "GitHub was asked about acme/secret"
    );

    // incidents:write alone sees only the incident tools.
    let write = agent_token(&["acme/widgets"], &["incidents:write"], 3600);
    let out = run(&py, &w.http(&write, "auto", json!([]))).await;
    assert_eq!(tool_names(&out), ["declare_incident", "get_incident"]);
}

#[tokio::test]
async fn responder_mcp_on_stdio_serves_the_same_tools_to_an_mcp_sdk_client() {
    let Some(py) = python() else { return };
    let w = world().await;
    // Without a token: the process's own access, every tool.
    let out = run(&py, &w.stdio(None, "legacy", every_tool("stdio-1"))).await;
    assert_eq!(out["protocol_version"], "2025-11-25");
    assert_eq!(tool_names(&out), ALL_TOOLS);
    assert_every_tool(&w, &out);
    let id = call(&out, 3)["structured"]["id"].clone();

    // With a diff:read token for acme/widgets, on the current revision: filtered.
    let read = agent_token(&["acme/widgets"], &["diff:read"], 3600);
    let ops = json!([
        {"call": "pull_request_diff", "args": {"repo": "acme/widgets", "number": 1}},
        {"call": "pull_request_files", "args": {"repo": "acme/secret", "number": 1}},
        {"call": "get_incident", "args": {"id": id}},
    ]);
    let out = run(&py, &w.stdio(Some(&read), "auto", ops)).await;
    assert_eq!(out["protocol_version"], "2026-07-28");
    assert_eq!(
        tool_names(&out),
        ["pull_request_files", "pull_request_diff", "get_incident"]
    );
    let whole = call(&out, 0);
    assert_eq!(whole["structured"]["next_cursor"], Value::Null, "{whole}");
    assert_eq!(whole["structured"]["files"].as_array().unwrap().len(), 3);
    assert_eq!(
        text(call(&out, 1)),
        "the token does not grant scope diff:read on acme/secret"
    );
    assert_eq!(call(&out, 2)["structured"]["id"], id);
}

#[tokio::test]
async fn a_missing_or_bad_token_is_401_before_any_mcp_message_is_read() {
    let w = world().await;
    let url = format!("{}/mcp", w.svc.url);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"}}});
    let expired = agent_token(&["acme/widgets"], &["diff:read"], -10);
    let client = reqwest::Client::new();
    for (name, auth) in [
        ("missing", None),
        ("garbage", Some("Bearer not-a-token")),
        ("expired", Some(format!("Bearer {expired}").as_str())),
    ] {
        // A body that is not even JSON: refused for the token, not for the body.
        for body in [init.to_string(), "{{{ not json".to_string()] {
            let mut req = client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .body(body);
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 401, "{name}");
            let body = resp.text().await.unwrap();
            assert!(!body.contains(&expired), "{name}: the token is echoed");
            assert!(
                !body.contains("jsonrpc"),
                "{name}: an MCP message was answered"
            );
        }
    }
    // The same request with a good token is an MCP answer.
    let good = agent_token(&["acme/widgets"], &["diff:read"], 3600);
    let resp = client
        .post(&url)
        .bearer_auth(&good)
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["result"]["protocolVersion"], "2025-11-25");
    // Stateless: no stream to open, no session to end; the token still comes first.
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = client
            .request(method.clone(), &url)
            .bearer_auth(&good)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method}");
        assert_eq!(resp.headers()["allow"], "POST", "{method}");
    }
}

#[tokio::test]
async fn a_cursor_issued_before_the_pr_moved_on_says_so() {
    let Some(py) = python() else { return };
    let mut w = world().await;
    let token = agent_token(&["acme/widgets"], &["diff:read"], 3600);
    let first = json!([{"call": "pull_request_diff",
        "args": {"repo": "acme/widgets", "number": 1, "max_bytes": 1000}}]);
    let out = run(&py, &w.http(&token, "auto", first)).await;
    let page = &call(&out, 0)["structured"];
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a first page of several")
        .to_string();
    let old_head = page["head_sha"].as_str().unwrap().to_string();

    w.builder.commit_on(
        "feature",
        &[("src/lib.rs", Some(b"fn c() {}\n".as_slice()))],
        "more",
    );
    w.builder.pull(1, "feature");
    w.builder.publish();
    // The service trusts a PR's head for 5 s (diff::DiffConfig::head_ttl).
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let next = json!([
        {"call": "pull_request_diff", "args": {"repo": "acme/widgets", "number": 1,
            "max_bytes": 1000, "cursor": cursor}},
        {"call": "pull_request_diff", "args": {"repo": "acme/widgets", "number": 1,
            "max_bytes": 1000, "cursor": "rc1.garbage"}},
    ]);
    let out = run(&py, &w.http(&token, "auto", next)).await;
    let moved = call(&out, 0);
    assert!(moved["is_error"].as_bool().unwrap(), "{moved}");
    assert!(text(moved).contains("moved on"), "{moved}");
    assert!(text(moved).contains(&old_head), "{moved}");
    assert!(text(call(&out, 1)).contains("not one this server issued"));
}
