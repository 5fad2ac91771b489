//! Git servers that accept a fetch and then stall, the two ways real ones do.
//!
//! It only builds the stalling answers; which repository stalls is in `State`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How a repository's git server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GitStall {
    /// Accepts the connection, reads the request, never answers a byte.
    Silent,
    /// Advertises its refs normally, then answers the pack request with `NAK` and
    /// a progress line every 200 ms for ever: bytes keep coming, the pack never does.
    Trickle,
}

/// Never resolves: the connection stays open with no answer.
pub async fn silent() -> Response {
    std::future::pending::<()>().await;
    unreachable!("a silent git server never answers")
}

/// An upload-pack answer that trickles side-band progress for ever.
pub fn trickle() -> Response {
    let packets = futures_util::stream::unfold(0u64, |n| async move {
        let chunk = match n {
            0 => Bytes::from_static(b"0008NAK\n"),
            _ => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                pkt_line(&[b"\x02", format!("Counting objects: {n}\r").as_bytes()].concat())
            }
        };
        Some((Ok::<_, std::io::Error>(chunk), n + 1))
    });
    let mut resp = (StatusCode::OK, Body::from_stream(packets)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-git-upload-pack-result"),
    );
    resp
}

fn pkt_line(payload: &[u8]) -> Bytes {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    Bytes::from(out)
}
