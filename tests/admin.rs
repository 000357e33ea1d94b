//! The Admin UI (DESIGN §11) over HTTP: sign-in and who may enter, CSRF and Origin on every
//! write, escaping, passwords and hidden fields never shown, the conflict warning. The
//! browser stories (pickers, live pages, sign-out ending the admin's sockets) run Chromium
//! through `tests/js/admin.mjs` (e2e tier).
use std::time::Duration;

use crate::util::{NodeProcess, Server, TempApp, eventually, http_request, node};

/// A visitor with a cookie jar of one cookie (the session), as a browser would keep it.
struct Visitor {
    base: String,
    cookie: Option<String>,
}

/// A response, its `Location` and body.
struct Reply {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Visitor {
    fn new(server: &Server) -> Visitor {
        Visitor { base: server.url.clone(), cookie: None }
    }

    fn request(&mut self, method: &str, path: &str, extra: &[(&str, &str)], body: &str) -> Reply {
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        let cookie = self.cookie.clone();
        if let Some(c) = &cookie {
            headers.push(("Cookie", c));
        }
        if method == "POST" {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let reply = http_request(method, &format!("{}{path}", self.base), &headers, body);
        for line in reply.head.lines() {
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("set-cookie")
            {
                let pair = value.trim().split(';').next().unwrap().to_string();
                self.cookie = if value.contains("Max-Age=0") { None } else { Some(pair) };
            }
        }
        Reply { status: reply.status, location: reply.header("location"), body: reply.body }
    }

    fn get(&mut self, path: &str) -> Reply {
        self.request("GET", path, &[], "")
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Reply {
        self.post_with(path, form, &[])
    }

    fn post_with(&mut self, path: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Reply {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.request("POST", path, headers, &body)
    }

    /// The CSRF token of the page at `path`.
    fn token(&mut self, path: &str) -> String {
        let page = self.get(path);
        csrf_of(&page.body).unwrap_or_else(|| panic!("no csrf_token on {path} ({}):\n{}", page.status, page.body))
    }

    fn sign_in(&mut self, email: &str, password: &str) -> Reply {
        let token = self.token("/keystone/signin");
        self.post("/keystone/signin", &[("csrf_token", &token), ("email", email), ("password", password)])
    }
}

fn csrf_of(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

/// The id in `/keystone/List/ID`.
fn id_in(location: &str) -> String {
    location.rsplit('/').next().unwrap().to_string()
}

fn start() -> (TempApp, Server) {
    let app = TempApp::fixture("admin_app");
    let server = Server::start(&app.path);
    (app, server)
}

/// An admin socket of `visitor` on `url` watching PostCategory, once the server confirmed it.
fn watching(url: &str, visitor: &Visitor) -> NodeProcess {
    let cookie = visitor.cookie.clone().expect("signed in");
    let watcher = NodeProcess::spawn("admin-socket.mjs", &[url, &cookie, url, "watch"]);
    heard(&watcher, "watching", "the admin socket to watch");
    watcher
}

/// Waits (15 s at most) until the watcher printed `event`; what it printed.
fn heard(watcher: &NodeProcess, event: &str, what: &str) -> serde_json::Value {
    eventually(what, Duration::from_secs(15), || watcher.lines().into_iter().find(|l| l["event"] == event))
}

/// The fixture served, and Ada (an admin) signed in.
fn signed_in_admin() -> (TempApp, Server, Visitor) {
    let (app, server) = start();
    let mut admin = Visitor::new(&server);
    assert_eq!(admin.sign_in("admin@example.com", "admin-password").status, 303);
    (app, server, admin)
}

#[test]
fn only_admins_enter_and_sign_in_answers_alike_for_unknown_and_wrong() {
    let (_app, server) = start();
    let mut visitor = Visitor::new(&server);
    let first = visitor.get("/keystone/Post?page=2");
    assert_eq!(first.status, 303);
    assert_eq!(first.location.as_deref(), Some("/keystone/signin?from=%2Fkeystone%2FPost%3Fpage%3D2"));

    let wrong = visitor.sign_in("admin@example.com", "not-the-password");
    let unknown = visitor.sign_in("nobody@example.com", "not-the-password");
    assert_eq!((wrong.status, unknown.status), (401, 401));
    let message =
        |body: &str| body.split("id=\"signin-error\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    assert_eq!(message(&wrong.body), message(&unknown.body), "one answer for both");
    assert!(!wrong.body.contains("not-the-password"), "the password is never echoed");

    let before = visitor.cookie.clone();
    let token = visitor.token("/keystone/signin");
    let from = "/keystone/Post?page=2";
    let signed = visitor.post(
        "/keystone/signin",
        &[("csrf_token", &token), ("email", " Admin@Example.com "), ("password", "admin-password"), ("from", from)],
    );
    assert_eq!((signed.status, signed.location.as_deref()), (303, Some(from)), "{}", signed.body);
    assert_ne!(visitor.cookie, before, "signing in gives the session a new id");
    let home = visitor.get("/keystone/");
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Ada Admin") && home.body.contains(">Content<") && home.body.contains(">People<"));

    // An off-site `from` lands on the admin's home.
    let mut other = Visitor::new(&server);
    let token = other.token("/keystone/signin");
    let signed = other.post(
        "/keystone/signin",
        &[
            ("csrf_token", &token),
            ("email", "grace@example.com"),
            ("password", "grace-password"),
            ("from", "//evil.example/"),
        ],
    );
    assert_eq!(signed.location.as_deref(), Some("/keystone/"));

    // A user who is not an admin is signed in, and refused every admin page.
    let mut editor = Visitor::new(&server);
    assert_eq!(editor.sign_in("editor@example.com", "editor-password").status, 303);
    for path in ["/keystone/", "/keystone/Post", "/keystone/Post/new", "/keystone/api/search/User?q=a"] {
        let refused = editor.get(path);
        assert_eq!(refused.status, 403, "{path}");
        assert!(!refused.body.contains("admin@example.com"), "{path} shows nothing of the data");
    }
}

#[test]
fn the_throttle_holds_back_a_guessing_client() {
    let (_app, server) = start();
    let mut visitor = Visitor::new(&server);
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(visitor.sign_in("admin@example.com", "guess").status);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    let held = visitor.sign_in("admin@example.com", "admin-password");
    assert_eq!(held.status, 429, "even the right password waits");
    assert!(held.body.contains("too many failed sign-ins") || held.body.contains("Too many failed sign-ins"));
}

#[test]
fn writes_need_the_token_and_this_sites_origin() {
    let (_app, server, mut admin) = signed_in_admin();
    let token = admin.token("/keystone/PostCategory/new");
    let refused = admin.post("/keystone/PostCategory/new", &[("name", "No token")]);
    assert_eq!(refused.status, 403);
    let forged =
        admin.post("/keystone/PostCategory/new", &[("csrf_token", "0".repeat(64).as_str()), ("name", "Forged")]);
    assert_eq!(forged.status, 403);
    let foreign = admin.post_with(
        "/keystone/PostCategory/new",
        &[("csrf_token", &token), ("name", "Foreign")],
        &[("Origin", "http://evil.example")],
    );
    assert_eq!(foreign.status, 403);
    let cross = admin.post_with(
        "/keystone/PostCategory/new",
        &[("csrf_token", &token), ("name", "Cross")],
        &[("Sec-Fetch-Site", "cross-site")],
    );
    assert_eq!(cross.status, 403);
    let own = format!("http://{}", server.authority());
    let made =
        admin.post_with("/keystone/PostCategory/new", &[("csrf_token", &token), ("name", "Ours")], &[("Origin", &own)]);
    assert_eq!(made.status, 303, "{}", made.body);
    let list = admin.get("/keystone/PostCategory").body;
    assert!(list.contains("Ours"));
    for name in ["No token", "Forged", "Foreign", "Cross"] {
        assert!(!list.contains(name), "{name} was saved");
    }
    // Signing out is a write too.
    assert_eq!(admin.post("/keystone/signout", &[]).status, 403);
    let token = admin.token("/keystone/");
    let out = admin.post("/keystone/signout", &[("csrf_token", &token)]);
    assert_eq!((out.status, out.location.as_deref()), (303, Some("/keystone/signin")));
    assert_eq!(admin.get("/keystone/").status, 303, "signed out");
    assert!(admin.get("/keystone/signin").body.contains("You are signed out."));
}

#[test]
fn every_value_is_escaped_and_passwords_and_hidden_fields_never_show() {
    let (_app, _server, mut admin) = signed_in_admin();
    let token = admin.token("/keystone/Post/new");
    let script = "<script>alert(1)</script>";
    let breakout = "\" onmouseover=\"alert(2)\" x=\"";
    let made = admin.post("/keystone/Post/new", &[("csrf_token", &token), ("title", script)]);
    assert_eq!(made.status, 303, "{}", made.body);
    let id = id_in(made.location.as_deref().unwrap());
    let token = admin.token(&format!("/keystone/Post/{id}"));
    let form = [
        ("csrf_token", token.as_str()),
        ("_version", "1"),
        ("title", script),
        ("summary", breakout),
        ("link", "https://example.com/?q=\"><img src=x onerror=alert(3)>"),
        ("extra", "{\"html\": \"</textarea><script>alert(4)</script>\"}"),
        ("content", "<p>ok</p><script>alert(5)</script><img src=x onerror=alert(6)>"),
    ];
    let saved = admin.post(&format!("/keystone/Post/{id}"), &form);
    assert_eq!(saved.status, 303, "{}", saved.body);
    for page in [admin.get("/keystone/Post").body, admin.get(&format!("/keystone/Post/{id}")).body] {
        for raw in ["<script>alert", "onmouseover=\"alert", "<img src=x", "onerror=alert(6)"] {
            assert!(!page.contains(raw), "{raw} came through unescaped:\n{page}");
        }
        assert!(page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{page}");
    }
    // HTML fields are sanitised on save: the script is gone, the paragraph stays.
    let edit = admin.get(&format!("/keystone/Post/{id}")).body;
    assert!(edit.contains("&lt;p&gt;ok&lt;&#x2f;p&gt;") && !edit.contains("alert(5)"), "{edit}");
    assert!(!edit.contains("secret_notes"), "hidden fields are never shown");

    let users = admin.get("/keystone/User").body;
    let ada = users.split("data-id=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let user_page = admin.get(&format!("/keystone/User/{ada}")).body;
    assert!(user_page.contains("type=\"password\""), "a password widget");
    assert!(!user_page.contains("argon2") && !user_page.contains("admin-password"), "no hash, no password");
    assert!(!users.contains("argon2"));
}

#[test]
fn saving_over_a_newer_version_warns_then_overwrites_if_asked() {
    let (_app, server) = start();
    let mut ada = Visitor::new(&server);
    ada.sign_in("admin@example.com", "admin-password");
    let mut grace = Visitor::new(&server);
    grace.sign_in("grace@example.com", "grace-password");
    let token = ada.token("/keystone/Post/new");
    let made = ada.post("/keystone/Post/new", &[("csrf_token", &token), ("title", "First")]);
    let path = made.location.unwrap();

    // Both open version 1; Grace saves first.
    let grace_token = grace.token(&path);
    let ada_token = ada.token(&path);
    let first = grace.post(&path, &[("csrf_token", &grace_token), ("_version", "1"), ("title", "Grace's")]);
    assert_eq!(first.status, 303);
    let late = ada.post(&path, &[("csrf_token", &ada_token), ("_version", "1"), ("title", "Ada's")]);
    assert_eq!(late.status, 409);
    assert!(late.body.contains("Someone saved this item after you opened it"), "{}", late.body);
    assert!(late.body.contains("value=\"Ada&#x27;s\""), "Ada's changes are kept in the form");
    assert!(late.body.contains("name=\"_version\" value=\"2\""), "the form now carries the newest version");
    assert!(ada.get(&path).body.contains("Grace&#x27;s"), "nothing was overwritten");

    let overwrite =
        ada.post(&path, &[("csrf_token", &ada_token), ("_version", "2"), ("_overwrite", "1"), ("title", "Ada's")]);
    assert_eq!(overwrite.status, 303);
    assert!(ada.get(&path).body.contains("Ada&#x27;s"));
}

#[test]
fn create_edit_and_delete_with_validation_beside_the_fields() {
    let (_app, _server, mut admin) = signed_in_admin();
    let token = admin.token("/keystone/Post/new");
    let create = admin.get("/keystone/Post/new").body;
    assert!(create.contains("name=\"title\"") && create.contains("name=\"author\""), "required and initial fields");
    assert!(!create.contains("name=\"views\""), "other fields wait for the edit page");

    let invalid = admin.post("/keystone/Post/new", &[("csrf_token", &token), ("title", "")]);
    assert_eq!(invalid.status, 422);
    assert!(invalid.body.contains("id=\"field-title-error\">Title is required"), "{}", invalid.body);

    let made = admin.post("/keystone/Post/new", &[("csrf_token", &token), ("title", "Hello admin")]);
    let path = made.location.unwrap();
    let page = admin.get(&path).body;
    assert!(page.contains("Created Post “Hello admin”."), "a flash after the redirect");
    let bad = admin.post(
        &path,
        &[("csrf_token", &token), ("_version", "1"), ("views", "many"), ("link", "ftp://x"), ("state", "gone")],
    );
    assert_eq!(bad.status, 422);
    for (field, text) in [("views", "must be a number"), ("link", "must be a web address"), ("state", "must be one of")]
    {
        let marker = format!("id=\"field-{field}-error\">");
        let error = bad.body.split(&marker).nth(1).unwrap_or_else(|| panic!("no error beside {field}"));
        assert!(error.split('<').next().unwrap().contains(text), "{field}: {error:.80}");
    }
    assert!(bad.body.contains("value=\"many\""), "what was typed stays in the form");

    let categories = admin.get("/keystone/api/search/PostCategory?q=New").body;
    let news: serde_json::Value = serde_json::from_str(&categories).unwrap();
    let news_id = news[0]["id"].as_str().unwrap().to_string();
    assert_eq!(news[0]["label"], "News");
    let good = admin.post(
        &path,
        &[
            ("csrf_token", &token),
            ("_version", "1"),
            ("categories", ""),
            ("categories", &news_id),
            ("featured", "false"),
            ("featured", "true"),
            ("published_at", "2026-05-31T09:30"),
            ("state", "published"),
        ],
    );
    assert_eq!(good.status, 303, "{}", good.body);
    let list = admin.get("/keystone/Post?f.state=published&sort=-title").body;
    assert!(list.contains("Hello admin") && list.contains("News") && list.contains("2026-05-31 09:30"), "{list}");
    assert!(admin.get("/keystone/Post?f.state=draft").body.contains("No items match."));
    assert!(admin.get("/keystone/Post?q=hello").body.contains("Hello admin"), "search is case-insensitive");

    let confirm = admin.get(&format!("{path}/delete"));
    assert!(confirm.body.contains("Delete “Hello admin”?"));
    let gone = admin.post(&format!("{path}/delete"), &[("csrf_token", &token)]);
    assert_eq!(gone.location.as_deref(), Some("/keystone/Post"));
    assert!(admin.get("/keystone/Post").body.contains("Deleted “Hello admin”."));
    assert_eq!(admin.get(&path).status, 404);
}

#[test]
fn hostile_requests_meet_limits_not_errors() {
    let (_app, _server, mut admin) = signed_in_admin();
    let token = admin.token("/keystone/Post/new");
    let mut many: Vec<(&str, &str)> = vec![("csrf_token", &token)];
    many.extend(std::iter::repeat_n(("categories", "x"), 6000));
    assert_eq!(admin.post("/keystone/Post/new", &many).status, 400, "too many values");
    let huge = "x".repeat(2 * 1024 * 1024);
    assert_eq!(admin.post("/keystone/Post/new", &[("csrf_token", &token), ("title", &huge)]).status, 413);
    let long = format!("/keystone/Post?q={}&f.views=abc&sort=-password&page=-5", "%25".repeat(5000));
    let page = admin.get(&long);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("must be a number"), "a filter that cannot match says why");
    for path in
        ["/keystone/Post/..%2F..%2Fetc", "/keystone/Nope", "/keystone/Post/zzz/delete", "/keystone/api/search/Nope"]
    {
        assert_eq!(admin.get(path).status, 404, "{path}");
    }
    let bad_relation = admin.post(
        "/keystone/Post/new",
        &[("csrf_token", &token), ("title", "Dangling"), ("author", "ffffffffffffffffffffffff")],
    );
    assert_eq!(bad_relation.status, 422);
    assert!(bad_relation.body.contains("refers to a User that does not exist"), "{}", bad_relation.body);
}

#[test]
fn an_app_without_a_user_list_is_told_what_to_add() {
    let app = TempApp::fixture("admin_app");
    std::fs::remove_dir_all(app.path.join("updates")).unwrap();
    std::fs::remove_file(app.path.join("models/User.toml")).unwrap();
    app.write("models/Post.toml", "[fields]\ntitle = { type = \"text\" }\n");
    let server = Server::start(&app.path);
    let mut visitor = Visitor::new(&server);
    let page = visitor.get("/keystone/signin");
    assert_eq!(page.status, 503);
    assert!(page.body.contains("models&#x2f;User.toml") && page.body.contains("is_admin"), "{}", page.body);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node (the official socket.io-client): cargo test --features e2e")]
fn the_admin_namespace_is_for_admin_sessions_only() {
    let (_app, server, mut admin) = signed_in_admin();
    let mut editor = Visitor::new(&server);
    editor.sign_in("editor@example.com", "editor-password");
    let cookie = |v: &Visitor| v.cookie.clone().unwrap();
    let probe = |cookie: &str, origin: &str| node("admin-socket.mjs", &[&server.url, cookie, origin]);
    let own = server.url.clone();
    assert!(probe("", &own).contains("\"refused\""), "nobody signed in");
    assert!(probe(&cookie(&editor), &own).contains("\"refused\""), "a user who is not an admin");
    assert!(probe(&cookie(&admin), "http://evil.example").contains("\"refused\""), "a foreign origin");
    let hostile = node("admin-socket.mjs", &[&server.url, &cookie(&admin), &own, "hostile"]);
    let line = hostile.lines().find(|l| l.contains("\"hostile\"")).unwrap_or_else(|| panic!("{hostile}"));
    let report: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(
        report["bad"],
        serde_json::json!([false, false, false, false, false]),
        "every malformed watch is refused: {report}"
    );
    let joined = report["joined"].as_u64().unwrap();
    assert!((1..=16).contains(&joined), "rooms per socket are capped: {report}");
    assert_eq!(report["connected"], true, "a hostile ask does not take the socket (or the server) down");

    // An admin's socket hears of a change made elsewhere, and is let go at sign-out.
    let watcher = watching(&server.url, &admin);
    let token = admin.token("/keystone/PostCategory/new");
    admin.post("/keystone/PostCategory/new", &[("csrf_token", &token), ("name", "Live")]);
    let change = heard(&watcher, "changed", "the change to arrive");
    assert_eq!(change["data"]["list"], "PostCategory");
    assert_eq!(change["data"]["version"], 1);
    admin.post("/keystone/signout", &[("csrf_token", &token)]);
    heard(&watcher, "disconnect", "sign-out to disconnect the admin socket");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node (the official socket.io-client): cargo test --features e2e")]
fn an_expired_admin_session_ends_its_sockets() {
    let app = TempApp::fixture("admin_app");
    let toml = app.read("keystone.toml").replace("store = \"memory\"", "store = \"memory\"\nexpiry = \"2s\"");
    app.write("keystone.toml", &toml);
    let server = Server::start(&app.path);
    let mut admin = Visitor::new(&server);
    admin.sign_in("admin@example.com", "admin-password");
    let watcher = watching(&server.url, &admin);
    heard(&watcher, "disconnect", "the expiry sweep to end the admin socket");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node (the official socket.io-client): cargo test --features e2e")]
fn an_admin_who_loses_is_admin_loses_the_admin_socket_at_once() {
    let (_app, server, ada) = signed_in_admin();
    let mut grace = Visitor::new(&server);
    assert_eq!(grace.sign_in("grace@example.com", "grace-password").status, 303);
    let users = grace.get("/keystone/User").body;
    let ada_id = users.split("data-id=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let path = format!("/keystone/User/{ada_id}");
    // Grace saves Ada's user, with `is_admin` ticked or not (as the form does: a hidden
    // "false", then the box's value only when it is ticked).
    let mut save = |admin: bool| {
        let page = grace.get(&path).body;
        assert!(page.contains("value=\"admin@example.com\""), "Ada's page: {page}");
        let version = page.split("name=\"_version\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
        let token = csrf_of(&page).unwrap();
        let mut form = vec![
            ("csrf_token", token.as_str()),
            ("_version", &version),
            ("name", "Ada"),
            ("email", "admin@example.com"),
        ];
        form.push(("is_admin", "false"));
        if admin {
            form.push(("is_admin", "on"));
        }
        let saved = grace.post(&path, &form);
        assert_eq!(saved.status, 303, "{}", saved.body);
    };

    let watcher = watching(&server.url, &ada);
    save(true);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !watcher.lines().iter().any(|l| l["event"] == "disconnect"),
        "a save that keeps Ada an admin keeps her socket: {:?}",
        watcher.lines()
    );
    save(false);
    heard(&watcher, "disconnect", "losing is_admin to end Ada's admin socket");
    let refused = node("admin-socket.mjs", &[&server.url, &ada.cookie.clone().unwrap(), &server.url]);
    assert!(refused.contains("\"refused\""), "and she cannot open another: {refused}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis and Node: cargo test --features e2e")]
fn a_change_saved_on_one_node_reaches_admin_pages_on_another() {
    let app = TempApp::fixture("admin_app");
    let name = format!("admin_{}", std::process::id());
    let toml = app.read("keystone.toml").replace("name = \"admin_app\"", &format!("name = \"{name}\""));
    app.write("keystone.toml", &format!("{toml}\n[sockets]\nadapter = \"redis://127.0.0.1:6379\"\n"));
    let (a, b) = (Server::start(&app.path), Server::start(&app.path));
    let mut on_a = Visitor::new(&a);
    on_a.sign_in("admin@example.com", "admin-password");
    let mut on_b = Visitor::new(&b);
    on_b.sign_in("grace@example.com", "grace-password");
    let watcher = watching(&a.url, &on_a);
    let token = on_b.token("/keystone/PostCategory/new");
    let made = on_b.post("/keystone/PostCategory/new", &[("csrf_token", &token), ("name", "From B")]);
    assert_eq!(made.status, 303, "{}", made.body);
    let change = heard(&watcher, "changed", "B's change to reach A's admin socket");
    assert_eq!(change["data"]["id"], made.location.unwrap().rsplit('/').next().unwrap());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node (the official socket.io-client): cargo test --features e2e")]
fn a_post_published_in_the_admin_reaches_open_blog_pages() {
    let app = TempApp::scaffold("blog");
    app.write(
        "updates/000-admin.toml",
        "[[User]]\nname = \"Ada\"\nemail = \"admin@example.com\"\npassword = \"admin-password\"\nis_admin = true\n",
    );
    let server = Server::start(&app.path);
    let mut admin = Visitor::new(&server);
    assert_eq!(admin.sign_in("admin@example.com", "admin-password").status, 303);
    let page = NodeProcess::spawn("listen.mjs", &[&format!("{}/", server.url), "post:published"]);
    eventually("the blog page's socket", Duration::from_secs(10), || {
        page.lines().iter().any(|l| l["event"] == "connected").then_some(())
    });
    let token = admin.token("/keystone/Post/new");
    let made = admin.post("/keystone/Post/new", &[("csrf_token", &token), ("title", "Hello from the admin")]);
    let path = made.location.unwrap_or_else(|| panic!("{}", made.body));
    let published =
        admin.post(&path, &[("csrf_token", &token), ("_version", "1"), ("state", "published"), ("brief", "*Live*")]);
    assert_eq!(published.status, 303, "{}", published.body);
    let card = eventually("the published post to reach the page", Duration::from_secs(10), || {
        page.lines().into_iter().find(|l| l["event"] == "post:published")
    });
    assert_eq!(card["data"]["title"], "Hello from the admin");
    assert_eq!(card["data"]["brief"], "<p><em>Live</em></p>\n");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium: cargo test --features e2e")]
fn in_chromium_two_admins_create_edit_delete_and_see_each_other_live() {
    let (_app, server) = start();
    let out = node("admin.mjs", &[&server.url]);
    assert!(out.contains("admin.mjs: ok"), "{out}");
}
