//! Reads and writes the fake's bare repositories with the git CLI: refs, trees,
//! blobs, three-dot diffs split per file, and one-file commits.
//!
//! Blocking (it runs processes): handlers call it from `spawn_blocking`. It must
//! never read the machine's git configuration, so answers are the same everywhere.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::git_fixture::git_env;

/// One file of a PR diff, as the files endpoint reports it.
#[derive(Clone, Debug)]
pub struct FileDiff {
    pub filename: String,
    pub previous_filename: Option<String>,
    pub status: &'static str,
    pub additions: u64,
    pub deletions: u64,
    /// Blob SHA after the change (before it, for a removed file).
    pub sha: String,
    /// Hunks from the first `@@`, no trailing newline; `None` for binary files.
    pub patch: Option<String>,
}

/// An entry of a tree listing.
#[derive(Clone, Debug)]
pub struct TreeEntry {
    pub kind: String,
    pub sha: String,
    pub path: String,
}

/// Runs git on `bare` with optional extra environment and stdin; stdout or stderr.
pub fn run(
    bare: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir")
        .arg(bare)
        .args(args)
        .envs(git_env())
        .envs(env.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run git: {e}"))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        pipe.write_all(input)
            .map_err(|e| format!("git stdin: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("git: {e}"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn text(bare: &Path, args: &[&str]) -> Result<String, String> {
    run(bare, args, &[], None).map(|o| String::from_utf8_lossy(&o).trim().to_string())
}

/// The commit `rev` names, if any.
pub fn rev_parse(bare: &Path, rev: &str) -> Option<String> {
    text(
        bare,
        &["rev-parse", "-q", "--verify", &format!("{rev}^{{commit}}")],
    )
    .ok()
}

/// The branch HEAD points at (GitHub's default branch).
pub fn default_branch(bare: &Path) -> String {
    text(bare, &["symbolic-ref", "--short", "HEAD"]).unwrap_or_else(|_| "main".into())
}

/// merge-base of two commits.
pub fn merge_base(bare: &Path, a: &str, b: &str) -> Option<String> {
    text(bare, &["merge-base", a, b]).ok()
}

/// Number of commits in `base..head`.
pub fn commit_count(bare: &Path, base: &str, head: &str) -> u64 {
    text(bare, &["rev-list", "--count", &format!("{base}..{head}")])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A branch whose tip is `sha`, to name a PR's head when only the SHA is known.
pub fn branch_at(bare: &Path, sha: &str) -> Option<String> {
    let out = text(
        bare,
        &[
            "for-each-ref",
            "--points-at",
            sha,
            "--format=%(refname:short)",
            "refs/heads",
        ],
    )
    .ok()?;
    out.lines().next().map(str::to_string)
}

/// Whether `a` is an ancestor of `b`.
pub fn is_ancestor(bare: &Path, a: &str, b: &str) -> bool {
    run(bare, &["merge-base", "--is-ancestor", a, b], &[], None).is_ok()
}

/// Points `refname` at `new`, only if it is still at `old` (`None`: must not exist).
pub fn update_ref(bare: &Path, refname: &str, new: &str, old: Option<&str>) -> Result<(), String> {
    let zero = "0".repeat(40);
    run(
        bare,
        &["update-ref", refname, new, old.unwrap_or(&zero)],
        &[],
        None,
    )
    .map(|_| ())
}

/// The entry at `path` in `rev`'s tree (`path` empty: the root).
pub fn entry(bare: &Path, rev: &str, path: &str) -> Option<TreeEntry> {
    if path.is_empty() {
        let sha = text(bare, &["rev-parse", &format!("{rev}^{{tree}}")]).ok()?;
        return Some(TreeEntry {
            kind: "tree".into(),
            sha,
            path: String::new(),
        });
    }
    let out = run(bare, &["ls-tree", "-z", rev, "--", path], &[], None).ok()?;
    parse_ls_tree(&out).into_iter().find(|e| e.path == path)
}

/// The entries directly inside directory `path` of `rev`.
pub fn list_dir(bare: &Path, rev: &str, path: &str) -> Vec<TreeEntry> {
    let spec = if path.is_empty() {
        rev.to_string()
    } else {
        format!("{rev}:{path}")
    };
    let out = run(bare, &["ls-tree", "-z", &spec], &[], None).unwrap_or_default();
    parse_ls_tree(&out)
        .into_iter()
        .map(|mut e| {
            if !path.is_empty() {
                e.path = format!("{path}/{}", e.path);
            }
            e
        })
        .collect()
}

fn parse_ls_tree(out: &[u8]) -> Vec<TreeEntry> {
    out.split(|b| *b == 0)
        .filter(|r| !r.is_empty())
        .filter_map(|r| {
            let r = String::from_utf8_lossy(r);
            let (meta, path) = r.split_once('\t')?;
            let mut parts = meta.split(' ');
            let _mode = parts.next()?;
            let kind = parts.next()?.to_string();
            let sha = parts.next()?.to_string();
            Some(TreeEntry {
                kind,
                sha,
                path: path.to_string(),
            })
        })
        .collect()
}

/// The bytes of blob `sha`.
pub fn blob(bare: &Path, sha: &str) -> Result<Vec<u8>, String> {
    run(bare, &["cat-file", "blob", sha], &[], None)
}

/// The new commit and blob after [`commit_file`].
pub struct Committed {
    pub commit: String,
    pub parent: String,
    pub tree: String,
    pub blob: String,
}

/// Commits `content` at `path` on `branch` with plumbing (no work tree), moving
/// the branch only if nobody moved it meanwhile.
pub fn commit_file(
    bare: &Path,
    branch: &str,
    path: &str,
    content: &[u8],
    message: &str,
    date: i64,
    author: (&str, &str),
) -> Result<Committed, String> {
    let parent = rev_parse(bare, &format!("refs/heads/{branch}")).ok_or("no such branch")?;
    let blob = String::from_utf8_lossy(&run(
        bare,
        &["hash-object", "-w", "--stdin"],
        &[],
        Some(content),
    )?)
    .trim()
    .to_string();
    let index = bare.join(format!("fake-index-{}", uuid::Uuid::new_v4()));
    let index_s = index.to_string_lossy().into_owned();
    let date_s = format!("@{date} +0000");
    let env = [
        ("GIT_INDEX_FILE", index_s.as_str()),
        ("GIT_AUTHOR_NAME", author.0),
        ("GIT_AUTHOR_EMAIL", author.1),
        ("GIT_COMMITTER_NAME", author.0),
        ("GIT_COMMITTER_EMAIL", author.1),
        ("GIT_AUTHOR_DATE", date_s.as_str()),
        ("GIT_COMMITTER_DATE", date_s.as_str()),
    ];
    let result = (|| {
        run(bare, &["read-tree", &parent], &env, None)?;
        let info = format!("100644,{blob},{path}");
        run(
            bare,
            &["update-index", "--add", "--cacheinfo", &info],
            &env,
            None,
        )?;
        let tree = String::from_utf8_lossy(&run(bare, &["write-tree"], &env, None)?)
            .trim()
            .to_string();
        let commit = String::from_utf8_lossy(&run(
            bare,
            &["commit-tree", &tree, "-p", &parent, "-m", message],
            &env,
            None,
        )?)
        .trim()
        .to_string();
        update_ref(
            bare,
            &format!("refs/heads/{branch}"),
            &commit,
            Some(&parent),
        )?;
        Ok(Committed {
            commit,
            parent: parent.clone(),
            tree,
            blob: blob.clone(),
        })
    })();
    let _ = std::fs::remove_file(&index);
    result
}

/// The diff `base..head` file by file, renames detected, in git's order.
pub fn diff(bare: &Path, base: &str, head: &str) -> Result<Vec<FileDiff>, String> {
    let common = ["-M", "--no-color", "--no-ext-diff", "--no-textconv"];
    let mut raw_args = vec!["diff", "--raw", "-z", "--no-abbrev"];
    raw_args.extend(common);
    raw_args.extend([base, head]);
    let raw = run(bare, &raw_args, &[], None)?;
    let mut patch_args = vec!["diff", "-p"];
    patch_args.extend(common);
    patch_args.extend([base, head]);
    let patch = String::from_utf8_lossy(&run(bare, &patch_args, &[], None)?).into_owned();
    let chunks = split_chunks(&patch);
    let entries = parse_raw(&raw);
    if chunks.len() != entries.len() {
        return Err(format!(
            "diff has {} raw entries but {} patch chunks",
            entries.len(),
            chunks.len()
        ));
    }
    Ok(entries
        .into_iter()
        .zip(chunks)
        .map(|(mut f, chunk)| {
            let (patch, adds, dels) = hunks(chunk);
            f.patch = patch;
            f.additions = adds;
            f.deletions = dels;
            f
        })
        .collect())
}

fn parse_raw(raw: &[u8]) -> Vec<FileDiff> {
    let fields: Vec<String> = raw
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < fields.len() && fields[i].starts_with(':') {
        let meta: Vec<&str> = fields[i].split(' ').collect();
        let (old_sha, new_sha, code) = (meta[2], meta[3], meta[4]);
        let two_paths = code.starts_with('R') || code.starts_with('C');
        let (previous, filename) = if two_paths {
            (Some(fields[i + 1].clone()), fields[i + 2].clone())
        } else {
            (None, fields[i + 1].clone())
        };
        i += if two_paths { 3 } else { 2 };
        let status = match &code[..1] {
            "A" => "added",
            "D" => "removed",
            "R" => "renamed",
            "C" => "copied",
            "T" => "changed",
            _ => "modified",
        };
        let sha = if status == "removed" {
            old_sha
        } else {
            new_sha
        };
        out.push(FileDiff {
            filename,
            previous_filename: if status == "renamed" { previous } else { None },
            status,
            additions: 0,
            deletions: 0,
            sha: sha.to_string(),
            patch: None,
        });
    }
    out
}

fn split_chunks(patch: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in patch.split_inclusive('\n') {
        if line.starts_with("diff --git ") {
            starts.push(pos);
        }
        pos += line.len();
    }
    starts
        .iter()
        .enumerate()
        .map(|(k, s)| &patch[*s..starts.get(k + 1).copied().unwrap_or(patch.len())])
        .collect()
}

/// GitHub's `patch`: the hunks only, no file header, no final newline.
fn hunks(chunk: &str) -> (Option<String>, u64, u64) {
    let Some(at) = chunk.find("\n@@").map(|i| i + 1) else {
        return (None, 0, 0);
    };
    let body = chunk[at..].trim_end_matches('\n');
    let (mut adds, mut dels) = (0, 0);
    for line in body.lines() {
        if line.starts_with('+') {
            adds += 1;
        } else if line.starts_with('-') {
            dels += 1;
        }
    }
    (Some(body.to_string()), adds, dels)
}
