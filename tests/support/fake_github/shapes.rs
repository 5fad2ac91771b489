//! Builds answers in GitHub's shapes, starting from the real example responses in
//! `tests/fixtures/github/rest/` and overwriting what the fake knows.
//!
//! Starting from GitHub's own examples keeps every field a client may require
//! (octocrab's models need many). It must never invent a field GitHub lacks.

use serde_json::{Value, json};

use super::git_repo::FileDiff;
use super::state::{Comment, HookDelivery, Issue, Label, Pull, Repo};

/// Where the request came in (`api`, with or without `/api/v3`) and the web base.
#[derive(Clone, Debug)]
pub struct Urls {
    pub api: String,
    pub server: String,
}

fn tpl(name: &str) -> Value {
    let text = match name {
        "issue" => include_str!("../../fixtures/github/rest/issues.create.json"),
        "comment" => include_str!("../../fixtures/github/rest/issues.comment.create.json"),
        "pull" => include_str!("../../fixtures/github/rest/pulls.get.json"),
        "token" => include_str!("../../fixtures/github/rest/apps.access-token.json"),
        "installation" => include_str!("../../fixtures/github/rest/apps.repo-installation.json"),
        "permission" => include_str!("../../fixtures/github/rest/collaborators.permission.json"),
        "contents" => include_str!("../../fixtures/github/rest/repos.contents.json"),
        "delivery" => include_str!("../../fixtures/github/rest/apps.hook-deliveries.json"),
        other => panic!("no template {other}"),
    };
    serde_json::from_str(text).expect("fixture is JSON")
}

/// Replaces every occurrence of `from` in every string of `v`.
fn replace(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(a) => a.iter_mut().for_each(|x| replace(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| replace(x, from, to)),
        _ => {}
    }
}

/// Points the example's octocat/Hello-World URLs at this repository on this fake.
fn rebase(v: &mut Value, urls: &Urls, repo: &Repo) {
    let (o, r) = (&repo.owner, &repo.name);
    replace(
        v,
        "https://api.github.com/repos/octocat/Hello-World",
        &format!("{}/repos/{o}/{r}", urls.api),
    );
    replace(
        v,
        "https://github.com/octocat/Hello-World",
        &format!("{}/{o}/{r}", urls.server),
    );
    replace(v, "https://api.github.com", &urls.api);
    replace(v, "https://github.com", &urls.server);
    replace(v, "octocat/Hello-World", &format!("{o}/{r}"));
}

/// ISO 8601 in UTC with a `Z`, as GitHub writes times.
pub fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn stable_id(s: &str) -> u64 {
    s.bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 100_000_000
}

/// A user object (`type` Bot for `…[bot]` logins).
pub fn user(urls: &Urls, login: &str) -> Value {
    let mut u = tpl("issue")["user"].take();
    replace(&mut u, "https://api.github.com", &urls.api);
    replace(&mut u, "https://github.com", &urls.server);
    replace(&mut u, "octocat", login);
    u["login"] = json!(login);
    u["id"] = json!(stable_id(login));
    u["type"] = json!(if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    });
    u
}

/// A full repository object.
pub fn repository(urls: &Urls, repo: &Repo, default_branch: &str) -> Value {
    let mut v = tpl("token")["repositories"][0].take();
    rebase(&mut v, urls, repo);
    v["id"] = json!(repo.id);
    v["node_id"] = json!(format!("R_{}", repo.id));
    v["name"] = json!(repo.name);
    v["full_name"] = json!(repo.full_name());
    v["owner"] = user(urls, &repo.owner);
    v["private"] = json!(!repo.public);
    v["visibility"] = json!(if repo.public { "public" } else { "private" });
    v["default_branch"] = json!(default_branch);
    v["description"] = Value::Null;
    v["homepage"] = Value::Null;
    v["is_template"] = json!(false);
    v["mirror_url"] = Value::Null;
    v["temp_clone_token"] = Value::Null;
    v["topics"] = json!([]);
    v.as_object_mut().map(|o| o.remove("permissions"));
    v
}

/// A label object.
pub fn label(urls: &Urls, repo: &Repo, l: &Label) -> Value {
    let mut v = tpl("issue")["labels"][0].take();
    rebase(&mut v, urls, repo);
    v["id"] = json!(l.id);
    v["node_id"] = json!(format!("LA_{}", l.id));
    v["url"] = json!(format!(
        "{}/repos/{}/labels/{}",
        urls.api,
        repo.full_name(),
        l.name
    ));
    v["name"] = json!(l.name);
    v["color"] = json!(l.color);
    v["description"] = json!(l.description);
    v["default"] = json!(false);
    v
}

fn renumber(v: &mut Value, n: u64) {
    for seg in ["issues", "pull", "pulls"] {
        replace(v, &format!("/{seg}/1347"), &format!("/{seg}/{n}"));
    }
}

/// An issue object.
pub fn issue(urls: &Urls, repo: &Repo, i: &Issue, comments: usize) -> Value {
    let mut v = tpl("issue");
    renumber(&mut v, i.number);
    rebase(&mut v, urls, repo);
    v["id"] = json!(i.id);
    v["node_id"] = json!(format!("I_{}", i.id));
    v["number"] = json!(i.number);
    v["html_url"] = json!(format!(
        "{}/{}/issues/{}",
        urls.server,
        repo.full_name(),
        i.number
    ));
    v["title"] = json!(i.title);
    v["body"] = json!(i.body);
    v["state"] = json!(i.state);
    v["state_reason"] = json!(i.state_reason);
    v["user"] = user(urls, &i.user);
    let labels: Vec<Value> = i
        .labels
        .iter()
        .filter_map(|n| repo.label(n))
        .map(|l| label(urls, repo, l))
        .collect();
    v["labels"] = json!(labels);
    let assignees: Vec<Value> = i.assignees.iter().map(|a| user(urls, a)).collect();
    v["assignee"] = assignees.first().cloned().unwrap_or(Value::Null);
    v["assignees"] = json!(assignees);
    v["milestone"] = Value::Null;
    v["locked"] = json!(false);
    v["active_lock_reason"] = Value::Null;
    v["comments"] = json!(comments);
    v["created_at"] = json!(iso(i.created_at));
    v["updated_at"] = json!(iso(i.updated_at));
    v["closed_at"] = json!(i.closed_at.map(iso));
    v["closed_by"] = if i.closed_at.is_some() {
        user(urls, &i.user)
    } else {
        Value::Null
    };
    v["author_association"] = json!("NONE");
    v.as_object_mut().map(|o| o.remove("pull_request"));
    v
}

/// An issue comment object.
pub fn comment(urls: &Urls, repo: &Repo, c: &Comment) -> Value {
    let mut v = tpl("comment");
    renumber(&mut v, c.issue);
    rebase(&mut v, urls, repo);
    v["id"] = json!(c.id);
    v["node_id"] = json!(format!("IC_{}", c.id));
    v["url"] = json!(format!(
        "{}/repos/{}/issues/comments/{}",
        urls.api,
        repo.full_name(),
        c.id
    ));
    v["html_url"] = json!(format!(
        "{}/{}/issues/{}#issuecomment-{}",
        urls.server,
        repo.full_name(),
        c.issue,
        c.id
    ));
    v["body"] = json!(c.body);
    v["user"] = user(urls, &c.user);
    v["created_at"] = json!(iso(c.created_at));
    v["updated_at"] = json!(iso(c.created_at));
    v["author_association"] = json!("NONE");
    v
}

/// What a pull request answer needs from git.
pub struct PullFacts {
    pub head_sha: String,
    pub base_sha: String,
    pub default_branch: String,
    pub commits: u64,
    pub additions: u64,
    pub deletions: u64,
    pub changed_files: u64,
}

/// A pull request object (the shape of both GET and POST answers).
pub fn pull(urls: &Urls, repo: &Repo, p: &Pull, f: &PullFacts) -> Value {
    let mut v = tpl("pull");
    renumber(&mut v, p.number);
    replace(
        &mut v,
        "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        &f.head_sha,
    );
    rebase(&mut v, urls, repo);
    let repo_obj = repository(urls, repo, &f.default_branch);
    let owner = user(urls, &repo.owner);
    v["id"] = json!(p.id);
    v["node_id"] = json!(format!("PR_{}", p.id));
    v["number"] = json!(p.number);
    v["html_url"] = json!(format!(
        "{}/{}/pull/{}",
        urls.server,
        repo.full_name(),
        p.number
    ));
    v["state"] = json!(p.state);
    v["title"] = json!(p.title);
    v["body"] = json!(p.body);
    v["user"] = owner.clone();
    for k in [
        "milestone",
        "active_lock_reason",
        "closed_at",
        "merged_at",
        "merge_commit_sha",
        "assignee",
        "merged_by",
        "auto_merge",
    ] {
        v[k] = Value::Null;
    }
    for k in [
        "labels",
        "assignees",
        "requested_reviewers",
        "requested_teams",
    ] {
        v[k] = json!([]);
    }
    v["locked"] = json!(false);
    v["created_at"] = json!(iso(p.created_at));
    v["updated_at"] = json!(iso(p.created_at));
    v["head"] = json!({"label": format!("{}:{}", repo.owner, p.head_ref), "ref": p.head_ref,
        "sha": f.head_sha, "user": owner, "repo": repo_obj});
    v["base"] = json!({"label": format!("{}:{}", repo.owner, p.base_ref), "ref": p.base_ref,
        "sha": f.base_sha, "user": owner, "repo": repo_obj});
    v["author_association"] = json!("OWNER");
    v["draft"] = json!(false);
    v["merged"] = json!(false);
    v["mergeable"] = json!(true);
    v["rebaseable"] = json!(true);
    v["mergeable_state"] = json!("clean");
    v["comments"] = json!(0);
    v["review_comments"] = json!(0);
    v["commits"] = json!(f.commits);
    v["additions"] = json!(f.additions);
    v["deletions"] = json!(f.deletions);
    v["changed_files"] = json!(f.changed_files);
    v
}

/// One entry of the files endpoint (`diff-entry`).
pub fn diff_entry(
    urls: &Urls,
    repo: &Repo,
    head_sha: &str,
    f: &FileDiff,
    drop_patch: bool,
) -> Value {
    let full = repo.full_name();
    let mut v = json!({
        "sha": f.sha,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": format!("{}/{full}/blob/{head_sha}/{}", urls.server, f.filename),
        "raw_url": format!("{}/{full}/raw/{head_sha}/{}", urls.server, f.filename),
        "contents_url": format!("{}/repos/{full}/contents/{}?ref={head_sha}", urls.api, f.filename),
    });
    if let (Some(p), false) = (&f.patch, drop_patch) {
        v["patch"] = json!(p);
    }
    if let Some(prev) = &f.previous_filename {
        v["previous_filename"] = json!(prev);
    }
    v
}

/// An installation object for installation `id` on `account`.
pub fn installation(urls: &Urls, id: u64, account: &str, app_id: u64) -> Value {
    let mut v = tpl("installation");
    replace(&mut v, "https://api.github.com", &urls.api);
    replace(&mut v, "https://github.com", &urls.server);
    v["id"] = json!(id);
    v["account"] = user(urls, account);
    v["repository_selection"] = json!("selected");
    v["access_tokens_url"] = json!(format!("{}/app/installations/{id}/access_tokens", urls.api));
    v["html_url"] = json!(format!("{}/settings/installations/{id}", urls.server));
    v["app_id"] = json!(app_id);
    v["app_slug"] = json!("responder-test");
    v["target_id"] = json!(stable_id(account));
    v["target_type"] = json!("User");
    v["permissions"] = json!({"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"});
    v["events"] = json!(["issues", "issue_comment", "pull_request", "installation"]);
    v["single_file_name"] = Value::Null;
    v["has_multiple_single_files"] = json!(false);
    v["single_file_paths"] = json!([]);
    v
}

/// The answer of `POST /app/installations/{id}/access_tokens`.
pub fn access_token(token: &str, expires_at: i64, repos: Option<Vec<Value>>) -> Value {
    let mut v = tpl("token");
    v["token"] = json!(token);
    v["expires_at"] = json!(iso(expires_at));
    v["permissions"] = json!({"contents": "write", "issues": "write", "pull_requests": "write", "metadata": "read"});
    match repos {
        Some(r) => {
            v["repository_selection"] = json!("selected");
            v["repositories"] = json!(r);
        }
        None => {
            v.as_object_mut().map(|o| o.remove("repositories"));
        }
    }
    v
}

/// A contents entry; `content` set for a file read, absent in directory listings.
pub fn content(
    urls: &Urls,
    repo: &Repo,
    kind: &str,
    path: &str,
    sha: &str,
    size: usize,
    git_ref: &str,
    content: Option<&[u8]>,
) -> Value {
    let mut v = tpl("contents");
    let full = repo.full_name();
    let name = path.rsplit('/').next().unwrap_or(path);
    let this = format!("{}/repos/{full}/contents/{path}?ref={git_ref}", urls.api);
    let git = format!(
        "{}/repos/{full}/git/{}/{sha}",
        urls.api,
        if kind == "dir" { "trees" } else { "blobs" }
    );
    let html = format!(
        "{}/{full}/{}/{git_ref}/{path}",
        urls.server,
        if kind == "dir" { "tree" } else { "blob" }
    );
    v["type"] = json!(kind);
    v["size"] = json!(size);
    v["name"] = json!(name);
    v["path"] = json!(path);
    v["sha"] = json!(sha);
    v["url"] = json!(this);
    v["git_url"] = json!(git);
    v["html_url"] = json!(html);
    v["download_url"] = if kind == "file" {
        json!(format!("{}/{full}/raw/{git_ref}/{path}", urls.server))
    } else {
        Value::Null
    };
    v["_links"] = json!({"git": git, "self": this, "html": html});
    let o = v.as_object_mut().expect("object");
    match content {
        Some(bytes) => {
            o.insert("content".into(), json!(base64_lines(bytes)));
            o.insert("encoding".into(), json!("base64"));
        }
        None => {
            o.remove("content");
            o.remove("encoding");
        }
    }
    v
}

/// Base64 wrapped at 60 characters with `\n`, as the contents API sends it.
pub fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(b.len() + b.len() / 60 + 1);
    for chunk in b.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).expect("ascii"));
        out.push('\n');
    }
    out
}

/// A collaborator permission answer; `permission` is GitHub's legacy word.
pub fn permission(urls: &Urls, login: &str, role: &str) -> Value {
    let mut v = tpl("permission");
    let legacy = match role {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    v["permission"] = json!(legacy);
    v["role_name"] = json!(role);
    v["user"] = user(urls, login);
    v
}

/// One hook delivery in the list.
pub fn delivery(d: &HookDelivery) -> Value {
    let mut v = tpl("delivery")[0].take();
    v["id"] = json!(d.id);
    v["guid"] = json!(d.guid);
    v["delivered_at"] = json!(iso(d.delivered_at));
    v["redelivery"] = json!(d.redelivery);
    v["status"] = json!(if (200..300).contains(&d.status_code) {
        "OK".to_string()
    } else {
        format!("Invalid HTTP Response: {}", d.status_code)
    });
    v["status_code"] = json!(d.status_code);
    v["event"] = json!(d.event);
    v["action"] = json!(d.action);
    v["installation_id"] = json!(d.installation_id);
    v["repository_id"] = json!(d.repository_id);
    v["throttled_at"] = Value::Null;
    v
}

/// A git reference object.
pub fn git_ref(urls: &Urls, repo: &Repo, refname: &str, sha: &str) -> Value {
    let full = repo.full_name();
    json!({
        "ref": refname,
        "node_id": format!("REF_{}", stable_id(refname)),
        "url": format!("{}/repos/{full}/git/{refname}", urls.api),
        "object": {"type": "commit", "sha": sha, "url": format!("{}/repos/{full}/git/commits/{sha}", urls.api)}
    })
}
