//! Engine.IO requests with headers of their own: socketioxide keeps a socket's handshake
//! request for the socket's whole life, and hyper's parsed headers and URI are slices of the
//! connection's 8 KiB read buffer, which they would keep alive (issue 11: memory per socket).
//! Only the headers read later are kept: the origin guard (which calls [`detached`] once it has
//! let a request through) and the compression layer have read theirs; a socket needs its
//! cookie (its session) and the engine reads `Sec-WebSocket-Key` (the upgrade) and
//! `Content-Type` (a polling POST).
use axum::extract::{OriginalUri, Request};
use http::{HeaderMap, HeaderName, HeaderValue, Uri, header};

/// The headers an engine request keeps.
const KEPT: [HeaderName; 3] = [header::COOKIE, header::SEC_WEBSOCKET_KEY, header::CONTENT_TYPE];

/// `request` with its URI (both of them) and [`KEPT`] header values copied into allocations
/// of their own, without its other headers.
pub fn detached(request: Request) -> Request {
    let (mut parts, body) = request.into_parts();
    let mut headers = HeaderMap::with_capacity(KEPT.len());
    for (name, value) in parts.headers.iter().filter(|(name, _)| KEPT.contains(name)) {
        let mut copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
        copy.set_sensitive(value.is_sensitive());
        headers.append(name.clone(), copy);
    }
    parts.headers = headers;
    // axum's router keeps the URI as it came in, too
    if let Ok(uri) = parts.uri.to_string().parse::<Uri>() {
        if let Some(OriginalUri(original)) = parts.extensions.get_mut::<OriginalUri>() {
            *original = uri.clone();
        }
        parts.uri = uri;
    }
    Request::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn the_kept_headers_and_the_uri_survive_the_copy_byte_for_byte() {
        let buffer = Bytes::from_static(b"keystone.sid=abc; theme=dark\xff");
        let request = Request::builder()
            .uri("/socket.io/?EIO=4&transport=websocket&sid=x")
            .header("cookie", HeaderValue::from_maybe_shared(buffer.clone()).unwrap())
            .header("cookie", "second=1")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("user-agent", "not needed")
            .body(axum::body::Body::empty())
            .unwrap();
        let copy = detached(request);
        assert_eq!(copy.uri(), "/socket.io/?EIO=4&transport=websocket&sid=x");
        assert_eq!(copy.headers()["cookie"].as_bytes(), &buffer[..]);
        let cookies: Vec<_> = copy.headers().get_all("cookie").iter().map(|v| v.as_bytes()).collect();
        assert_eq!(cookies, [&buffer[..], b"second=1"]);
        assert_eq!(copy.headers()["sec-websocket-key"], "dGhlIHNhbXBsZSBub25jZQ==");
        assert!(copy.headers().get("user-agent").is_none(), "what nothing reads is dropped");
        assert!(copy.headers()["cookie"].as_bytes().as_ptr() != buffer.as_ptr(), "a copy, not a slice");
    }
}
