//! A reader for the small subset of YAML that GitHub issue forms use.
//!
//! Purpose: let `responder check` validate issue forms without a YAML dependency.
//! Supported: block mappings and sequences (including `- key: value` items and
//! sequences at their key's indentation), plain, single- and double-quoted scalars,
//! flow sequences of scalars (`[a, "b"]`), `|`/`>` block scalars, and `#` comments.
//! Anything else (anchors, tags, flow mappings, multi-document files) is refused
//! with the line number, never guessed: a form that needs more YAML than this is
//! reported, and GitHub remains the final judge.

/// A parsed YAML value; every scalar is kept as its string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Yaml {
    Str(String),
    Seq(Vec<Yaml>),
    /// Keys in file order.
    Map(Vec<(String, Yaml)>),
    Null,
}

impl Yaml {
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Yaml]> {
        match self {
            Yaml::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Yaml::Map(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// Why a file could not be read; `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

struct Line<'a> {
    no: usize,
    indent: usize,
    /// Without indentation and comment.
    text: String,
    raw: &'a str,
}

/// Parses a whole document.
pub fn parse(src: &str) -> Result<Yaml, YamlError> {
    let mut lines = Vec::new();
    for (i, raw) in src.lines().enumerate() {
        let no = i + 1;
        let content = raw.trim_start_matches(' ');
        if content.starts_with('\t') {
            return Err(err(no, "tabs are not allowed for indentation in YAML"));
        }
        let text = strip_comment(content).trim_end().to_string();
        if text == "---" && lines.is_empty() {
            continue;
        }
        if text == "---" || text == "..." {
            return Err(err(no, "only one YAML document per file is supported"));
        }
        lines.push(Line {
            no,
            indent: raw.len() - content.len(),
            text,
            raw,
        });
    }
    let mut p = Parser { lines, i: 0 };
    p.skip_blank();
    if p.i >= p.lines.len() {
        return Ok(Yaml::Null);
    }
    let indent = p.lines[p.i].indent;
    let v = p.node(indent)?;
    p.skip_blank();
    if let Some(l) = p.lines.get(p.i) {
        return Err(err(l.no, "unexpected indentation"));
    }
    Ok(v)
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    i: usize,
}

impl Parser<'_> {
    fn skip_blank(&mut self) {
        while self.i < self.lines.len() && self.lines[self.i].text.is_empty() {
            self.i += 1;
        }
    }

    fn node(&mut self, indent: usize) -> Result<Yaml, YamlError> {
        let l = &self.lines[self.i];
        if is_seq_item(&l.text) {
            self.seq(indent)
        } else {
            self.map(indent)
        }
    }

    fn seq(&mut self, indent: usize) -> Result<Yaml, YamlError> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            let Some(l) = self.lines.get(self.i) else {
                break;
            };
            if l.indent < indent || !is_seq_item(&l.text) {
                break;
            }
            if l.indent > indent {
                return Err(err(l.no, "unexpected indentation in a list"));
            }
            let rest = l.text[1..].trim_start().to_string();
            let no = l.no;
            if rest.is_empty() {
                self.i += 1;
                items.push(self.child(indent, false)?);
            } else if split_key(&rest).is_some() || is_seq_item(&rest) {
                // `- key: value`: the item is a mapping whose column is after "- ".
                let col = indent + (l.text.len() - rest.len());
                let line = &mut self.lines[self.i];
                line.indent = col;
                line.text = rest;
                items.push(self.node(col)?);
            } else {
                self.i += 1;
                items.push(scalar(&rest, no)?);
            }
        }
        Ok(Yaml::Seq(items))
    }

    fn map(&mut self, indent: usize) -> Result<Yaml, YamlError> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        loop {
            self.skip_blank();
            let Some(l) = self.lines.get(self.i) else {
                break;
            };
            if l.indent < indent || (l.indent == indent && is_seq_item(&l.text)) {
                break;
            }
            if l.indent > indent {
                return Err(err(l.no, "unexpected indentation"));
            }
            let no = l.no;
            let Some((key, value)) = split_key(&l.text) else {
                return Err(err(no, "expected `key: value`"));
            };
            let key = unquote_key(&key, no)?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(err(no, &format!("duplicate key {key:?}")));
            }
            self.i += 1;
            let v = match value.as_str() {
                "" => self.child(indent, true)?,
                v if v.starts_with('|') || v.starts_with('>') => {
                    self.block_scalar(indent, v, no)?
                }
                v => scalar(v, no)?,
            };
            entries.push((key, v));
        }
        Ok(Yaml::Map(entries))
    }

    /// The value on the lines after `key:` or `-`: deeper, or a list at the same
    /// indentation as its key.
    fn child(&mut self, indent: usize, after_key: bool) -> Result<Yaml, YamlError> {
        self.skip_blank();
        match self.lines.get(self.i) {
            Some(next) if next.indent > indent => {
                let ni = next.indent;
                self.node(ni)
            }
            Some(next) if after_key && next.indent == indent && is_seq_item(&next.text) => {
                self.seq(indent)
            }
            _ => Ok(Yaml::Null),
        }
    }

    fn block_scalar(&mut self, indent: usize, header: &str, no: usize) -> Result<Yaml, YamlError> {
        let folded = header.starts_with('>');
        let chomp = &header[1..];
        if !matches!(chomp, "" | "-" | "+") {
            return Err(err(
                no,
                "only |, |-, |+, >, >- and >+ block scalars are supported",
            ));
        }
        let mut body: Vec<&str> = Vec::new();
        let mut block_indent = None;
        while let Some(l) = self.lines.get(self.i) {
            let blank = l.raw.trim().is_empty();
            if !blank && l.indent <= indent {
                break;
            }
            if !blank && block_indent.is_none() {
                block_indent = Some(l.indent);
            }
            body.push(l.raw);
            self.i += 1;
        }
        let bi = block_indent.unwrap_or(indent + 1);
        let mut lines: Vec<String> = body
            .iter()
            .map(|r| r.get(bi..).unwrap_or("").to_string())
            .collect();
        while lines.last().is_some_and(|l| l.is_empty()) && chomp != "+" {
            lines.pop();
        }
        let mut text = if folded {
            lines.join(" ")
        } else {
            lines.join("\n")
        };
        if chomp != "-" && !text.is_empty() {
            text.push('\n');
        }
        Ok(Yaml::Str(text))
    }
}

fn err(line: usize, message: &str) -> YamlError {
    YamlError {
        line,
        message: message.to_string(),
    }
}

fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// `#` starts a comment at the line start or after a space, outside quotes.
fn strip_comment(s: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && (prev == ' ' || i == 0) => return &s[..i],
            _ => {}
        }
        prev = c;
    }
    s
}

/// Splits `key: value` at the first `: ` (or trailing `:`) outside quotes.
fn split_key(text: &str) -> Option<(String, String)> {
    let (mut single, mut double) = (false, false);
    let bytes = text.as_bytes();
    for (i, c) in text.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            ':' if !single && !double => {
                let next = bytes.get(i + 1);
                if next.is_none() || next == Some(&b' ') {
                    return Some((
                        text[..i].trim().to_string(),
                        text[i + 1..].trim().to_string(),
                    ));
                }
            }
            _ => {}
        }
        if i == 0 && matches!(c, '[' | '{') {
            return None;
        }
    }
    None
}

fn unquote_key(key: &str, no: usize) -> Result<String, YamlError> {
    match scalar(key, no)? {
        Yaml::Str(s) => Ok(s),
        _ => Err(err(no, "a key must be a plain or quoted string")),
    }
}

fn scalar(v: &str, no: usize) -> Result<Yaml, YamlError> {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return Err(err(no, "unterminated double-quoted string"));
        };
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(o) => out.push(o),
                    None => return Err(err(no, "dangling backslash")),
                }
            } else {
                out.push(c);
            }
        }
        return Ok(Yaml::Str(out));
    }
    if let Some(inner) = v.strip_prefix('\'') {
        let Some(inner) = inner.strip_suffix('\'') else {
            return Err(err(no, "unterminated single-quoted string"));
        };
        return Ok(Yaml::Str(inner.replace("''", "'")));
    }
    if let Some(inner) = v.strip_prefix('[') {
        let Some(inner) = inner.strip_suffix(']') else {
            return Err(err(no, "unterminated flow sequence"));
        };
        if inner.trim().is_empty() {
            return Ok(Yaml::Seq(Vec::new()));
        }
        return inner
            .split(',')
            .map(|item| scalar(item, no))
            .collect::<Result<Vec<_>, _>>()
            .map(Yaml::Seq);
    }
    if v.starts_with(['{', '&', '*', '!', '%', '@', '`']) {
        return Err(err(
            no,
            &format!("{v:?}: flow mappings, anchors, aliases and tags are not supported"),
        ));
    }
    if v == "~" || v == "null" {
        return Ok(Yaml::Null);
    }
    Ok(Yaml::Str(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_issue_form_subset() {
        let y = parse(
            "# c\nname: Form  # trailing\nlabels: [incident, \"sev 1\"]\nbody:\n- type: markdown\n  attributes:\n    value: |\n      # Heading\n\n      text: here\n- type: dropdown\n  id: x\n  attributes:\n    options:\n      - 'it''s'\n      - \"SEV1 — a: b\"\n    other:\n      - label: A\n        required: true\n",
        )
        .unwrap();
        assert_eq!(y.get("name").unwrap().as_str(), Some("Form"));
        assert_eq!(
            y.get("labels").unwrap().as_seq().unwrap()[1].as_str(),
            Some("sev 1")
        );
        let body = y.get("body").unwrap().as_seq().unwrap();
        assert_eq!(body.len(), 2);
        let value = body[0].get("attributes").unwrap().get("value").unwrap();
        assert_eq!(value.as_str(), Some("# Heading\n\ntext: here\n"));
        let opts = body[1]
            .get("attributes")
            .unwrap()
            .get("options")
            .unwrap()
            .as_seq()
            .unwrap();
        assert_eq!(opts[0].as_str(), Some("it's"));
        assert_eq!(opts[1].as_str(), Some("SEV1 — a: b"));
        let other = body[1]
            .get("attributes")
            .unwrap()
            .get("other")
            .unwrap()
            .as_seq()
            .unwrap();
        assert_eq!(other[0].get("required").unwrap().as_str(), Some("true"));
    }

    #[test]
    fn refuses_what_it_does_not_support_with_a_line() {
        assert_eq!(parse("a: 1\n  b: 2\n").unwrap_err().line, 2);
        assert_eq!(parse("a: &x 1\n").unwrap_err().line, 1);
        assert_eq!(parse("a: 1\na: 2\n").unwrap_err().line, 2);
        assert_eq!(parse("a: \"x\n").unwrap_err().line, 1);
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("just text\n").is_err());
    }
}
