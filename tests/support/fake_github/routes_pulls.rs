//! Pull request routes: get (JSON or the diff media type), the files endpoint with
//! GitHub's pagination and limits, list, and create.
//!
//! Diffs are three-dot (merge-base to head) with rename detection, computed by git
//! from the real repository; it must never make up a file entry.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Need;
use super::errors::{not_found, validation};
use super::faults::{Fault, answer};
use super::git_repo::{self, FileDiff};
use super::paginate::page;
use super::routes_repos::load;
use super::server::{blocking, json_body, json_response};
use super::shapes::{self, PullFacts, Urls};
use super::state::{Pull, Repo, Shared};

type Answer = Result<Response, Response>;

/// GitHub's files endpoint never lists more than this many files.
const MAX_FILES: usize = 3000;
/// Past this many files the diff media type answers 406 `too_large`.
const MAX_DIFF_FILES: usize = 300;

/// Everything git says about one pull request now.
struct Computed {
    facts: PullFacts,
    files: Arc<Vec<FileDiff>>,
    merge_base: String,
}

async fn compute(s: &Shared, repo: &Repo, p: &Pull) -> Result<Computed, Response> {
    let (bare, p2) = (repo.bare.clone(), p.clone());
    let shas = blocking(move || {
        let pull_ref = format!("refs/pull/{}/head", p2.number);
        let head = if p2.tracks_branch {
            let h = git_repo::rev_parse(&bare, &format!("refs/heads/{}", p2.head_ref))?;
            let _ = git_repo::run(&bare, &["update-ref", &pull_ref, &h], &[], None);
            h
        } else {
            git_repo::rev_parse(&bare, &pull_ref)?
        };
        let base = git_repo::rev_parse(&bare, &format!("refs/heads/{}", p2.base_ref))?;
        let mb = git_repo::merge_base(&bare, &base, &head)?;
        let commits = git_repo::commit_count(&bare, &base, &head);
        Some((head, base, mb, commits, git_repo::default_branch(&bare)))
    })
    .await
    .ok_or_else(not_found)?;
    let (head, base, mb, commits, default_branch) = shas;
    let key = (repo.bare.clone(), mb.clone(), head.clone());
    let cached = s.lock().expect("state lock").diff_cache.get(&key).cloned();
    let files = match cached {
        Some(f) => f,
        None => {
            let (bare, a, b) = (repo.bare.clone(), mb.clone(), head.clone());
            let f = Arc::new(
                blocking(move || git_repo::diff(&bare, &a, &b))
                    .await
                    .map_err(|e| super::errors::gh_error(StatusCode::INTERNAL_SERVER_ERROR, &e))?,
            );
            s.lock()
                .expect("state lock")
                .diff_cache
                .insert(key, f.clone());
            f
        }
    };
    let facts = PullFacts {
        head_sha: head,
        base_sha: base,
        default_branch,
        commits,
        additions: files.iter().map(|f| f.additions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        changed_files: files.len() as u64,
    };
    Ok(Computed {
        facts,
        files,
        merge_base: mb,
    })
}

fn find_pull(repo: &Repo, n: u64) -> Result<Pull, Response> {
    repo.pulls
        .iter()
        .find(|p| p.number == n)
        .cloned()
        .ok_or_else(not_found)
}

pub async fn get_pull(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("pull_requests"))?;
    let p = find_pull(&repo, n)?;
    let c = compute(&s, &repo, &p).await?;
    let accept = headers
        .get("accept")
        .and_then(|a| a.to_str().ok())
        .unwrap_or("");
    if accept.contains(".diff") {
        if c.files.len() > MAX_DIFF_FILES {
            return Err(answer(&Fault::TooLarge).expect("too large answer"));
        }
        let (bare, mb, head) = (
            repo.bare.clone(),
            c.merge_base.clone(),
            c.facts.head_sha.clone(),
        );
        let text = blocking(move || {
            git_repo::run(
                &bare,
                &["diff", "-M", "--no-color", "--no-ext-diff", &mb, &head],
                &[],
                None,
            )
        })
        .await
        .map_err(|e| super::errors::gh_error(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        return Ok((
            StatusCode::OK,
            [("content-type", "application/vnd.github.diff; charset=utf-8")],
            text,
        )
            .into_response());
    }
    Ok(json_response(
        StatusCode::OK,
        shapes::pull(&urls, &repo, &p, &c.facts),
    ))
}

/// The files endpoint: at most 3,000 files (or the `cap_files` lie), 200 either way.
pub async fn files(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("pull_requests"))?;
    let p = find_pull(&repo, n)?;
    let c = compute(&s, &repo, &p).await?;
    let cap = s
        .lock()
        .expect("state lock")
        .cap_files
        .unwrap_or(MAX_FILES)
        .min(MAX_FILES);
    let items: Vec<Value> = c
        .files
        .iter()
        .take(cap)
        .map(|f| {
            let dropped = repo.dropped_patches.contains(&(n, f.filename.clone()));
            shapes::diff_entry(&urls, &repo, &c.facts.head_sha, f, dropped)
        })
        .collect();
    let path = format!("/repos/{}/{}/pulls/{n}/files", o, r);
    Ok(page(items, &q, &urls, &path))
}

pub async fn list(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("pull_requests"))?;
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let head = q.get("head").map(|h| match h.split_once(':') {
        Some((owner, branch)) => (Some(owner.to_string()), branch.to_string()),
        None => (None, h.clone()),
    });
    let mut items = Vec::new();
    for p in repo.pulls.iter().rev() {
        if state != "all" && p.state != state {
            continue;
        }
        if let Some((owner, branch)) = &head
            && (owner
                .as_ref()
                .is_some_and(|o| !o.eq_ignore_ascii_case(&repo.owner))
                || &p.head_ref != branch)
        {
            continue;
        }
        if q.get("base").is_some_and(|b| b != &p.base_ref) {
            continue;
        }
        let c = compute(&s, &repo, p).await?;
        items.push(shapes::pull(&urls, &repo, p, &c.facts));
    }
    Ok(page(items, &q, &urls, &format!("/repos/{o}/{r}/pulls")))
}

pub async fn create(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::write("pull_requests"))?;
    let body = json_body(&body)?;
    let head = body["head"].as_str().unwrap_or("");
    let head_ref = head.split_once(':').map_or(head, |(_, b)| b).to_string();
    let base_ref = body["base"].as_str().unwrap_or("").to_string();
    let title = body["title"].as_str().unwrap_or("").to_string();
    if title.is_empty() {
        return Err(validation(
            json!([{"resource": "PullRequest", "code": "missing_field", "field": "title"}]),
        ));
    }
    let (bare, h, b) = (repo.bare.clone(), head_ref.clone(), base_ref.clone());
    let tips = blocking(move || {
        (
            git_repo::rev_parse(&bare, &format!("refs/heads/{h}")),
            git_repo::rev_parse(&bare, &format!("refs/heads/{b}")),
        )
    })
    .await;
    let (head_sha, base_sha) = match tips {
        (Some(h), Some(b)) => (h, b),
        (None, _) => {
            return Err(validation(
                json!([{"resource": "PullRequest", "field": "head", "code": "invalid"}]),
            ));
        }
        (_, None) => {
            return Err(validation(
                json!([{"resource": "PullRequest", "field": "base", "code": "invalid"}]),
            ));
        }
    };
    if head_sha == base_sha {
        return Err(validation(
            json!([{"resource": "PullRequest", "code": "custom",
            "message": format!("No commits between {base_ref} and {head_ref}")}]),
        ));
    }
    let p = {
        let mut st = s.lock().expect("state lock");
        let (id, now) = (st.next_id(), st.now());
        let repo_mut = st.repo_mut(&o, &r).ok_or_else(not_found)?;
        if repo_mut
            .pulls
            .iter()
            .any(|p| p.state == "open" && p.head_ref == head_ref && p.base_ref == base_ref)
        {
            return Err(validation(
                json!([{"resource": "PullRequest", "code": "custom",
                "message": format!("A pull request already exists for {}:{head_ref}.", repo_mut.owner)}]),
            ));
        }
        let number = repo_mut.take_number();
        let p = Pull {
            id,
            number,
            title,
            body: body["body"].as_str().map(str::to_string),
            state: "open".into(),
            head_ref,
            base_ref,
            created_at: now,
            tracks_branch: true,
        };
        repo_mut.pulls.push(p.clone());
        p
    };
    let repo = load(&s, &headers, &o, &r, Need::write("pull_requests"))?;
    let c = compute(&s, &repo, &p).await?;
    Ok(json_response(
        StatusCode::CREATED,
        shapes::pull(&urls, &repo, &p, &c.facts),
    ))
}

/// `GET /repos/{o}/{r}/compare/{base}...{head}`: the merge base and how far apart the
/// two commits are (the parts of GitHub's answer callers read).
pub async fn compare(
    State(_s): State<Shared>,
    headers: HeaderMap,
    Path((o, r, basehead)): Path<(String, String, String)>,
) -> Answer {
    let repo = load(&_s, &headers, &o, &r, Need::read("contents"))?;
    let (base, head) = basehead.split_once("...").ok_or_else(not_found)?;
    let (bare, base, head) = (repo.bare.clone(), base.to_string(), head.to_string());
    let (b, h, mb) = blocking(move || {
        let b = git_repo::rev_parse(&bare, &base)?;
        let h = git_repo::rev_parse(&bare, &head)?;
        let mb = git_repo::merge_base(&bare, &b, &h)?;
        Some((b, h, mb))
    })
    .await
    .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        json!({
            "status": if mb == h { "behind" } else if mb == b { "ahead" } else { "diverged" },
            "base_commit": { "sha": b },
            "merge_base_commit": { "sha": mb },
        }),
    ))
}
