//! Output rules: one regex per line-level symptom, the verdict it gives and what it
//! means; compiled once into a [`RuleSet`].
//!
//! The `regex` crate runs in time linear in the input, so a hostile rule or output
//! cannot make classification backtrack; the size limits below bound the memory a
//! rule may compile to, so a hostile runbook cannot exhaust the service either.

use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use serde::{Deserialize, Serialize};

/// The most rules one runbook may hold.
pub const MAX_RULES: usize = 200;
/// The longest pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 2_000;
/// The compiled size one rule may reach (the `regex` crate's `size_limit`).
pub const RULE_SIZE_LIMIT: usize = 1 << 20;
/// The compiled size of all rules together.
pub const SET_SIZE_LIMIT: usize = 16 << 20;

/// What a matching line says about the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleVerdict {
    /// The run never really happened: upstream API error, quota, crash of the tool.
    InfraError,
    /// The run ran out of time.
    Timeout,
}

/// One `[[output_rules]]` entry of the runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputRule {
    /// A short key, e.g. `rate-limit`; named in verdicts and metrics.
    pub name: String,
    /// A regex (the `regex` crate's syntax) matched against each output line.
    pub pattern: String,
    /// The verdict a matching line gives.
    pub verdict: RuleVerdict,
    /// One line on what a match means.
    pub meaning: String,
    /// Agents the rule applies to (case-insensitive); empty: every agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// A line the rule must match; `responder check` tests it.
    pub sample: String,
}

impl OutputRule {
    /// Whether the rule applies to `agent` (a rule without `agents` applies to all).
    pub fn applies_to(&self, agent: Option<&str>) -> bool {
        self.agents.is_empty()
            || agent.is_some_and(|a| self.agents.iter().any(|x| x.eq_ignore_ascii_case(a)))
    }
}

/// Why rules were refused; each problem names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("output rules are invalid:\n- {}", .0.join("\n- "))]
pub struct RuleError(pub Vec<String>);

/// Rules compiled for matching: one set for a single pass per line, and each rule's
/// own regex to find where it matched.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) rules: Vec<OutputRule>,
    pub(crate) set: RegexSet,
}

impl RuleSet {
    /// Compiles `rules`, reporting every problem at once: a pattern that does not
    /// compile or is too big, a duplicate or empty name, a sample it does not match.
    pub fn compile(rules: &[OutputRule]) -> Result<RuleSet, RuleError> {
        let mut p = Vec::new();
        if rules.len() > MAX_RULES {
            p.push(format!(
                "{} output rules; at most {MAX_RULES} are allowed",
                rules.len()
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, r) in rules.iter().enumerate() {
            let at = format!("output_rules[{i}] ({:?})", r.name);
            if r.name.trim().is_empty() {
                p.push(format!("{at}: name is empty"));
            } else if !names.insert(r.name.as_str()) {
                p.push(format!("{at}: the name is used by an earlier rule"));
            }
            if r.meaning.trim().is_empty() {
                p.push(format!("{at}: meaning is empty"));
            }
            if r.pattern.len() > MAX_PATTERN_LEN {
                p.push(format!(
                    "{at}: pattern is {} bytes; at most {MAX_PATTERN_LEN}",
                    r.pattern.len()
                ));
                continue;
            }
            match one(&r.pattern) {
                Ok(re) if re.is_match(b"") => {
                    p.push(format!("{at}: pattern matches an empty line, so every run"))
                }
                Ok(re) if !re.is_match(r.sample.as_bytes()) => p.push(format!(
                    "{at}: pattern {:?} does not match its sample {:?}",
                    r.pattern, r.sample
                )),
                Ok(_) => {}
                Err(e) => p.push(format!("{at}: pattern does not compile: {e}")),
            }
        }
        if !p.is_empty() {
            return Err(RuleError(p));
        }
        let set = RegexSetBuilder::new(rules.iter().map(|r| &r.pattern))
            .size_limit(SET_SIZE_LIMIT)
            .dfa_size_limit(SET_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleError(vec![format!("output rules together: {e}")]))?;
        Ok(RuleSet {
            rules: rules.to_vec(),
            set,
        })
    }

    /// The rules, in runbook order.
    pub fn rules(&self) -> &[OutputRule] {
        &self.rules
    }
}

fn one(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .size_limit(RULE_SIZE_LIMIT)
        .dfa_size_limit(RULE_SIZE_LIMIT)
        .build()
}
