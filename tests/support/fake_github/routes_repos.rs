//! Repository routes: the repository itself, contents (read, and write as a real
//! commit), git refs, and collaborator permissions.
//!
//! Writes go to the bare repository through git plumbing; it must never leave a
//! half-written ref (refs move with compare-and-swap).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::{Value, json};

use super::auth::{Need, repo_access};
use super::errors::{gh_error, not_found, validation};
use super::git_repo;
use super::server::{blocking, json_body, json_response};
use super::shapes::{self, Urls};
use super::state::{BOT_LOGIN, Repo, Shared};

type Answer = Result<Response, Response>;

/// The repository, if the caller may do what `need` says; GitHub's refusal if not.
pub fn load(
    shared: &Shared,
    headers: &HeaderMap,
    o: &str,
    r: &str,
    need: Need,
) -> Result<Repo, Response> {
    let st = shared.lock().expect("state lock");
    repo_access(&st, headers, o, r, need)?;
    st.repo(o, r).cloned().ok_or_else(not_found)
}

pub async fn get_repo(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("metadata"))?;
    let bare = repo.bare.clone();
    let branch = blocking(move || git_repo::default_branch(&bare)).await;
    Ok(json_response(
        StatusCode::OK,
        shapes::repository(&urls, &repo, &branch),
    ))
}

pub async fn get_root_contents(
    s: State<Shared>,
    urls: Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    q: Query<BTreeMap<String, String>>,
) -> Answer {
    get_contents(s, urls, headers, Path((o, r, String::new())), q).await
}

pub async fn get_contents(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, path)): Path<(String, String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("contents"))?;
    let bare = repo.bare.clone();
    let path = path.trim_matches('/').to_string();
    let wanted = q.get("ref").cloned();
    let found = blocking(move || {
        let git_ref = wanted.unwrap_or_else(|| git_repo::default_branch(&bare));
        let commit = git_repo::rev_parse(&bare, &git_ref)?;
        let entry = git_repo::entry(&bare, &commit, &path)?;
        if entry.kind == "tree" {
            let items: Vec<(String, git_repo::TreeEntry, usize)> =
                git_repo::list_dir(&bare, &commit, &path)
                    .into_iter()
                    .map(|e| {
                        let size = if e.kind == "blob" {
                            git_repo::blob(&bare, &e.sha).map(|b| b.len()).unwrap_or(0)
                        } else {
                            0
                        };
                        (git_ref.clone(), e, size)
                    })
                    .collect();
            Some(Err(items))
        } else {
            let bytes = git_repo::blob(&bare, &entry.sha).ok()?;
            Some(Ok((git_ref, entry, bytes)))
        }
    })
    .await
    .ok_or_else(not_found)?;
    Ok(match found {
        Ok((git_ref, e, bytes)) => json_response(
            StatusCode::OK,
            shapes::content(
                &urls,
                &repo,
                "file",
                &e.path,
                &e.sha,
                bytes.len(),
                &git_ref,
                Some(&bytes),
            ),
        ),
        Err(items) => {
            let list: Vec<Value> = items
                .iter()
                .map(|(git_ref, e, size)| {
                    let kind = if e.kind == "tree" { "dir" } else { "file" };
                    shapes::content(&urls, &repo, kind, &e.path, &e.sha, *size, git_ref, None)
                })
                .collect();
            json_response(StatusCode::OK, Value::Array(list))
        }
    })
}

/// `PUT contents`: commits the file for real; 409 on a stale `sha`, 422 when an
/// existing file is replaced without one (GitHub's answers).
pub async fn put_contents(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, path)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::write("contents"))?;
    let body = json_body(&body)?;
    let (Some(message), Some(content)) = (body["message"].as_str(), body["content"].as_str())
    else {
        return Err(validation(
            json!([{"resource": "Content", "code": "missing_field", "field": "message"}]),
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content.replace(['\n', '\r'], ""))
        .map_err(|_| {
            gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "content is not valid Base64",
            )
        })?;
    let (message, given_sha) = (
        message.to_string(),
        body["sha"].as_str().map(str::to_string),
    );
    let now = s.lock().expect("state lock").now();
    let bare = repo.bare.clone();
    let path = path.trim_matches('/').to_string();
    let branch_opt = body["branch"].as_str().map(str::to_string);
    let p = path.clone();
    let outcome = blocking(move || {
        let branch = branch_opt.unwrap_or_else(|| git_repo::default_branch(&bare));
        let Some(tip) = git_repo::rev_parse(&bare, &format!("refs/heads/{branch}")) else {
            return Err(gh_error(
                StatusCode::NOT_FOUND,
                &format!("Branch {branch} not found"),
            ));
        };
        let existing = git_repo::entry(&bare, &tip, &p);
        match (&existing, &given_sha) {
            (Some(e), Some(sha)) if &e.sha != sha => {
                return Err(gh_error(
                    StatusCode::CONFLICT,
                    &format!("{p} does not match {sha}"),
                ));
            }
            (Some(_), None) => {
                return Err(gh_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Invalid request.\n\n\"sha\" wasn't supplied.",
                ));
            }
            _ => {}
        }
        let c = git_repo::commit_file(
            &bare,
            &branch,
            &p,
            &bytes,
            &message,
            now,
            (BOT_LOGIN, "bot@users.noreply.github.com"),
        )
        .map_err(|_| {
            gh_error(
                StatusCode::CONFLICT,
                &format!("{p} could not be committed: the branch moved"),
            )
        })?;
        Ok((branch, c, bytes.len(), existing.is_some(), message))
    })
    .await?;
    let (branch, c, size, updated, message) = outcome;
    s.lock().expect("state lock").diff_cache.clear();
    let full = repo.full_name();
    let person = json!({"name": BOT_LOGIN, "email": "bot@users.noreply.github.com", "date": shapes::iso(now)});
    let answer = json!({
        "content": shapes::content(&urls, &repo, "file", &path, &c.blob, size, &branch, None),
        "commit": {
            "sha": c.commit, "node_id": format!("C_{}", &c.commit[..12]),
            "url": format!("{}/repos/{full}/git/commits/{}", urls.api, c.commit),
            "html_url": format!("{}/{full}/commit/{}", urls.server, c.commit),
            "author": person, "committer": person, "message": message,
            "tree": {"url": format!("{}/repos/{full}/git/trees/{}", urls.api, c.tree), "sha": c.tree},
            "parents": [{"url": format!("{}/repos/{full}/git/commits/{}", urls.api, c.parent),
                         "html_url": format!("{}/{full}/commit/{}", urls.server, c.parent), "sha": c.parent}],
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null}
        }
    });
    Ok(json_response(
        if updated {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        answer,
    ))
}

pub async fn get_ref(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, name)): Path<(String, String, String)>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("contents"))?;
    let refname = format!("refs/{}", name.trim_matches('/'));
    let bare = repo.bare.clone();
    let rn = refname.clone();
    let sha = blocking(move || {
        git_repo::run(&bare, &["rev-parse", "-q", "--verify", &rn], &[], None).ok()
    })
    .await
    .map(|o| String::from_utf8_lossy(&o).trim().to_string())
    .ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        shapes::git_ref(&urls, &repo, &refname, &sha),
    ))
}

pub async fn create_ref(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::write("contents"))?;
    let body = json_body(&body)?;
    let (Some(refname), Some(sha)) = (body["ref"].as_str(), body["sha"].as_str()) else {
        return Err(gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"ref\", \"sha\" weren't supplied.",
        ));
    };
    if !refname.starts_with("refs/") || refname.matches('/').count() < 2 {
        return Err(gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Reference name must start with 'refs/' and have at least two slashes.",
        ));
    }
    let (bare, rn, sha) = (repo.bare.clone(), refname.to_string(), sha.to_string());
    let (rn2, sha2) = (rn.clone(), sha.clone());
    blocking(move || {
        if git_repo::rev_parse(&bare, &sha2).is_none() {
            return Err(gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Object does not exist",
            ));
        }
        git_repo::update_ref(&bare, &rn2, &sha2, None)
            .map_err(|_| gh_error(StatusCode::UNPROCESSABLE_ENTITY, "Reference already exists"))
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        shapes::git_ref(&urls, &repo, &rn, &sha),
    ))
}

pub async fn update_ref(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, name)): Path<(String, String, String)>,
    body: Bytes,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::write("contents"))?;
    let body = json_body(&body)?;
    let Some(sha) = body["sha"].as_str().map(str::to_string) else {
        return Err(gh_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid request.\n\n\"sha\" wasn't supplied.",
        ));
    };
    let force = body["force"].as_bool().unwrap_or(false);
    let refname = format!("refs/{}", name.trim_matches('/'));
    let (bare, rn, new) = (repo.bare.clone(), refname.clone(), sha.clone());
    blocking(move || {
        let old = git_repo::run(&bare, &["rev-parse", "-q", "--verify", &rn], &[], None)
            .map(|o| String::from_utf8_lossy(&o).trim().to_string())
            .map_err(|_| gh_error(StatusCode::UNPROCESSABLE_ENTITY, "Reference does not exist"))?;
        if git_repo::rev_parse(&bare, &new).is_none() {
            return Err(gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Object does not exist",
            ));
        }
        if !force && !git_repo::is_ancestor(&bare, &old, &new) {
            return Err(gh_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Update is not a fast forward",
            ));
        }
        git_repo::update_ref(&bare, &rn, &new, Some(&old))
            .map_err(|_| gh_error(StatusCode::CONFLICT, "Reference moved"))
    })
    .await?;
    s.lock().expect("state lock").diff_cache.clear();
    Ok(json_response(
        StatusCode::OK,
        shapes::git_ref(&urls, &repo, &refname, &sha),
    ))
}

pub async fn permission(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, user)): Path<(String, String, String)>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("metadata"))?;
    // Bot accounts are no users to this endpoint.
    if user.ends_with("[bot]") {
        return Err(not_found());
    }
    let role = repo
        .permissions
        .iter()
        .find(|(u, _)| u.eq_ignore_ascii_case(&user))
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| "none".into());
    Ok(json_response(
        StatusCode::OK,
        shapes::permission(&urls, &user, &role),
    ))
}
