//! Response compression (brotli or gzip, fastest settings, 1 KiB and up) for the clients that
//! ask for it, and no compression machinery at all for those that do not.
//!
//! A body already in memory and up to [`ONE_SHOT_MAX`] (every rendered page, JSON answer and
//! small file) is compressed in one go by an encoder each thread keeps, and the result is
//! remembered by content ([`Remembered`]): the next response with the same bytes is sent
//! compressed without compressing it again. Issue 11: a fresh encoder per response zeroed about
//! 300 KB of state first, and compressing the default scaffold's 2.3 KB page cost 6x the page's
//! own work (callgrind: 643,000 instructions per GET with `Accept-Encoding: gzip` against 90,000
//! without); browsers always send it. Larger or streamed bodies go through tower-http's
//! streaming compression.
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::hash::BuildHasher as _;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body::Body as _;
use tower::{Layer, Service, ServiceExt as _};
use tower_http::compression::{Compression, Predicate};

/// Largest body compressed in one go (and remembered); larger ones are compressed as they
/// stream, so a big file is never held whole in memory.
const ONE_SHOT_MAX: u64 = 64 * 1024;

/// Bounds of what [`Remembered`] keeps: entries, and bytes (original and compressed).
const REMEMBERED_ENTRIES: usize = 256;
const REMEMBERED_BYTES: usize = 4 * 1024 * 1024;

/// Wraps every route in [`CompressWhenAsked`].
#[derive(Clone, Copy, Default)]
pub struct CompressWhenAskedLayer;

impl<S> Layer<S> for CompressWhenAskedLayer
where
    S: Clone,
{
    type Service = CompressWhenAsked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CompressWhenAsked { inner }
    }
}

/// `inner`, its responses compressed for the requests whose `Accept-Encoding` asks for brotli
/// or gzip when [`WorthCompressing`] says they gain by it.
#[derive(Clone)]
pub struct CompressWhenAsked<S> {
    inner: S,
}

type Compressed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for CompressWhenAsked<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<S::Future, Compressed>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // A HEAD answer describes the uncompressed body (its length is known without reading
        // it); compressing "nothing" would announce the length of an empty stream.
        let encoding = if request.method() == Method::HEAD { None } else { Encoding::preferred(request.headers()) };
        let Some(encoding) = encoding else {
            return futures_util::future::Either::Left(self.inner.call(request));
        };
        let answered = self.inner.call(request);
        futures_util::future::Either::Right(Box::pin(async move {
            let Ok(response) = answered.await;
            Ok(compress(response, encoding).await)
        }))
    }
}

/// The encodings compressed to, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// What `Accept-Encoding` lets us send: brotli when it is accepted, else gzip, else `None`
    /// (also for `q=0`, and for `*` unless the named encoding is refused).
    fn preferred(headers: &HeaderMap) -> Option<Encoding> {
        let (mut brotli, mut gzip, mut any) = (None, None, None);
        for item in
            headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
        {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim();
            let accepted = parts
                .filter_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                .all(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0));
            if name.eq_ignore_ascii_case("br") {
                brotli = Some(accepted);
            } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(accepted);
            } else if name == "*" {
                any = Some(accepted);
            }
        }
        let allowed = |named: Option<bool>| named.or(any).unwrap_or(false);
        if allowed(brotli) {
            Some(Encoding::Brotli)
        } else if allowed(gzip) {
            Some(Encoding::Gzip)
        } else {
            None
        }
    }

    /// Its name in `Content-Encoding` (and in the ETags of its representations).
    const fn name(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    fn header(self) -> HeaderValue {
        HeaderValue::from_static(self.name())
    }
}

/// Every encoding a response may be compressed to.
pub const ENCODINGS: [&str; 2] = [Encoding::Brotli.name(), Encoding::Gzip.name()];

/// Gives a compressed representation its own strong ETag (`"abc"` becomes `"abc-br"`): a
/// strong tag promises the same bytes, and a cache must not answer a gzip client with brotli
/// bytes that share the plain file's tag. A weak tag (`W/"…"`) already allows it and stays.
/// `statics` recognises the suffixed tags in `If-None-Match`.
fn tag_encoding(headers: &mut HeaderMap, encoding: Encoding) {
    let Some(tag) = headers.get(header::ETAG).and_then(|v| v.to_str().ok()) else { return };
    let Some(opaque) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else { return };
    if let Ok(value) = HeaderValue::from_str(&format!("\"{opaque}-{}\"", encoding.name())) {
        headers.insert(header::ETAG, value);
    }
}

/// `response` compressed with `encoding` when it is worth it: in one go for a small body, as it
/// streams (tower-http) for a larger one.
async fn compress(response: Response, encoding: Encoding) -> Response {
    let partial =
        response.status() == StatusCode::PARTIAL_CONTENT || response.headers().contains_key(header::CONTENT_RANGE);
    if partial
        || response.headers().contains_key(header::CONTENT_ENCODING)
        || !WorthCompressing.should_compress(&response)
    {
        return response;
    }
    // A file's body does not know its size; its Content-Length does.
    let length = response.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    match response.body().size_hint().exact().or(length) {
        Some(size) if size <= ONE_SHOT_MAX => {
            let (mut parts, body) = response.into_parts();
            let Ok(bytes) = axum::body::to_bytes(body, ONE_SHOT_MAX as usize).await else {
                // The body failed as it was read (a file cut short): nothing sound to send.
                return crate::server::pages::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "reading the response failed",
                    true,
                );
            };
            let Some(compressed) = REMEMBERED.compressed(encoding, bytes.clone()) else {
                return Response::from_parts(parts, Body::from(bytes)); // the encoder failed: sent as it is
            };
            parts.headers.remove(header::ACCEPT_RANGES);
            parts.headers.insert(header::CONTENT_ENCODING, encoding.header());
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(compressed.len()));
            parts.headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
            tag_encoding(&mut parts.headers, encoding);
            Response::from_parts(parts, Body::from(compressed))
        }
        _ => {
            let mut response = stream_compressed(response, encoding).await;
            if response.headers().contains_key(header::CONTENT_ENCODING) {
                tag_encoding(response.headers_mut(), encoding);
            }
            response
        }
    }
}

/// tower-http's streaming compression to `encoding`, applied to a response already made.
async fn stream_compressed(response: Response, encoding: Encoding) -> Response {
    let mut request = Request::new(Body::empty());
    request.headers_mut().insert(header::ACCEPT_ENCODING, encoding.header());
    let mut response = Some(response); // taken by the one call `oneshot` makes
    let respond = tower::service_fn(move |_: Request| {
        std::future::ready(Ok::<_, Infallible>(response.take().unwrap_or_default()))
    });
    let compressing =
        Compression::new(respond).quality(tower_http::CompressionLevel::Fastest).compress_when(WorthCompressing);
    let Ok(compressed) = compressing.oneshot(request).await;
    compressed.map(Body::new)
}

/// Compressed bodies by content, so the same page or file is compressed once: looked up by a
/// keyed hash of the bytes, and given back only when the bytes are equal too (a response never
/// carries another one's content). Bounded by [`REMEMBERED_ENTRIES`] and [`REMEMBERED_BYTES`],
/// oldest out first.
struct Remembered {
    hasher: std::hash::RandomState,
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    entries: HashMap<(Encoding, u64), (Bytes, Bytes)>,
    order: VecDeque<(Encoding, u64)>,
    bytes: usize,
}

static REMEMBERED: LazyLock<Remembered> =
    LazyLock::new(|| Remembered { hasher: std::hash::RandomState::new(), kept: Mutex::default() });

impl Remembered {
    /// `original` compressed with `encoding` (`None` if the encoder failed).
    fn compressed(&self, encoding: Encoding, original: Bytes) -> Option<Bytes> {
        let key = (encoding, self.hasher.hash_one(&original[..]));
        if let Some((seen, compressed)) = self.kept.lock().unwrap_or_else(|e| e.into_inner()).entries.get(&key)
            && *seen == original
        {
            return Some(compressed.clone());
        }
        let compressed = Bytes::from(match encoding {
            Encoding::Brotli => brotli_fastest(&original)?,
            Encoding::Gzip => gzip_fastest(&original)?,
        });
        let size = original.len() + compressed.len();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((old_original, old_compressed)) = kept.entries.insert(key, (original, compressed.clone())) {
            // Same hash, other bytes (or a race): the newer content takes the place.
            kept.bytes -= old_original.len() + old_compressed.len();
        } else {
            kept.order.push_back(key);
        }
        kept.bytes += size;
        while kept.entries.len() > REMEMBERED_ENTRIES || kept.bytes > REMEMBERED_BYTES {
            let Some(oldest) = kept.order.pop_front() else { break };
            if let Some((o, c)) = kept.entries.remove(&oldest) {
                kept.bytes -= o.len() + c.len();
            }
        }
        Some(compressed)
    }
}

/// gzip at the fastest level, by an encoder this thread keeps (reset, not rebuilt, each time).
fn gzip_fastest(input: &[u8]) -> Option<Vec<u8>> {
    thread_local! {
        static GZIP: RefCell<flate2::Compress> = RefCell::new(flate2::Compress::new_gzip(flate2::Compression::fast(), 15));
    }
    GZIP.with_borrow_mut(|encoder| {
        encoder.reset();
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        loop {
            let read = usize::try_from(encoder.total_in()).unwrap_or(usize::MAX).min(input.len());
            match encoder.compress_vec(&input[read..], &mut out, flate2::FlushCompress::Finish) {
                Ok(flate2::Status::StreamEnd) => return Some(out),
                Ok(_) => out.reserve(out.capacity().max(64)),
                Err(_) => return None,
            }
        }
    })
}

/// brotli at its fastest quality, in one go.
fn brotli_fastest(input: &[u8]) -> Option<Vec<u8>> {
    let params = brotli::enc::BrotliEncoderParams { quality: 0, size_hint: input.len(), ..Default::default() };
    let mut out = Vec::with_capacity(input.len() / 2 + 64);
    brotli::BrotliCompress(&mut &input[..], &mut out, &params).ok().map(|_| out)
}

/// Responses worth compressing: 1 KiB or more, and not gRPC, images (SVG is text) or event
/// streams. What tower-http's `SizeAbove` and three `NotForContentType` say, with the content
/// type looked up once instead of three times (issue 11: every page pays it).
#[derive(Clone, Copy)]
pub struct WorthCompressing;

impl Predicate for WorthCompressing {
    fn should_compress<B: http_body::Body>(&self, response: &http::Response<B>) -> bool {
        if !tower_http::compression::predicate::SizeAbove::new(1024).should_compress(response) {
            return false;
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).map_or(&b""[..], |v| v.as_bytes());
        let image = content_type.starts_with(b"image/") && !content_type.starts_with(b"image/svg+xml");
        !(image || content_type.starts_with(b"application/grpc") || content_type.starts_with(b"text/event-stream"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepting(value: &str) -> Option<Encoding> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        Encoding::preferred(&headers)
    }

    #[test]
    fn accept_encoding_picks_brotli_then_gzip_and_honours_refusals() {
        assert_eq!(accepting("gzip, deflate, br, zstd"), Some(Encoding::Brotli));
        assert_eq!(accepting("gzip, deflate"), Some(Encoding::Gzip));
        assert_eq!(accepting("br;q=0, gzip;q=0.5"), Some(Encoding::Gzip));
        assert_eq!(accepting("gzip;q=0, identity"), None);
        assert_eq!(accepting("*"), Some(Encoding::Brotli));
        assert_eq!(accepting("*, br;q=0"), Some(Encoding::Gzip));
        assert_eq!(accepting("*;q=0"), None);
        assert_eq!(accepting("identity"), None);
        assert_eq!(accepting("deflate"), None);
        assert_eq!(accepting("GZIP"), Some(Encoding::Gzip));
    }

    #[test]
    fn remembered_bodies_are_given_back_only_for_equal_bytes_and_stay_bounded() {
        use std::io::Read as _;
        let remembered = Remembered { hasher: std::hash::RandomState::new(), kept: Mutex::default() };
        let page = Bytes::from("<p>hello</p>".repeat(200));
        let first = remembered.compressed(Encoding::Gzip, page.clone()).unwrap();
        let again = remembered.compressed(Encoding::Gzip, page.clone()).unwrap();
        assert_eq!(first.as_ptr(), again.as_ptr(), "the second response reuses the first one's bytes");
        let other = remembered.compressed(Encoding::Gzip, Bytes::from("<p>other</p>".repeat(200))).unwrap();
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(&other[..]).read_to_string(&mut unpacked).unwrap();
        assert_eq!(unpacked, "<p>other</p>".repeat(200));
        // Over the bounds, the oldest go first and the byte count stays true.
        for i in 0..(REMEMBERED_ENTRIES + 10) {
            remembered.compressed(Encoding::Brotli, Bytes::from(format!("{i:08}").repeat(300)));
        }
        let kept = remembered.kept.lock().unwrap();
        assert!(kept.entries.len() <= REMEMBERED_ENTRIES);
        assert_eq!(kept.entries.len(), kept.order.len());
        assert_eq!(kept.bytes, kept.entries.values().map(|(o, c)| o.len() + c.len()).sum::<usize>());
        assert!(
            !kept.entries.contains_key(&(Encoding::Gzip, remembered.hasher.hash_one(&page[..]))),
            "oldest out first"
        );
    }

    #[test]
    fn gzip_and_brotli_round_trip_whatever_the_input() {
        use std::io::Read as _;
        // Incompressible input grows a little: the encoder's buffer must grow with it.
        let noise: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for input in [&b"x"[..], &noise[..], "abc".repeat(20_000).as_bytes()] {
            let mut unpacked = Vec::new();
            flate2::read::GzDecoder::new(&gzip_fastest(input).unwrap()[..]).read_to_end(&mut unpacked).unwrap();
            assert_eq!(unpacked, input);
            let mut unpacked = Vec::new();
            brotli::Decompressor::new(&brotli_fastest(input).unwrap()[..], 4096).read_to_end(&mut unpacked).unwrap();
            assert_eq!(unpacked, input);
        }
    }
}
