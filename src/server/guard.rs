//! Who may talk to the server: the `Host` a request names (development answers only loopback
//! names, IP addresses and `[server] allowed_hosts`, against DNS rebinding) and the `Origin`
//! of socket handshakes (cross-site sockets would carry the visitor's cookie).
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use http::header;

use super::{App, pages};
use crate::log;

/// Where the Socket.IO engine answers (`crate::realtime`).
pub const ENGINE_PATH: &str = "/socket.io";

/// Whether the engine would answer `path`: `/socket.io` itself or anything below it,
/// `/socket.io?EIO=4…` included.
pub fn is_engine_path(path: &str) -> bool {
    path.strip_prefix(ENGINE_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The host name of a `Host` header value, without its port, lower-case.
fn host_name(host: &str) -> String {
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(n, _)| n)
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// A development server answers loopback names, IP addresses (a rebinding attack needs a
/// name it controls) and the names in `[server] allowed_hosts` (`.example.test` allows
/// every subdomain too).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host);
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    allowed.iter().any(|entry| {
        let entry = entry.trim_end_matches('.').to_ascii_lowercase();
        match entry.strip_prefix('.') {
            Some(domain) => name == domain || name.ends_with(&entry),
            None => name == entry,
        }
    })
}

/// The server's own origin is its scheme (`https` only when `[server] secure = true`, i.e.
/// behind a TLS proxy) and the request's `Host`; other origins must be listed.
pub fn origin_allowed(origin: &str, host: &str, secure: bool, listed: &[String]) -> bool {
    let scheme = if secure { "https" } else { "http" };
    let own =
        origin.strip_prefix(scheme).and_then(|o| o.strip_prefix("://")).is_some_and(|o| o.eq_ignore_ascii_case(host));
    own || listed.iter().any(|o| o == origin)
}

/// Development only: refuses a request naming a host other than loopback, an IP address or
/// one in `[server] allowed_hosts`, sockets and the live-reload namespace included.
pub async fn refuse_foreign_hosts(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let project = app.project();
    let allowed = &project.settings.server.allowed_hosts[..];
    if let Some(value) = request.headers().get(header::HOST) {
        let host = value.to_str().ok();
        if !host.is_some_and(|h| host_allowed(h, allowed)) {
            let shown = String::from_utf8_lossy(value.as_bytes()).into_owned();
            log::error(&format!("refused a request for host {shown} (not loopback; see [server] allowed_hosts)"));
            return pages::forbidden(
                "this development server does not answer that host name",
                &format!(
                    "{shown} is not a loopback name or IP address; to reach the development server by this name, \
                     list it in keystone.toml under [server] allowed_hosts."
                ),
                app.production,
            );
        }
    }
    next.run(request).await
}

/// Cross-site WebSocket hijacking: a socket handshake (polling or websocket) from a page of
/// another origin would carry the visitor's cookie, so every request the engine would answer
/// is refused before any upgrade unless its `Origin` is the server's own or listed in
/// `[sockets] allowed_origins`. An `Origin` that is not text is refused; no `Origin`
/// (non-browser clients) is allowed. A new handshake (no `sid`) beyond `[sockets] max_sockets`
/// gets 503. `None`: the engine may answer.
pub fn refuse_engine_request(app: &App, request: &Request) -> Option<Response> {
    if let Some(value) = request.headers().get(header::ORIGIN) {
        let project = app.project();
        let (secure, listed) = (*project.settings.server.secure, &project.settings.sockets.allowed_origins[..]);
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        let allowed = value.to_str().is_ok_and(|origin| origin_allowed(origin, host, secure, listed));
        if !allowed {
            let origin = String::from_utf8_lossy(value.as_bytes()).into_owned();
            log::error(&format!(
                "refused a socket handshake from origin {origin} (not this server's; see [sockets] allowed_origins)"
            ));
            return Some(pages::forbidden(
                "cross-origin socket connections are refused",
                &format!(
                    "{origin} is not this server's origin; list it in keystone.toml under [sockets] allowed_origins to allow it."
                ),
                app.production,
            ));
        }
    }
    let handshake =
        !request.uri().query().is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "sid"));
    if handshake && !app.socket_budget.try_handshake(app.project().settings.sockets.max_sockets.get() as usize) {
        if let Some(refused) = app.socket_budget.refused() {
            log::warning(&format!(
                "{} sockets connected or connecting, the most `[sockets] max_sockets` allows: refused {refused} \
                 handshake(s)",
                app.socket_budget.connected_count()
            ));
        }
        return Some(too_many_sockets());
    }
    None
}

/// The answer to a handshake beyond `max_sockets`: clients retry later (ours and
/// socket.io-client back off and reconnect).
fn too_many_sockets() -> Response {
    (
        http::StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "5")],
        "too many sockets are open on this server; try again shortly",
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_paths_are_the_engines_own() {
        for path in ["/socket.io", "/socket.io/", "/socket.io/x", "/socket.io//"] {
            assert!(is_engine_path(path), "{path}");
        }
        for path in ["/socket.iox", "/socket.io-admin", "/Socket.io/", "/", "/sockets"] {
            assert!(!is_engine_path(path), "{path}");
        }
    }

    #[test]
    fn only_loopback_ip_and_listed_hosts_are_answered() {
        let listed = vec!["app.test".to_string(), ".dev.example".to_string()];
        for host in [
            "localhost",
            "localhost:3000",
            "LOCALHOST",
            "a.localhost:1",
            "127.0.0.1:3000",
            "[::1]:3000",
            "10.0.0.5",
            "app.test:80",
            "dev.example",
            "x.dev.example",
        ] {
            assert!(host_allowed(host, &listed), "{host}");
        }
        for host in ["evil.example", "evil.example:3000", "localhost.evil.example", "app.test.evil", "xdev.example", ""]
        {
            assert!(!host_allowed(host, &listed), "{host}");
        }
    }

    #[test]
    fn own_origin_needs_the_servers_scheme() {
        assert!(origin_allowed("http://127.0.0.1:3000", "127.0.0.1:3000", false, &[]));
        assert!(!origin_allowed("https://127.0.0.1:3000", "127.0.0.1:3000", false, &[]));
        assert!(origin_allowed("https://app.example", "app.example", true, &[]));
        assert!(!origin_allowed("http://app.example", "app.example", true, &[]));
        assert!(!origin_allowed("http://evil.example", "127.0.0.1:3000", false, &[]));
        assert!(!origin_allowed("null", "127.0.0.1:3000", false, &[]));
        assert!(origin_allowed("http://trusted.example", "x", false, &["http://trusted.example".into()]));
    }
}
