//! Running the official MCP Python SDK (tests/mcp/client.py) against Responder: the
//! client that is not Responder's own code.
//!
//! The SDK comes from the virtualenv `.ci/run` makes (`target/mcp-venv`), or the
//! interpreter `RESPONDER_TEST_PYTHON` names. Without either the tests fail, saying
//! how to install it; `RESPONDER_SKIP_MCP_CLIENT=1` skips them explicitly.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");
const VENV_PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/mcp-venv/bin/python");

/// A Python that imports `mcp`, or `None` when the tests are told to skip.
pub(crate) fn python() -> Option<PathBuf> {
    if std::env::var_os("RESPONDER_SKIP_MCP_CLIENT").is_some_and(|v| v == "1") {
        eprintln!("RESPONDER_SKIP_MCP_CLIENT=1: skipping the MCP Python client");
        return None;
    }
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("RESPONDER_TEST_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push(VENV_PYTHON.into());
    for c in candidates {
        let ok = std::process::Command::new(&c)
            .args(["-c", "import mcp, httpx2"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(c);
        }
    }
    panic!(
        "no Python with the MCP SDK: run `bash .ci/run` (it makes target/mcp-venv), or \
         `python3 -m venv target/mcp-venv && target/mcp-venv/bin/pip install mcp==2.3.0`, or set \
         RESPONDER_TEST_PYTHON to an interpreter that has `mcp`; RESPONDER_SKIP_MCP_CLIENT=1 \
         skips these tests"
    );
}

/// Runs the client with `spec` (see the script's doc) and returns what it printed.
pub(crate) async fn run(python: &PathBuf, spec: &Value) -> Value {
    let mut child = tokio::process::Command::new(python)
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(&serde_json::to_vec(spec).unwrap())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("the MCP client finished within 5 minutes")
        .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the MCP client printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The names of the tools a client run listed.
pub(crate) fn tool_names(out: &Value) -> Vec<String> {
    out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The results of op `i`.
pub(crate) fn op(out: &Value, i: usize) -> &Vec<Value> {
    out["ops"][i].as_array().unwrap()
}

/// The one result of op `i`, a call.
pub(crate) fn call(out: &Value, i: usize) -> &Value {
    let results = op(out, i);
    assert_eq!(results.len(), 1, "op {i} is one call");
    &results[0]
}

/// The first text content of a result.
pub(crate) fn text(result: &Value) -> &str {
    result["texts"][0].as_str().unwrap_or_default()
}
