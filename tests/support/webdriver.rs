//! A headless Chromium driven over W3C WebDriver (chromedriver), with only what the
//! browser tests use: navigate, find by CSS, type, click, read the URL and the page.
//!
//! It must never skip a test when the browser is missing: it fails, saying which
//! Debian packages to install. Chromium and chromedriver are stopped on `Drop`, even
//! when the test panics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// Debian's paths; `RESPONDER_TEST_CHROMIUM` / `RESPONDER_TEST_CHROMEDRIVER` point
/// elsewhere (GitHub's Ubuntu runners ship Chrome and its driver, not Debian's).
fn chromium() -> String {
    std::env::var("RESPONDER_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

fn chromedriver() -> String {
    std::env::var("RESPONDER_TEST_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into())
}

/// Chromium's first start on a busy 2-core machine takes seconds, rarely many.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// A single command; navigation waits for the page to load.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// W3C's key for an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver error: the command, and what chromedriver said.
#[derive(Debug)]
pub struct WebDriverError(pub String);

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    http: reqwest::Client,
    /// Chromium's profile and chromedriver's log; dropped after `drop` has stopped
    /// both, so the profile is not removed under a running browser.
    dir: tempfile::TempDir,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session.
    /// Panics (never skips) when Chromium or chromedriver is not installed.
    pub async fn start() -> Self {
        for binary in [chromium(), chromedriver()] {
            assert!(
                Path::new(&binary).exists(),
                "{binary} is missing: the browser tests need Debian's `chromium` and \
                 `chromium-driver` packages (apt-get install chromium chromium-driver)"
            );
        }
        let dir = tempfile::tempdir().expect("temporary directory for Chromium");
        let http = reqwest::Client::builder()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .expect("HTTP client");
        // The port is free when chosen but could be taken before chromedriver binds
        // it; a second port is then tried rather than failing the test.
        let mut last_failure = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut driver = spawn_driver(port, dir.path());
            match wait_ready(&http, port, &mut driver).await {
                Ok(()) => {
                    let session = match new_session(&http, port, dir.path()).await {
                        Ok(s) => s,
                        Err(e) => {
                            stop_driver(&mut driver, port);
                            panic!(
                                "Chromium did not start through chromedriver: {e}\n{}",
                                log_tail(dir.path())
                            );
                        }
                    };
                    return Self {
                        driver,
                        port,
                        session,
                        http,
                        dir,
                    };
                }
                Err(e) => {
                    stop_driver(&mut driver, port);
                    last_failure = e;
                }
            }
        }
        panic!(
            "chromedriver did not become ready: {last_failure}\n{}",
            log_tail(dir.path())
        );
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), WebDriverError> {
        self.command(reqwest::Method::POST, "url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// The address of the page shown now.
    pub async fn url(&self) -> Result<String, WebDriverError> {
        let v = self.command(reqwest::Method::GET, "url", None).await?;
        string(v, "the current URL")
    }

    /// The current page's HTML as the browser serialises it.
    pub async fn source(&self) -> Result<String, WebDriverError> {
        let v = self.command(reqwest::Method::GET, "source", None).await?;
        string(v, "the page source")
    }

    /// The first element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> Result<Element<'_>, WebDriverError> {
        let v = self
            .command(
                reqwest::Method::POST,
                "element",
                Some(json!({ "using": "css selector", "value": selector })),
            )
            .await?;
        let id = v
            .get(ELEMENT_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| WebDriverError(format!("no element reference for {selector}: {v}")))?;
        Ok(Element {
            browser: self,
            id: id.to_string(),
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WebDriverError> {
        let url = format!(
            "http://127.0.0.1:{}/session/{}/{path}",
            self.port, self.session
        );
        // POST commands without parameters still need a JSON object.
        let body = body.unwrap_or_else(|| json!({}));
        let req = self.http.request(method.clone(), &url);
        let req = if method == reqwest::Method::GET {
            req
        } else {
            req.json(&body)
        };
        let what = format!("{method} /session/…/{path}");
        let resp = req
            .send()
            .await
            .map_err(|e| WebDriverError(format!("{what}: {e}")))?;
        answer(&what, resp).await
    }
}

impl Element<'_> {
    pub async fn click(&self) -> Result<(), WebDriverError> {
        self.browser
            .command(
                reqwest::Method::POST,
                &format!("element/{}/click", self.id),
                None,
            )
            .await
            .map(drop)
    }

    /// Types `text` into the element.
    pub async fn send_keys(&self, text: &str) -> Result<(), WebDriverError> {
        self.browser
            .command(
                reqwest::Method::POST,
                &format!("element/{}/value", self.id),
                Some(json!({ "text": text })),
            )
            .await
            .map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self) -> Result<String, WebDriverError> {
        let v = self
            .browser
            .command(
                reqwest::Method::GET,
                &format!("element/{}/text", self.id),
                None,
            )
            .await?;
        string(v, "the element's text")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Blocking on purpose: Drop cannot await, and a session left open keeps a
        // Chromium running after the test.
        let _ = blocking_request(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            Duration::from_secs(20),
        );
        stop_driver(&mut self.driver, self.port);
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn spawn_driver(port: u16, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("chromedriver.log")).expect("chromedriver log");
    let driver = chromedriver();
    Command::new(&driver)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {driver}: {e}; install Debian's `chromium` and `chromium-driver`")
        })
}

async fn wait_ready(http: &reqwest::Client, port: u16, driver: &mut Child) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    let url = format!("http://127.0.0.1:{port}/status");
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("chromedriver exited ({status})"));
        }
        if let Ok(resp) = http.get(&url).send().await
            && let Ok(v) = resp.json::<Value>().await
            && v["value"]["ready"] == true
        {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            return Err(format!("no ready /status within {START_TIMEOUT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn new_session(http: &reqwest::Client, port: u16, dir: &Path) -> Result<String, String> {
    let profile = dir.join("profile");
    let caps = json!({
        "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        }},
    });
    let resp = http
        .post(format!("http://127.0.0.1:{port}/session"))
        .timeout(START_TIMEOUT)
        .json(&caps)
        .send()
        .await
        .map_err(|e| format!("POST /session: {e}"))?;
    let v = answer("POST /session", resp).await.map_err(|e| e.0)?;
    v["sessionId"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("POST /session answered without a sessionId: {v}"))
}

/// The `value` of a WebDriver answer, or its error.
async fn answer(what: &str, resp: reqwest::Response) -> Result<Value, WebDriverError> {
    let status = resp.status();
    let mut v: Value = resp
        .json()
        .await
        .map_err(|e| WebDriverError(format!("{what}: answer is not JSON: {e}")))?;
    let value = v["value"].take();
    if !status.is_success() {
        return Err(WebDriverError(format!(
            "{what}: {status} {}: {}",
            value["error"].as_str().unwrap_or("?"),
            value["message"].as_str().unwrap_or("")
        )));
    }
    Ok(value)
}

fn string(v: Value, what: &str) -> Result<String, WebDriverError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| WebDriverError(format!("{what} is not a string: {v}")))
}

/// Asks chromedriver to quit (it closes any browser it still runs), then makes sure.
fn stop_driver(driver: &mut Child, port: u16) {
    let _ = blocking_request(port, "GET", "/shutdown", Duration::from_secs(5));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline {
        if matches!(driver.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = driver.kill();
    let _ = driver.wait();
}

/// One HTTP/1.1 request without a body, on plain std sockets (usable from `Drop`).
fn blocking_request(port: u16, method: &str, path: &str, timeout: Duration) -> std::io::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The answer comes once chromedriver has done it. It keeps the connection open
    // despite `Connection: close`, so the answer's end is found by its length.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        got.extend_from_slice(&buf[..n]);
        if answer_complete(&got) {
            return Ok(());
        }
    }
}

/// Whether `got` holds a whole HTTP answer (Content-Length or chunked).
fn answer_complete(got: &[u8]) -> bool {
    let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let body = &got[end + 4..];
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    match length {
        Some(len) => body.len() >= len,
        None if head.contains("transfer-encoding: chunked") => body.ends_with(b"0\r\n\r\n"),
        None => false,
    }
}

/// The end of chromedriver's log, for a failure message.
fn log_tail(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("chromedriver.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    format!("chromedriver's log ends with:\n{tail}")
}
