//! Gzip for the pages and JSON the server renders: one compressor per thread, reset between
//! responses. tower-http's layer (which still handles static files and whatever this skips)
//! builds and zeroes a new compressor for every response, which for a typical 2–3 KB page cost
//! as much CPU as rendering it.
use std::cell::RefCell;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// Smaller bodies gain nothing worth the work (tower-http's layer uses the same bound).
const MIN_SIZE: u64 = 1024;

/// Larger bodies are left to tower-http's layer, which compresses as it streams.
const MAX_SIZE: u64 = 1024 * 1024;

/// Gzip's header with no name, time or flags; XFL 0, OS 255 (unknown).
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

thread_local! {
    /// Raw deflate, kept for the next response on this thread. Level 2: zlib-rs's level 1 is
    /// a quicker strategy that leaves a typical page 30% larger (1,371 against 1,041 bytes of
    /// the scaffold's 2,311-byte page).
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(2), false));
}

/// Middleware: gzips a complete rendered body the client accepts gzip for.
pub async fn rendered(request: Request, next: Next) -> Response {
    let wanted = request.method() != Method::HEAD && accepts_gzip(request.headers());
    let response = next.run(request).await;
    if !wanted || !worth_compressing(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The size hint was exact and at most MAX_SIZE: the body is already in memory.
    let Ok(bytes) = axum::body::to_bytes(body, MAX_SIZE as usize).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Some(gzipped) = gzip(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let headers = &mut parts.headers;
    headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(gzipped.len()));
    add_vary_accept_encoding(headers);
    Response::from_parts(parts, Body::from(gzipped))
}

/// Whether `Accept-Encoding` allows gzip (`gzip` or `*` with a non-zero q).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut pieces = item.split(';');
            let coding = pieces.next().unwrap_or("").trim();
            let q = pieces
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && q > 0.0
        },
    )
}

/// A complete text body of a worthwhile size that nothing else encoded or ranged.
fn worth_compressing(response: &Response) -> bool {
    let status = response.status();
    let headers = response.headers();
    let size = axum::body::HttpBody::size_hint(response.body()).exact();
    let text = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
        let t = t.trim_start().to_ascii_lowercase();
        t.starts_with("text/")
            || ["application/json", "application/javascript", "application/xml", "image/svg+xml"]
                .iter()
                .any(|c| t.starts_with(c))
    });
    !matches!(status, StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED)
        && !status.is_informational()
        && size.is_some_and(|s| (MIN_SIZE..=MAX_SIZE).contains(&s))
        && text
        && !headers.contains_key(header::CONTENT_ENCODING)
        && !headers.contains_key(header::CONTENT_RANGE)
        && !headers.contains_key(header::ACCEPT_RANGES)
        && !headers
            .get_all(header::CACHE_CONTROL)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.to_ascii_lowercase().contains("no-transform")))
}

/// `input` as a gzip member, or `None` when it would not come out smaller.
fn gzip(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&GZIP_HEADER);
    let finished = DEFLATE.with_borrow_mut(|deflate| {
        deflate.reset();
        let done = deflate.compress_vec(input, &mut out, FlushCompress::Finish);
        matches!(done, Ok(Status::StreamEnd))
    });
    // Not finished within the input's size: it does not compress.
    if !finished || out.len() + 8 >= input.len() {
        return None;
    }
    let mut crc = Crc::new();
    crc.update(input);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(input.len() as u32).to_le_bytes());
    Some(out)
}

fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    let already = headers.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|n| n.trim().eq_ignore_ascii_case("accept-encoding") || n.trim() == "*"))
    });
    if !already {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn reads_accept_encoding_with_q_values() {
        assert!(accepts_gzip(&accept("gzip, deflate, br, zstd")));
        assert!(accepts_gzip(&accept("br;q=1.0, gzip;q=0.8")));
        assert!(accepts_gzip(&accept("*")));
        assert!(accepts_gzip(&accept("GZIP")));
        assert!(!accepts_gzip(&accept("gzip;q=0")));
        assert!(!accepts_gzip(&accept("br, deflate")));
        assert!(!accepts_gzip(&accept("identity")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn one_compressor_gives_whole_gzip_members_one_after_another() {
        let page = "<p>Hello, world! Hello, world!</p>\n".repeat(100);
        let other = "<li>another page entirely</li>\n".repeat(80);
        for input in [&page, &other, &page] {
            let packed = gzip(input.as_bytes()).expect("repetitive text compresses");
            assert!(packed.len() < input.len() / 4, "{} of {}", packed.len(), input.len());
            let mut unpacked = String::new();
            flate2::read::GzDecoder::new(packed.as_slice()).read_to_string(&mut unpacked).unwrap();
            assert_eq!(&unpacked, input);
        }
    }

    #[test]
    fn what_does_not_shrink_is_left_alone() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64; // xorshift: bytes with nothing to find
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 56) as u8
            })
            .collect();
        assert_eq!(gzip(&noise), None);
    }
}
