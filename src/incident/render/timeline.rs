//! The timeline as Markdown: one line per entry, oldest first, UTC, with who and
//! a link; and the hidden markers the RCA body keeps it between.
//!
//! Pure: entries in, text out. Declarer text is sanitised here (no pings, no
//! forged markers, one line each), whatever wrote it.

use crate::incident::model::EventKind;
use crate::incident::text::sanitize::sanitize_inline;
use crate::store::IncidentEvent;

/// Where Responder's part of the RCA's `## Timeline` section starts and ends.
pub const TIMELINE_START: &str = "<!-- responder:timeline -->";
pub const TIMELINE_END: &str = "<!-- /responder:timeline -->";

/// The longest line one entry gets.
const LINE_MAX: usize = 400;

/// The entries as Markdown list lines, within `budget` characters: when they do
/// not all fit, the newest are kept and one line says how many came before.
pub fn render_entries(entries: &[IncidentEvent], budget: usize) -> String {
    let lines: Vec<String> = entries.iter().map(entry_line).collect();
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0;
    for line in lines.iter().rev() {
        let n = line.chars().count() + 1;
        if used + n > budget.saturating_sub(120) {
            break;
        }
        used += n;
        kept.push(line);
    }
    kept.reverse();
    let mut out = String::new();
    let left_out = lines.len() - kept.len();
    if left_out > 0 {
        out.push_str(&format!(
            "- … {left_out} earlier entries: `/incident timeline` or `GET /v1/incidents/<id>/timeline` has them all\n"
        ));
    }
    for line in kept {
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// `- 2026-12-01 13:52 UTC — note by alice: first 429 ([link](…))`
fn entry_line(e: &IncidentEvent) -> String {
    let at = chrono::DateTime::from_timestamp_millis(e.at)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    let what = entry_text(e);
    let mut line = format!("- {at} — **{}**", e.kind.as_str().replace('_', " "));
    if !e.actor.is_empty() {
        line.push_str(&format!(" by {}", sanitize_inline(&e.actor)));
    }
    let what = sanitize_inline(&what);
    if !what.is_empty() && what != e.kind.as_str() {
        line.push_str(": ");
        line.push_str(&what);
    }
    if line.chars().count() > LINE_MAX {
        line = line.chars().take(LINE_MAX - 1).collect::<String>() + "…";
    }
    if let Some(url) = e.url.as_deref().filter(|u| is_link(u)) {
        line.push_str(&format!(" ([link]({url}))"));
    }
    line
}

/// The entry's line of text: its own, or (for entries recorded before entries
/// carried text) words made from its kind and severities.
pub fn entry_text(e: &IncidentEvent) -> String {
    if let Some(t) = &e.text {
        return t.clone();
    }
    match (e.kind, e.from_severity, e.to_severity) {
        (EventKind::Severity, Some(from), Some(to)) => format!("severity {from} → {to}"),
        (EventKind::Declared, _, Some(to)) => format!("declared as {to}"),
        _ => e.note.clone().unwrap_or_default(),
    }
}

/// Only web links, no Markdown tricks: an `https://` URL without spaces or parens.
fn is_link(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && !u.contains(|c: char| c.is_whitespace() || c == '(' || c == ')')
}

/// `body` with what stands between `start` and `end` replaced by `content` (on
/// lines of its own); `None` when either marker is missing or they are out of order.
pub fn replace_between(body: &str, start: &str, end: &str, content: &str) -> Option<String> {
    let a = body.find(start)? + start.len();
    let b = a + body[a..].find(end)?;
    let inner = if content.contains('\n') {
        format!("\n{}", content.trim_end_matches('\n').to_string() + "\n")
    } else {
        content.to_string()
    };
    Some(format!("{}{inner}{}", &body[..a], &body[b..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: EventKind, at: i64, actor: &str, text: &str) -> IncidentEvent {
        let mut e = IncidentEvent::new(kind, actor, at, None);
        e.text = Some(text.into());
        e
    }

    #[test]
    fn lines_are_utc_with_who_and_defused_text() {
        let mut e = entry(
            EventKind::Note,
            1_764_597_120_000,
            "alice",
            "cc @bob <!-- x -->\nmore",
        );
        e.url = Some("https://github.com/acme/evals/issues/7".into());
        let text = render_entries(&[e], 10_000);
        assert!(
            text.starts_with("- 2025-12-01 13:52 UTC — **note** by alice: cc @\u{200B}bob"),
            "{text}"
        );
        assert!(!text.contains("<!--"), "{text}");
        assert!(
            text.trim_end()
                .ends_with("([link](https://github.com/acme/evals/issues/7))")
        );
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn over_budget_the_newest_are_kept_and_the_rest_counted() {
        let entries: Vec<_> = (0..500)
            .map(|i| {
                entry(
                    EventKind::Update,
                    i * 60_000,
                    "alice",
                    &format!("update {i}"),
                )
            })
            .collect();
        let text = render_entries(&entries, 2_000);
        assert!(text.chars().count() <= 2_000);
        assert!(text.starts_with("- … "), "{text}");
        assert!(text.contains("update 499"));
        assert!(!text.contains("update 0\n"));
    }

    #[test]
    fn replacing_keeps_everything_outside_the_markers_byte_for_byte() {
        let body =
            format!("## Timeline\n\nmy line\n{TIMELINE_START}\nold\n{TIMELINE_END}\nafter ✓\r\n");
        let out = replace_between(&body, TIMELINE_START, TIMELINE_END, "- a\n- b\n").unwrap();
        assert_eq!(
            out,
            format!(
                "## Timeline\n\nmy line\n{TIMELINE_START}\n- a\n- b\n{TIMELINE_END}\nafter ✓\r\n"
            )
        );
        assert_eq!(
            replace_between("no markers", TIMELINE_START, TIMELINE_END, "x"),
            None
        );
        let reversed = format!("{TIMELINE_END} {TIMELINE_START}");
        assert_eq!(
            replace_between(&reversed, TIMELINE_START, TIMELINE_END, "x"),
            None
        );
    }
}
