//! `/incident …` commands in issue and pull-request comments.
//!
//! Purpose: find the first line of a comment that starts with `/incident` (outside
//! quotes and code blocks) and turn it into a [`Command`], or a [`CommandError`]
//! whose message can be posted back as is. Must never check permissions or look
//! up the runbook: the caller decides whether the author may run it and whether
//! the component exists.

use crate::incident::model::severity::{Severity, SeverityAliases, normalize_key};

/// The longest title a declaration may carry (issue titles stop at 256).
pub const MAX_TITLE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/incident declare SEV2 <title> [component=<name>]`
    Declare {
        severity: Severity,
        title: String,
        /// Normalised key; not yet checked against the runbook.
        component: Option<String>,
    },
    /// `/incident severity SEV1`
    Severity(Severity),
    /// `/incident resolve [note]`
    Resolve { note: Option<String> },
    /// `/incident reopen`
    Reopen,
    /// `/incident help`, or `/incident` alone
    Help,
}

/// A command we recognised but could not accept; `Display` is the user message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("`/incident {0}` is not a command. {HELP_HINT}")]
    UnknownSubcommand(String),
    #[error(
        "`/incident declare` needs a severity and a title, e.g. `/incident declare SEV2 Agent pods crash-loop component=sandbox`. {HELP_HINT}"
    )]
    DeclareUsage,
    #[error("{0} {HELP_HINT}")]
    BadSeverity(String),
    #[error(
        "the title is {0} characters long; keep it under {MAX_TITLE} and put details in the bug issue"
    )]
    TitleTooLong(usize),
    #[error("`component=` needs a name, e.g. `component=sandbox`")]
    EmptyComponent,
    #[error("`/incident severity` needs a level, e.g. `/incident severity SEV1`. {HELP_HINT}")]
    SeverityUsage,
    #[error("`/incident reopen` takes no arguments")]
    ReopenUsage,
}

const HELP_HINT: &str = "Comment `/incident help` for the list of commands.";

/// The answer to `/incident help`.
pub fn help_text() -> &'static str {
    "**Responder incident commands**\n\n\
| command | does |\n\
|---|---|\n\
| `/incident declare SEV2 <title> [component=<name>]` | declares an incident: opens a bug issue and an RCA issue and links them here |\n\
| `/incident severity SEV1` | changes the severity of the incident this issue belongs to |\n\
| `/incident resolve [note]` | marks the incident resolved (the RCA issue stays open) |\n\
| `/incident reopen` | opens a resolved incident again |\n\
| `/incident help` | shows this list |\n\n\
Severity is SEV1 (critical) to SEV5 (cosmetic); `sev1`, `SEV-1`, `P1` and `critical` also work. \
Components are the runbook's keys, e.g. `sandbox`, `job-queue`, `llm-api`. \
Only people with write access (or the level the repository's `.github/responder.toml` sets) can run them."
}

/// Reads the first `/incident` line of a comment; `Ok(None)` when there is none.
pub fn parse_command(
    comment: &str,
    aliases: &SeverityAliases,
) -> Result<Option<Command>, CommandError> {
    let Some(line) = command_line(comment) else {
        return Ok(None);
    };
    let args = line["/incident".len()..].trim();
    let (sub, rest) = match args.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r.trim()),
        None => (args, ""),
    };
    let cmd = match sub.to_lowercase().as_str() {
        "" | "help" => Command::Help,
        "declare" => parse_declare(rest, aliases)?,
        "severity" | "sev" => {
            if rest.is_empty() {
                return Err(CommandError::SeverityUsage);
            }
            Command::Severity(
                Severity::parse(rest, aliases)
                    .map_err(|e| CommandError::BadSeverity(e.to_string()))?,
            )
        }
        "resolve" | "resolved" => Command::Resolve {
            note: (!rest.is_empty()).then(|| rest.to_string()),
        },
        "reopen" => {
            if !rest.is_empty() {
                return Err(CommandError::ReopenUsage);
            }
            Command::Reopen
        }
        other => {
            return Err(CommandError::UnknownSubcommand(
                other.chars().take(40).collect(),
            ));
        }
    };
    Ok(Some(cmd))
}

fn parse_declare(rest: &str, aliases: &SeverityAliases) -> Result<Command, CommandError> {
    let mut words: Vec<&str> = rest.split_whitespace().collect();
    let mut component = None;
    if let Some(i) = words
        .iter()
        .rposition(|w| w.to_lowercase().starts_with("component="))
    {
        let key = normalize_key(&words[i]["component=".len()..]);
        if key.is_empty() {
            return Err(CommandError::EmptyComponent);
        }
        component = Some(key);
        words.remove(i);
    }
    if words.is_empty() {
        return Err(CommandError::DeclareUsage);
    }
    // `SEV2 title` or `Sev 2 title`: try one word, then two.
    let (severity, used) = match Severity::parse(words[0], aliases) {
        Ok(s) => (s, 1),
        Err(first) => {
            let two = words
                .get(1)
                .and_then(|w| Severity::parse(&format!("{} {w}", words[0]), aliases).ok());
            match two {
                Some(s) => (s, 2),
                None => return Err(CommandError::BadSeverity(first.to_string())),
            }
        }
    };
    let title = words[used..].join(" ");
    if title.is_empty() {
        return Err(CommandError::DeclareUsage);
    }
    let len = title.chars().count();
    if len > MAX_TITLE {
        return Err(CommandError::TitleTooLong(len));
    }
    Ok(Command::Declare {
        severity,
        title,
        component,
    })
}

/// The first line starting with `/incident` as a whole word, outside `>` quotes,
/// fenced code blocks and indented code.
fn command_line(comment: &str) -> Option<&str> {
    let mut fence: Option<String> = None;
    for raw in comment.lines() {
        let trimmed = raw.trim_start();
        if let Some(open) = &fence {
            if crate::incident::text::sections::closes_fence(trimmed, open) {
                fence = None;
            }
            continue;
        }
        if let Some(m) = crate::incident::text::sections::fence_marker(trimmed) {
            fence = Some(m);
            continue;
        }
        let indent = raw.len() - trimmed.len();
        if indent >= 4 || raw.starts_with('\t') || trimmed.starts_with('>') {
            continue;
        }
        let line = trimmed.trim_end();
        if let Some(after) = line.strip_prefix("/incident")
            && (after.is_empty() || after.starts_with(char::is_whitespace))
        {
            return Some(line);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<Command>, CommandError> {
        parse_command(s, &SeverityAliases::default())
    }

    #[test]
    fn declare_with_title_and_component() {
        assert_eq!(
            parse(
                "Looks bad.\n/incident declare SEV2 Agent pods crash-loop component=Sandbox\nthanks"
            )
            .unwrap(),
            Some(Command::Declare {
                severity: Severity::Sev2,
                title: "Agent pods crash-loop".into(),
                component: Some("sandbox".into()),
            })
        );
        assert_eq!(
            parse("/incident declare Sev 1 Results are wrong").unwrap(),
            Some(Command::Declare {
                severity: Severity::Sev1,
                title: "Results are wrong".into(),
                component: None,
            })
        );
        assert_eq!(
            parse("/incident DECLARE p3 component=job_queue Queue is slow").unwrap(),
            Some(Command::Declare {
                severity: Severity::Sev3,
                title: "Queue is slow".into(),
                component: Some("job-queue".into()),
            })
        );
    }

    #[test]
    fn other_subcommands() {
        assert_eq!(
            parse("/incident severity sev-1").unwrap(),
            Some(Command::Severity(Severity::Sev1))
        );
        assert_eq!(
            parse("/incident resolve rolled back").unwrap(),
            Some(Command::Resolve {
                note: Some("rolled back".into())
            })
        );
        assert_eq!(
            parse("/incident resolve").unwrap(),
            Some(Command::Resolve { note: None })
        );
        assert_eq!(parse("/incident reopen").unwrap(), Some(Command::Reopen));
        assert_eq!(parse("/incident help").unwrap(), Some(Command::Help));
        assert_eq!(parse("/incident").unwrap(), Some(Command::Help));
    }

    #[test]
    fn unknown_subcommands_and_bad_arguments_are_refused_with_a_message() {
        let e = parse("/incident escalate now").unwrap_err();
        assert_eq!(e, CommandError::UnknownSubcommand("escalate".into()));
        assert!(e.to_string().contains("/incident help"));
        assert!(matches!(
            parse("/incident declare SEV9 x"),
            Err(CommandError::BadSeverity(_))
        ));
        assert_eq!(
            parse("/incident declare SEV2"),
            Err(CommandError::DeclareUsage)
        );
        assert_eq!(
            parse("/incident declare SEV2 x component="),
            Err(CommandError::EmptyComponent)
        );
        assert_eq!(
            parse("/incident severity"),
            Err(CommandError::SeverityUsage)
        );
        assert_eq!(
            parse("/incident reopen now"),
            Err(CommandError::ReopenUsage)
        );
        let long = format!("/incident declare SEV2 {}", "t".repeat(300));
        assert_eq!(parse(&long), Err(CommandError::TitleTooLong(300)));
    }

    #[test]
    fn quotes_code_and_lookalikes_are_not_commands() {
        for s in [
            "> /incident declare SEV1 quoted",
            "```\n/incident declare SEV1 in code\n```",
            "~~~\n/incident resolve\n~~~",
            "    /incident resolve",
            "/incidents are fun",
            "see /incident help",
            "",
        ] {
            assert_eq!(parse(s), Ok(None), "{s:?}");
        }
        assert_eq!(
            parse("> /incident declare SEV1 quoted\n/incident reopen").unwrap(),
            Some(Command::Reopen)
        );
    }

    #[test]
    fn extra_aliases_apply() {
        let mut a = SeverityAliases::default();
        a.insert("p0", Severity::Sev1).unwrap();
        assert_eq!(
            parse_command("/incident severity P0", &a).unwrap(),
            Some(Command::Severity(Severity::Sev1))
        );
    }

    #[test]
    fn help_lists_every_command() {
        for c in ["declare", "severity", "resolve", "reopen", "help"] {
            assert!(help_text().contains(&format!("/incident {c}")));
        }
    }
}
