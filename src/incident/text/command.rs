//! `/incident …` commands in issue and pull-request comments.
//!
//! Purpose: find the first line of a comment that starts with `/incident` (outside
//! quotes and code blocks) and turn it into a [`Command`], or a [`CommandError`]
//! whose message can be posted back as is. Must never check permissions or look
//! up the runbook: the caller decides whether the author may run it and whether
//! the component exists.

use crate::incident::model::severity::{Severity, SeverityAliases, normalize_key};
pub use crate::incident::text::when::When;

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
    /// `/incident commander @login`
    Commander(String),
    /// `/incident update <text>`: the rest of the line and the comment's lines after it.
    Update(String),
    /// `/incident note <text> [at=<when>]`: an entry back-dated to `at`.
    Note { text: String, at: Option<When> },
    /// `/incident mitigated [note]`
    Mitigated { note: Option<String> },
    /// `/incident timeline`
    Timeline,
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
    #[error("`/incident commander` needs a GitHub login, e.g. `/incident commander @alice`")]
    CommanderUsage,
    #[error(
        "`/incident {0}` needs text, e.g. `/incident {0} Rolled back the image; error rate falling`"
    )]
    TextUsage(&'static str),
    #[error(
        "`at={0}` is not a time: use RFC 3339 (`2026-12-01T13:52:00Z`) or a UTC time of day (`13:52`)"
    )]
    BadTime(String),
    #[error("`/incident timeline` takes no arguments")]
    TimelineUsage,
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
| `/incident commander @login` | makes them incident commander: assigns the bug issue to them |\n\
| `/incident update <text>` | posts a status update on the bug issue (and here) and adds it to the timeline |\n\
| `/incident note <text> [at=13:52]` | adds a note to the timeline, back-dated with `at=` (UTC, or RFC 3339) |\n\
| `/incident mitigated [note]` | marks the impact stopped (the incident stays open until resolved) |\n\
| `/incident timeline` | answers with the timeline so far |\n\
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
    // Status updates and notes may run over several lines: the command's line and
    // every line after it.
    let long_text = || {
        let after = comment
            .split_once(line)
            .map(|(_, after)| after.trim())
            .unwrap_or_default();
        [rest, after]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
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
        "commander" | "ic" => {
            let login = rest.trim_start_matches('@');
            if !crate::types::valid_owner(login) {
                return Err(CommandError::CommanderUsage);
            }
            Command::Commander(login.to_string())
        }
        "update" | "status" => match long_text() {
            t if t.is_empty() => return Err(CommandError::TextUsage("update")),
            t => Command::Update(t),
        },
        "note" => parse_note(&long_text())?,
        "mitigated" | "mitigate" => Command::Mitigated {
            note: Some(long_text()).filter(|t| !t.is_empty()),
        },
        "timeline" => {
            if !rest.is_empty() {
                return Err(CommandError::TimelineUsage);
            }
            Command::Timeline
        }
        other => {
            return Err(CommandError::UnknownSubcommand(
                other.chars().take(40).collect(),
            ));
        }
    };
    Ok(Some(cmd))
}

/// `text [at=<when>] [UTC]`: the last `at=` word is the time.
fn parse_note(text: &str) -> Result<Command, CommandError> {
    let mut words: Vec<&str> = text.split(' ').collect();
    let mut at = None;
    if let Some(i) = words.iter().rposition(|w| w.starts_with("at=")) {
        let value = &words[i]["at=".len()..];
        at = Some(
            When::parse(value)
                .ok_or_else(|| CommandError::BadTime(value.chars().take(40).collect()))?,
        );
        let utc = words
            .get(i + 1)
            .is_some_and(|w| w.eq_ignore_ascii_case("utc"));
        words.drain(i..i + 1 + usize::from(utc));
    }
    let text = words.join(" ").trim().to_string();
    if text.is_empty() {
        return Err(CommandError::TextUsage("note"));
    }
    Ok(Command::Note { text, at })
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
    fn timeline_commands() {
        assert_eq!(
            parse("/incident commander @alice-b").unwrap(),
            Some(Command::Commander("alice-b".into()))
        );
        assert_eq!(
            parse("/incident commander"),
            Err(CommandError::CommanderUsage)
        );
        assert_eq!(
            parse("/incident commander @a b"),
            Err(CommandError::CommanderUsage)
        );
        assert_eq!(
            parse("/incident update Rolled back.\nError rate falling.").unwrap(),
            Some(Command::Update("Rolled back.\nError rate falling.".into()))
        );
        assert_eq!(
            parse("/incident update"),
            Err(CommandError::TextUsage("update"))
        );
        let at = chrono::NaiveTime::from_hms_opt(13, 52, 0).unwrap();
        assert_eq!(
            parse("/incident note first 429 at=13:52 UTC seen").unwrap(),
            Some(Command::Note {
                text: "first 429 seen".into(),
                at: Some(When::TimeOfDay(at))
            })
        );
        assert!(matches!(
            parse("/incident note x at=2026-12-01T13:52:00Z").unwrap(),
            Some(Command::Note {
                at: Some(When::At(_)),
                ..
            })
        ));
        assert_eq!(
            parse("/incident note x at=noon"),
            Err(CommandError::BadTime("noon".into()))
        );
        assert_eq!(
            parse("/incident mitigated").unwrap(),
            Some(Command::Mitigated { note: None })
        );
        assert_eq!(
            parse("/incident timeline").unwrap(),
            Some(Command::Timeline)
        );
    }

    #[test]
    fn a_time_of_day_is_its_latest_occurrence_before_the_command() {
        let t = |h, m| When::TimeOfDay(chrono::NaiveTime::from_hms_opt(h, m, 0).unwrap());
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T14:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            t(13, 52).resolve(now).to_rfc3339(),
            "2026-12-01T13:52:00+00:00"
        );
        assert_eq!(
            t(23, 10).resolve(now).to_rfc3339(),
            "2026-11-30T23:10:00+00:00"
        );
    }

    #[test]
    fn help_lists_every_command() {
        for c in [
            "declare",
            "severity",
            "resolve",
            "reopen",
            "commander",
            "update",
            "note",
            "mitigated",
            "timeline",
            "help",
        ] {
            assert!(help_text().contains(&format!("/incident {c}")));
        }
    }
}
