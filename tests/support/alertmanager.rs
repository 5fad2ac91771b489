//! A real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, or the binary
//! `RESPONDER_TEST_ALERTMANAGER` names) on a loopback port, clustering off, storage in
//! a temporary directory, with one webhook receiver and a bearer token. Killed on drop.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Alertmanager {
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// A free loopback port (bound and given back; the race is acceptable in tests).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Alertmanager {
    /// Starts one sending every group (by `alertname`) to `webhook` with `token`,
    /// waiting 1 s before the first notification, 1 s between changes, and
    /// repeating every 3 s; returns once its API answers.
    pub async fn start(webhook: &str, token: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "route:\n  receiver: responder\n  group_by: ['alertname']\n  group_wait: 1s\n  \
             group_interval: 1s\n  repeat_interval: 3s\nreceivers:\n- name: responder\n  \
             webhook_configs:\n  - url: '{webhook}'\n    send_resolved: true\n    \
             http_config:\n      authorization:\n        type: Bearer\n        \
             credentials: '{token}'\n"
        );
        let config_path = dir.path().join("am.yml");
        std::fs::write(&config_path, config).unwrap();
        let port = free_port();
        let bin = std::env::var("RESPONDER_TEST_ALERTMANAGER")
            .unwrap_or_else(|_| "/usr/bin/prometheus-alertmanager".into());
        let child = Command::new(&bin)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("could not start {bin} (install Debian's prometheus-alertmanager): {e}")
            });
        let am = Alertmanager {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        let ready = super::service::eventually(Duration::from_secs(20), || async {
            reqwest::get(format!("{}/-/ready", am.url))
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready, "Alertmanager did not become ready at {}", am.url);
        am
    }

    /// Posts alerts to Alertmanager's own API (`POST /api/v2/alerts`).
    pub async fn post(&self, alerts: &Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v2/alerts", self.url))
            .json(alerts)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }

    /// How many webhook notifications it has sent successfully (its own metric).
    pub async fn sent(&self) -> u64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let total = |name: &str| -> f64 {
            text.lines()
                .filter(|l| l.starts_with(name) && l.contains("integration=\"webhook\""))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (total("alertmanager_notifications_total")
            - total("alertmanager_notifications_failed_total")) as u64
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
