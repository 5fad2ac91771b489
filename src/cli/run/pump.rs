//! Passing a child's stream through as it comes, keeping a bounded copy, and handing
//! termination signals on to the child.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Copies `from` to `to` chunk by chunk (flushing each, so a watcher sees output as
/// it is printed) and returns the first `keep` bytes. When `to` is closed (`| head`)
/// it keeps reading, so the child never blocks on a full pipe.
pub async fn pump<R, W>(mut from: R, mut to: W, keep: usize) -> Vec<u8>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut kept = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut writing = true;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if writing && (to.write_all(&buf[..n]).await.is_err() || to.flush().await.is_err()) {
            writing = false;
        }
        let room = keep.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
    }
    kept
}

/// Hands SIGTERM and SIGHUP on to the child (a supervisor stopping the sandbox stops
/// the agent). SIGINT is caught but not repeated: a terminal's Ctrl-C already
/// reached the child, which is in our process group, and a second one would make
/// many CLIs quit without cleaning up.
pub fn forward_signals(child: Option<u32>) -> JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Some(pid), Ok(mut term), Ok(mut hup), Ok(mut int)) = (
            child,
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        loop {
            let sig = tokio::select! {
                _ = term.recv() => libc::SIGTERM,
                _ = hup.recv() => libc::SIGHUP,
                _ = int.recv() => continue,
            };
            // SAFETY: kill(2) on the child's pid with a valid signal number; the child
            // is not reaped until `wait` returns, so the pid is still ours.
            unsafe {
                libc::kill(pid as libc::pid_t, sig);
            }
        }
    })
}
