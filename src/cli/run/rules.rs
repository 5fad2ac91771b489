//! Where `responder run` takes its rules from: the built-in runbook, a runbook TOML,
//! or a file holding only `[[output_rules]]` (and optionally `[detection]`, ignored).

use std::path::Path;

use serde::Deserialize;

use responder::incident::runbook::Runbook;
use responder::runs::detection::Detection;
use responder::runs::{OutputRule, RuleSet};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    output_rules: Vec<OutputRule>,
    #[serde(default)]
    #[allow(dead_code)] // accepted so a runbook's sections can be copied as they are
    detection: Option<Detection>,
}

/// The rule set, or a message naming the file and every problem.
pub fn load(path: Option<&Path>) -> Result<RuleSet, String> {
    let Some(path) = path else {
        return Runbook::builtin().rule_set().map_err(|e| e.to_string());
    };
    let shown = path.display();
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read --rules {shown}: {e}"))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| format!("--rules {shown} is not TOML: {e}"))?;
    let rules = if table.contains_key("severities") {
        Runbook::parse(&text)
            .map_err(|e| format!("--rules {shown}: {e}"))?
            .output_rules
    } else {
        toml::from_str::<RulesFile>(&text)
            .map_err(|e| format!("--rules {shown}: {e}"))?
            .output_rules
    };
    RuleSet::compile(&rules).map_err(|e| format!("--rules {shown}: {e}"))
}
