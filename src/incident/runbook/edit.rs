//! Writes an RCA's runbook additions into the runbook file people maintain, keeping
//! their comments, order and layout: a runbook pull request then shows only the
//! added lines, not a reformatted file.
//!
//! Each added command goes after the last command of its component, each checklist
//! item at the end of its severity's list. The caller checks that the edited text
//! parses back to the merged runbook; a file this cannot edit (say, commands written
//! as an inline array) is an error, and the caller rewrites the file whole instead.

use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::incident::runbook::{MergeReport, Runbook};

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("the runbook file does not parse: {0}")]
    Parse(String),
    #[error("`{0}` is not where the runbook file can take an addition")]
    Shape(String),
}

/// `text` with what `report` added to `merged` (the runbook `text` held, plus the
/// additions).
pub fn add_to_file(
    text: &str,
    merged: &Runbook,
    report: &MergeReport,
) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Parse(e.message().to_string()))?;
    for (component, command) in &report.added_commands {
        let path = format!("components.{component}.commands");
        let tells = merged
            .component(component)
            .and_then(|c| c.commands.iter().find(|c| c.command == *command))
            .map(|c| c.tells.clone())
            .ok_or_else(|| EditError::Shape(path.clone()))?;
        let table = doc
            .get_mut("components")
            .and_then(|c| c.get_mut(component.as_str()))
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| EditError::Shape(path.clone()))?;
        match table.get_mut("commands") {
            Some(Item::ArrayOfTables(list)) => list.push(command_table(command, &tells)),
            Some(Item::Value(Value::Array(list))) => {
                let mut entry = InlineTable::new();
                entry.insert("command", command.as_str().into());
                entry.insert("tells", tells.as_str().into());
                list.push(entry);
            }
            None => {
                let mut list = ArrayOfTables::new();
                list.push(command_table(command, &tells));
                table.insert("commands", Item::ArrayOfTables(list));
            }
            Some(_) => return Err(EditError::Shape(path)),
        }
    }
    for (severity, item) in &report.added_checklist {
        let path = format!("severities.{severity}.checklist");
        let level = doc
            .get_mut("severities")
            .and_then(|s| s.get_mut(severity.as_str()))
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| EditError::Shape(path.clone()))?;
        match level.get_mut("checklist") {
            Some(Item::Value(Value::Array(list))) => push_line(list, item),
            None => {
                let mut list = Array::new();
                list.push(item.as_str());
                level.insert("checklist", toml_edit::value(list));
            }
            Some(_) => return Err(EditError::Shape(path)),
        }
    }
    Ok(doc.to_string())
}

fn command_table(command: &str, tells: &str) -> Table {
    let mut t = Table::new();
    t.insert("command", toml_edit::value(command));
    t.insert("tells", toml_edit::value(tells));
    t
}

/// Appends to an array written one item per line in the same layout; a one-line
/// array stays on one line.
fn push_line(list: &mut Array, item: &str) {
    let indent = list
        .iter()
        .last()
        .and_then(|v| v.decor().prefix())
        .and_then(|p| p.as_str())
        .map(str::to_string);
    list.push(item);
    if let (Some(indent), Some(last)) = (indent, list.iter_mut().last()) {
        last.decor_mut().set_prefix(indent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::runbook::{DEFAULT_RUNBOOK, RunbookUpdates};

    fn merge(text: &str, updates: &str) -> (Runbook, MergeReport) {
        let mut rb = Runbook::parse(text).unwrap();
        let report = rb.merge_updates(&RunbookUpdates::from_toml(updates).unwrap());
        (rb, report)
    }

    const UPDATES: &str = r#"
[[commands]]
component = "sandbox"
command = "kubectl -n agents get events --field-selector reason=OOMKilling"
tells = "Which \"sandboxes\" the kernel killed"
[[checklist]]
severity = "SEV2"
item = "Check the sandbox node pool's memory pressure"
"#;

    #[test]
    fn additions_land_beside_their_kin_and_every_comment_survives() {
        let (merged, report) = merge(DEFAULT_RUNBOOK, UPDATES);
        let text = add_to_file(DEFAULT_RUNBOOK, &merged, &report).unwrap();
        assert_eq!(Runbook::parse(&text).unwrap(), merged);
        for line in DEFAULT_RUNBOOK
            .lines()
            .filter(|l| l.trim_start().starts_with('#'))
        {
            assert!(text.contains(line), "lost comment {line:?}");
        }
        // Only additions: every original line is still there, in order.
        let mut rest = text.lines();
        for line in DEFAULT_RUNBOOK.lines() {
            assert!(rest.any(|l| l == line), "line {line:?} moved or changed");
        }
        let added = text.find("OOMKilling").unwrap();
        let next_component = text[..added].rfind("[components.").unwrap();
        assert!(
            text[next_component..added].starts_with("[components.sandbox"),
            "the command went under another component"
        );
        let grown = text.lines().count() - DEFAULT_RUNBOOK.lines().count();
        assert!((4..=6).contains(&grown), "{grown} lines added:\n{text}");
    }

    #[test]
    fn inline_command_arrays_and_missing_lists_take_additions_too() {
        let base = DEFAULT_RUNBOOK.replace(
            "[components.cluster]",
            "[components.scratch]\nname = \"Scratch\"\ndescription = \"d\"\n\
             commands = [{ command = \"true\", tells = \"nothing\" }]\n\n[components.cluster]",
        );
        let updates = r#"
[[commands]]
component = "scratch"
command = "false"
tells = "still nothing"
"#;
        let (merged, report) = merge(&base, updates);
        let text = add_to_file(&base, &merged, &report).unwrap();
        assert_eq!(Runbook::parse(&text).unwrap(), merged);
    }

    #[test]
    fn a_file_shaped_otherwise_is_refused_not_guessed() {
        let (merged, report) = merge(DEFAULT_RUNBOOK, UPDATES);
        let odd = DEFAULT_RUNBOOK.replacen("[severities.SEV2]", "[severities.SEV2x]", 1);
        assert!(matches!(
            add_to_file(&odd, &merged, &report),
            Err(EditError::Shape(p)) if p == "severities.SEV2.checklist"
        ));
    }
}
