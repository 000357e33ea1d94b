//! Static files from `public/`: only files the loader listed (so no dotfiles, no directory
//! listings, no path traversal), with content types, ETags and caching headers.
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, header};

use crate::project::PublicFiles;

/// The response for `path` if it names a public file; `None` lets routing go on.
pub async fn serve(
    public: &PublicFiles,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let decoded = percent_decode(path)?;
    // The listing holds only regular, non-hidden files below public/, so looking the
    // decoded path up in it is the whole traversal defence; `..` never matches.
    let hash = public.files.get(&decoded)?;
    let etag = format!("\"{hash}\"");
    let immutable = query.is_some_and(|q| q.split('&').any(|kv| kv == format!("v={hash}")));
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "public, max-age=0, must-revalidate" };
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Some(
            (StatusCode::NOT_MODIFIED, [(header::ETAG, etag), (header::CACHE_CONTROL, cache.to_string())])
                .into_response(),
        );
    }
    let file = public.root.join(decoded.trim_start_matches('/'));
    let bytes = tokio::fs::read(&file).await.ok()?;
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let content_type = if mime.type_() == mime_guess::mime::TEXT || mime.subtype() == mime_guess::mime::JAVASCRIPT {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let len = bytes.len();
    let body = if method == Method::HEAD { Body::empty() } else { Body::from(bytes) };
    Some(
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache.to_string()),
                (header::ETAG, etag),
                (header::CONTENT_LENGTH, len.to_string()),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            ],
            body,
        )
            .into_response(),
    )
}

pub use crate::project::public::percent_decode;
