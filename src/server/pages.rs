//! Built-in pages: not found, method not allowed, and errors (detailed in development,
//! generic in production).
use axum::response::{Html, IntoResponse, Response};
use http::StatusCode;

fn page(status: StatusCode, title: &str, body: &str, production: bool) -> Response {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:3rem;color:#222}}pre{{background:#f6f6f6;padding:1rem;white-space:pre-wrap}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>\n"
    );
    let html = if production { html } else { super::live::inject(html) };
    (status, Html(html)).into_response()
}

pub fn not_found(path: &str, production: bool) -> Response {
    page(
        StatusCode::NOT_FOUND,
        "404 Not Found",
        &format!("<p>No page at <code>{}</code>.</p>", escape(path)),
        production,
    )
}

pub fn method_not_allowed(allowed: &[String]) -> Response {
    let allow = allowed.join(", ");
    let mut response = page(
        StatusCode::METHOD_NOT_ALLOWED,
        "405 Method Not Allowed",
        &format!("<p>Allowed: {}</p>", escape(&allow)),
        true,
    );
    if let Ok(value) = allow.parse() {
        response.headers_mut().insert(http::header::ALLOW, value);
    }
    response
}

/// 403 with a page that says what was refused and how to fix it.
pub fn forbidden(what: &str, how: &str, production: bool) -> Response {
    page(
        StatusCode::FORBIDDEN,
        "403 Forbidden",
        &format!("<p><strong>{}</strong></p><p>{}</p>", escape(what), escape(how)),
        production,
    )
}

/// A failure while handling a request: where and why in development, nothing in production.
pub fn error(status: StatusCode, detail: &str, production: bool) -> Response {
    if production {
        page(status, &status.to_string(), "<p>Something went wrong.</p>", true)
    } else {
        page(status, &status.to_string(), &format!("<pre>{}</pre>", escape(detail)), false)
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
