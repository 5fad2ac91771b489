//! Checking issue forms (`.github/ISSUE_TEMPLATE/*.yml`) before GitHub sees them.
//!
//! Purpose: for `responder check`, verify that each form has GitHub's issue-form
//! structure (top-level `name`, `description`, `body` of typed elements with `id`,
//! `attributes`, `validations`), that component options exist in the runbook, and
//! that the incident and RCA forms ask the questions Responder reads back. Must
//! never change a form, and never claim more than it checks: GitHub has the last word.
//!
//! YAML: serde_yaml is not a dependency, and the forms use a small subset, so
//! [`crate::yaml`] reads that subset by hand and reports anything outside it.

use std::collections::HashSet;

use crate::incident::model::severity::{Severity, normalize_key};
use crate::incident::runbook::Runbook;
use crate::incident::text::form::component_key;
use crate::incident::text::rca::SECTION_HEADINGS;
use crate::yaml::{self, Yaml};

const TOP_KEYS: [&str; 8] = [
    "name",
    "description",
    "body",
    "title",
    "labels",
    "assignees",
    "projects",
    "type",
];
const ELEMENT_KEYS: [&str; 4] = ["type", "id", "attributes", "validations"];

/// Which questions Responder reads back from a form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormKind {
    /// `incident.yml`: Severity and Summary must be asked, with Responder's labels.
    Incident,
    /// `rca.yml`: every RCA section, with Root cause and Action items.
    Rca,
    /// Any other form: structure and components only.
    Other,
}

impl FormKind {
    /// By file name: `incident.yml`, `rca.yml`, anything else.
    pub fn for_file(name: &str) -> FormKind {
        match name.trim_end_matches(".yaml").trim_end_matches(".yml") {
            "incident" => FormKind::Incident,
            "rca" => FormKind::Rca,
            _ => FormKind::Other,
        }
    }
}

/// Every problem in one issue form's text, each naming the element it concerns.
pub fn validate_form(text: &str, kind: FormKind, runbook: &Runbook) -> Vec<String> {
    let doc = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => return vec![format!("cannot read as YAML: {e}")],
    };
    let mut p = Vec::new();
    let Yaml::Map(_) = doc else {
        return vec!["the form must be a mapping with name, description and body".into()];
    };
    for key in doc.keys() {
        if !TOP_KEYS.contains(&key) {
            p.push(format!("unknown top-level key `{key}`"));
        }
    }
    for key in ["name", "description"] {
        if doc
            .get(key)
            .and_then(Yaml::as_str)
            .is_none_or(|s| s.trim().is_empty())
        {
            p.push(format!("`{key}` is required and must be text"));
        }
    }
    if let Some(labels) = doc.get("labels")
        && labels.as_str().is_none()
        && labels.as_seq().is_none()
    {
        p.push("`labels` must be a list or a comma-separated string".into());
    }
    let Some(body) = doc
        .get("body")
        .and_then(Yaml::as_seq)
        .filter(|b| !b.is_empty())
    else {
        p.push("`body` is required and must be a non-empty list".into());
        return p;
    };
    let mut ids = HashSet::new();
    let mut labels: Vec<(String, bool, &Yaml)> = Vec::new();
    for (i, el) in body.iter().enumerate() {
        let at = format!("body[{i}]");
        check_element(el, &at, &mut ids, &mut labels, runbook, &mut p);
    }
    if !body
        .iter()
        .any(|el| el.get("type").and_then(Yaml::as_str) != Some("markdown"))
    {
        p.push("`body` needs at least one non-markdown element".into());
    }
    match kind {
        FormKind::Incident => check_incident(&labels, &mut p),
        FormKind::Rca => check_rca(&labels, &mut p),
        FormKind::Other => {}
    }
    p
}

/// Every problem in `config.yml` (the template chooser's settings).
pub fn validate_chooser_config(text: &str) -> Vec<String> {
    let doc = match yaml::parse(text) {
        Ok(d) => d,
        Err(e) => return vec![format!("cannot read as YAML: {e}")],
    };
    let mut p = Vec::new();
    for key in doc.keys() {
        if !["blank_issues_enabled", "contact_links"].contains(&key) {
            p.push(format!("unknown key `{key}`"));
        }
    }
    if let Some(v) = doc.get("blank_issues_enabled")
        && !matches!(v.as_str(), Some("true" | "false"))
    {
        p.push("`blank_issues_enabled` must be true or false".into());
    }
    if let Some(links) = doc.get("contact_links") {
        for (i, l) in links.as_seq().unwrap_or_default().iter().enumerate() {
            for key in ["name", "url", "about"] {
                if l.get(key).and_then(Yaml::as_str).is_none() {
                    p.push(format!("contact_links[{i}].{key} is required"));
                }
            }
        }
    }
    p
}

fn check_element<'a>(
    el: &'a Yaml,
    at: &str,
    ids: &mut HashSet<String>,
    labels: &mut Vec<(String, bool, &'a Yaml)>,
    runbook: &Runbook,
    p: &mut Vec<String>,
) {
    for key in el.keys() {
        if !ELEMENT_KEYS.contains(&key) {
            p.push(format!("{at}: unknown key `{key}`"));
        }
    }
    let ty = el.get("type").and_then(Yaml::as_str).unwrap_or("");
    if !["markdown", "textarea", "input", "dropdown", "checkboxes"].contains(&ty) {
        p.push(format!(
            "{at}: `type` must be markdown, textarea, input, dropdown or checkboxes (is {ty:?})"
        ));
        return;
    }
    if let Some(id) = el.get("id") {
        match id.as_str() {
            Some(id)
                if !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                if !ids.insert(id.to_string()) {
                    p.push(format!("{at}: id `{id}` is used twice"));
                }
            }
            _ => p.push(format!("{at}: `id` must be letters, digits, '-' or '_'")),
        }
    }
    let Some(attrs) = el.get("attributes").filter(|a| matches!(a, Yaml::Map(_))) else {
        p.push(format!("{at}: `attributes` is required"));
        return;
    };
    if ty == "markdown" {
        if attrs
            .get("value")
            .and_then(Yaml::as_str)
            .is_none_or(|v| v.trim().is_empty())
        {
            p.push(format!("{at}: markdown needs `attributes.value`"));
        }
        if el.get("validations").is_some() || el.get("id").is_some() {
            p.push(format!(
                "{at}: markdown takes neither `id` nor `validations`"
            ));
        }
        return;
    }
    let label = attrs
        .get("label")
        .and_then(Yaml::as_str)
        .unwrap_or("")
        .trim()
        .to_string();
    if label.is_empty() {
        p.push(format!("{at}: `attributes.label` is required"));
    }
    if labels
        .iter()
        .any(|(l, _, _)| l.eq_ignore_ascii_case(&label))
    {
        p.push(format!("{at}: label {label:?} is used twice"));
    }
    let required = match el.get("validations") {
        None => false,
        Some(v) => match v.get("required").map(Yaml::as_str) {
            None => false,
            Some(Some("true")) => true,
            Some(Some("false")) => false,
            _ => {
                p.push(format!(
                    "{at}: `validations.required` must be true or false"
                ));
                false
            }
        },
    };
    match ty {
        "dropdown" => {
            let opts: Vec<&str> = attrs
                .get("options")
                .and_then(Yaml::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(Yaml::as_str)
                .collect();
            if opts.is_empty() {
                p.push(format!(
                    "{at} ({label}): a dropdown needs a non-empty `options` list of text"
                ));
            }
            let unique: HashSet<_> = opts.iter().collect();
            if unique.len() != opts.len() {
                p.push(format!("{at} ({label}): options must be unique"));
            }
            if opts.iter().any(|o| o.trim() == "None") {
                p.push(format!("{at} ({label}): \"None\" is reserved by GitHub"));
            }
            let is_component = normalize_key(&label) == "component"
                || el.get("id").and_then(Yaml::as_str) == Some("component");
            if is_component {
                for o in &opts {
                    if let Some(key) = component_key(o)
                        && runbook.component(&key).is_none()
                    {
                        let known: Vec<_> = runbook.components.keys().cloned().collect();
                        p.push(format!(
                            "{at} ({label}): option {o:?} names component `{key}`, which the runbook does not have (it has {})",
                            known.join(", ")
                        ));
                    }
                }
            }
        }
        "checkboxes" => {
            let opts = attrs
                .get("options")
                .and_then(Yaml::as_seq)
                .unwrap_or_default();
            if opts.is_empty() {
                p.push(format!(
                    "{at} ({label}): checkboxes need a non-empty `options` list"
                ));
            }
            for (j, o) in opts.iter().enumerate() {
                if o.get("label").and_then(Yaml::as_str).is_none() {
                    p.push(format!("{at} ({label}): options[{j}] needs a `label`"));
                }
            }
        }
        _ => {}
    }
    labels.push((label, required, el));
}

fn find<'a>(
    labels: &'a [(String, bool, &Yaml)],
    key: &str,
) -> Option<&'a (String, bool, &'a Yaml)> {
    labels.iter().find(|(l, _, _)| section_key(l) == key)
}

fn section_key(label: &str) -> String {
    let base = label.split('(').next().unwrap_or(label);
    normalize_key(base)
}

fn check_incident(labels: &[(String, bool, &Yaml)], p: &mut Vec<String>) {
    match find(labels, "severity") {
        None => p.push(
            "the incident form must ask `Severity` (Responder reads it by that label)".into(),
        ),
        Some((_, required, el)) => {
            if !required {
                p.push("`Severity` must be required".into());
            }
            let opts: Vec<&str> = el
                .get("attributes")
                .and_then(|a| a.get("options"))
                .and_then(Yaml::as_seq)
                .unwrap_or_default()
                .iter()
                .filter_map(Yaml::as_str)
                .collect();
            let mut seen = Vec::new();
            for o in opts {
                match o.parse::<Severity>() {
                    Ok(s) => seen.push(s),
                    Err(_) => p.push(format!("`Severity` option {o:?} is not a severity")),
                }
            }
            seen.sort();
            if seen != Severity::ALL {
                p.push("`Severity` must offer SEV1 to SEV5, each once".into());
            }
        }
    }
    match find(labels, "summary") {
        None => p.push("the incident form must ask `Summary`".into()),
        Some((_, false, _)) => p.push("`Summary` must be required".into()),
        _ => {}
    }
    for (label, _, _) in labels {
        if ![
            "severity",
            "component",
            "summary",
            "impact",
            "started-at",
            "links",
            "flags",
        ]
        .contains(&section_key(label).as_str())
        {
            p.push(format!(
                "question {label:?} is not read by Responder (it reads Severity, Component, Summary, Impact, Started at, Links, Flags)"
            ));
        }
    }
}

fn check_rca(labels: &[(String, bool, &Yaml)], p: &mut Vec<String>) {
    for heading in SECTION_HEADINGS {
        if find(labels, &normalize_key(heading)).is_none() {
            p.push(format!(
                "the RCA form must ask {heading:?}, as the RCA template does"
            ));
        }
    }
    for heading in ["Root cause", "Action items"] {
        if let Some((_, false, _)) = find(labels, &normalize_key(heading)) {
            p.push(format!("`{heading}` must be required"));
        }
    }
    if let Some((_, _, el)) = find(labels, "runbook-updates") {
        let render = el
            .get("attributes")
            .and_then(|a| a.get("render"))
            .and_then(Yaml::as_str);
        if render != Some("toml") {
            p.push("`Runbook updates` must have `render: toml` so its block is read back".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(name: &str) -> &'static str {
        crate::assets::form(name)
    }

    #[test]
    fn shipped_forms_are_valid_against_the_default_runbook() {
        let rb = Runbook::builtin();
        assert_eq!(
            validate_form(form("incident.yml"), FormKind::Incident, &rb),
            Vec::<String>::new()
        );
        assert_eq!(
            validate_form(form("rca.yml"), FormKind::Rca, &rb),
            Vec::<String>::new()
        );
        assert_eq!(
            validate_form(form("bug_report.yml"), FormKind::Other, &rb),
            Vec::<String>::new()
        );
        assert_eq!(
            validate_chooser_config(form("config.yml")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_component_missing_from_the_runbook_is_reported() {
        let mut rb = Runbook::builtin();
        rb.components.remove("llm-api");
        let p = validate_form(form("incident.yml"), FormKind::Incident, &rb);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].contains("llm-api"));
    }

    #[test]
    fn structural_problems_are_reported() {
        let rb = Runbook::builtin();
        let text = "name: x\nbody:\n  - type: dropdown\n    id: a\n    attributes:\n      label: Severity\n      options: []\n  - type: input\n    id: a\n    attributes:\n      label: Severity\n    validations:\n      required: maybe\n  - type: slider\n";
        let p = validate_form(text, FormKind::Other, &rb).join("\n");
        for needle in [
            "`description` is required",
            "non-empty `options`",
            "id `a` is used twice",
            "used twice",
            "required` must be true",
            "slider",
        ] {
            assert!(p.contains(needle), "{needle} not in\n{p}");
        }
    }

    #[test]
    fn the_incident_form_must_ask_what_responder_reads() {
        let rb = Runbook::builtin();
        let text = form("incident.yml").replace("label: Severity", "label: Priority");
        let p = validate_form(&text, FormKind::Incident, &rb).join("\n");
        assert!(p.contains("must ask `Severity`"), "{p}");
        let text = form("rca.yml").replace("label: Action items", "label: Follow-ups");
        let p = validate_form(&text, FormKind::Rca, &rb).join("\n");
        assert!(p.contains("\"Action items\""), "{p}");
    }
}
