//! A smart-HTTP git server for tests and the benchmark: `git http-backend` behind a
//! tiny axum CGI wrapper, optionally demanding `x-access-token:<token>` Basic auth,
//! counting upload-pack requests (one per fetch).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Response, StatusCode, Uri};
use base64::Engine as _;
use tokio::io::AsyncWriteExt;

#[derive(Clone)]
struct Served {
    root: PathBuf,
    token: Option<String>,
    upload_packs: Arc<AtomicUsize>,
    auth_failures: Arc<AtomicUsize>,
}

pub struct GitHttpServer {
    /// `http://127.0.0.1:PORT`; repositories are `{base_url}/<path under root>`.
    pub base_url: String,
    pub upload_packs: Arc<AtomicUsize>,
    pub auth_failures: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GitHttpServer {
    /// Serves every repository under `root`. Must be called inside a tokio runtime.
    pub async fn start(root: PathBuf, token: Option<String>) -> Self {
        let served = Served {
            root,
            token,
            upload_packs: Arc::default(),
            auth_failures: Arc::default(),
        };
        let upload_packs = served.upload_packs.clone();
        let auth_failures = served.auth_failures.clone();
        let app = axum::Router::new().fallback(handle).with_state(served);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            base_url,
            upload_packs,
            auth_failures,
            task,
        }
    }

    pub fn upload_packs(&self) -> usize {
        self.upload_packs.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(s): State<Served>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    if let Some(token) = &s.token {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"))
        );
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            if given.is_some() {
                s.auth_failures.fetch_add(1, Ordering::SeqCst);
            }
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("www-authenticate", "Basic realm=\"git\"")
                .body(Body::empty())
                .unwrap();
        }
    }
    if method == Method::POST && uri.path().ends_with("/git-upload-pack") {
        s.upload_packs.fetch_add(1, Ordering::SeqCst);
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", &s.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or(""))
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("git http-backend starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = child.wait_with_output().await.unwrap();
    let _ = writer.await;
    cgi_response(&out.stdout)
}

fn cgi_response(raw: &[u8]) -> Response<Body> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, p + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| (p, p + 2))
        })
        .unwrap_or((raw.len(), raw.len()));
    let head = String::from_utf8_lossy(&raw[..split.0]);
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(500);
            builder = builder.status(code);
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder.body(Body::from(raw[split.1..].to_vec())).unwrap()
}
