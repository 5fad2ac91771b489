//! One shared test world for incident tests (bors' `BorsTester`, in spirit): a fake
//! GitHub with `acme/evals` installed (alice may write, rita may read), a real
//! service on a manual clock pointed at it, and verbs — deliver, command, declare,
//! close, reopen, call the API — so a whole test reads in a few lines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use responder::clock::{Clock, ManualClock};
use responder::service::ServiceOptions;
use responder::store::IncidentRecord;
use responder::types::IssueNumber;
use serde_json::{Value, json};

use super::fake_github::{FakeGitHub, Issue, RepoOpts};
use super::git_fixture::RepoBuilder;
use super::service::{TestService, agent_token, app_args, fast_policy};
use super::webhook::fixture;

pub const INSTALLATION: u64 = 99;
pub const WAIT: Duration = Duration::from_secs(20);

/// A complete incident form for a SEV2 `llm-api` incident, as GitHub renders it.
pub const FORM_BODY: &str = "### Severity\n\nSEV2 — Major: a major feature is down or degraded for many users\n\n### Component\n\nllm-api — LLM API upstream\n\n### Summary\n\nAgents get 429 from the LLM API since 14:00.\n\n### Impact\n\nAll evaluations stall.\n\n### Started at\n\n2026-01-05 14:00 UTC\n\n### Links\n\n_No response_\n";

pub struct World {
    pub fake: FakeGitHub,
    pub svc: TestService,
    pub clock: Arc<ManualClock>,
    pub tmp: tempfile::TempDir,
    next_comment: AtomicU64,
    /// Every webhook delivered through [`World::deliver`] (event, body), in order.
    delivered: std::sync::Mutex<Vec<(String, Vec<u8>)>>,
}

/// `acme/evals` (installed; alice may write, rita may read), a service on a manual
/// clock set to the real time (the fake checks the App's JWTs against its own clock,
/// kept equal).
pub async fn world() -> World {
    world_with(&[]).await
}

/// [`world`] with `files` (path, text) committed beside the README.
pub async fn world_with(files: &[(&str, &str)]) -> World {
    world_cfg(files, |_| {}).await
}

/// [`world_with`]; `configure` may change the service before its worker runs.
pub async fn world_cfg(
    files: &[(&str, &str)],
    configure: impl FnOnce(&mut responder::Service),
) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = RepoBuilder::new(&tmp.path().join("evals"));
    let mut tree = vec![("README.md", Some(&b"evals\n"[..]))];
    tree.extend(files.iter().map(|(p, t)| (*p, Some(t.as_bytes()))));
    b.commit_on("main", &tree, "init");
    let fake = FakeGitHub::start().await;
    let opts = RepoOpts {
        installation: Some(INSTALLATION),
        public: false,
    };
    fake.add_repo("acme", "evals", b.publish(), opts);
    fake.set_permission("acme", "evals", "alice", "write");
    fake.set_permission("acme", "evals", "rita", "read");
    let now = Utc.timestamp_opt(Utc::now().timestamp(), 0).unwrap();
    let clock = Arc::new(ManualClock::new(now));
    fake.set_now(now.timestamp());
    let svc = start(tmp.path(), &fake, &clock, configure).await;
    World {
        fake,
        svc,
        clock,
        tmp,
        next_comment: AtomicU64::new(100),
        delivered: Default::default(),
    }
}

async fn start(
    dir: &std::path::Path,
    fake: &FakeGitHub,
    clock: &Arc<ManualClock>,
    configure: impl FnOnce(&mut responder::Service),
) -> TestService {
    let options = ServiceOptions {
        retry_policy: fast_policy(),
        clock: clock.clone(),
        ..ServiceOptions::default()
    };
    TestService::start_with_options(app_args(&dir.join("data"), fake), options, configure).await
}

/// An agent token for acme/evals with `scope`, as the agent `test-agent`.
pub fn token(scope: &str) -> String {
    agent_token(&["acme/evals"], &[scope], 3600)
}

impl World {
    /// Stops the service and starts a new one on the same data, as after a crash
    /// or a deploy.
    pub async fn restart(self) -> World {
        let World {
            fake,
            svc,
            clock,
            tmp,
            next_comment,
            delivered,
        } = self;
        svc.stop().await;
        let svc = start(tmp.path(), &fake, &clock, |_| {}).await;
        World {
            fake,
            svc,
            clock,
            tmp,
            next_comment,
            delivered,
        }
    }

    /// Another repository `owner/name` with a README, covered by `installation`.
    pub fn add_repo(&self, owner: &str, name: &str, installation: u64) {
        let mut b = RepoBuilder::new(&self.tmp.path().join(format!("{owner}-{name}")));
        b.commit_on("main", &[("README.md", Some(&b"readme\n"[..]))], "init");
        let opts = RepoOpts {
            installation: Some(installation),
            public: false,
        };
        self.fake.add_repo(owner, name, b.publish(), opts);
    }

    pub fn url(&self, n: u64) -> String {
        format!("{}/acme/evals/issues/{n}", self.fake.server_url())
    }

    /// Moves the service's and the fake's clocks to `t`.
    pub fn set_time(&self, t: DateTime<Utc>) {
        self.clock.set(t);
        self.fake.set_now(t.timestamp());
    }

    pub async fn deliver(&self, event: &str, delivery: &str, payload: &Value) {
        let body = serde_json::to_vec(payload).unwrap();
        self.delivered
            .lock()
            .unwrap()
            .push((event.to_string(), body.clone()));
        let resp = self.svc.deliver(event, delivery, &body).await;
        assert!(resp.status().is_success(), "{}", resp.status());
        assert!(self.svc.settle(WAIT).await, "deliveries did not settle");
    }

    /// GitHub delivers every webhook so far once more (new delivery ids, as its
    /// "Redeliver" button does), in order; returns once all are handled.
    pub async fn redeliver_all(&self) {
        let all = self.delivered.lock().unwrap().clone();
        for (i, (event, body)) in all.iter().enumerate() {
            let resp = self.svc.deliver(event, &format!("again-{i}"), body).await;
            assert!(resp.status().is_success(), "{}", resp.status());
        }
        assert!(self.svc.settle(WAIT).await, "deliveries did not settle");
    }

    /// `/incident <text>` by alice on issue `n`.
    pub async fn command(&self, n: u64, text: &str) {
        self.command_by("alice", n, text).await;
    }

    /// `/incident <text>` by `login` on issue `n`.
    pub async fn command_by(&self, login: &str, n: u64, text: &str) {
        let id = self.next_comment.fetch_add(1, Ordering::SeqCst);
        let p = self.comment_payload(n, id, login, "User", text);
        self.deliver("issue_comment", &format!("c-{id}"), &p).await;
    }

    /// Declares `SEV? title` for `component` by command on a new issue labelled
    /// `labels`; returns the stored incident.
    pub async fn declare(
        &self,
        sev: &str,
        title: &str,
        component: &str,
        labels: &[&str],
    ) -> IncidentRecord {
        let n = self
            .fake
            .add_issue("acme", "evals", "Evaluations are slow", "", labels);
        self.command(
            n,
            &format!("/incident declare {sev} {title} component={component}"),
        )
        .await;
        self.incident(n).await
    }

    pub async fn incident(&self, n: u64) -> IncidentRecord {
        self.svc
            .store
            .incident_for_issue(&"acme/evals".parse().unwrap(), IssueNumber(n))
            .await
            .unwrap()
            .expect("an incident")
    }

    /// GitHub's `issues.<action>` for issue `n` as the fake has it now.
    pub fn issue_event(&self, action: &str, n: u64) -> Value {
        let i = self
            .fake
            .issues("acme", "evals")
            .into_iter()
            .find(|i| i.number == n)
            .unwrap();
        let mut p = fixture("issues.closed");
        p["action"] = json!(action);
        p["repository"]["full_name"] = json!("acme/evals");
        p["installation"] = json!({ "id": INSTALLATION });
        p["sender"]["login"] = json!("alice");
        p["issue"]["number"] = json!(n);
        p["issue"]["title"] = json!(i.title);
        p["issue"]["body"] = json!(i.body);
        p["issue"]["html_url"] = json!(self.url(n));
        p["issue"]["state"] = json!(i.state);
        p["issue"]["state_reason"] = json!(i.state_reason);
        p["issue"]["closed_at"] = json!(
            i.closed_at
                .map(|t| Utc.timestamp_opt(t, 0).unwrap().to_rfc3339())
        );
        p
    }

    /// Closes issue `n` on GitHub with `reason` and delivers the event as `delivery`.
    pub async fn close(&self, n: u64, reason: &str, delivery: &str) -> Value {
        let now = self.clock.now().timestamp();
        self.fake.edit_issue("acme", "evals", n, |i| {
            i.state = "closed".into();
            i.state_reason = Some(reason.into());
            i.closed_at = Some(now);
        });
        let p = self.issue_event("closed", n);
        self.deliver("issues", delivery, &p).await;
        p
    }

    /// Reopens issue `n` on GitHub and delivers the event as `delivery`.
    pub async fn reopen(&self, n: u64, delivery: &str) -> Value {
        self.fake.edit_issue("acme", "evals", n, |i| {
            i.state = "open".into();
            i.state_reason = Some("reopened".into());
            i.closed_at = None;
        });
        let mut p = self.issue_event("reopened", n);
        p["issue"]["updated_at"] = json!(self.clock.now().to_rfc3339());
        self.deliver("issues", delivery, &p).await;
        p
    }

    pub fn comments_on(&self, n: u64) -> Vec<String> {
        self.fake
            .comments("acme", "evals", n)
            .into_iter()
            .map(|c| c.body)
            .collect()
    }

    pub fn labels_of(&self, n: u64) -> Vec<String> {
        let mut l = self
            .fake
            .issues("acme", "evals")
            .into_iter()
            .find(|i| i.number == n)
            .unwrap()
            .labels;
        l.sort();
        l
    }

    pub fn set_body(&self, n: u64, body: &str) {
        self.fake
            .edit_issue("acme", "evals", n, |i| i.body = Some(body.into()));
    }

    pub fn body(&self, n: u64) -> String {
        self.fake
            .issues("acme", "evals")
            .into_iter()
            .find(|i| i.number == n)
            .unwrap()
            .body
            .unwrap()
    }

    /// Issues Responder opened (their body starts with its marker), in order.
    pub fn app_issues(&self, kind: &str) -> Vec<Issue> {
        let tag = format!("kind={kind} -->");
        self.fake
            .issues("acme", "evals")
            .into_iter()
            .filter(|i| {
                i.body.as_deref().is_some_and(|b| {
                    b.starts_with("<!-- responder:incident=")
                        && b.lines().next().unwrap().ends_with(&tag)
                })
            })
            .collect()
    }

    pub fn one(&self, kind: &str) -> Issue {
        let all = self.app_issues(kind);
        assert_eq!(all.len(), 1, "{kind} issues: {all:#?}");
        all.into_iter().next().unwrap()
    }

    /// Opens issue `n` in the fake and returns a webhook payload about it.
    /// `issues.opened` for a new, complete incident form issue by alice.
    pub fn incident_form(&self) -> Value {
        self.issue_payload(
            "opened",
            "[Incident]: LLM rate limited",
            FORM_BODY,
            &["incident"],
        )
    }

    pub fn issue_payload(&self, action: &str, title: &str, body: &str, labels: &[&str]) -> Value {
        let n = self.fake.add_issue("acme", "evals", title, body, labels);
        let mut p = fixture("issues.opened");
        p["action"] = json!(action);
        p["repository"]["full_name"] = json!("acme/evals");
        p["installation"] = json!({ "id": INSTALLATION });
        p["issue"]["number"] = json!(n);
        p["issue"]["title"] = json!(title);
        p["issue"]["body"] = json!(body);
        p["issue"]["html_url"] = json!(self.url(n));
        p["issue"]["user"] = json!({"login": "alice", "type": "User"});
        p["sender"] = json!({"login": "alice", "type": "User"});
        p["issue"]["labels"] = json!(
            labels
                .iter()
                .map(|l| json!({"name": l}))
                .collect::<Vec<_>>()
        );
        if action == "labeled" {
            p["label"] = json!({"name": labels[0]});
        }
        p
    }

    /// A comment by `login` on issue `n`.
    pub fn comment_payload(
        &self,
        n: u64,
        comment_id: u64,
        login: &str,
        kind: &str,
        body: &str,
    ) -> Value {
        let mut p = fixture("issue_comment.created");
        p["repository"]["full_name"] = json!("acme/evals");
        p["installation"] = json!({ "id": INSTALLATION });
        p["issue"]["number"] = json!(n);
        p["issue"]["title"] = json!("Evaluations are slow");
        p["issue"]["html_url"] = json!(self.url(n));
        p["comment"]["id"] = json!(comment_id);
        p["comment"]["body"] = json!(body);
        p["comment"]["user"] = json!({"login": login, "type": kind});
        p
    }

    pub async fn api(&self, body: &Value) -> (u16, Value) {
        self.api_as(body, "incidents:write").await
    }

    pub async fn api_as(&self, body: &Value, scope: &str) -> (u16, Value) {
        self.post_as("/v1/incidents", &token(scope), body).await
    }

    /// `GET /v1/incidents?<query>` with a token of `scope`.
    pub async fn list(&self, query: &str, scope: &str) -> (u16, Value) {
        self.get_as(&format!("/v1/incidents?{query}"), &token(scope))
            .await
    }

    /// Issues labelled `label`, oldest first.
    pub fn labelled(&self, label: &str) -> Vec<Issue> {
        self.fake
            .issues("acme", "evals")
            .into_iter()
            .filter(|i| i.labels.iter().any(|l| l == label))
            .collect()
    }

    /// `POST <path>` with `body` as JSON and `bearer` as the agent token.
    pub async fn post_as(&self, path: &str, bearer: &str, body: &Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}{path}", self.svc.url))
            .bearer_auth(bearer)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `GET /v1/incidents/{id}/timeline`'s entries, with a `diff:read` token.
    pub async fn timeline(&self, id: i64) -> Vec<Value> {
        let (status, body) = self
            .get_as(&format!("/v1/incidents/{id}/timeline"), &token("diff:read"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["incident"], id);
        body["entries"].as_array().unwrap().clone()
    }

    /// `GET /metrics`, as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.svc.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get(&self, id: &Value, scope: &str) -> (u16, Value) {
        self.get_as(&format!("/v1/incidents/{id}"), &token(scope))
            .await
    }

    /// `GET <path>` with `bearer` as the agent token.
    pub async fn get_as(&self, path: &str, bearer: &str) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.svc.url))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}
