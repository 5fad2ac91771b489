//! Process-level crash safety: a delivery acked before `kill -9` is handled exactly
//! once after restart, and SIGTERM stops the service cleanly.
//!
//! The server is this test binary re-executed in "child" mode (`child_server`), so the
//! blocking handler is test code, not a branch in the product.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use responder::Service;
use responder::settings::Settings;
use responder::webhook::{Event, Handler, HandlerError};

use crate::support::service::{WebhookClient, eventually, test_args, webhook_fixture};

const CHILD_ENV: &str = "RESPONDER_TEST_CHILD_DIR";

/// Appends to `log`, then waits while the file `block` exists.
struct BlockingHandler {
    dir: PathBuf,
}

#[async_trait::async_trait]
impl Handler for BlockingHandler {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        append(&self.dir, &format!("start {}", event.delivery_id));
        while self.dir.join("block").exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        append(&self.dir, &format!("done {}", event.delivery_id));
        Ok(())
    }
}

fn append(dir: &Path, line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log"))
        .unwrap();
    // One write, so a reader never sees half a line.
    f.write_all(format!("{line}\n").as_bytes()).unwrap();
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Runs only when re-executed by the parent test below.
#[tokio::test]
#[ignore = "child process of kill_9_mid_handler_then_restart_handles_the_delivery_exactly_once"]
async fn child_server() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let settings = Settings::from_args(&test_args(&dir.join("data"))).unwrap();
    let mut service = Service::new(settings).await.unwrap();
    // With PostgreSQL a dead instance's claims are taken over when their lease runs out.
    service.worker_config.lease = Duration::from_secs(3);
    service.registry.on(
        "issues",
        std::sync::Arc::new(BlockingHandler { dir: dir.clone() }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    std::fs::write(
        dir.join("port.tmp"),
        listener.local_addr().unwrap().port().to_string(),
    )
    .unwrap();
    std::fs::rename(dir.join("port.tmp"), dir.join("port")).unwrap();
    service
        .run(listener, responder::service::shutdown_signal())
        .await
        .unwrap();
}

fn spawn_child(dir: &Path) -> Child {
    let _ = std::fs::remove_file(dir.join("port"));
    Command::new(std::env::current_exe().unwrap())
        .args([
            "webhook_process::child_server",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn child_url(dir: &Path) -> String {
    assert!(
        eventually(Duration::from_secs(30), || async {
            dir.join("port").exists()
        })
        .await,
        "child did not start"
    );
    format!(
        "http://127.0.0.1:{}",
        std::fs::read_to_string(dir.join("port")).unwrap()
    )
}

#[tokio::test]
async fn kill_9_mid_handler_then_restart_handles_the_delivery_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("block"), "").unwrap();

    let mut first = spawn_child(dir);
    let url = child_url(dir).await;
    let svc = WebhookClient { url };
    let body = webhook_fixture("issues.opened");
    assert_eq!(svc.deliver("issues", "crash-1", &body).await.status(), 202);
    assert!(
        eventually(Duration::from_secs(10), || async {
            log(dir) == ["start crash-1"]
        })
        .await,
        "{:?}",
        log(dir)
    );
    first.kill().unwrap(); // SIGKILL: no chance to clean up
    first.wait().unwrap();

    std::fs::remove_file(dir.join("block")).unwrap();
    let mut second = spawn_child(dir);
    let url = child_url(dir).await;
    let svc = WebhookClient { url };
    assert!(
        eventually(Duration::from_secs(15), || async {
            log(dir).contains(&"done crash-1".to_string())
        })
        .await,
        "{:?}",
        log(dir)
    );
    // GitHub redelivering the same id after the restart changes nothing.
    let again = svc.deliver("issues", "crash-1", &body).await;
    assert_eq!(again.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(log(dir), ["start crash-1", "start crash-1", "done crash-1"]);

    // SIGTERM: graceful stop, exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || second.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
}
