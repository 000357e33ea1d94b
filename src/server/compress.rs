//! Response compression (brotli or gzip, fastest settings, 1 KiB and up) for the clients that
//! ask for it, and no compression machinery at all for those that do not.
//!
//! tower-http's compressed body holds every encoder's state inline: about 5.8 KB, moved whole
//! through each layer on the way out, so a page cost five copies of it, 29 KB of cache-missing
//! writes, whether or not it was compressed (issue 11: more CPU than the page's own work). Here a
//! request without `Accept-Encoding` skips the layer, and a compressed response is boxed as soon
//! as it leaves it.
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::header;
use tower::{Layer, Service};
use tower_http::compression::{Compression, CompressionLayer, Predicate};

/// Wraps every route in [`CompressWhenAsked`].
#[derive(Clone, Copy, Default)]
pub struct CompressWhenAskedLayer;

impl<S> Layer<S> for CompressWhenAskedLayer
where
    S: Clone,
{
    type Service = CompressWhenAsked<S>;

    fn layer(&self, inner: S) -> Self::Service {
        let compressing = CompressionLayer::new()
            .quality(tower_http::CompressionLevel::Fastest)
            .compress_when(WorthCompressing)
            .layer(inner.clone());
        CompressWhenAsked { plain: inner, compressing }
    }
}

/// `inner` for requests that accept no encoding; `inner` behind tower-http's compression for
/// the others. Compress what is worth it, fast: small pages gain nothing, and brotli at its
/// default quality costs more CPU than rendering them.
#[derive(Clone)]
pub struct CompressWhenAsked<S> {
    plain: S,
    compressing: Compression<S, WorthCompressing>,
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
        match self.plain.poll_ready(cx) {
            Poll::Ready(Ok(())) => self.compressing.poll_ready(cx),
            other => other,
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if !request.headers().contains_key(header::ACCEPT_ENCODING) {
            return futures_util::future::Either::Left(self.plain.call(request));
        }
        let compressed = self.compressing.call(request);
        futures_util::future::Either::Right(Box::pin(async move {
            let Ok(response) = compressed.await;
            Ok(response.map(Body::new))
        }))
    }
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
