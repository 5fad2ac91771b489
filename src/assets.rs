//! Everything compiled into the binary from the repository's own files: the default
//! templates and runbook, the issue forms, and the App manifest. One place, so the
//! service, `responder check`, `responder forms install` and the manifest flow all
//! ship the same text, and `check` can validate it in memory.

/// `templates/bug.md.tera`.
pub const BUG_TEMPLATE: &str = include_str!("../templates/bug.md.tera");
/// `templates/rca.md.tera`.
pub const RCA_TEMPLATE: &str = include_str!("../templates/rca.md.tera");
/// `templates/incident_comment.md.tera`.
pub const COMMENT_TEMPLATE: &str = include_str!("../templates/incident_comment.md.tera");
/// `templates/runbook.toml`: severities, components and their diagnostic commands.
pub const RUNBOOK: &str = include_str!("../templates/runbook.toml");
/// `app.yml`: the GitHub App manifest (permissions and events).
pub const APP_MANIFEST: &str = include_str!("../app.yml");

/// Where the issue forms live in a repository.
pub const FORMS_DIR: &str = ".github/ISSUE_TEMPLATE";

/// The issue forms, by file name: incident, RCA, bug report and the chooser.
pub const FORMS: [(&str, &str); 4] = [
    (
        "incident.yml",
        include_str!("../.github/ISSUE_TEMPLATE/incident.yml"),
    ),
    ("rca.yml", include_str!("../.github/ISSUE_TEMPLATE/rca.yml")),
    (
        "bug_report.yml",
        include_str!("../.github/ISSUE_TEMPLATE/bug_report.yml"),
    ),
    (
        "config.yml",
        include_str!("../.github/ISSUE_TEMPLATE/config.yml"),
    ),
];

/// The shipped form called `name`.
pub fn form(name: &str) -> &'static str {
    FORMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no shipped form {name}"))
}
