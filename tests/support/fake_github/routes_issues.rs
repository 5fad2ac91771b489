//! Issue routes: create, get, update, list; comments; labels (repository and
//! issue). Issue and PR numbers share one counter per repository, as on GitHub.
//!
//! It must never accept what GitHub refuses (bodies over 65,536 characters,
//! duplicate label names, assignees who cannot be assigned) so tests catch those
//! paths.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::Need;
use super::errors::{MAX_BODY, body_too_long, gh_error, not_found, validation};
use super::paginate::page;
use super::routes_repos::load;
use super::server::{json_body, json_response};
use super::shapes::{self, Urls};
use super::state::{BOT_LOGIN, Comment, Issue, Label, Repo, Shared, State as FakeState};

type Answer = Result<Response, Response>;

fn too_long(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.chars().count() > MAX_BODY)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    x.as_str()
                        .or_else(|| x["name"].as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Labels named on an issue that do not exist yet are created, as GitHub does.
fn ensure_labels(st: &mut FakeState, o: &str, r: &str, names: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for n in names {
        let existing = st
            .repo(o, r)
            .and_then(|repo| repo.label(n))
            .map(|l| l.name.clone());
        let name = match existing {
            Some(name) => name,
            None => {
                let id = st.next_id();
                let repo = st.repo_mut(o, r).expect("repo exists");
                repo.labels.push(Label {
                    id,
                    name: n.clone(),
                    color: "ededed".into(),
                    description: None,
                });
                n.clone()
            }
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

fn issue_json(urls: &Urls, repo: &Repo, i: &Issue) -> Value {
    let comments = repo.comments.iter().filter(|c| c.issue == i.number).count();
    shapes::issue(urls, repo, i, comments)
}

fn reload(s: &Shared, o: &str, r: &str) -> Repo {
    s.lock()
        .expect("state lock")
        .repo(o, r)
        .cloned()
        .expect("repo exists")
}

/// GitHub assigns only people with access to the repository (here: anyone given a
/// role other than `none`); anyone else makes the whole create a 422 naming the
/// `assignees` field, and nothing is created.
fn unassignable(repo: &Repo, assignees: &[String]) -> Option<Response> {
    let bad = assignees.iter().find(|a| {
        !repo
            .permissions
            .iter()
            .any(|(user, role)| user.eq_ignore_ascii_case(a) && role != "none")
    })?;
    Some(validation(json!([{
        "value": bad, "resource": "Issue", "field": "assignees", "code": "invalid"
    }])))
}

pub async fn create(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::write("issues"))?;
    let body = json_body(&body)?;
    let Some(title) = body["title"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
    else {
        return Err(validation(
            json!([{"resource": "Issue", "code": "missing_field", "field": "title"}]),
        ));
    };
    if too_long(&body["body"]) {
        return Err(body_too_long("Issue"));
    }
    if let Some(refused) = unassignable(&repo, &strings(&body["assignees"])) {
        return Err(refused);
    }
    let number = {
        let mut st = s.lock().expect("state lock");
        let labels = ensure_labels(&mut st, &o, &r, &strings(&body["labels"]));
        let (id, now) = (st.next_id(), st.now());
        let repo = st.repo_mut(&o, &r).ok_or_else(not_found)?;
        let number = repo.take_number();
        repo.issues.push(Issue {
            id,
            number,
            title,
            body: body["body"].as_str().map(str::to_string),
            state: "open".into(),
            state_reason: None,
            labels,
            assignees: strings(&body["assignees"]),
            user: BOT_LOGIN.into(),
            created_at: now,
            updated_at: now,
            closed_at: None,
        });
        number
    };
    let repo = reload(&s, &o, &r);
    let i = repo
        .issues
        .iter()
        .find(|i| i.number == number)
        .expect("just created");
    Ok(json_response(
        StatusCode::CREATED,
        issue_json(&urls, &repo, i),
    ))
}

pub async fn get_issue(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("issues"))?;
    let i = repo
        .issues
        .iter()
        .find(|i| i.number == n)
        .ok_or_else(not_found)?;
    Ok(json_response(StatusCode::OK, issue_json(&urls, &repo, i)))
}

pub async fn update(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
    body: Bytes,
) -> Answer {
    load(&s, &headers, &o, &r, Need::write("issues"))?;
    let body = json_body(&body)?;
    if too_long(&body["body"]) {
        return Err(body_too_long("Issue"));
    }
    {
        let mut st = s.lock().expect("state lock");
        let labels = body.get("labels").map(strings);
        let labels = labels.map(|l| ensure_labels(&mut st, &o, &r, &l));
        let now = st.now();
        let repo = st.repo_mut(&o, &r).ok_or_else(not_found)?;
        let i = repo.issue_mut(n).ok_or_else(not_found)?;
        if let Some(t) = body["title"].as_str() {
            i.title = t.to_string();
        }
        if body.get("body").is_some() {
            i.body = body["body"].as_str().map(str::to_string);
        }
        match body["state"].as_str() {
            Some("closed") if i.state != "closed" => {
                i.state = "closed".into();
                i.closed_at = Some(now);
                i.state_reason = Some(
                    body["state_reason"]
                        .as_str()
                        .unwrap_or("completed")
                        .to_string(),
                );
            }
            Some("open") if i.state != "open" => {
                i.state = "open".into();
                i.closed_at = None;
                i.state_reason = Some("reopened".into());
            }
            Some("open") | Some("closed") | None => {
                if let Some(reason) = body["state_reason"].as_str() {
                    i.state_reason = Some(reason.to_string());
                }
            }
            Some(_) => {
                return Err(validation(
                    json!([{"resource": "Issue", "code": "invalid", "field": "state"}]),
                ));
            }
        }
        if let Some(l) = labels {
            i.labels = l;
        }
        if body.get("assignees").is_some() {
            i.assignees = strings(&body["assignees"]);
        }
        i.updated_at = now;
    }
    let repo = reload(&s, &o, &r);
    let i = repo.issues.iter().find(|i| i.number == n).expect("exists");
    Ok(json_response(StatusCode::OK, issue_json(&urls, &repo, i)))
}

pub async fn list(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("issues"))?;
    let state = q.get("state").map(String::as_str).unwrap_or("open");
    let wanted: Vec<&str> = q
        .get("labels")
        .map(|l| l.split(',').collect())
        .unwrap_or_default();
    let items: Vec<Value> = repo
        .issues
        .iter()
        .rev()
        .filter(|i| state == "all" || i.state == state)
        .filter(|i| {
            wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .map(|i| issue_json(&urls, &repo, i))
        .collect();
    Ok(page(items, &q, &urls, &format!("/repos/{o}/{r}/issues")))
}

fn issue_exists(repo: &Repo, n: u64) -> bool {
    repo.issues.iter().any(|i| i.number == n) || repo.pulls.iter().any(|p| p.number == n)
}

pub async fn create_comment(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
    body: Bytes,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::write("issues"))?;
    if !issue_exists(&repo, n) {
        return Err(not_found());
    }
    let body = json_body(&body)?;
    let Some(text) = body["body"].as_str().map(str::to_string) else {
        return Err(validation(
            json!([{"resource": "IssueComment", "code": "missing_field", "field": "body"}]),
        ));
    };
    if too_long(&body["body"]) {
        return Err(body_too_long("IssueComment"));
    }
    let c = {
        let mut st = s.lock().expect("state lock");
        let (id, now) = (st.next_id(), st.now());
        let c = Comment {
            id,
            issue: n,
            body: text,
            user: BOT_LOGIN.into(),
            created_at: now,
        };
        st.repo_mut(&o, &r)
            .ok_or_else(not_found)?
            .comments
            .push(c.clone());
        c
    };
    Ok(json_response(
        StatusCode::CREATED,
        shapes::comment(&urls, &repo, &c),
    ))
}

pub async fn list_comments(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("issues"))?;
    if !issue_exists(&repo, n) {
        return Err(not_found());
    }
    let items: Vec<Value> = repo
        .comments
        .iter()
        .filter(|c| c.issue == n)
        .map(|c| shapes::comment(&urls, &repo, c))
        .collect();
    Ok(page(
        items,
        &q,
        &urls,
        &format!("/repos/{o}/{r}/issues/{n}/comments"),
    ))
}

pub async fn list_labels(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("issues"))?;
    let items = repo
        .labels
        .iter()
        .map(|l| shapes::label(&urls, &repo, l))
        .collect();
    Ok(page(items, &q, &urls, &format!("/repos/{o}/{r}/labels")))
}

pub async fn get_label(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, name)): Path<(String, String, String)>,
) -> Answer {
    let repo = load(&s, &headers, &o, &r, Need::read("issues"))?;
    let l = repo.label(&name).ok_or_else(not_found)?;
    Ok(json_response(
        StatusCode::OK,
        shapes::label(&urls, &repo, l),
    ))
}

/// 422 `already_exists` when a label of that name exists in any letter case.
pub async fn create_label(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r)): Path<(String, String)>,
    body: Bytes,
) -> Answer {
    load(&s, &headers, &o, &r, Need::write("issues"))?;
    let body = json_body(&body)?;
    let Some(name) = body["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
    else {
        return Err(validation(
            json!([{"resource": "Label", "code": "missing_field", "field": "name"}]),
        ));
    };
    let l = {
        let mut st = s.lock().expect("state lock");
        let id = st.next_id();
        let repo = st.repo_mut(&o, &r).ok_or_else(not_found)?;
        if repo.label(&name).is_some() {
            return Err(validation(
                json!([{"resource": "Label", "code": "already_exists", "field": "name"}]),
            ));
        }
        let l = Label {
            id,
            name,
            color: body["color"]
                .as_str()
                .unwrap_or("ededed")
                .trim_start_matches('#')
                .to_string(),
            description: body["description"].as_str().map(str::to_string),
        };
        repo.labels.push(l.clone());
        l
    };
    let repo = reload(&s, &o, &r);
    Ok(json_response(
        StatusCode::CREATED,
        shapes::label(&urls, &repo, &l),
    ))
}

fn labels_of(urls: &Urls, repo: &Repo, n: u64) -> Value {
    let i = repo.issues.iter().find(|i| i.number == n);
    let names = i.map(|i| i.labels.clone()).unwrap_or_default();
    Value::Array(
        names
            .iter()
            .filter_map(|n| repo.label(n))
            .map(|l| shapes::label(urls, repo, l))
            .collect(),
    )
}

async fn change_labels(
    s: Shared,
    urls: Urls,
    headers: HeaderMap,
    o: String,
    r: String,
    n: u64,
    body: Bytes,
    replace: bool,
) -> Answer {
    load(&s, &headers, &o, &r, Need::write("issues"))?;
    let body = json_body(&body)?;
    let names = if body.is_array() {
        strings(&body)
    } else {
        strings(&body["labels"])
    };
    {
        let mut st = s.lock().expect("state lock");
        let names = ensure_labels(&mut st, &o, &r, &names);
        let repo = st.repo_mut(&o, &r).ok_or_else(not_found)?;
        let i = repo.issue_mut(n).ok_or_else(not_found)?;
        if replace {
            i.labels.clear();
        }
        for name in names {
            if !i.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
                i.labels.push(name);
            }
        }
    }
    let repo = reload(&s, &o, &r);
    Ok(json_response(StatusCode::OK, labels_of(&urls, &repo, n)))
}

pub async fn add_labels(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
    body: Bytes,
) -> Answer {
    change_labels(s, urls, headers, o, r, n, body, false).await
}

pub async fn set_labels(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n)): Path<(String, String, u64)>,
    body: Bytes,
) -> Answer {
    change_labels(s, urls, headers, o, r, n, body, true).await
}

/// 404 `Label does not exist` when the issue lacks it, as GitHub answers.
pub async fn remove_label(
    State(s): State<Shared>,
    Extension(urls): Extension<Urls>,
    headers: HeaderMap,
    Path((o, r, n, name)): Path<(String, String, u64, String)>,
) -> Answer {
    load(&s, &headers, &o, &r, Need::write("issues"))?;
    {
        let mut st = s.lock().expect("state lock");
        let repo = st.repo_mut(&o, &r).ok_or_else(not_found)?;
        let i = repo.issue_mut(n).ok_or_else(not_found)?;
        let before = i.labels.len();
        i.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
        if i.labels.len() == before {
            return Err(gh_error(StatusCode::NOT_FOUND, "Label does not exist"));
        }
    }
    let repo = reload(&s, &o, &r);
    Ok(json_response(StatusCode::OK, labels_of(&urls, &repo, n)))
}
