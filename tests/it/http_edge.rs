//! The HTTP edge under hostile clients: half-sent headers, too many connections,
//! unsigned or oversized bodies, and every error answered as the JSON error body.

use std::time::{Duration, Instant};

use responder::settings::SettingsArgs;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::service::{AGENT_SECRET, TestService, agent_token, test_args};

async fn start(configure: impl FnOnce(&mut SettingsArgs)) -> (TestService, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = test_args(tmp.path());
    configure(&mut args);
    (TestService::start_with(args, |_| {}).await, tmp)
}

fn addr(svc: &TestService) -> String {
    svc.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `within` passes: `None`).
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut out)).await {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

/// Sends a webhook's headers declaring `length` body bytes, and none of the body.
async fn webhook_headers(svc: &TestService, length: usize, signature: Option<&str>) -> TcpStream {
    let mut stream = TcpStream::connect(addr(svc)).await.unwrap();
    let sig = signature
        .map(|s| format!("x-hub-signature-256: {s}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         x-github-event: ping\r\nx-github-delivery: d-{length}\r\n{sig}\
         content-length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The status and JSON body of a raw HTTP/1.1 answer.
fn parse_answer(raw: &str) -> (u16, serde_json::Value) {
    let status = raw
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    let body = raw.split("\r\n\r\n").nth(1).unwrap_or("");
    let json = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {raw:?}"));
    (status, json)
}

/// Reads one answer (head and a body of `content-length`) without waiting for close.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Some(text);
            }
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (!out.is_empty()).then_some(text),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn a_connection_that_sends_half_a_header_is_closed_after_the_header_timeout() {
    let (svc, _tmp) = start(|a| a.header_timeout = "1s".into()).await;
    let mut stream = TcpStream::connect(addr(&svc)).await.unwrap();
    stream
        .write_all(b"POST /webhook HTTP/1.1\r\nhost: x\r\nx-github-ev")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut stream, Duration::from_secs(8)).await;
    assert!(
        answer.is_some(),
        "the half-open connection was still open after 8 s"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "closed before the timeout: {answer:?}"
    );
    // The service still serves whole requests.
    let health = reqwest::get(format!("{}/healthz", svc.url)).await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let (svc, _tmp) = start(|a| a.max_connections = "1".into()).await;
    let mut hog = TcpStream::connect(addr(&svc)).await.unwrap();
    hog.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let url = format!("{}/healthz", svc.url);
    let waiting = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        !waiting.is_finished(),
        "a second connection was served beside the first"
    );
    drop(hog);
    let status = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once the first connection closed")
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

const BIG: usize = 25 * 1024 * 1024;

#[tokio::test]
async fn unsigned_and_oversized_webhooks_are_refused_before_their_body_is_sent() {
    let (svc, _tmp) = start(|_| {}).await;
    let well_formed = format!("sha256={}", "0".repeat(64));
    for (name, length, sig, status, code) in [
        ("unsigned", BIG, None, 401, "bad_signature"),
        ("malformed", BIG, Some("sha256=xyz"), 401, "bad_signature"),
        (
            "over 25 MiB",
            BIG + 1,
            Some(well_formed.as_str()),
            413,
            "payload_too_large",
        ),
    ] {
        let mut stream = webhook_headers(&svc, length, sig).await;
        let answer = read_answer(&mut stream, Duration::from_secs(3))
            .await
            .unwrap_or_else(|| panic!("{name}: no answer before the body was sent"));
        let (got, json) = parse_answer(&answer);
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(json["error"], code, "{name}: {answer}");
    }
}

#[tokio::test]
async fn unverified_bodies_over_the_memory_budget_get_503_before_being_read() {
    let (svc, _tmp) = start(|_| {}).await;
    let well_formed = format!("sha256={}", "0".repeat(64));
    // Two 25 MiB bodies on their way fill most of the budget...
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(webhook_headers(&svc, BIG, Some(&well_formed)).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...so a third is refused at once, its body never read.
    let mut third = webhook_headers(&svc, BIG, Some(&well_formed)).await;
    let answer = read_answer(&mut third, Duration::from_secs(3))
        .await
        .expect("an answer before the body was sent");
    let (status, json) = parse_answer(&answer);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(json["error"], "busy", "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 5"),
        "{answer}"
    );
    // Small deliveries still fit beside them.
    let body = crate::support::service::webhook_fixture("issues.opened");
    assert_eq!(svc.deliver("issues", "small", &body).await.status(), 202);
    // The budget comes back when those clients go away.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = webhook_headers(&svc, BIG, Some(&well_formed)).await;
    assert!(
        read_answer(&mut again, Duration::from_millis(500))
            .await
            .is_none(),
        "a body within the budget is read, not refused"
    );
}

#[tokio::test]
async fn a_webhook_body_that_is_not_utf8_is_refused_with_400() {
    let (svc, _tmp) = start(|_| {}).await;
    let body = b"{\"zen\":\"\xff\xfe\",\"hook_id\":1}";
    let resp = svc.deliver("ping", "not-utf8", body).await;
    assert_eq!(resp.status(), 400);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(json["error"], "malformed_payload");
    assert!(
        json["message"].as_str().unwrap().contains("UTF-8"),
        "{json}"
    );
    assert!(svc.store.delivery("not-utf8").await.unwrap().is_none());
}

#[tokio::test]
async fn every_error_of_the_edge_is_the_json_error_body() {
    let (svc, _tmp) = start(|a| a.agent_secret = Some(AGENT_SECRET.into())).await;
    let client = reqwest::Client::new();
    let token = agent_token(&["acme/widgets"], &["incidents:write"], 600);
    let mut many = client.get(format!("{}/healthz", svc.url));
    for i in 0..150 {
        many = many.header(format!("x-filler-{i}"), "1");
    }
    let cases = [
        (
            "unknown route",
            client.get(format!("{}/nope", svc.url)),
            404,
        ),
        (
            "wrong method",
            client.delete(format!("{}/healthz", svc.url)),
            405,
        ),
        (
            "duplicated query parameter",
            client
                .get(format!("{}/v1/incidents?status=open&status=open", svc.url))
                .bearer_auth(&token),
            400,
        ),
        ("too many headers", many, 431),
    ];
    for (name, request, status) in cases {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), status, "{name}");
        let text = resp.text().await.unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text:?}"));
        assert!(json["error"].is_string(), "{name}: {json}");
        assert!(
            !json["message"].as_str().unwrap_or("").is_empty(),
            "{name}: {json}"
        );
    }
    // A chunked body (no Content-Length) is cut off at 25 MiB with a JSON 413.
    let mut stream = TcpStream::connect(addr(&svc)).await.unwrap();
    let head = format!(
        "POST /webhook HTTP/1.1\r\nhost: x\r\nx-github-event: ping\r\n\
         x-github-delivery: chunked\r\nx-hub-signature-256: sha256={}\r\n\
         transfer-encoding: chunked\r\n\r\n",
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = [
        format!("{:x}\r\n", 1 << 20).into_bytes(),
        vec![b' '; 1 << 20],
        b"\r\n".to_vec(),
    ]
    .concat();
    for _ in 0..26 {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
    }
    let answer = read_answer(&mut stream, Duration::from_secs(5))
        .await
        .expect("an answer to the oversized chunked body");
    let (status, json) = parse_answer(&answer);
    assert_eq!(status, 413, "{answer}");
    assert_eq!(json["error"], "payload_too_large", "{answer}");
}

#[tokio::test]
async fn agent_tokens_over_the_maximum_lifetime_are_refused_by_the_api_and_not_minted() {
    let (svc, _tmp) = start(|a| {
        a.agent_secret = Some(AGENT_SECRET.into());
        a.agent_token_max_ttl = "1d".into();
    })
    .await;
    let secret = responder::types::Secret::new(AGENT_SECRET);
    let now = chrono::Utc::now().timestamp();
    let mint = |ttl| {
        responder::agent_token::mint(
            &secret,
            &["acme/widgets".into()],
            &["incidents:write".into()],
            ttl,
            None,
            now,
        )
        .unwrap()
    };
    let list = |token: String| {
        reqwest::Client::new()
            .get(format!("{}/v1/incidents", svc.url))
            .bearer_auth(token)
            .send()
    };
    let resp = list(mint(2 * 86400)).await.unwrap();
    assert_eq!(resp.status(), 401);
    let json: serde_json::Value = resp.json().await.unwrap();
    assert!(
        json["message"]
            .as_str()
            .unwrap()
            .contains("RESPONDER_AGENT_TOKEN_MAX_TTL"),
        "{json}"
    );
    assert_ne!(list(mint(3600)).await.unwrap().status(), 401);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_responder"))
        .args(["token", "--repo", "acme/widgets", "--ttl", "31d"])
        .env_clear()
        .env("RESPONDER_AGENT_SECRET", AGENT_SECRET)
        .env("RESPONDER_DATA_DIR", svc.data_dir.join("cli"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "minted: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("RESPONDER_AGENT_TOKEN_MAX_TTL"), "{err}");
}
