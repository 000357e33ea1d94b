//! The app's own visitors (DESIGN §11): `signin()`, `signout()`, `user` in scripts and
//! templates, `socket.user`, the built-in guards, the throttle, and `keystone-rs user`.
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use http::{Method, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::router::Client;
use crate::util::{BIN, Server, TempApp, http_request, node};

const ADA: &str = "ada@example.com";
const ADA_PASSWORD: &str = "correct horse battery";
const BOB: &str = "bob@example.com";
const BOB_PASSWORD: &str = "bobs secret 42";

/// `keystone-rs user ARGS…` in `app` with `stdin` piped in.
fn user_cmd(app: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("user")
        .args(args)
        .arg("--app")
        .arg(app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The users fixture with Ada (an admin) and Bob (not one), added through the CLI.
fn users_app() -> TempApp {
    let app = TempApp::fixture("users_app");
    let out = user_cmd(&app.path, &["add", ADA, "--admin", "--name", "Ada"], &format!("{ADA_PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    let out = user_cmd(&app.path, &["add", BOB, "--name", "Bob"], &format!("{BOB_PASSWORD}\n"));
    assert!(out.status.success(), "{}", text(&out));
    app
}

fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
}

async fn sign_in(client: &mut Client, path: &str, email: &str, password: &str) -> crate::router::Reply {
    client.post_form(path, &form(&[("email", email), ("password", password)])).await
}

/// The sign-in page's error line.
fn error_line(body: &str) -> String {
    let start = body.find("<p id=\"error\" role=\"alert\">").map(|i| i + 27);
    start.map_or_else(String::new, |s| body[s..s + body[s..].find("</p>").unwrap()].to_string())
}

async fn whoami(client: &mut Client) -> Value {
    serde_json::from_str(&client.get("/whoami").await.body).unwrap()
}

async fn sign_out(client: &mut Client) -> crate::router::Reply {
    let token = client.csrf_token("/").await;
    let body = form(&[("csrf_token", &token)]);
    client.send(Method::POST, "/signout", &[("content-type", "application/x-www-form-urlencoded")], &body).await
}

#[tokio::test]
async fn require_user_sends_visitors_to_sign_in_with_from_and_back_after() {
    let mut client = Client::for_app(users_app(), false);
    let reply = client.get("/private?tab=2").await;
    assert_eq!(reply.status, StatusCode::FOUND);
    assert_eq!(reply.headers[header::LOCATION], "/signin?from=%2Fprivate%3Ftab%3D2");

    let reply = sign_in(&mut client, "/signin?from=%2Fprivate%3Ftab%3D2", ADA, ADA_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.body);
    assert_eq!(reply.headers[header::LOCATION], "/private?tab=2");
    let page = client.get("/private?tab=2").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1 id=\"hello\">Hello Ada</h1>"), "{}", page.body);
    assert!(client.get("/").await.body.contains("Signed in as Ada"), "the template global `user`");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let mut client = Client::for_app(users_app(), false);
    let wrong = sign_in(&mut client, "/signin", ADA, "not the password").await;
    let unknown = sign_in(&mut client, "/signin", "nobody@example.com", "not the password").await;
    let missing = client.post_form("/signin", "email=").await;
    for reply in [&wrong, &unknown, &missing] {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(error_line(&reply.body), "the email or password is not right", "{}", reply.body);
    }
    assert_eq!(whoami(&mut client).await, json!({ "user": null }), "nobody is signed in");
}

#[tokio::test]
async fn signing_in_changes_the_session_id_and_the_csrf_token() {
    let mut client = Client::for_app(users_app(), false);
    let token_before = client.csrf_token("/signin").await;
    let cookie_before = client.cookie.clone().unwrap();
    let reply = sign_in(&mut client, "/signin", ADA, ADA_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let cookie_after = client.cookie.clone().unwrap();
    assert_ne!(cookie_before, cookie_after, "a new session id at sign-in");
    assert_ne!(client.csrf_token("/").await, token_before, "a new CSRF token");
    assert_eq!(whoami(&mut client).await["user"]["email"], ADA);

    // The id a fixation attempt would have planted is worth nothing now.
    client.cookie = Some(cookie_before);
    assert_eq!(whoami(&mut client).await, json!({ "user": null }));
}

#[tokio::test]
async fn scripts_and_templates_never_see_a_password_hash() {
    let mut client = Client::for_app(users_app(), false);
    sign_in(&mut client, "/signin", ADA, ADA_PASSWORD).await;
    let reply = client.get("/whoami").await;
    let seen: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(seen["user"]["name"], "Ada", "{seen}");
    assert_eq!(seen["user"]["is_admin"], true, "{seen}");
    for key in ["user", "listed", "found"] {
        assert!(seen[key].is_object(), "{key}: {seen}");
        assert!(seen[key].get("password").is_none(), "{key} carries no password: {seen}");
    }
    assert_eq!(seen["has_password"], false);
    assert!(!reply.body.contains("argon2"), "{}", reply.body);
}

#[tokio::test]
async fn require_admin_refuses_a_signed_in_visitor_who_is_not_an_admin() {
    let mut client = Client::for_app(users_app(), false);
    let reply = client.get("/admin-only").await;
    assert_eq!(reply.status, StatusCode::FOUND, "not signed in: to the sign-in page");
    assert_eq!(reply.headers[header::LOCATION], "/signin?from=%2Fadmin-only");
    sign_in(&mut client, "/signin", BOB, BOB_PASSWORD).await;
    let reply = client.get("/admin-only").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert!(!reply.body.contains("Admin bob"), "the view did not render");

    let mut admin = Client::for_app(users_app(), false);
    sign_in(&mut admin, "/signin", ADA, ADA_PASSWORD).await;
    let reply = admin.get("/admin-only").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("Admin ada@example.com"), "{}", reply.body);
}

#[tokio::test]
async fn signing_out_ends_the_session() {
    let mut client = Client::for_app(users_app(), false);
    sign_in(&mut client, "/signin", ADA, ADA_PASSWORD).await;
    let signed_in = client.cookie.clone().unwrap();
    let reply = sign_out(&mut client).await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let home = client.get("/").await;
    assert!(home.body.contains("Not signed in") && home.body.contains("You are signed out."), "{}", home.body);
    assert_eq!(client.get("/private").await.status, StatusCode::FOUND);
    client.cookie = Some(signed_in);
    assert_eq!(whoami(&mut client).await, json!({ "user": null }), "the old cookie opens nothing");
}

/// The app's lists on its SQLite file, as a second writer beside the server.
fn lists_of(app: &TempApp) -> Arc<keystone::lists::Db> {
    let project = keystone::project::load(&app.path);
    let store = keystone::lists::open_store(&app.path, &keystone::lists::Backend::Sqlite).unwrap();
    keystone::lists::Db::new(store, project.lists.models.clone(), project.lists.hooks.clone()).0
}

#[tokio::test]
async fn user_is_read_fresh_so_an_edit_or_a_removal_shows_at_once() {
    let app = users_app();
    let db = lists_of(&app);
    let mut client = Client::for_app(app, false);
    sign_in(&mut client, "/signin", ADA, ADA_PASSWORD).await;
    let id = whoami(&mut client).await["user"]["id"].as_str().unwrap().to_string();
    let engine = keystone::script::engine();
    let patch: Map<String, Value> = serde_json::from_value(json!({ "name": "Ada Lovelace" })).unwrap();
    db.update(engine, "User", &id, &patch).unwrap();
    assert!(client.get("/private").await.body.contains("Hello Ada Lovelace"));
    assert!(db.remove(engine, "User", &id).unwrap());
    assert_eq!(client.get("/private").await.status, StatusCode::FOUND, "a removed user is signed out");
}

/// Five failures hold back the client and the account; a success forgets the account's.
#[test]
fn the_throttle_holds_back_a_client_and_an_account_after_five_failures() {
    use keystone::users::{SignInError, Throttle, sign_in};
    let app = users_app();
    let db = lists_of(&app);
    let throttle = Throttle::default();
    let attempt = |client: &str, email: &str, password: &str| sign_in(&db, "User", &throttle, client, email, password);
    let refused = |r: Result<Map<String, Value>, SignInError>| matches!(r, Err(SignInError::Refused));
    let throttled = |r: Result<Map<String, Value>, SignInError>| matches!(r, Err(SignInError::Throttled { .. }));

    // The account: four failures, then a success forgets them.
    for _ in 0..4 {
        assert!(refused(attempt("10.0.0.1", BOB, "wrong password")));
    }
    assert!(attempt("10.0.0.9", BOB, BOB_PASSWORD).is_ok());
    for _ in 0..4 {
        assert!(refused(attempt("10.0.0.2", BOB, "wrong password")), "the count started again");
    }
    assert!(refused(attempt("10.0.0.3", BOB, "wrong password")), "the fifth failure");
    assert!(throttled(attempt("10.0.0.4", BOB, BOB_PASSWORD)), "the account is held back, from any client");

    // The client: five failures over several accounts hold it back for every account.
    for i in 0..5 {
        assert!(refused(attempt("10.0.0.66", &format!("guess{i}@example.com"), "x")));
    }
    assert!(throttled(attempt("10.0.0.66", ADA, ADA_PASSWORD)), "the client is held back");
    assert!(attempt("10.0.0.7", ADA, ADA_PASSWORD).is_ok(), "another client signs Ada in");

    // Hostile input: a huge email is refused without being remembered as an account.
    let huge = format!("{}@example.com", "a".repeat(100_000));
    assert!(refused(attempt("10.0.0.8", &huge, "x")));
    assert!(refused(attempt("10.0.0.8", ADA, &"x".repeat(1_000_000))), "a huge password is just wrong");
}

#[test]
fn an_account_without_a_password_is_refused_like_any_other() {
    use keystone::users::{SignInError, Throttle, sign_in};
    let app = users_app();
    let db = lists_of(&app);
    let input: Map<String, Value> =
        serde_json::from_value(json!({ "name": "Eve", "email": "eve@example.com" })).unwrap();
    assert!(matches!(db.create(keystone::script::engine(), "User", &input).unwrap(), keystone::lists::Saved::Item(_)));
    for password in ["", "anything at all"] {
        let refused = sign_in(&db, "User", &Throttle::default(), "c", "eve@example.com", password);
        assert!(matches!(refused, Err(SignInError::Refused)), "{password:?}: {refused:?}");
    }
}

#[tokio::test]
async fn a_throttled_sign_in_says_so_through_signin_error() {
    let mut client = Client::for_app(users_app(), false);
    for _ in 0..5 {
        sign_in(&mut client, "/signin", ADA, "wrong password").await;
    }
    let reply = sign_in(&mut client, "/signin", ADA, ADA_PASSWORD).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(error_line(&reply.body).starts_with("too many failed sign-ins; try again in "), "{}", reply.body);
    assert_eq!(whoami(&mut client).await, json!({ "user": null }));
}

/// A GET of `path` then a form POST with the page's CSRF token, over real HTTP.
fn post_signin(server: &Server, email: &str, password: &str) -> u16 {
    let page = http_request("GET", &format!("{}/signin", server.url), &[], "");
    let cookie = page.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let marker = "name=\"csrf_token\" value=\"";
    let start = page.body.find(marker).unwrap() + marker.len();
    let token = &page.body[start..start + 64];
    let body = form(&[("csrf_token", token), ("email", email), ("password", password)]);
    let headers = [("content-type", "application/x-www-form-urlencoded"), ("cookie", cookie.as_str())];
    http_request("POST", &format!("{}/signin", server.url), &headers, &body).status
}

#[test]
fn passwords_never_reach_the_server_log() {
    let app = users_app();
    let server = Server::start(&app.path);
    assert_eq!(post_signin(&server, ADA, "a wrong guess 123"), 401);
    assert_eq!(post_signin(&server, ADA, ADA_PASSWORD), 302);
    let output = server.stop();
    assert!(output.contains("POST /signin"), "the requests were logged: {output}");
    for secret in ["a wrong guess 123", "a+wrong+guess+123", ADA_PASSWORD, "correct+horse+battery", "argon2"] {
        assert!(!output.contains(secret), "`{secret}` in the log:\n{output}");
    }
}

#[test]
fn user_add_reads_stdin_and_refuses_a_taken_email_or_a_weak_password() {
    let app = TempApp::fixture("users_app");
    let added = user_cmd(&app.path, &["add", "Ada@Example.com", "--admin"], "long enough 1\n");
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("added admin ada@example.com"), "{}", text(&added));

    let again = user_cmd(&app.path, &["add", "ada@example.com"], "long enough 2\n");
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    for (password, says) in [("short\n", "too short"), ("\n", "empty"), ("", "empty")] {
        let out = user_cmd(&app.path, &["add", "new@example.com"], password);
        assert_eq!(out.status.code(), Some(2), "{password:?}");
        assert!(text(&out).contains(says), "{password:?}: {}", text(&out));
    }
    let hooked = user_cmd(&app.path, &["add", "eve@blocked.example"], "long enough 3\n");
    assert_eq!(hooked.status.code(), Some(2), "the list's before_save hook ran");
    assert!(text(&hooked).contains("email: is from a blocked domain"), "{}", text(&hooked));
    let listed = user_cmd(&app.path, &["list"], "");
    assert_eq!(String::from_utf8_lossy(&listed.stdout), "ada@example.com  ada  admin\n");
}

/// A hook run outside any request (here by `keystone-rs user add`) has a time budget too: a
/// runaway loop growing an array (which Rhai re-measures at every push) fails the command
/// instead of holding it for minutes.
#[test]
fn a_runaway_hook_outside_a_request_stops_at_its_budget() {
    let app = TempApp::fixture("users_app");
    app.write("models/User.rhai", "fn before_save(item) {\n    let grown = [];\n    loop { grown.push(1); }\n}\n");
    let out = user_cmd(&app.path, &["add", "loop@example.com"], "long enough 4\n");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("models/User.rhai"), "names the hook: {}", text(&out));
    let listed = String::from_utf8_lossy(&user_cmd(&app.path, &["list"], "").stdout).to_string();
    assert!(!listed.contains("loop@example.com"), "nothing was saved: {listed}");
}

#[test]
fn user_passwd_replaces_the_password() {
    use keystone::users::{Throttle, sign_in};
    let app = users_app();
    let out = user_cmd(&app.path, &["passwd", ADA], "a brand new password\n");
    assert!(out.status.success(), "{}", text(&out));
    let db = lists_of(&app);
    let throttle = Throttle::default();
    assert!(sign_in(&db, "User", &throttle, "c", ADA, ADA_PASSWORD).is_err(), "the old password fails");
    assert!(sign_in(&db, "User", &throttle, "c", ADA, "a brand new password").is_ok(), "the new one works");
    let unknown = user_cmd(&app.path, &["passwd", "nobody@example.com"], "a brand new password\n");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(text(&unknown).contains("no user has email nobody@example.com"), "{}", text(&unknown));
}

#[test]
fn user_commands_explain_a_missing_user_list() {
    let app = TempApp::scaffold("default");
    let out = user_cmd(&app.path, &["add", ADA], "long enough 1\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("models/User.toml does not exist"), "{}", text(&out));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs PostgreSQL: cargo test --features e2e")]
fn user_add_and_passwd_work_on_postgresql() {
    const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
    let name = format!("ks_users_{}", keystone::lists::value::new_id());
    let mut admin = postgres::Client::connect(&format!("{POSTGRES}/postgres"), postgres::NoTls).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let app = TempApp::fixture("users_app");
    let config = app.read("keystone.toml");
    app.write("keystone.toml", &format!("{config}\n[database]\nurl = \"{POSTGRES}/{name}\"\n"));
    let added = user_cmd(&app.path, &["add", ADA, "--admin"], "first password\n");
    let again = user_cmd(&app.path, &["add", ADA], "first password\n");
    let changed = user_cmd(&app.path, &["passwd", ADA], "second password\n");
    let project = keystone::project::load(&app.path);
    let store =
        keystone::lists::open_store(&app.path, &keystone::lists::Backend::Postgres(format!("{POSTGRES}/{name}")));
    let db = keystone::lists::Db::new(store.unwrap(), project.lists.models.clone(), project.lists.hooks.clone()).0;
    let throttle = keystone::users::Throttle::default();
    let old = keystone::users::sign_in(&db, "User", &throttle, "c", ADA, "first password").is_ok();
    let new = keystone::users::sign_in(&db, "User", &throttle, "c", ADA, "second password");
    drop(db);
    let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    assert!(added.status.success(), "{}", text(&added));
    assert_eq!(again.status.code(), Some(2), "{}", text(&again));
    assert!(changed.status.success(), "{}", text(&changed));
    assert!(!old, "the old password fails");
    assert_eq!(new.unwrap()["is_admin"], true, "the new one works");
}

fn scenario(name: &str, server: &Server) -> Value {
    let out = node("users.mjs", &[name, &server.url, ADA, ADA_PASSWORD]);
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {out}"));
    serde_json::from_str(line).unwrap()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_socket_connected_before_signin_sees_socket_user_after_its_renew_fresh_and_signout_disconnects_it() {
    let app = users_app();
    let server = Server::start(&app.path);
    let seen = scenario("sockets", &server);
    assert_eq!(seen["before"], Value::Null, "{seen}");
    assert_eq!(seen["renewed"], true, "session:renew: {seen}");
    assert_eq!(seen["after"], ADA, "socket.user after the reconnect: {seen}");
    assert_eq!(seen["names"], json!(["Ada", "Ada L."]), "socket.user is fresh at every event: {seen}");
    assert_eq!(seen["ended"], true, "session:end at sign-out: {seen}");
    assert_eq!(seen["disconnected"], "io server disconnect", "{seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium: cargo test --features e2e")]
fn in_chromium_a_guarded_page_leads_through_sign_in_and_back() {
    let app = users_app();
    let server = Server::start(&app.path);
    let seen = scenario("browser", &server);
    assert_eq!(seen["redirectedTo"], "/signin?from=%2Fprivate%3Ftab%3D2", "{seen}");
    assert_eq!(seen["landedOn"], "/private?tab=2", "{seen}");
    assert_eq!(seen["hello"], "Hello Ada", "{seen}");
    assert_eq!(seen["socketUser"], ADA, "the home page's socket knows the user: {seen}");
    assert_eq!(seen["pageErrors"], json!([]), "{seen}");
}
