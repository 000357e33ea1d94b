//! The router without a port (`oneshot`): routes, params, methods, guards, controllers,
//! sessions, flash, static files, traversal attempts, 404s.
use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode, header};
use keystone::server::{self, Options, SocketBackend, session::SessionManager};
use tower::ServiceExt as _;

use crate::util::{SECRET, TempApp};

/// A browser-like client: keeps the session cookie between requests (tests/users.rs uses it too).
pub(crate) struct Client {
    router: Router,
    pub(crate) cookie: Option<String>,
    _app: TempApp,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    /// The body as sent (`body` is its lossy text).
    pub(crate) bytes: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        Self::for_app(TempApp::fixture("session_app"), false)
    }

    pub(crate) fn for_app(app: TempApp, production: bool) -> Client {
        let project = keystone::project::load(&app.path);
        assert!(!project.has_errors(), "{:#?}", project.diagnostics);
        let settings = project.settings.clone();
        let store = keystone::server::store::LocalStore::memory();
        let sessions = SessionManager::with_store(store, &settings.session, SECRET.as_bytes(), false);
        let (router, _) =
            server::build(project, sessions, Options { production, log_requests: false }, SocketBackend::Local);
        Client { router, cookie: None, _app: app }
    }

    pub(crate) async fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.router.clone().oneshot(request.body(Body::from(body.to_string())).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        // Like a browser: the last of several cookies wins (a logout clears, then sets one).
        if let Some(set) = headers.get_all(header::SET_COOKIE).iter().next_back() {
            self.cookie = Some(set.to_str().unwrap().split(';').next().unwrap().to_string());
        }
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned(), bytes: bytes.to_vec() }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Reply {
        self.send(Method::GET, path, &[], "").await
    }

    /// The CSRF token of the form on page `path`.
    pub(crate) async fn csrf_token(&mut self, path: &str) -> String {
        let page = self.get(path).await.body;
        let marker = "name=\"csrf_token\" value=\"";
        let start = page.find(marker).expect("the form carries the token") + marker.len();
        page[start..start + page[start..].find('"').unwrap()].to_string()
    }

    /// A form POST carrying the session's CSRF token.
    pub(crate) async fn post_form(&mut self, path: &str, fields: &str) -> Reply {
        let token = self.csrf_token(path).await;
        let body = format!("csrf_token={token}&{fields}");
        self.send(Method::POST, path, &[("content-type", "application/x-www-form-urlencoded")], &body).await
    }

    async fn post_json(&mut self, path: &str, json: &str) -> Reply {
        self.send(Method::POST, path, &[("content-type", "application/json")], json).await
    }
}

#[tokio::test]
async fn index_renders_through_layout_and_starts_a_signed_httponly_session() {
    let mut client = Client::new();
    let reply = client.get("/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("<title>Fixture</title>"), "layout and middleware locals: {}", reply.body);
    assert!(reply.body.contains("<p id=\"message\">Hello World</p>"), "session in template: {}", reply.body);
    let cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("keystone.sid="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "not secure unless [server] secure = true");

    let again = client.get("/whoami").await;
    assert_eq!(again.body, r#"{"message":"Hello World"}"#);
    assert!(again.headers.get(header::SET_COOKIE).is_none(), "an unchanged session sets no cookie");
}

#[tokio::test]
async fn a_forged_cookie_gets_a_fresh_empty_session() {
    let mut client = Client::new();
    client.get("/").await;
    let real = client.cookie.clone().unwrap();
    let (name, value) = real.split_once('=').unwrap();
    let forged = format!("{name}={}", value.chars().rev().collect::<String>());
    client.cookie = Some(forged);
    assert_eq!(client.get("/whoami").await.body, "{}");
    client.cookie = Some(real);
    assert_eq!(client.get("/whoami").await.body, r#"{"message":"Hello World"}"#);
}

#[tokio::test]
async fn path_params_catch_all_and_query_reach_the_controller() {
    let mut client = Client::new();
    let reply = client.get("/posts/hello-world?page=3").await;
    assert!(reply.body.contains("<h1>Post hello-world</h1>") && reply.body.contains("page 3"), "{}", reply.body);
    assert!(reply.body.contains(r#"href="/posts/a%20b""#), "url_for encodes params: {}", reply.body);
    assert_eq!(client.get("/files/a/b/c.txt").await.body, r#"{"rest":"a/b/c.txt"}"#);
}

#[tokio::test]
async fn methods_are_enforced_with_405_and_all_accepts_any() {
    let mut client = Client::new();
    let reply = client.send(Method::POST, "/whoami", &[], "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "GET");
    for method in [Method::GET, Method::POST, Method::DELETE, Method::PATCH] {
        let reply = client.send(method.clone(), "/any", &[], "").await;
        assert_eq!(reply.body, format!(r#"{{"method":"{method}"}}"#));
    }
    let head = client.send(Method::HEAD, "/posts/x", &[], "").await;
    assert_eq!(head.status, StatusCode::OK, "HEAD is served wherever GET is");
}

#[tokio::test]
async fn guard_redirects_with_flash_until_login() {
    let mut client = Client::new();
    let reply = client.get("/admin").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.headers[header::LOCATION], "/");
    let home = client.get("/").await;
    assert!(home.body.contains(r#"<p class="flash-error">sign in first</p>"#), "{}", home.body);
    assert!(!client.get("/").await.body.contains("sign in first"), "a flash shows once");

    let login = client.post_json("/login", r#"{"user":"ada"}"#).await;
    assert_eq!(login.body, r#"{"ok":true,"user":"ada"}"#);
    let admin = client.get("/admin").await;
    assert_eq!(admin.status, StatusCode::OK);
    assert!(admin.body.contains("Admin of ada"), "{}", admin.body);
}

#[tokio::test]
async fn flash_survives_a_redirect_and_renders_once() {
    let mut client = Client::new();
    assert_eq!(client.get("/flash").await.status, StatusCode::FOUND);
    let shown = client.get("/show-flash").await;
    assert!(shown.body.contains(r#"<p class="flash-info">saved</p>"#), "{}", shown.body);
    assert!(!client.get("/show-flash").await.body.contains("saved"));
}

#[tokio::test]
async fn form_fields_and_status_reach_the_response() {
    let mut client = Client::new();
    let reply = client.post_form("/form", "name=Ada+L%C3%B6we").await;
    assert!(reply.body.contains("name=Ada Löwe"), "{}", reply.body);
    let teapot = client.get("/teapot").await;
    assert_eq!(teapot.status, StatusCode::IM_A_TEAPOT);
    assert!(teapot.body.contains("I am a teapot"));
}

#[tokio::test]
async fn templates_escape_html_from_scripts_and_requests() {
    let mut client = Client::new();
    let reply = client.post_form("/form", "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert!(reply.body.contains("name=&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", reply.body);
    assert!(!reply.body.contains("<script>alert"));
}

#[tokio::test]
async fn templates_see_req_and_session_as_the_scripts_left_them() {
    let app = TempApp::fixture("session_app");
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /annotated\" = \"annotated\"\n"));
    app.write(
        "routes/middleware.rhai",
        &format!("{}\nreq.seen_by = \"middleware\";\n", app.read("routes/middleware.rhai")),
    );
    app.write(
        "routes/views/annotated.rhai",
        "req.greeting = `hi ${req.query.name}`;\nreq.query.name = \"changed\";\n\
         session.visits = if \"visits\" in session { session.visits + 1 } else { 1 };\n",
    );
    app.write(
        "templates/views/annotated.html",
        "{{ req.seen_by }}|{{ req.greeting }}|{{ req.query.name }}|{{ req.path }}|{{ session.visits }}",
    );
    let mut client = Client::for_app(app, true); // production: no live-reload script appended
    let first = client.get("/annotated?name=Ada").await;
    assert_eq!(first.body, "middleware|hi Ada|changed|/annotated|1");
    let second = client.get("/annotated?name=Bo").await;
    assert_eq!(second.body, "middleware|hi Bo|changed|/annotated|2", "the session write was saved and shown");
}

#[tokio::test]
async fn malformed_json_gives_400_and_oversized_bodies_413() {
    let mut client = Client::new();
    let reply = client.post_json("/login", "{not json").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.body.contains("malformed JSON"), "{}", reply.body);
    let big = "x".repeat(2 * 1024 * 1024);
    let reply = client.send(Method::POST, "/form", &[], &big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn runaway_script_gives_500_and_the_server_keeps_serving() {
    let mut client = Client::new();
    let reply = client.get("/loop").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("routes/views/loop.rhai") && reply.body.contains("endless loop"), "{}", reply.body);
    assert_eq!(client.get("/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn script_errors_name_the_file_and_line_in_development_only() {
    let mut client = Client::new();
    let reply = client.get("/broken").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(reply.body.contains("routes/views/broken.rhai:2"), "{}", reply.body);

    let mut production = Client::for_app(TempApp::fixture("session_app"), true);
    let reply = production.get("/broken").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!reply.body.contains("broken.rhai"), "production hides details: {}", reply.body);
}

#[tokio::test]
async fn static_files_have_types_etags_and_revalidation() {
    let mut client = Client::new();
    let css = client.get("/css/app.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert_eq!(css.headers[header::CACHE_CONTROL], "public, max-age=0, must-revalidate");
    let etag = css.headers[header::ETAG].to_str().unwrap().to_string();
    let js = client.get("/js/app.js").await;
    assert!(js.headers[header::CONTENT_TYPE].to_str().unwrap().contains("javascript"));

    let revalidated = client.send(Method::GET, "/css/app.css", &[("if-none-match", &etag)], "").await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
}

#[tokio::test]
async fn asset_urls_carry_a_content_hash_and_are_cached_forever() {
    let mut client = Client::new();
    let page = client.get("/links").await;
    let start = page.body.find("href=\"").unwrap() + 6;
    let url = &page.body[start..page.body[start..].find('"').unwrap() + start];
    assert!(url.starts_with("/css/app.css?v="), "{url}");
    let css = client.get(url).await;
    assert_eq!(css.headers[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
}

#[tokio::test]
async fn dotfiles_traversal_and_directories_are_never_served() {
    let mut client = Client::new();
    for path in [
        "/.secret",
        "/%2esecret",
        "/../keystone.toml",
        "/css/../../keystone.toml",
        "/%2e%2e/keystone.toml",
        "/css/%2e%2e/%2e%2e/keystone.toml",
        "/..%2fkeystone.toml",
        "/css",
        "/css/",
        "/%00",
    ] {
        let reply = client.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!reply.body.contains("hidden") && !reply.body.contains("session_app\""), "{path}: {}", reply.body);
    }
}

#[tokio::test]
async fn unknown_paths_render_the_apps_404_template_or_a_builtin_page() {
    let mut client = Client::new();
    let reply = client.get("/no/such/page").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("Custom 404 for /no/such/page"), "{}", reply.body);

    let mut plain = Client::for_app(TempApp::scaffold("default"), false);
    let reply = plain.get("/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.body.contains("404 Not Found"), "{}", reply.body);
}

#[tokio::test]
async fn socket_io_client_script_is_served_compressed_with_an_etag() {
    let mut client = Client::new();
    let plain = client.get("/socket.io/socket.io.js").await;
    assert_eq!(plain.status, StatusCode::OK);
    assert!(plain.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/javascript"));
    assert!(plain.body.contains("io"), "the client defines io()");
    let gz = client.send(Method::GET, "/socket.io/socket.io.js", &[("accept-encoding", "gzip")], "").await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    let etag = plain.headers[header::ETAG].to_str().unwrap().to_string();
    let cached = client.send(Method::GET, "/socket.io/socket.io.js", &[("if-none-match", &etag)], "").await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
}

/// Issue 11: the client is served on every page load; it stays small with every feature.
#[tokio::test]
async fn the_browser_client_stays_under_12_kb_and_under_5_kb_gzipped() {
    use std::io::Read as _;
    let mut client = Client::new();
    let plain = client.get("/socket.io/socket.io.js").await;
    let accept = [("accept-encoding", "gzip, deflate, br, zstd")]; // what Chromium sends
    let gz = client.send(Method::GET, "/socket.io/socket.io.js", &accept, "").await;
    assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gz.headers[header::VARY], "accept-encoding");
    assert_ne!(gz.headers[header::ETAG], plain.headers[header::ETAG], "one validator per encoding");
    let mut unpacked = Vec::new();
    flate2::read::GzDecoder::new(gz.bytes.as_slice()).read_to_end(&mut unpacked).unwrap();
    assert_eq!(unpacked, plain.bytes, "the gzip copy is the client");
    assert!(plain.bytes.len() <= 12_000, "the client grew to {} bytes (limit 12,000)", plain.bytes.len());
    assert!(gz.bytes.len() <= 5_000, "the client grew to {} bytes gzipped (limit 5,000)", gz.bytes.len());
    let etag = gz.headers[header::ETAG].to_str().unwrap().to_string();
    let cached = client.send(Method::GET, "/socket.io/socket.io.js", &[accept[0], ("if-none-match", &etag)], "").await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
}

/// Pages over 1 KB are compressed for clients that ask for it, and only for them.
#[tokio::test]
async fn rendered_pages_are_compressed_for_clients_that_accept_it() {
    use std::io::Read as _;
    let mut client = Client::for_app(TempApp::scaffold("default"), false);
    let plain = client.get("/").await;
    assert!(plain.headers.get(header::CONTENT_ENCODING).is_none(), "no Accept-Encoding, no encoding");
    assert!(plain.bytes.len() > 1024, "the scaffold's page is worth compressing");
    for _ in 0..2 {
        let gz = client.send(Method::GET, "/", &[("accept-encoding", "gzip")], "").await;
        assert_eq!(gz.status, StatusCode::OK);
        assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
        assert!(gz.headers.get_all(header::VARY).iter().any(|v| v == "accept-encoding"), "{:?}", gz.headers);
        assert!(gz.bytes.len() < plain.bytes.len() * 2 / 3, "{} of {} bytes", gz.bytes.len(), plain.bytes.len());
        let mut unpacked = String::new();
        flate2::read::GzDecoder::new(gz.bytes.as_slice()).read_to_string(&mut unpacked).unwrap();
        assert_eq!(unpacked, plain.body);
    }
    let chromium = client.send(Method::GET, "/", &[("accept-encoding", "gzip, deflate, br, zstd")], "").await;
    assert_eq!(chromium.headers[header::CONTENT_ENCODING], "br");
    let refused = client.send(Method::GET, "/", &[("accept-encoding", "gzip;q=0, identity")], "").await;
    assert!(refused.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(refused.body, plain.body);
}

fn gunzip(bytes: &[u8]) -> String {
    use std::io::Read as _;
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut unpacked).unwrap();
    unpacked
}

/// Compressed bodies are remembered by their bytes (compressed once, sent again from memory),
/// and a visitor whose page differs never gets another visitor's.
#[tokio::test]
async fn remembered_compression_never_hands_one_visitors_page_to_another() {
    let mut client = Client::for_app(TempApp::scaffold("chat"), false);
    let gzip = [("accept-encoding", "gzip")];
    let mut pages = Vec::new();
    for nickname in ["ada", "grace"] {
        client.cookie = None;
        client.post_form("/", &format!("nickname={nickname}&room=general")).await;
        client.get("/chat").await; // shows (and ends) the welcome flash
        let plain = client.get("/chat").await;
        assert!(plain.bytes.len() > 1024, "the chat page is worth compressing");
        for _ in 0..2 {
            let gz = client.send(Method::GET, "/chat", &gzip, "").await;
            assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
            assert_eq!(gz.headers[header::CONTENT_LENGTH], gz.bytes.len().to_string().as_str());
            let unpacked = gunzip(&gz.bytes);
            assert!(unpacked.contains(&format!("data-nickname=\"{nickname}\"")), "{nickname}'s own page");
            assert_eq!(unpacked, plain.body);
        }
        pages.push(plain.body);
    }
    assert_ne!(pages[0], pages[1]);
}

/// Static files are compressed whole (with their length) for clients that ask, a range never.
#[tokio::test]
async fn static_files_are_compressed_with_a_length_and_ranges_are_sent_as_they_are() {
    let app = TempApp::scaffold("default");
    let css = std::fs::read_to_string(app.path.join("public/styles/site.css")).unwrap();
    assert!(css.len() > 1024);
    // Over the one-shot limit (64 KB): compressed as it streams.
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(app.path.join("public/big.txt"), &big).unwrap();
    let mut client = Client::for_app(app, false);
    let streamed = client.send(Method::GET, "/big.txt", &[("accept-encoding", "gzip")], "").await;
    assert_eq!(streamed.headers[header::CONTENT_ENCODING], "gzip");
    assert!(streamed.bytes.len() < big.len() / 2, "{} of {} bytes", streamed.bytes.len(), big.len());
    assert_eq!(gunzip(&streamed.bytes), big);
    for _ in 0..2 {
        let gz = client.send(Method::GET, "/styles/site.css", &[("accept-encoding", "gzip")], "").await;
        assert_eq!(gz.status, StatusCode::OK);
        assert_eq!(gz.headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gz.headers[header::CONTENT_LENGTH], gz.bytes.len().to_string().as_str());
        assert!(gz.headers.get(header::ETAG).is_some(), "still revalidated");
        assert_eq!(gunzip(&gz.bytes), css);
    }
    let part =
        client.send(Method::GET, "/styles/site.css", &[("accept-encoding", "gzip"), ("range", "bytes=0-99")], "").await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert!(part.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(part.body, css[..100]);
}

#[tokio::test]
async fn each_compressed_representation_has_its_own_etag_and_revalidates_and_head_describes_the_plain_file() {
    let app = TempApp::scaffold("default");
    let css = std::fs::read_to_string(app.path.join("public/styles/site.css")).unwrap();
    let mut client = Client::for_app(app, false);
    let plain = client.get("/styles/site.css").await;
    let tag = plain.headers[header::ETAG].to_str().unwrap().to_string();
    let mut tags = vec![tag.clone()];
    for encoding in ["br", "gzip"] {
        let compressed = client.send(Method::GET, "/styles/site.css", &[("accept-encoding", encoding)], "").await;
        assert_eq!(compressed.headers[header::CONTENT_ENCODING], encoding);
        let own = compressed.headers[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(own, format!("{}-{encoding}\"", tag.trim_end_matches('"')), "a strong tag per representation");
        // A browser revalidates with the tag it was given, compressed or not.
        let again = client
            .send(Method::GET, "/styles/site.css", &[("accept-encoding", encoding), ("if-none-match", &own)], "")
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{encoding}");
        assert_eq!(again.headers[header::ETAG], own.as_str());
        assert!(again.bytes.is_empty());
        tags.push(own);
    }
    tags.dedup();
    assert_eq!(tags.len(), 3);
    let unknown = client.send(Method::GET, "/styles/site.css", &[("if-none-match", "\"not-this-one\"")], "").await;
    assert_eq!(unknown.status, StatusCode::OK);
    // HEAD says what the plain file is: its length, no encoding claimed for an empty body.
    let head = client.send(Method::HEAD, "/styles/site.css", &[("accept-encoding", "gzip, br")], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.headers.get(header::CONTENT_ENCODING).is_none());
    assert_eq!(head.headers[header::CONTENT_LENGTH], css.len().to_string().as_str());
    assert_eq!(head.headers[header::ETAG], tag.as_str());
}

#[tokio::test]
async fn the_chat_scaffold_keeps_the_nickname_in_the_session() {
    let mut client = Client::for_app(TempApp::scaffold("chat"), false);
    let chat = client.get("/chat").await;
    assert_eq!(chat.headers[header::LOCATION], "/", "the guard sends nickname-less visitors to the form");
    let bad = client.post_form("/", "nickname=&room=general").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = client.post_form("/", "nickname=ada&room=random").await;
    assert_eq!(ok.headers[header::LOCATION], "/chat");
    let chat = client.get("/chat").await;
    assert_eq!(chat.status, StatusCode::OK);
    assert!(chat.body.contains("signed in as ada") && chat.body.contains("#random"), "{}", chat.body);
}

#[tokio::test]
async fn unsafe_methods_need_the_sessions_csrf_token() {
    let mut client = Client::new();
    let form = ("content-type", "application/x-www-form-urlencoded");
    let missing = client.send(Method::POST, "/form", &[form], "name=x").await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(
        missing.body.contains("CSRF token") && missing.body.contains("csrf_token"),
        "a clear page: {}",
        missing.body
    );

    let token = client.csrf_token("/form").await;
    assert_eq!(token.len(), 64);
    let wrong = client.send(Method::POST, "/form", &[form], &format!("csrf_token={}&name=x", "0".repeat(64))).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let by_header = client.send(Method::POST, "/form", &[form, ("x-csrf-token", &token)], "name=header").await;
    assert!(by_header.body.contains("name=header"), "the X-CSRF-Token header works too: {}", by_header.body);

    // Another visitor's token is worthless here.
    let mut other = Client::new();
    other.get("/form").await;
    let stolen = other.send(Method::POST, "/form", &[form], &format!("csrf_token={token}&name=x")).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);

    // A JSON route can opt out with csrf = false.
    assert_eq!(other.post_json("/login", r#"{"user":"ada"}"#).await.status, StatusCode::OK);
}

#[tokio::test]
async fn the_csrf_token_is_hidden_from_scripts_and_the_session_in_templates() {
    let mut client = Client::new();
    client.get("/form").await;
    let session = client.get("/whoami").await.body;
    assert!(!session.contains("_csrf") && !session.contains("_flash"), "internal keys stay internal: {session}");
}

fn encoded(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn redirect_refuses_off_site_targets_unless_the_script_says_external() {
    let mut client = Client::new();
    let home = client.get("/go?next=%2Fwhoami").await;
    assert_eq!((home.status, home.headers[header::LOCATION].to_str().unwrap()), (StatusCode::FOUND, "/whoami"));
    for target in ["https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)"] {
        let reply = client.get(&format!("/go?next={}", encoded(target))).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{target}: {}", reply.body);
        assert!(reply.headers.get(header::LOCATION).is_none(), "{target} must not redirect");
        assert!(reply.body.contains("leaves this site"), "{target}: {}", reply.body);
    }
    let out = client.get(&format!("/go-out?next={}", encoded("https://partner.example/x"))).await;
    assert_eq!(out.status, StatusCode::FOUND);
    assert_eq!(out.headers[header::LOCATION], "https://partner.example/x");
    let js = client.get(&format!("/go-out?next={}", encoded("javascript:alert(1)"))).await;
    assert_eq!(js.status, StatusCode::INTERNAL_SERVER_ERROR, "external still means http(s): {}", js.body);
}

#[tokio::test]
async fn a_redirect_with_cr_lf_or_nul_is_a_script_error_not_a_split_header() {
    let mut client = Client::new();
    for target in ["/a\r\nSet-Cookie: stolen=1", "/a\nb", "/a\0b"] {
        let reply = client.get(&format!("/go-out?next={}", encoded(target))).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{target:?}: {}", reply.body);
        assert!(reply.body.contains("control character"), "{target:?}: {}", reply.body);
        assert!(reply.headers.get(header::LOCATION).is_none());
        assert!(
            reply.headers.get_all(header::SET_COOKIE).iter().all(|c| !c.to_str().unwrap().contains("stolen")),
            "{:?}",
            reply.headers
        );
    }
}

#[tokio::test]
async fn status_accepts_200_to_599_and_anything_else_is_a_script_error() {
    let mut client = Client::new();
    for code in [200, 404, 503, 599] {
        assert_eq!(client.get(&format!("/status?code={code}")).await.status.as_u16(), code);
    }
    for code in ["101", "199", "600", "999", "0", "65736", "-1"] {
        let reply = client.get(&format!("/status?code={code}")).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "status({code}): {}", reply.body);
        assert!(reply.body.contains("from 200 to 599"), "status({code}): {}", reply.body);
    }
}

/// The README's lists example, taken from the README itself: the files of its "Lists"
/// section (each code block that starts by naming its file) written into a scaffold.
fn readme_lists_app() -> TempApp {
    let readme = std::fs::read_to_string(crate::util::repo().join("README.md")).unwrap();
    let start = readme.find("### Lists").expect("README has a Lists section");
    let end = start + readme[start..].find("### Static files").unwrap();
    let app = TempApp::scaffold("default");
    let mut written = Vec::new();
    for block in readme[start..end].split("```").skip(1).step_by(2) {
        let mut lines = block.lines().skip(1);
        let Some(first) = lines.next() else { continue };
        let name = first.trim_start_matches("# ").trim_start_matches("// ").trim_start_matches("{# ");
        let name = name.split_whitespace().next().unwrap_or_default();
        if !name.contains('/') || !name.contains('.') {
            continue;
        }
        let body: String = block.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let body = if name == "routes/index.toml" { format!("{}{body}", app.read(name)) } else { body };
        app.write(name, &body);
        written.push(name.to_string());
    }
    for needed in
        ["models/Post.toml", "models/Enquiry.toml", "routes/views/contact.rhai", "templates/views/contact.html"]
    {
        assert!(written.iter().any(|w| w == needed), "the README example has {needed}: {written:?}");
    }
    // The lists the README's Post refers to.
    app.write(
        "models/User.toml",
        "[fields]\nname = { type = \"text\", required = true }\nemail = { type = \"email\", unique = true }\n",
    );
    app.write(
        "models/PostCategory.toml",
        "slug = { from = \"name\" }\n[fields]\nname = { type = \"text\", required = true }\n",
    );
    app.write("models/Log.toml", "[fields]\ntext = { type = \"text\" }\n");
    app
}

#[tokio::test]
async fn the_readme_form_rerenders_with_an_error_per_field_then_saves() {
    let mut client = Client::for_app(readme_lists_app(), false);
    let form = client.get("/contact").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);

    let invalid = client.post_form("/contact", "name=&email=not-an-email&message=Hello%20%3Cthere%3E").await;
    assert_eq!(invalid.status, StatusCode::OK, "{}", invalid.body);
    assert!(invalid.body.contains("<p class=\"error\">Name is required</p>"), "{}", invalid.body);
    assert!(invalid.body.contains("<p class=\"error\">Email must be an email address</p>"), "{}", invalid.body);
    assert!(!invalid.body.contains("<p class=\"error\">Message"), "a valid field has no error: {}", invalid.body);
    assert!(
        invalid.body.contains("Hello &lt;there&gt;</textarea>"),
        "what was typed comes back, escaped: {}",
        invalid.body
    );

    let saved = client.post_form("/contact", "name=Ann&email=ann%40example.com&message=Hi").await;
    assert_eq!(saved.status, StatusCode::FOUND, "{}", saved.body);
    let after = client.get("/contact").await;
    assert!(after.body.contains("Thanks, we will be in touch."), "{}", after.body);

    let blog = client.get("/blog?page=7").await;
    assert_eq!(blog.status, StatusCode::OK, "{}", blog.body);
    assert!(blog.body.contains("page 1 of 1"), "an empty list is one empty page: {}", blog.body);
}
