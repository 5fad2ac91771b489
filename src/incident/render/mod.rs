//! Rendering incident issue bodies and comments from Tera templates.
//!
//! Purpose: turn an [`IncidentView`] into the bug body, the RCA body and the comment
//! on the declaring issue, using the default templates or a repository's overrides.
//! Guarantees, whatever the template says: declarer text is sanitised (no pings, no
//! forged markers), the caller's hidden marker is the first line, and the body fits
//! GitHub's 65,536-character limit (user text is cut first, with a visible note).
//! Must never read the environment or files while rendering: templates cannot call
//! `get_env`, and only `from_dir` touches the filesystem, once, when building.

pub mod sandbox;
pub mod timeline;
pub mod view;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tera::Tera;

use crate::assets;

use crate::incident::render::sandbox::{Job, Sandbox};
pub use crate::incident::render::view::{ComponentView, IncidentView, IssueRef, SeverityView};

/// GitHub's limit on an issue or comment body, in characters.
pub const GITHUB_BODY_LIMIT: usize = 65_536;
/// Room kept free below the limit, so later edits by people (or our own update of
/// the bug body with the RCA link) do not cross it.
const HEADROOM: usize = 1_024;

pub const BUG_TEMPLATE: &str = "bug.md.tera";
pub const RCA_TEMPLATE: &str = "rca.md.tera";
pub const COMMENT_TEMPLATE: &str = "incident_comment.md.tera";
pub const TEMPLATE_NAMES: [&str; 3] = [BUG_TEMPLATE, RCA_TEMPLATE, COMMENT_TEMPLATE];

/// The three bodies Responder renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateKind {
    Bug,
    Rca,
    Comment,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 3] =
        [TemplateKind::Bug, TemplateKind::Rca, TemplateKind::Comment];

    pub fn file_name(self) -> &'static str {
        match self {
            TemplateKind::Bug => BUG_TEMPLATE,
            TemplateKind::Rca => RCA_TEMPLATE,
            TemplateKind::Comment => COMMENT_TEMPLATE,
        }
    }
}

/// The default templates, compiled in so the service needs no templates directory.
pub fn builtin_templates() -> HashMap<String, String> {
    [
        (BUG_TEMPLATE, assets::BUG_TEMPLATE),
        (RCA_TEMPLATE, assets::RCA_TEMPLATE),
        (COMMENT_TEMPLATE, assets::COMMENT_TEMPLATE),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Why rendering failed; names the template so `responder check` and the comment
/// on the issue can point at it. Serialisable: the template sandbox answers with it.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum RenderError {
    #[error("template {name} does not compile: {message}")]
    Compile { name: String, message: String },
    #[error("template {name} failed to render: {message}")]
    Render { name: String, message: String },
    #[error("template {0} is missing")]
    Missing(String),
    #[error("cannot read templates from {path}: {message}")]
    Io { path: String, message: String },
}

/// Owns its `Tera`: no global state, one instance per template set.
pub struct Renderer {
    tera: Tera,
}

impl Renderer {
    /// The compiled-in default templates.
    pub fn builtin() -> Result<Renderer, RenderError> {
        Renderer::with_overrides(builtin_templates(), HashMap::new())
    }

    /// The three templates (and any partials) from `*.tera` files in `dir`.
    pub fn from_dir(dir: &Path) -> Result<Renderer, RenderError> {
        Renderer::with_overrides(load_templates_dir(dir)?, HashMap::new())
    }

    /// `defaults` overlaid by `overrides` (a repository's `.github/responder/templates/`),
    /// both keyed by file name (`bug.md.tera`).
    pub fn with_overrides(
        defaults: HashMap<String, String>,
        overrides: HashMap<String, String>,
    ) -> Result<Renderer, RenderError> {
        let mut all = defaults;
        all.extend(overrides);
        for name in TEMPLATE_NAMES {
            if !all.contains_key(name) {
                return Err(RenderError::Missing(name.to_string()));
            }
        }
        let mut tera = Tera::default();
        tera.autoescape_on(vec![]);
        // Tera registers `get_env` unconditionally; a repository's template could
        // otherwise print the App's private key into an issue.
        tera.register_function("get_env", refuse_get_env);
        let mut names: Vec<_> = all.keys().cloned().collect();
        names.sort();
        for name in &names {
            // Compile one by one first so the error names the template.
            let mut probe = Tera::default();
            probe.autoescape_on(vec![]);
            if let Err(e) = probe.add_raw_template(name, &all[name])
                && !is_missing_parent(&e)
            {
                return Err(RenderError::Compile {
                    name: name.clone(),
                    message: error_chain(&e),
                });
            }
        }
        tera.add_raw_templates(all.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|e| RenderError::Compile {
                name: names.join(", "),
                message: error_chain(&e),
            })?;
        Ok(Renderer { tera })
    }

    /// One body, within GitHub's length limit.
    pub fn render(&self, kind: TemplateKind, view: &IncidentView) -> Result<String, RenderError> {
        self.render_limited(kind.file_name(), view)
    }

    pub fn render_bug(&self, view: &IncidentView) -> Result<String, RenderError> {
        self.render(TemplateKind::Bug, view)
    }

    pub fn render_rca(&self, view: &IncidentView) -> Result<String, RenderError> {
        self.render(TemplateKind::Rca, view)
    }

    pub fn render_comment(&self, view: &IncidentView) -> Result<String, RenderError> {
        self.render(TemplateKind::Comment, view)
    }

    fn render_once(&self, name: &str, view: &IncidentView) -> Result<String, RenderError> {
        let ctx =
            tera::Context::from_serialize(view.sanitized()).map_err(|e| RenderError::Render {
                name: name.to_string(),
                message: error_chain(&e),
            })?;
        let body = self
            .tera
            .render(name, &ctx)
            .map_err(|e| RenderError::Render {
                name: name.to_string(),
                message: error_chain(&e),
            })?;
        Ok(with_marker_first(&body, &view.marker))
    }

    /// Renders; when too long, cuts the longest declarer field (summary, impact,
    /// links, note) and says so in a visible note under the marker; as a last resort
    /// cuts the body itself.
    fn render_limited(&self, name: &str, view: &IncidentView) -> Result<String, RenderError> {
        let budget = GITHUB_BODY_LIMIT - HEADROOM;
        let mut body = self.render_once(name, view)?;
        if chars(&body) <= budget {
            return Ok(body);
        }
        let mut v = view.clone();
        let mut cuts: Vec<(&'static str, usize)> = Vec::new();
        for _ in 0..6 {
            let over = chars(&body).saturating_sub(budget - 600);
            if over == 0 {
                break;
            }
            let Some((field, text)) = longest_user_field(&mut v) else {
                break;
            };
            let len = chars(text);
            if len < 200 {
                break;
            }
            // Cut the overflow and a little more; sanitising can add characters to what
            // is kept, and the next round measures again and cuts what is still over
            // (a margin proportional to the overflow would cut a 1.9 MB summary to nothing).
            let keep = len.saturating_sub(over + 64);
            *text = text.chars().take(keep).collect::<String>() + " …";
            if !cuts.iter().any(|(f, _)| *f == field) {
                cuts.push((field, len));
            }
            body = self.render_once(name, &v)?;
        }
        let mut note = String::from("> [!NOTE]\n");
        for (field, len) in &cuts {
            note.push_str(&format!(
                "> Truncated: the {field} was {len} characters, more than fits in an issue (GitHub allows {GITHUB_BODY_LIMIT}); it is cut here. {}\n",
                full_text_hint(view)
            ));
        }
        if chars(&body) + chars(&note) > budget {
            note.push_str(&format!(
                "> Truncated: this body was cut at {budget} characters to fit GitHub's limit.\n"
            ));
            let keep = budget.saturating_sub(chars(&note) + 8);
            body = close_fence_if_open(body.chars().take(keep).collect());
        }
        Ok(insert_after_first_line(&body, &note))
    }
}

/// A repository's templates: the trusted defaults rendered here, or a repository's
/// overrides rendered in the [`Sandbox`] (they may loop, recurse or balloon).
#[derive(Clone)]
pub enum Templates {
    Trusted(Arc<Renderer>),
    Sandboxed {
        sandbox: Arc<Sandbox>,
        defaults: Arc<HashMap<String, String>>,
        overrides: HashMap<String, String>,
    },
}

impl Templates {
    /// Renders off the async threads: the defaults on a blocking thread, overrides in
    /// a child process.
    pub async fn render(
        &self,
        kind: TemplateKind,
        view: &IncidentView,
    ) -> Result<String, RenderError> {
        match self {
            Templates::Trusted(r) => {
                let (r, view) = (r.clone(), view.clone());
                tokio::task::spawn_blocking(move || r.render(kind, &view))
                    .await
                    .map_err(|e| RenderError::Render {
                        name: kind.file_name().to_string(),
                        message: e.to_string(),
                    })?
            }
            Templates::Sandboxed {
                sandbox,
                defaults,
                overrides,
            } => {
                let job = Job {
                    defaults: defaults.as_ref().clone(),
                    overrides: overrides.clone(),
                    template: kind,
                    view: view.clone(),
                };
                sandbox.render(&job).await
            }
        }
    }
}

/// Every `*.tera` file of `dir`, keyed by file name.
pub fn load_templates_dir(dir: &Path) -> Result<HashMap<String, String>, RenderError> {
    let io = |e: std::io::Error| RenderError::Io {
        path: dir.display().to_string(),
        message: e.to_string(),
    };
    let mut out = HashMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(".tera") {
            out.insert(
                name.to_string(),
                std::fs::read_to_string(&path).map_err(io)?,
            );
        }
    }
    Ok(out)
}

fn refuse_get_env(_: &HashMap<String, tera::Value>) -> tera::Result<tera::Value> {
    Err(tera::Error::msg(
        "get_env is disabled: templates cannot read the environment",
    ))
}

fn is_missing_parent(e: &tera::Error) -> bool {
    // A partial or child template compiled alone may reference others; the real
    // check happens when all are added together.
    matches!(e.kind, tera::ErrorKind::MissingParent { .. })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn longest_user_field(v: &mut IncidentView) -> Option<(&'static str, &mut String)> {
    let mut fields: Vec<(&'static str, &mut String)> = vec![("summary", &mut v.summary)];
    if let Some(t) = v.impact.as_mut() {
        fields.push(("impact", t));
    }
    if let Some(t) = v.links.as_mut() {
        fields.push(("links", t));
    }
    if let Some(t) = v.note.as_mut() {
        fields.push(("note", t));
    }
    fields.into_iter().max_by_key(|(_, t)| t.len())
}

fn full_text_hint(view: &IncidentView) -> String {
    match &view.source_issue {
        Some(src) if view.declared_via == "issue form" => {
            format!("The full text is in #{}.", src.number)
        }
        _ => format!(
            "The full text is kept with incident {} (GET /v1/incidents/{}).",
            view.id, view.id
        ),
    }
}

/// The marker as the first line, exactly once at the top.
fn with_marker_first(body: &str, marker: &str) -> String {
    let trimmed = body.trim_start();
    if marker.is_empty() || trimmed.starts_with(marker) {
        trimmed.to_string()
    } else {
        format!("{marker}\n{trimmed}")
    }
}

fn insert_after_first_line(body: &str, note: &str) -> String {
    match body.split_once('\n') {
        Some((first, rest)) => format!("{first}\n{note}\n{rest}"),
        None => format!("{body}\n{note}"),
    }
}

fn close_fence_if_open(mut body: String) -> String {
    if let Some(m) = crate::incident::text::sections::unclosed_fence(&body) {
        body.push('\n');
        body.push_str(&m);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::runbook::Runbook;

    fn renderer() -> Renderer {
        Renderer::builtin().unwrap_or_else(|e| panic!("{e}"))
    }

    fn view() -> IncidentView {
        IncidentView::sample(&Runbook::builtin())
    }

    #[test]
    fn every_default_template_renders_with_its_marker_first() {
        let r = renderer();
        let v = view();
        for body in [
            r.render_bug(&v).unwrap(),
            r.render_rca(&v).unwrap(),
            r.render_comment(&v).unwrap(),
        ] {
            assert!(body.starts_with(&v.marker), "{body}");
            assert_eq!(body.matches("<!-- responder:incident=").count(), 1);
        }
        let bug = r.render_bug(&v).unwrap();
        assert!(bug.contains("[#9](https://github.com/acme/evals/issues/9)"));
        assert!(bug.contains("kubectl"));
        assert!(bug.contains("- [ ] Acknowledge the page"));
    }

    #[test]
    fn hostile_summary_neither_pings_nor_forges_a_marker() {
        let r = renderer();
        let mut v = view();
        v.title = "down @acme/oncall".into();
        v.summary =
            "cc @alice @acme/sre-team\n<!-- responder:incident=1 kind=rca -->\nhidden? -->".into();
        v.impact = Some("@bob".into());
        v.declared_by = "mallory".into();
        // Responder's own markers (commander, timeline) as the clean view has them.
        let clean = view();
        let ours = [
            r.render_bug(&clean).unwrap(),
            r.render_rca(&clean).unwrap(),
            r.render_comment(&clean).unwrap(),
        ]
        .map(|b| b.matches("<!-- responder:").count());
        for (body, ours) in [
            r.render_bug(&v).unwrap(),
            r.render_rca(&v).unwrap(),
            r.render_comment(&v).unwrap(),
        ]
        .into_iter()
        .zip(ours)
        {
            for name in ["@alice", "@acme/", "@bob"] {
                assert!(!body.contains(name), "{name} would ping in {body}");
            }
            let after_marker = body.strip_prefix(&v.marker).unwrap();
            assert_eq!(
                after_marker.matches("<!-- responder:").count(),
                ours - 1,
                "forged marker in {body}"
            );
            assert!(
                !after_marker.contains("hidden? -->"),
                "comment closer kept in {body}"
            );
        }
        let bug = r.render_bug(&v).unwrap();
        assert!(!bug.contains("<!-- responder:incident=1"), "{bug}");
        assert!(
            bug.contains("responder:incident=1 kind=rca"),
            "text is kept, only defused"
        );
    }

    #[test]
    fn a_huge_summary_is_cut_with_a_note_and_the_marker_survives() {
        let r = renderer();
        let mut v = view();
        v.summary = "x".repeat(70_000);
        for body in [r.render_bug(&v).unwrap(), r.render_rca(&v).unwrap()] {
            assert!(chars(&body) < GITHUB_BODY_LIMIT, "{}", chars(&body));
            assert!(body.starts_with(&v.marker));
            assert!(body.contains("> [!NOTE]\n> Truncated: the summary was 70000 characters"));
            assert!(body.contains("## Summary"), "the structure is kept");
        }
    }

    #[test]
    fn a_summary_of_megabytes_keeps_as_much_as_fits() {
        let r = renderer();
        let mut v = view();
        v.summary = "word ".repeat(400_000);
        for body in [r.render_bug(&v).unwrap(), r.render_rca(&v).unwrap()] {
            let n = chars(&body);
            assert!(n < GITHUB_BODY_LIMIT - HEADROOM, "{n}");
            assert!(n > 55_000, "only {n} characters kept");
            assert!(body.contains("the summary was 2000000 characters"));
        }
    }

    #[test]
    fn huge_text_full_of_mentions_still_fits() {
        let r = renderer();
        let mut v = view();
        v.summary = "@a ".repeat(30_000);
        v.impact = Some("<!--".repeat(20_000));
        let body = r.render_bug(&v).unwrap();
        assert!(chars(&body) < GITHUB_BODY_LIMIT, "{}", chars(&body));
        assert!(body.contains("Truncated: the summary"));
        assert!(body.contains("Truncated: the impact"));
    }

    #[test]
    fn an_override_without_marker_gets_it_and_cannot_read_the_environment() {
        let mut o = HashMap::new();
        o.insert(BUG_TEMPLATE.to_string(), "Bug {{ title }}".to_string());
        let r = Renderer::with_overrides(builtin_templates(), o).unwrap();
        let v = view();
        assert_eq!(
            r.render_bug(&v).unwrap(),
            format!("{}\nBug {}", v.marker, v.title)
        );

        let mut o = HashMap::new();
        o.insert(
            BUG_TEMPLATE.to_string(),
            "{{ get_env(name=\"PATH\") }}".to_string(),
        );
        let r = Renderer::with_overrides(builtin_templates(), o).unwrap();
        let err = r.render_bug(&v).unwrap_err().to_string();
        assert!(err.contains("get_env is disabled"), "{err}");
    }

    #[test]
    fn a_broken_override_names_its_template() {
        let mut o = HashMap::new();
        o.insert(RCA_TEMPLATE.to_string(), "{% if %}".to_string());
        let err = Renderer::with_overrides(builtin_templates(), o)
            .err()
            .unwrap();
        assert!(err.to_string().contains(RCA_TEMPLATE), "{err}");
    }
}
