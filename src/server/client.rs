//! `/socket.io/socket.io.js`: our own Socket.IO v5 browser client, embedded in the binary.
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use std::sync::OnceLock;

pub const PATH: &str = crate::project::CLIENT_PATH;
const SOURCE: &str = include_str!("../client/socket.io.js");

fn etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| format!("\"{:016x}\"", crate::project::public::fnv1a(SOURCE.as_bytes())))
}

/// Serves the client; compression is added by the router's compression layer.
pub async fn serve(headers: HeaderMap) -> Response {
    let etag = etag();
    let cache = [(header::CACHE_CONTROL, "public, max-age=0, must-revalidate"), (header::ETAG, etag)];
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(header::CONTENT_TYPE, "application/javascript; charset=utf-8")], SOURCE).into_response()
}
