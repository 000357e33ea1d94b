//! Static files from `public/`: only files the loader listed (so no dotfiles, no directory
//! listings, no path traversal) and never through a link leading out of `public/`, streamed by
//! tower-http (HEAD, `Range`, `If-Modified-Since`) with content types, ETags and caching headers.
use std::borrow::Cow;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use tower::ServiceExt as _;

use crate::project::PublicFiles;

/// Request headers the file service reads.
const FORWARDED: [header::HeaderName; 4] =
    [header::RANGE, header::IF_RANGE, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE];

/// A listed public file: its URL path, decoded, and its content hash.
pub struct Found<'a> {
    decoded: String,
    hash: &'a str,
}

/// The public file a `GET`/`HEAD` of `path` names, if the loader listed one. Cheap and
/// synchronous, so a page (which is no file) never builds [`serve`]'s future.
pub fn find<'a>(public: &'a PublicFiles, method: &Method, path: &str) -> Option<Found<'a>> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let decoded = if path.contains('%') { Cow::Owned(percent_decode(path)?) } else { Cow::Borrowed(path) };
    // The listing holds only regular, non-hidden files below public/, so looking the
    // decoded path up in it is the whole traversal defence; `..` never matches.
    let hash = public.files.get(decoded.as_ref())?;
    Some(Found { decoded: decoded.into_owned(), hash })
}

/// The response for a file [`find`] found; `None` (it left `public/` since the listing) lets
/// routing go on.
pub async fn serve(
    public: &PublicFiles,
    found: Found<'_>,
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Option<Response> {
    let Found { decoded, hash } = found;
    let etag = format!("\"{hash}\"");
    let immutable = query.is_some_and(|q| q.split('&').any(|kv| kv == format!("v={hash}")));
    let cache = if immutable { "public, max-age=31536000, immutable" } else { "public, max-age=0, must-revalidate" };
    if let Some(matched) = none_match(headers, hash) {
        return Some(
            (StatusCode::NOT_MODIFIED, [(header::ETAG, matched), (header::CACHE_CONTROL, cache.to_string())])
                .into_response(),
        );
    }
    let file = inside(public, &decoded).await?;
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let content_type = if mime.type_() == mime_guess::mime::TEXT || mime.subtype() == mime_guess::mime::JAVASCRIPT {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let mut request = Request::builder().method(method).uri("/").body(Body::empty()).ok()?;
    for name in FORWARDED {
        if let Some(value) = headers.get(&name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    let response = tower_http::services::ServeFile::new(&file).oneshot(request).await.ok()?;
    if response.status() == StatusCode::NOT_FOUND {
        return None;
    }
    let mut response = response.map(Body::new);
    let set = response.headers_mut();
    set.insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).ok()?);
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    set.insert(header::ETAG, HeaderValue::from_str(&etag).ok()?);
    set.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Some(response)
}

/// The tag of the file's representation an `If-None-Match` names, if any: its plain tag or a
/// compressed one's (`"hash-br"`, see `compress`), weak or not (the comparison is weak), in a
/// list or as `*`.
fn none_match(headers: &HeaderMap, hash: &str) -> Option<String> {
    let plain = format!("\"{hash}\"");
    for listed in
        headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','))
    {
        let tag = listed.trim();
        if tag == "*" {
            return Some(plain);
        }
        let strong = tag.strip_prefix("W/").unwrap_or(tag);
        let opaque = strong.strip_prefix('"').and_then(|t| t.strip_suffix('"'));
        let ours = opaque.is_some_and(|o| {
            o == hash
                || o.strip_prefix(hash)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|encoding| super::compress::ENCODINGS.contains(&encoding))
        });
        if ours {
            return Some(strong.to_string());
        }
    }
    None
}

/// The file behind URL path `decoded`, if it is still a regular file inside `public/` once
/// every link is resolved, and not hidden: a file replaced by a link to `../.env` after the
/// listing is not.
async fn inside(public: &PublicFiles, decoded: &str) -> Option<std::path::PathBuf> {
    let root = tokio::fs::canonicalize(&public.root).await.ok()?;
    let file = tokio::fs::canonicalize(public.root.join(decoded.trim_start_matches('/'))).await.ok()?;
    let regular = tokio::fs::metadata(&file).await.ok()?.is_file();
    let hidden = file.strip_prefix(&root).ok()?.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    (regular && !hidden).then_some(file)
}

pub use crate::project::public::percent_decode;

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(value: &str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        none_match(&headers, "abc123")
    }

    #[test]
    fn if_none_match_knows_the_plain_and_compressed_tags_weak_or_listed() {
        assert_eq!(asking("\"abc123\"").as_deref(), Some("\"abc123\""));
        assert_eq!(asking("\"abc123-br\"").as_deref(), Some("\"abc123-br\""));
        assert_eq!(asking("W/\"abc123-gzip\"").as_deref(), Some("\"abc123-gzip\""));
        assert_eq!(asking("\"other\", \"abc123-gzip\"").as_deref(), Some("\"abc123-gzip\""));
        assert_eq!(asking("*").as_deref(), Some("\"abc123\""));
        assert_eq!(asking("\"abc123-zstd\""), None);
        assert_eq!(asking("\"abc1234\""), None);
        assert_eq!(asking("\"abc12\""), None);
        assert_eq!(asking("abc123"), None);
    }
}
