//! Rendering a repository's own templates in a child process with limits.
//!
//! Purpose: templates under `.github/responder/templates/` are written by whoever can
//! push to a repository, so they are hostile input. Tera has no recursion, time or
//! memory limit, and a stack overflow aborts the whole process (there is no panic to
//! catch): one repository's `{% macro r() %}{{ self::r() }}` would take every
//! repository down, again after each restart. So overrides are compiled and rendered
//! by `responder render-sandbox`, a child process with a wall-clock timeout, a CPU
//! and an address-space limit, no environment and a cap on what it may answer. When
//! the child dies or overruns, the caller gets a [`RenderError`] naming the template
//! and why; the service lives on.
//!
//! Must never hand the child a secret (its environment is cleared) nor run the
//! built-in templates this way (they are trusted, and the common case).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::incident::render::view::IncidentView;
use crate::incident::render::{RenderError, Renderer, TemplateKind};

/// The hidden subcommand the child runs.
pub const SUBCOMMAND: &str = "render-sandbox";
/// The most a child may answer: a body is at most 65,536 characters (≤ 256 KiB).
const ANSWER_LIMIT: u64 = 1024 * 1024;
/// The most a job may be: templates are capped at [`TEMPLATE_LIMIT`] each.
const JOB_LIMIT: u64 = 16 * 1024 * 1024;
/// The largest template a repository may override with, in bytes.
pub const TEMPLATE_LIMIT: usize = 256 * 1024;

/// How the children are started and bounded.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The `responder` binary (the running one, unless tests name it).
    pub exe: PathBuf,
    /// Wall-clock time for one render, compile included.
    pub timeout: Duration,
    /// CPU seconds for one child (a second line of defence behind `timeout`).
    pub cpu_seconds: u64,
    /// Address space for one child.
    pub memory_bytes: u64,
    /// Children at once: rendering is CPU work, so about the number of cores.
    pub concurrency: usize,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("responder")),
            timeout: Duration::from_secs(5),
            cpu_seconds: 10,
            memory_bytes: 1024 * 1024 * 1024,
            concurrency: 2,
        }
    }
}

/// What the child is asked: compile `defaults` overlaid by `overrides`, render one.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    pub defaults: HashMap<String, String>,
    pub overrides: HashMap<String, String>,
    pub template: TemplateKind,
    pub view: IncidentView,
}

/// Starts and bounds the children; shared by every repository.
pub struct Sandbox {
    config: SandboxConfig,
    slots: Semaphore,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Arc<Sandbox> {
        Arc::new(Sandbox {
            slots: Semaphore::new(config.concurrency.max(1)),
            config,
        })
    }

    /// Renders `job` in a child; every way the child can fail is a [`RenderError`].
    pub async fn render(&self, job: &Job) -> Result<String, RenderError> {
        let name = job.template.file_name().to_string();
        let failed = |message: String| RenderError::Render {
            name: name.clone(),
            message,
        };
        let input = serde_json::to_vec(job).map_err(|e| failed(e.to_string()))?;
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let c = &self.config;
        let mut child = tokio::process::Command::new(&c.exe)
            .arg(SUBCOMMAND)
            .arg(c.cpu_seconds.to_string())
            .arg(c.memory_bytes.to_string())
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                failed(format!(
                    "the template sandbox {} could not start: {e}",
                    c.exe.display()
                ))
            })?;
        let (mut stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let talk = async {
            if let Some(mut w) = stdin.take() {
                // A child that died early closes the pipe; its exit says why.
                let _ = w.write_all(&input).await;
            }
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                if let Some(s) = stdout {
                    let _ = s.take(ANSWER_LIMIT).read_to_end(&mut out).await;
                }
            };
            let read_err = async {
                if let Some(s) = stderr {
                    let _ = s.take(4096).read_to_end(&mut err).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = match tokio::time::timeout(c.timeout, talk).await {
            Ok(r) => r,
            Err(_) => {
                // `kill_on_drop` ends the child with the future that owned it.
                return Err(failed(format!(
                    "rendering took longer than {} s and was stopped (a loop over a huge range, or a template that never ends?)",
                    c.timeout.as_secs_f32()
                )));
            }
        };
        let status = status.map_err(|e| failed(e.to_string()))?;
        match serde_json::from_slice::<Result<String, RenderError>>(&out) {
            Ok(answer) if status.success() => answer,
            _ => Err(failed(why_it_died(status, &err, c))),
        }
    }
}

/// What a dead child's exit and last words say about the template.
fn why_it_died(status: std::process::ExitStatus, stderr: &[u8], c: &SandboxConfig) -> String {
    use std::os::unix::process::ExitStatusExt;
    let said = String::from_utf8_lossy(stderr);
    if said.contains("overflowed its stack") {
        return "the templates recurse without end or nest too deeply (rendering ran out of stack)"
            .into();
    }
    if said.contains("memory allocation") {
        return format!(
            "rendering needed more than {} MiB of memory",
            c.memory_bytes / (1024 * 1024)
        );
    }
    match status.signal() {
        Some(libc::SIGXCPU) | Some(libc::SIGKILL) => format!(
            "rendering used more than {} s of CPU and was stopped",
            c.cpu_seconds
        ),
        Some(sig) => format!("rendering crashed (signal {sig})"),
        None => format!("rendering failed ({status})"),
    }
}

/// When this process was started as the sandbox's child (`responder render-sandbox
/// CPU_SECONDS MEMORY_BYTES`), renders the job on stdin and returns the exit code.
pub fn child_from_args() -> Option<u8> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, cpu, mem] if cmd == SUBCOMMAND => {
            let (Ok(cpu), Ok(mem)) = (cpu.parse(), mem.parse()) else {
                eprintln!("usage: responder {SUBCOMMAND} CPU_SECONDS MEMORY_BYTES < job.json");
                return Some(2);
            };
            Some(run_child(cpu, mem))
        }
        _ => None,
    }
}

/// The child's side: limits itself, reads one [`Job`] from stdin, writes the
/// `Result` as JSON to stdout. Returns the process exit code.
fn run_child(cpu_seconds: u64, memory_bytes: u64) -> u8 {
    // Soft CPU limit → SIGXCPU; the hard one a second later → SIGKILL.
    limit(libc::RLIMIT_CPU, cpu_seconds, cpu_seconds + 1);
    limit(libc::RLIMIT_AS, memory_bytes, memory_bytes);
    let mut input = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(
        &mut std::io::Read::take(std::io::stdin().lock(), JOB_LIMIT),
        &mut input,
    ) {
        eprintln!("render-sandbox: cannot read the job: {e}");
        return 2;
    }
    let job: Job = match serde_json::from_slice(&input) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("render-sandbox: the job is not valid: {e}");
            return 2;
        }
    };
    let answer = Renderer::with_overrides(job.defaults, job.overrides)
        .and_then(|r| r.render(job.template, &job.view));
    match serde_json::to_writer(std::io::stdout().lock(), &answer) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("render-sandbox: cannot answer: {e}");
            2
        }
    }
}

fn limit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) {
    let l = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass and changes only this process.
    let rc = unsafe { libc::setrlimit(resource, &l) };
    if rc != 0 {
        eprintln!(
            "render-sandbox: cannot set a limit: {}",
            std::io::Error::last_os_error()
        );
    }
}
