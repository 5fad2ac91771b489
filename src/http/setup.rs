//! `GET /` (the setup page, or a status page once configured) and
//! `GET /setup/callback` (GitHub's redirect after registering the App).
//!
//! Small self-contained HTML: no external assets, no JavaScript. Every value that
//! comes from a request or from GitHub is HTML-escaped. It must never show a key, a
//! secret or a token; the flow itself lives in `crate::setup`.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use crate::setup::{LiveApp, SetupError};

#[derive(Deserialize)]
pub struct HomeQuery {
    org: Option<String>,
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
}

pub async fn home(State(state): State<AppState>, Query(q): Query<HomeQuery>) -> Response {
    let live = state.setup.live();
    if live.is_configured() {
        return page(StatusCode::OK, "Responder", &status_body(&live));
    }
    let org = q.org.as_deref().map(str::trim).filter(|o| !o.is_empty());
    match state.setup.begin(org) {
        Ok(reg) => {
            let missing: String = live
                .missing()
                .iter()
                .map(|m| format!("<li><code>{}</code></li>", escape(m)))
                .collect();
            let target = match org {
                Some(o) => format!("the organisation <b>{}</b>", escape(o)),
                None => "your personal account".to_string(),
            };
            let public = escape(state.setup.public_url());
            let body = format!(
                r#"<h1>Responder is not connected to a GitHub App yet</h1>
<p>Missing settings:</p>
<ul id="missing">{missing}</ul>
<p>Register a GitHub App for {target} from Responder's manifest (the permissions and
events README.md justifies). GitHub asks you to confirm the App's name, then sends you
back here; Responder stores the App's id, private key and webhook secret in
<code>$RESPONDER_DATA_DIR/app-credentials.json</code> (readable by its user only) and
uses them at once, without a restart.</p>
<form id="register" method="post" action="{action}">
<input type="hidden" name="manifest" value="{manifest}">
<button type="submit" id="register-app">Register GitHub App</button>
</form>
<p>GitHub will send webhooks to <code>{public}/webhook</code>. If GitHub cannot reach
that address, set <code>RESPONDER_PUBLIC_URL</code> and restart first.</p>
<form id="organisation" method="get" action="/">
<label>Register it for an organisation instead: <input name="org" placeholder="organisation"></label>
<button type="submit">Use organisation</button>
</form>
<p>Or set <code>GITHUB_APP_ID</code>, <code>GITHUB_APP_PRIVATE_KEY</code> and
<code>GITHUB_WEBHOOK_SECRET</code> yourself and restart.</p>"#,
                action = escape(&reg.action),
                manifest = escape(&reg.manifest),
            );
            page(StatusCode::OK, "Set up Responder", &body)
        }
        Err(e) => error_page(&e),
    }
}

pub async fn callback(State(state): State<AppState>, Query(q): Query<CallbackQuery>) -> Response {
    let (Some(code), Some(st)) = (q.code.as_deref(), q.state.as_deref()) else {
        return page(
            StatusCode::BAD_REQUEST,
            "Setup not finished",
            "<h1>Setup not finished</h1><p>GitHub's redirect carries no <code>code</code> and \
             <code>state</code>. Start again from <a href=\"/\">the setup page</a>.</p>",
        );
    };
    match state.setup.finish(code, st).await {
        Ok(app) => {
            let install = format!("{}/installations/new", app.html_url.trim_end_matches('/'));
            let body = format!(
                r#"<h1 id="result">Responder is configured</h1>
<p>The GitHub App <b>{slug}</b> (id {id}) is registered, its credentials are stored, and
Responder uses them now: webhooks are verified with its secret and GitHub is called as
the App.</p>
<p>Next: <a id="install" href="{install}">install the App</a> on the repositories
Responder should serve.</p>
<p><a href="/healthz">Health</a></p>"#,
                slug = escape(&app.slug),
                id = app.app_id,
                install = escape(&install),
            );
            page(StatusCode::OK, "Responder is configured", &body)
        }
        Err(e) => error_page(&e),
    }
}

fn status_body(live: &LiveApp) -> String {
    let app_id = live.app.as_ref().map(|a| a.app_id.as_str()).unwrap_or("");
    let link = live
        .html_url
        .as_deref()
        .map(|u| {
            let u = u.trim_end_matches('/');
            format!(
                r#"<p><a href="{0}">The App on GitHub</a> · <a href="{0}/installations/new">Install it on more repositories</a></p>"#,
                escape(u)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<h1 id="result">Responder is configured</h1>
<p>GitHub App id {id}, credentials from {source}.</p>
{link}<p><a href="/healthz">Health</a> · <a href="/metrics">Metrics</a></p>"#,
        id = escape(app_id),
        source = escape(live.source.as_str()),
    )
}

fn error_page(e: &SetupError) -> Response {
    let status = match e {
        SetupError::AlreadyConfigured(_) => StatusCode::CONFLICT,
        SetupError::BadOrg(_) | SetupError::UnknownState | SetupError::SpentCode => {
            StatusCode::BAD_REQUEST
        }
        SetupError::Exchange(_) | SetupError::Key(_) => StatusCode::BAD_GATEWAY,
        SetupError::Store { .. } | SetupError::Client(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    tracing::warn!(error = %e, "setup refused");
    let body = format!(
        "<h1>Setup failed</h1><p id=\"error\">{}</p><p><a href=\"/\">Back to the setup page</a></p>",
        escape(&e.to_string())
    );
    page(status, "Setup failed", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
code{{background:#f3f3f3;padding:0 .2em}}button{{font-size:1rem;padding:.4em 1em}}</style>
</head><body>
{body}
</body></html>
"#,
        title = escape(title),
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// Text as HTML content or a quoted attribute value.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_and_quotes_are_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
