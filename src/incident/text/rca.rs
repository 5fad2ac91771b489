//! Reading an RCA issue back: its sections, and the runbook updates it proposes.
//!
//! Purpose: when an RCA issue is closed, read its body — rendered from
//! `rca.md.tera` (`## Heading`) or from the `rca.yml` issue form (`### Heading`) —
//! into the same [`RcaSections`], treating template guidance (`<!-- … -->`), empty
//! list skeletons, `_No response_` and `None` as empty. Must never post, merge or
//! open anything: it only says what the body holds.

use crate::incident::model::severity::normalize_key;
use crate::incident::runbook::RunbookUpdates;
use crate::incident::text::sections::{self, answer};

/// The RCA's answers; `None` means the section is missing or not filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcaSections {
    pub summary: Option<String>,
    pub impact: Option<String>,
    pub timeline: Option<String>,
    pub detection: Option<String>,
    pub root_cause: Option<String>,
    pub trigger: Option<String>,
    pub contributing_factors: Option<String>,
    pub resolution: Option<String>,
    pub went_well: Option<String>,
    pub went_wrong: Option<String>,
    pub got_lucky: Option<String>,
    pub action_items: Option<String>,
    /// The parsed TOML block of "Runbook updates"; `None` when absent or empty.
    pub runbook_updates: Option<RunbookUpdates>,
    /// Why the block could not be read, safe to post on the issue.
    pub runbook_updates_error: Option<String>,
    pub supporting_information: Option<String>,
}

/// The section headings, as the template and the form write them.
pub const SECTION_HEADINGS: [&str; 14] = [
    "Summary",
    "Impact",
    "Timeline",
    "Detection",
    "Root cause",
    "Trigger",
    "Contributing factors",
    "Resolution",
    "What went well",
    "What went wrong",
    "Where we got lucky",
    "Action items",
    "Runbook updates",
    "Supporting information",
];

impl RcaSections {
    /// Reads any RCA body; unknown headings stay inside the section above them.
    pub fn parse(body: &str) -> RcaSections {
        let mut rca = RcaSections::default();
        // Unknown headings (a writer's own `### Why 2`) belong to the section above.
        let mut merged: Vec<(String, String)> = Vec::new();
        for s in sections::split(body) {
            match section_key(&s.heading) {
                Some(key) => merged.push((key, s.content)),
                None => {
                    if let Some((_, content)) = merged.last_mut() {
                        content.push_str(&format!("### {}\n{}", s.heading, s.content));
                    }
                }
            }
        }
        for (key, content) in merged {
            let value = answer(&content);
            match key.as_str() {
                "summary" => rca.summary = value,
                "impact" => rca.impact = value,
                "timeline" => rca.timeline = value,
                "detection" => rca.detection = value,
                "root-cause" => rca.root_cause = value,
                "trigger" => rca.trigger = value,
                "contributing-factors" => rca.contributing_factors = value,
                "resolution" => rca.resolution = value,
                "what-went-well" => rca.went_well = value,
                "what-went-wrong" => rca.went_wrong = value,
                "where-we-got-lucky" => rca.got_lucky = value,
                "action-items" => rca.action_items = value,
                "supporting-information" => rca.supporting_information = value,
                "runbook-updates" => match runbook_block(&content) {
                    None => {}
                    Some(toml) => match RunbookUpdates::from_toml(&toml) {
                        Ok(u) if u.is_empty() => {}
                        Ok(u) => rca.runbook_updates = Some(u),
                        Err(e) => rca.runbook_updates_error = Some(e),
                    },
                },
                _ => {}
            }
        }
        rca
    }

    /// The required sections left empty, by heading: what to ask for when closed.
    pub fn missing_required(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if self.root_cause.is_none() {
            missing.push("Root cause");
        }
        if self.action_items.is_none() {
            missing.push("Action items");
        }
        missing
    }
}

/// Maps a heading to its section key: case, punctuation and a trailing
/// parenthetical are ignored (`Root cause (five whys)` → `root-cause`).
pub(crate) fn section_key(heading: &str) -> Option<String> {
    let base = heading.split('(').next().unwrap_or(heading);
    let cleaned: String = base
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let key = normalize_key(&cleaned);
    SECTION_HEADINGS
        .iter()
        .any(|h| normalize_key(h) == key)
        .then_some(key)
}

/// The first fenced block of the section (```toml, or a plain fence, as GitHub's
/// `render: toml` textarea writes it); `None` when the section has none.
fn runbook_block(content: &str) -> Option<String> {
    let mut lines = content.lines();
    let marker = loop {
        let line = lines.next()?;
        if let Some(m) = sections::fence_marker(line.trim_start()) {
            let info = line.trim_start()[m.len()..].trim().to_lowercase();
            if info.is_empty() || info == "toml" {
                break m;
            }
        }
    };
    let mut block = String::new();
    for line in lines {
        if sections::closes_fence(line.trim_start(), &marker) {
            break;
        }
        block.push_str(line);
        block.push('\n');
    }
    Some(block)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::render::{IncidentView, Renderer};
    use crate::incident::runbook::Runbook;

    const ROOT_CAUSE: &str =
        "1. Pods were OOMKilled.\n2. The new image loads the whole dataset in memory.";
    const ACTIONS: &str = "- [ ] Stream the dataset — owner: alice — issue: #12";
    const UPDATES: &str = "[[commands]]\ncomponent = \"sandbox\"\ncommand = \"kubectl top pods -n agents --containers\"\ntells = \"Memory per container\"\n\n[[checklist]]\nseverity = \"SEV2\"\nitem = \"Compare memory before and after the deploy\"\n";

    fn filled_template() -> String {
        let mut v = IncidentView::sample(&Runbook::builtin());
        v.links = None;
        let body = Renderer::builtin().unwrap().render_rca(&v).unwrap();
        let mut out = String::new();
        // Fill in as a person would: replace the skeletons under three headings.
        let mut skip = false;
        for line in body.lines() {
            if skip && (line.starts_with("## ")) {
                skip = false;
            }
            if skip {
                continue;
            }
            out.push_str(line);
            out.push('\n');
            match line {
                "## Root cause" => {
                    out.push_str(&format!("\n{ROOT_CAUSE}\n\n"));
                    skip = true;
                }
                "## Action items" => {
                    out.push_str(&format!("\n{ACTIONS}\n\n"));
                    skip = true;
                }
                "## Runbook updates" => {
                    out.push_str(&format!("\n```toml\n{UPDATES}```\n\n"));
                    skip = true;
                }
                _ => {}
            }
        }
        out
    }

    fn form_body() -> String {
        // As GitHub renders an issue opened from rca.yml.
        format!(
            "### Summary\n\nAgent pods are OOMKilled since the 14:00 deploy.\n\n### Impact\n\nAll evaluations queued since 14:00 are waiting.\n\n### Timeline\n\n- 2026-01-05 14:05 UTC — **started** (as declared)\n- 2026-01-05 14:20 UTC — **declared** by octocat: declared as SEV2 via issue form\n\n### Detection\n\nDeclared through the issue form by octocat, 15m after it started (2026-01-05 14:05 UTC).\n\n### Root cause (five whys)\n\n{ROOT_CAUSE}\n\n### Trigger\n\n_No response_\n\n### Contributing factors\n\n_No response_\n\n### Resolution\n\n_No response_\n\n### What went well\n\n_No response_\n\n### What went wrong\n\n_No response_\n\n### Where we got lucky\n\n_No response_\n\n### Action items\n\n{ACTIONS}\n\n### Runbook updates\n\n```toml\n{UPDATES}```\n\n### Supporting information\n\n_No response_\n"
        )
    }

    #[test]
    fn template_and_form_bodies_parse_to_the_same_sections() {
        let from_template = RcaSections::parse(&filled_template());
        let from_form = RcaSections::parse(&form_body());
        assert_eq!(from_template, from_form);
        assert_eq!(from_form.root_cause.as_deref(), Some(ROOT_CAUSE));
        let updates = from_form.runbook_updates.clone().unwrap();
        assert_eq!(updates.commands.len(), 1);
        assert_eq!(updates.checklist[0].severity, "SEV2");
        assert!(from_form.missing_required().is_empty());
    }

    #[test]
    fn an_untouched_template_is_empty_where_it_asks_questions() {
        let v = IncidentView::sample(&Runbook::builtin());
        let body = Renderer::builtin().unwrap().render_rca(&v).unwrap();
        let rca = RcaSections::parse(&body);
        assert_eq!(rca.missing_required(), ["Root cause", "Action items"]);
        assert_eq!(
            rca.detection.as_deref(),
            Some(v.detection.as_str()),
            "filled in by Responder"
        );
        assert_eq!(rca.got_lucky, None);
        assert_eq!(
            rca.runbook_updates, None,
            "the commented example is not an update"
        );
        assert_eq!(rca.runbook_updates_error, None);
        assert!(rca.summary.is_some());
    }

    #[test]
    fn a_broken_updates_block_is_reported() {
        let body =
            "## Runbook updates\n\n```toml\n[[commands]]\ncomponent = \"x\"\nextra = 1\n```\n";
        let rca = RcaSections::parse(body);
        assert_eq!(rca.runbook_updates, None);
        assert!(rca.runbook_updates_error.unwrap().contains("not valid"));
    }

    #[test]
    fn own_subheadings_stay_in_their_section() {
        let body = "## Root cause\n\n### Why 1\nbecause\n## Action items\n- [ ] fix\n";
        let rca = RcaSections::parse(body);
        assert_eq!(rca.root_cause.as_deref(), Some("### Why 1\nbecause"));
        assert_eq!(rca.action_items.as_deref(), Some("- [ ] fix"));
    }
}
