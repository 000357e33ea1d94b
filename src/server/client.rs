//! `/socket.io/socket.io.js`: our own Socket.IO v5 browser client, embedded in the binary, with
//! a gzip copy made once (at the best level) for the browsers that accept it.
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use std::io::Write as _;
use std::sync::OnceLock;

pub const PATH: &str = crate::project::CLIENT_PATH;
const SOURCE: &str = include_str!("../client/socket.io.js");

/// The client's gzip encoding and a validator for each encoding, computed on first use.
struct Prepared {
    etag: String,
    gzip_etag: String,
    gzip: Vec<u8>,
}

fn prepared() -> &'static Prepared {
    static PREPARED: OnceLock<Prepared> = OnceLock::new();
    PREPARED.get_or_init(|| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = encoder.write_all(SOURCE.as_bytes()).and_then(|()| encoder.finish()).unwrap_or_default();
        let hash = crate::project::public::fnv1a(SOURCE.as_bytes());
        Prepared { etag: format!("\"{hash:016x}\""), gzip_etag: format!("\"{hash:016x}-gzip\""), gzip }
    })
}

/// Compresses the client now, so the first page load does not pay for it.
pub fn prepare() {
    prepared();
}

/// Whether `Accept-Encoding` lists gzip (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| p.strip_prefix("q=").is_some_and(|q| q.parse::<f32>().is_ok_and(|q| q <= 0.0)));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        },
    )
}

/// Serves the client: gzip from memory when accepted (the router's compression layer leaves
/// an encoded response alone), the source otherwise; `304` for a current `If-None-Match`.
pub async fn serve(headers: HeaderMap) -> Response {
    let Prepared { etag, gzip_etag, gzip } = prepared();
    let gzipped = !gzip.is_empty() && accepts_gzip(&headers);
    let cache = [
        (header::CACHE_CONTROL, "public, max-age=0, must-revalidate"),
        (header::ETAG, if gzipped { gzip_etag } else { etag }.as_str()),
        (header::VARY, "accept-encoding"),
    ];
    let current = |v: &http::HeaderValue| v.as_bytes() == etag.as_bytes() || v.as_bytes() == gzip_etag.as_bytes();
    if headers.get(header::IF_NONE_MATCH).is_some_and(current) {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    let javascript = (header::CONTENT_TYPE, "application/javascript; charset=utf-8");
    if gzipped {
        return (cache, [javascript, (header::CONTENT_ENCODING, "gzip")], gzip.as_slice()).into_response();
    }
    (cache, [javascript], SOURCE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(accept: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, accept.parse().unwrap());
        headers
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip(&with("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&with("br;q=1.0, GZIP;q=0.5")));
        assert!(accepts_gzip(&with("*")));
        assert!(!accepts_gzip(&with("gzip;q=0")));
        assert!(!accepts_gzip(&with("br, identity")));
        assert!(!accepts_gzip(&with("gzipx")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
