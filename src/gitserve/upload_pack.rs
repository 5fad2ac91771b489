//! Runs the real `git upload-pack --stateless-rpc` on a mirror and streams what it
//! writes, a bounded number at once.
//!
//! Purpose: serve clones and fetches with git itself (protocol v0 and v2, partial
//! clone filters, shallow requests) rather than a reimplementation, and never hold
//! a whole pack in memory: the answer is read from the child's stdout as the client
//! takes it. The child and its slot belong to the answer's stream: when the client
//! goes away the stream is dropped, the child killed (its `pack-objects` then dies
//! on its next write to the closed pipe) and the slot freed.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::error::ServeError;

/// Bytes read from the child at a time.
const CHUNK: usize = 64 * 1024;
/// What of the child's stderr is kept for the log.
const STDERR_KEPT: usize = 8 * 1024;

/// What the client asked of upload-pack.
pub enum Ask {
    /// `GET info/refs?service=git-upload-pack`: the refs (v0) or capabilities (v2).
    Advertise,
    /// `POST git-upload-pack`: the client's request, decoded.
    Rpc(Bytes),
}

/// The bound on upload-packs running at once, and the wait for a slot.
pub struct UploadPacks {
    slots: Arc<Semaphore>,
    limit: usize,
    queue_timeout: Duration,
}

impl UploadPacks {
    pub fn new(limit: usize, queue_timeout: Duration) -> Self {
        let limit = limit.max(1);
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            queue_timeout,
        }
    }

    /// Upload-packs running now.
    pub fn running(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Starts upload-pack on `mirror` once a slot is free and returns its answer
    /// as a stream, after its first bytes (so a git that fails at once is an error
    /// with a status, not a truncated 200). `protocol`: the client's `Git-Protocol`.
    pub async fn run(
        &self,
        label: &str,
        mirror: &Path,
        protocol: Option<&str>,
        ask: Ask,
    ) -> Result<PackStream, ServeError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| {
                metrics::counter!("responder_git_upload_pack_busy_total").increment(1);
                ServeError::Busy {
                    limit: self.limit,
                    waited: self.queue_timeout,
                }
            })?
            .expect("the upload-pack semaphore is never closed");
        let advertise = matches!(ask, Ask::Advertise);
        let mut cmd = command(mirror, protocol, advertise);
        let mut child = cmd.spawn().map_err(|e| {
            ServeError::Git(format!(
                "cannot start git ({e}): the git mirror needs git installed on the server"
            ))
        })?;
        if let Ask::Rpc(body) = ask {
            let mut stdin = child.stdin.take().expect("piped stdin");
            // Written aside: upload-pack may answer before reading everything, and
            // both pipes filling up would deadlock a sequential write-then-read.
            tokio::spawn(async move {
                let _ = stdin.write_all(&body).await;
            });
        }
        let stderr = child.stderr.take().expect("piped stderr");
        let mut stderr = Some(tokio::spawn(keep_some(stderr)));
        let mut stdout = child.stdout.take().expect("piped stdout");
        let prefix = (advertise && !is_v2(protocol)).then(service_header);
        let first = read_chunk(&mut stdout)
            .await
            .map_err(|e| ServeError::Git(format!("reading its answer: {e}")))?;
        if first.is_empty() {
            let status = child.wait().await;
            let said = match stderr.take() {
                Some(task) => task.await.unwrap_or_default(),
                None => String::new(),
            };
            if !status.as_ref().is_ok_and(|s| s.success()) {
                tracing::warn!(repo = label, status = ?status, stderr = %said.trim(), "git upload-pack failed");
                // Its words name server paths: they go to the log, not the client.
                return Err(ServeError::Git(format!(
                    "it exited with {} on the mirror of {label}; the service's log has its message",
                    status.map_or_else(|e| e.to_string(), |s| s.to_string())
                )));
            }
        }
        metrics::counter!("responder_git_upload_packs_total", "kind" => if advertise { "advertise" } else { "rpc" }).increment(1);
        Ok(PackStream {
            label: label.to_string(),
            // The answer streams after the handler returned: its log line keeps
            // the request's span (repository, agent).
            span: tracing::Span::current(),
            advertise,
            pending: prefix
                .into_iter()
                .chain([first])
                .filter(|b| !b.is_empty())
                .collect(),
            stdout: Some(stdout),
            child,
            stderr,
            _permit: permit,
            started: Instant::now(),
            sent: 0,
        })
    }
}

/// The answer of one upload-pack; owns the child and its slot (see the module doc).
pub struct PackStream {
    label: String,
    span: tracing::Span,
    advertise: bool,
    pending: Vec<Bytes>,
    stdout: Option<ChildStdout>,
    child: Child,
    stderr: Option<JoinHandle<String>>,
    _permit: OwnedSemaphorePermit,
    started: Instant,
    sent: u64,
}

impl PackStream {
    /// The answer as a stream of chunks; the child is reaped after the last one.
    pub fn into_stream(self) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        futures_util::stream::unfold(self, |mut me| async move {
            if !me.pending.is_empty() {
                let chunk = me.pending.remove(0);
                me.sent += chunk.len() as u64;
                return Some((Ok(chunk), me));
            }
            let read = read_chunk(me.stdout.as_mut()?).await;
            match read {
                Ok(chunk) if !chunk.is_empty() => {
                    me.sent += chunk.len() as u64;
                    Some((Ok(chunk), me))
                }
                Ok(_) => {
                    me.stdout = None;
                    me.finish().await;
                    None
                }
                Err(e) => {
                    me.stdout = None;
                    tracing::warn!(repo = %me.label, error = %e, "reading git upload-pack's answer failed");
                    Some((Err(e), me))
                }
            }
        })
    }

    async fn finish(&mut self) {
        let status = self.child.wait().await;
        let said = match self.stderr.take() {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        let ms = self.started.elapsed().as_millis() as u64;
        let (label, sent) = (&self.label, self.sent);
        self.span.in_scope(|| match status {
            Ok(s) if s.success() && self.advertise => {
                tracing::debug!(repo = %label, bytes = sent, ms, "refs advertised")
            }
            Ok(s) if s.success() => {
                tracing::info!(repo = %label, bytes = sent, ms, "git upload-pack served")
            }
            other => {
                tracing::warn!(repo = %label, status = ?other, stderr = %said.trim(), bytes = sent, "git upload-pack failed mid-answer")
            }
        });
    }
}

/// `git upload-pack --stateless-rpc` on `mirror`, its pipes ready, killed if dropped.
fn command(mirror: &Path, protocol: Option<&str>, advertise: bool) -> Command {
    let mut cmd = Command::new("git");
    // Filters for partial clones; wants of reachable commits for v0 clients
    // (v2 allows them anyway), e.g. `git fetch origin <sha>`.
    cmd.args([
        "-c",
        "uploadpack.allowFilter=true",
        "-c",
        "uploadpack.allowReachableSHA1InWant=true",
        "upload-pack",
        "--stateless-rpc",
    ]);
    if advertise {
        cmd.arg("--advertise-refs");
    }
    cmd.arg(mirror)
        .env_remove("GIT_DIR")
        .env_remove("GIT_PROTOCOL")
        .stdin(if advertise {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = protocol {
        cmd.env("GIT_PROTOCOL", p);
    }
    cmd
}

/// Whether the client asked for protocol v2 (`Git-Protocol: version=2[:…]`).
fn is_v2(protocol: Option<&str>) -> bool {
    protocol.is_some_and(|p| p.split(':').any(|kv| kv == "version=2"))
}

/// The smart HTTP preamble of a v0 advertisement (`git http-backend` sends it too).
fn service_header() -> Bytes {
    let line = "# service=git-upload-pack\n";
    Bytes::from(format!("{:04x}{line}0000", line.len() + 4))
}

async fn read_chunk(from: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(CHUNK);
    from.read_buf(&mut buf).await?;
    Ok(buf.freeze())
}

/// Reads a stream to its end, keeping the first `STDERR_KEPT` bytes as text.
async fn keep_some(mut from: impl AsyncRead + Unpin) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = STDERR_KEPT.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    String::from_utf8_lossy(&kept).into_owned()
}
