//! One-click setup against the fake GitHub: the page's manifest, GitHub's form and
//! redirect, the code exchange, the stored credentials and the switch to them without
//! a restart; once driven hop by hop over HTTP, once by a headless Chromium.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use responder::settings::SettingsArgs;
use responder::yaml::{self, Yaml};
use serde_json::Value;

use crate::support::fake_github::{FakeGitHub, MANIFEST_APP_SLUG, RepoOpts};
use crate::support::git_fixture::RepoBuilder;
use crate::support::service::{TestService, agent_token, app_args, eventually};
use crate::support::webdriver::Browser;
use crate::support::webhook::{fixture, sign};

const INSTALLATION: u64 = 7;
/// Chromium may be slow to load a page on a busy machine; it is never expected to be.
const BROWSER_WAIT: Duration = Duration::from_secs(60);

/// A service pointed at the fake GitHub with no App settings at all.
struct Unconfigured {
    fake: FakeGitHub,
    svc: TestService,
    args: SettingsArgs,
    tmp: tempfile::TempDir,
}

async fn unconfigured() -> Unconfigured {
    let tmp = tempfile::tempdir().unwrap();
    let fake = FakeGitHub::start().await;
    let args = SettingsArgs {
        github_app_id: None,
        github_app_private_key: None,
        github_app_private_key_path: None,
        github_webhook_secret: None,
        ..app_args(&tmp.path().join("data"), &fake)
    };
    let svc = TestService::start_with(args.clone(), |_| {}).await;
    Unconfigured {
        fake,
        svc,
        args,
        tmp,
    }
}

/// A client that shows every hop instead of following redirects.
fn hop_by_hop() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// The register form of the setup page.
#[derive(Debug)]
struct RegisterForm {
    action: String,
    manifest: String,
    state: String,
}

/// `GET /` (with `?org=` when given) and its register form.
async fn setup_page(http: &reqwest::Client, svc: &TestService, org: Option<&str>) -> RegisterForm {
    let mut req = http.get(format!("{}/", svc.url));
    if let Some(org) = org {
        req = req.query(&[("org", org)]);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    let form = html
        .split_once(r#"<form id="register""#)
        .unwrap_or_else(|| panic!("no register form on the setup page:\n{html}"))
        .1;
    let action = unescape(between(form, r#"action=""#, "\""));
    let manifest = unescape(between(form, r#"name="manifest" value=""#, "\""));
    let state = query(&action, "state").expect("the form's action carries a state");
    RegisterForm {
        action,
        manifest,
        state,
    }
}

/// Posts the form to the fake GitHub as a browser would; GitHub's redirect location.
async fn submit_to_github(http: &reqwest::Client, form: &RegisterForm) -> String {
    let resp = http
        .post(&form.action)
        .form(&[("manifest", &form.manifest)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND, "{:?}", resp.text().await);
    resp.headers()["location"].to_str().unwrap().to_string()
}

/// GETs GitHub's redirect location; status and page.
async fn follow(http: &reqwest::Client, location: &str) -> (StatusCode, String) {
    let resp = http.get(location).send().await.unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// The whole flow for `org` (`None`: a personal account); the success page.
async fn register(u: &Unconfigured, org: Option<&str>) -> String {
    let http = hop_by_hop();
    let form = setup_page(&http, &u.svc, org).await;
    let location = submit_to_github(&http, &form).await;
    let (status, page) = follow(&http, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let rest = text
        .split_once(start)
        .unwrap_or_else(|| panic!("{start:?} not found in:\n{text}"))
        .1;
    rest.split_once(end).map_or(rest, |(v, _)| v)
}

/// The page escapes attribute values; these are the escapes it uses.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn query(url: &str, key: &str) -> Option<String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

async fn healthz(svc: &TestService) -> Value {
    reqwest::get(format!("{}/healthz", svc.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A delivery nobody handles, signed with `secret`: only the edge's answer matters.
async fn webhook_signed_with(svc: &TestService, secret: &str) -> StatusCode {
    let body = br#"{"action":"created"}"#;
    let delivery = uuid::Uuid::new_v4().to_string();
    svc.post_webhook("star", &delivery, body, Some(&sign(secret, body)))
        .await
        .status()
}

fn credentials_file(u: &Unconfigured) -> std::path::PathBuf {
    u.svc.data_dir.join("app-credentials.json")
}

/// `acme/widgets` with PR 1, installed, so a diff request needs an installation token.
fn add_widgets(fake: &FakeGitHub, dir: &Path) {
    let mut b = RepoBuilder::new(&dir.join("widgets"));
    b.commit_on(
        "main",
        &[("README.md", Some(b"hello\n".as_slice()))],
        "init",
    );
    b.branch_from("feature", "main");
    b.commit_on(
        "feature",
        &[("src/lib.rs", Some(b"fn a() {}\n".as_slice()))],
        "feature",
    );
    b.pull(1, "feature");
    fake.add_repo(
        "acme",
        "widgets",
        b.publish(),
        RepoOpts {
            installation: Some(INSTALLATION),
            public: false,
        },
    );
    fake.add_pull("acme", "widgets", 1);
}

async fn pr_files(svc: &TestService) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}/v1/repos/acme/widgets/pulls/1/files", svc.url))
        .bearer_auth(agent_token(&["acme/widgets"], &["diff:read"], 3600))
        .send()
        .await
        .unwrap()
}

/// `app.yml`'s permissions as the manifest's JSON should carry them.
fn app_yml_permissions() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("app.yml");
    let parsed = yaml::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
    let Some(Yaml::Map(perms)) = parsed.get("default_permissions") else {
        panic!("app.yml has no default_permissions map");
    };
    perms
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.as_str().unwrap().into())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[tokio::test]
async fn without_app_settings_the_page_offers_the_manifest_and_webhooks_are_refused() {
    let u = unconfigured().await;
    let health = healthz(&u.svc).await;
    assert_eq!(health["github_app"]["configured"], false, "{health}");
    let missing = health["github_app"]["missing"].to_string();
    for variable in [
        "GITHUB_APP_ID",
        "GITHUB_APP_PRIVATE_KEY",
        "GITHUB_WEBHOOK_SECRET",
    ] {
        assert!(missing.contains(variable), "{health}");
    }

    let form = setup_page(&hop_by_hop(), &u.svc, None).await;
    assert_eq!(
        form.action,
        format!(
            "{}/settings/apps/new?state={}",
            u.fake.server_url(),
            form.state
        )
    );
    let manifest: Value = serde_json::from_str(&form.manifest).unwrap();
    assert_eq!(
        manifest["hook_attributes"]["url"],
        format!("{}/webhook", u.svc.url)
    );
    assert_eq!(
        manifest["redirect_url"],
        format!("{}/setup/callback", u.svc.url)
    );
    assert_eq!(manifest["default_permissions"], app_yml_permissions());
    assert_eq!(
        manifest["default_events"],
        serde_json::json!(["issues", "issue_comment", "pull_request"])
    );

    let refused = u
        .svc
        .post_webhook("star", "d-1", b"{}", Some(&sign("anything", b"{}")))
        .await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "not_configured", "{body}");
    assert!(u.fake.registered_manifests().is_empty());
}

#[tokio::test]
async fn one_click_setup_stores_the_app_and_uses_it_without_a_restart() {
    let u = unconfigured().await;
    add_widgets(&u.fake, u.tmp.path());
    // Before setup the GitHub-backed agent routes say what is missing (CONTRACT.md).
    let early = pr_files(&u.svc).await;
    assert_eq!(early.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = early.json().await.unwrap();
    assert_eq!(body["error"], "not_configured", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("GITHUB_APP_ID"),
        "{body}"
    );
    let http = hop_by_hop();
    let form = setup_page(&http, &u.svc, None).await;
    let location = submit_to_github(&http, &form).await;
    assert!(
        location.starts_with(&format!("{}/setup/callback?", u.svc.url)),
        "{location}"
    );
    assert_eq!(query(&location, "state").as_deref(), Some(&*form.state));
    let code = query(&location, "code").expect("GitHub's redirect carries a code");
    let (registered_org, registered) = u.fake.registered_manifests().pop().unwrap();
    assert_eq!(registered_org, None);
    assert_eq!(
        registered["hook_attributes"]["url"],
        format!("{}/webhook", u.svc.url)
    );

    // A callback this service did not start (or a forged one) must not spend the code.
    let callback = format!("{}/setup/callback", u.svc.url);
    for bad in [
        format!("{callback}?code={code}&state=not-the-state"),
        format!("{callback}?code={code}"),
        format!("{callback}?state={}", form.state),
    ] {
        let (status, page) = follow(&http, &bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {page}");
        assert!(page.to_lowercase().contains("start again"), "{page}");
    }
    assert_eq!(
        u.fake.issued_webhook_secret(),
        None,
        "nothing was converted"
    );
    assert!(!credentials_file(&u).exists());
    assert_eq!(healthz(&u.svc).await["github_app"]["configured"], false);

    // The same code, with the right state, still converts: it was not spent above.
    let (status, page) = follow(&http, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Responder is configured"), "{page}");
    assert!(page.contains(MANIFEST_APP_SLUG), "{page}");
    assert!(page.contains(&u.fake.app_id().to_string()), "{page}");
    let secret = u
        .fake
        .issued_webhook_secret()
        .expect("the code was converted");
    assert!(!page.contains(&secret) && !page.contains("PRIVATE KEY"));

    let file = credentials_file(&u);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored["app_id"], u.fake.app_id().to_string());
    assert_eq!(stored["webhook_secret"], secret);
    assert!(stored["private_key"].as_str().unwrap().contains("BEGIN"));

    assert_eq!(
        webhook_signed_with(&u.svc, &secret).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        webhook_signed_with(&u.svc, "not-the-secret").await,
        StatusCode::UNAUTHORIZED
    );
    let health = healthz(&u.svc).await;
    assert_eq!(health["github_app"]["configured"], true, "{health}");
    assert_eq!(health["github_app"]["missing"], serde_json::json!([]));

    // The diff needs an App JWT (signed with the stored key) and an installation token.
    let resp = pr_files(&u.svc).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let files: Value = resp.json().await.unwrap();
    assert_eq!(files["source"], "api", "{files}");
    assert_eq!(files["files"][0]["filename"], "src/lib.rs", "{files}");
    let token_path = format!("/app/installations/{INSTALLATION}/access_tokens");
    assert!(
        u.fake
            .requests()
            .iter()
            .any(|r| r.path == token_path && r.authed && r.status == 201),
        "the fake minted an installation token for the new App's JWT"
    );

    // The incident handlers run too: an `/incident` command is declared, not dropped.
    u.fake.set_permission("acme", "widgets", "alice", "write");
    let n = u
        .fake
        .add_issue("acme", "widgets", "Evals are slow", "", &[]);
    let mut p = fixture("issue_comment.created");
    p["repository"]["full_name"] = "acme/widgets".into();
    p["installation"] = serde_json::json!({ "id": INSTALLATION });
    p["issue"]["number"] = n.into();
    p["comment"]["body"] = "/incident declare SEV2 LLM rate limited".into();
    p["comment"]["user"] = serde_json::json!({"login": "alice", "type": "User"});
    let body = serde_json::to_vec(&p).unwrap();
    let sent = u
        .svc
        .post_webhook("issue_comment", "cmd-1", &body, Some(&sign(&secret, &body)))
        .await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let declared = eventually(Duration::from_secs(20), || async {
        u.fake
            .issues("acme", "widgets")
            .iter()
            .filter(|i| i.title.contains("LLM rate limited"))
            .count()
            == 2
    })
    .await;
    assert!(declared, "{:#?}", u.fake.issues("acme", "widgets"));

    let (status, page) = follow(&http, &location).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("already configured"), "{page}");
}

#[tokio::test]
async fn a_code_github_no_longer_accepts_is_refused_with_a_clear_message() {
    let u = unconfigured().await;
    let http = hop_by_hop();
    let form = setup_page(&http, &u.svc, None).await;
    let location = submit_to_github(&http, &form).await;
    let code = query(&location, "code").unwrap();
    // Someone else exchanged the code first (a replayed or intercepted redirect).
    let first = reqwest::Client::new()
        .post(format!(
            "{}/app-manifests/{code}/conversions",
            u.fake.api_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);

    let (status, page) = follow(&http, &location).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("used already or has expired") && page.contains("Start again from"),
        "{page}"
    );
    assert!(!credentials_file(&u).exists());
    assert_eq!(healthz(&u.svc).await["github_app"]["configured"], false);

    // Starting again works.
    let page = register(&u, None).await;
    assert!(page.contains("Responder is configured"), "{page}");
    assert!(credentials_file(&u).exists());
}

#[tokio::test]
async fn a_restarted_service_uses_the_credentials_setup_stored() {
    let u = unconfigured().await;
    register(&u, None).await;
    let secret = u.fake.issued_webhook_secret().unwrap();
    let Unconfigured {
        fake,
        svc,
        args,
        tmp: _tmp,
    } = u;
    svc.stop().await;

    let svc = TestService::start_with(args, |_| {}).await;
    let health = healthz(&svc).await;
    assert_eq!(health["github_app"]["configured"], true, "{health}");
    let page = reqwest::get(format!("{}/", svc.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Responder is configured") && page.contains("app-credentials.json"),
        "{page}"
    );
    assert!(!page.contains("<form id=\"register\""), "{page}");
    assert_eq!(
        webhook_signed_with(&svc, &secret).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(fake.registered_manifests().len(), 1);
}

#[tokio::test]
async fn setup_for_an_organisation_posts_to_its_new_app_form() {
    let u = unconfigured().await;
    let http = hop_by_hop();
    let form = setup_page(&http, &u.svc, Some("acme")).await;
    assert!(
        form.action.starts_with(&format!(
            "{}/organizations/acme/settings/apps/new?state=",
            u.fake.server_url()
        )),
        "{}",
        form.action
    );
    let location = submit_to_github(&http, &form).await;
    let (status, page) = follow(&http, &location).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let registered = u.fake.registered_manifests();
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0].0.as_deref(), Some("acme"));
    assert_eq!(
        registered[0].1["redirect_url"],
        format!("{}/setup/callback", u.svc.url)
    );
}

#[tokio::test]
async fn a_name_that_is_no_organisation_is_refused() {
    let u = unconfigured().await;
    let resp = hop_by_hop()
        .get(format!("{}/?org=not%2Fan%2Forg", u.svc.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("not a GitHub organisation name")
    );
}

/// Waits until the browser shows the page GitHub's redirect leads to.
async fn wait_for_callback(browser: &Browser, svc: &TestService) -> String {
    let callback = format!("{}/setup/callback?", svc.url);
    let callback = &callback;
    let landed = eventually(BROWSER_WAIT, || async move {
        browser
            .url()
            .await
            .is_ok_and(|u| u.starts_with(callback.as_str()))
    })
    .await;
    let url = browser.url().await.unwrap();
    assert!(landed, "the browser is at {url}, not back at the callback");
    url
}

#[tokio::test]
async fn a_browser_sets_the_app_up_with_one_click() {
    let u = unconfigured().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", u.svc.url)).await.unwrap();
    register_in_browser(&browser, &u).await;
    let source = browser.source().await.unwrap();
    assert!(source.contains(MANIFEST_APP_SLUG), "{source}");
    assert_eq!(u.fake.registered_manifests()[0].0, None);
    assert!(credentials_file(&u).exists());
}

/// Clicks "Register GitHub App", lands back on the callback's success page, and
/// checks that the service now takes webhooks signed with the new App's secret.
async fn register_in_browser(browser: &Browser, u: &Unconfigured) {
    browser
        .find("#register-app")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_callback(browser, &u.svc).await;
    let result = browser.find("#result").await.unwrap().text().await.unwrap();
    assert_eq!(result, "Responder is configured");
    let secret = u.fake.issued_webhook_secret().unwrap();
    assert_eq!(
        webhook_signed_with(&u.svc, &secret).await,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn a_browser_sets_the_app_up_for_an_organisation() {
    let u = unconfigured().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", u.svc.url)).await.unwrap();
    browser
        .find("#organisation input[name=org]")
        .await
        .unwrap()
        .send_keys("acme")
        .await
        .unwrap();
    browser
        .find("#organisation button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let b = &browser;
    let on_org_page = eventually(BROWSER_WAIT, || async move {
        b.url().await.is_ok_and(|u| u.ends_with("/?org=acme"))
    })
    .await;
    assert!(on_org_page, "{:?}", browser.url().await);
    register_in_browser(&browser, &u).await;
    assert_eq!(u.fake.registered_manifests()[0].0.as_deref(), Some("acme"));
}
