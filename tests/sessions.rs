//! The session stores (memory, sqlite, Redis) through the manager HTTP and sockets use: a
//! logout or login is never undone by a write that loaded the session before it, values too
//! deep to load back are refused when written, unreadable records load as empty sessions, and
//! the sqlite store writes behind but keeps everything across a clean restart.
use std::path::Path;
use std::sync::Arc;

use keystone::project::settings::SessionSettings;
use keystone::server::redis::RedisStore;
use keystone::server::session::{Follow, SessionError, SessionManager, VisitorSession};
use keystone::server::store::{LocalStore, Store};
use serde_json::{Map, Value, json};
use tower_sessions::session::Id;

use crate::util::{SECRET, Server, TempApp, http_request};

const REDIS: &str = "redis://127.0.0.1:6379";

fn manager(store: Arc<dyn Store>) -> SessionManager {
    let settings = SessionSettings::default();
    SessionManager::with_store(store, &settings, SECRET.as_bytes(), false)
}

fn data(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

/// A Redis store of its own (a random app name prefixes its keys).
async fn redis_store() -> Arc<dyn Store> {
    let app = format!("sessions-test-{}", Id::default());
    Arc::new(RedisStore::connect(REDIS, &app).await.expect("Redis at 127.0.0.1:6379"))
}

async fn sqlite_store(dir: &Path) -> Arc<dyn Store> {
    LocalStore::sqlite(&dir.join("sessions.sqlite3")).await.unwrap()
}

/// A request loads the session, the visitor logs out elsewhere, then the request saves what it
/// loaded: the session stays destroyed.
async fn logout_is_not_undone(sessions: &SessionManager) {
    let (id, _) = sessions.save(&VisitorSession::default(), data(json!({ "user": "ada" }))).await.unwrap().unwrap();
    let in_flight = sessions.load(Some(id)).await.unwrap();
    assert_eq!(in_flight.data["user"], "ada");

    sessions.delete(id).await.unwrap();
    let saved = sessions.save(&in_flight, data(json!({ "user": "ada", "visits": 2 }))).await.unwrap();

    assert!(saved.is_none(), "a write loaded before the logout must not be saved");
    let after = sessions.load(Some(id)).await.unwrap();
    assert_eq!(after.id, None, "the destroyed session came back: {:?}", after.data);
}

/// A request loads the session, the visitor signs in elsewhere (a new id), then the request
/// saves what it loaded under the old id: the old id stays a dead end for new sockets.
async fn login_is_not_undone(sessions: &SessionManager) {
    let (old, _) = sessions.save(&VisitorSession::default(), data(json!({ "cart": 1 }))).await.unwrap().unwrap();
    let in_flight = sessions.load(Some(old)).await.unwrap();

    let new = sessions.regenerate(Some(old), data(json!({ "cart": 1, "user": "ada" }))).await.unwrap();
    let saved = sessions.save(&in_flight, data(json!({ "cart": 2 }))).await.unwrap();

    assert!(saved.is_none(), "a write loaded before the regeneration must not be saved");
    assert_eq!(sessions.load(Some(old)).await.unwrap().id, None, "the old id came back as a session");
    assert!(matches!(sessions.follow(old).await.unwrap(), Follow::Ended));
    let current = sessions.load(Some(new)).await.unwrap();
    assert_eq!(current.data["user"], "ada");
    assert_eq!(current.data["cart"], 1);
}

/// A value nested `levels` deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("bottom"), |v, _| json!([v]))
}

async fn deep_values_are_refused_at_write_time(sessions: &SessionManager) -> Id {
    let too_deep = data(json!({ "deep": nested(1100) }));
    let refused = sessions.save(&VisitorSession::default(), too_deep).await;
    assert!(
        matches!(&refused, Err(SessionError::TooDeep { key }) if key == "deep"),
        "a 1,100-level value must be refused: {refused:?}"
    );
    let allowed = data(json!({ "deep": nested(keystone::server::session::MAX_DEPTH - 1) }));
    let (id, _) = sessions.save(&VisitorSession::default(), allowed.clone()).await.unwrap().unwrap();
    let existing = sessions.load(Some(id)).await.unwrap();
    let refused = sessions.save(&existing, data(json!({ "deep": nested(1100) }))).await;
    assert!(matches!(refused, Err(SessionError::TooDeep { .. })), "{refused:?}");
    assert_eq!(sessions.load(Some(id)).await.unwrap().data, allowed, "the refused write changed the session");
    id
}

#[tokio::test]
async fn memory_store_logout_and_login_are_not_undone_by_an_earlier_load() {
    let sessions = manager(LocalStore::memory());
    logout_is_not_undone(&sessions).await;
    login_is_not_undone(&sessions).await;
}

#[tokio::test]
async fn sqlite_store_logout_and_login_are_not_undone_by_an_earlier_load() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = manager(sqlite_store(dir.path()).await);
    logout_is_not_undone(&sessions).await;
    login_is_not_undone(&sessions).await;
}

#[tokio::test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis: cargo test --features e2e")]
async fn redis_store_logout_and_login_are_not_undone_by_an_earlier_load() {
    let sessions = manager(redis_store().await);
    logout_is_not_undone(&sessions).await;
    login_is_not_undone(&sessions).await;
}

#[tokio::test]
async fn memory_store_refuses_values_too_deep_to_load_back() {
    deep_values_are_refused_at_write_time(&manager(LocalStore::memory())).await;
}

#[tokio::test]
async fn sqlite_store_refuses_values_too_deep_and_reads_back_the_deepest_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let id = deep_values_are_refused_at_write_time(&manager(store.clone())).await;
    store.flush().await.unwrap();
    // A fresh store over the same file reads the record from disk.
    let reopened = manager(sqlite_store(dir.path()).await);
    let loaded = reopened.load(Some(id)).await.unwrap();
    assert_eq!(loaded.data["deep"], nested(keystone::server::session::MAX_DEPTH - 1));
}

#[tokio::test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis: cargo test --features e2e")]
async fn redis_store_refuses_values_too_deep_to_load_back() {
    deep_values_are_refused_at_write_time(&manager(redis_store().await)).await;
}

#[tokio::test]
async fn sqlite_store_keeps_deletions_and_writes_across_a_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path()).await;
    let sessions = manager(store.clone());
    let (kept, _) = sessions.save(&VisitorSession::default(), data(json!({ "n": 1 }))).await.unwrap().unwrap();
    let (gone, _) = sessions.save(&VisitorSession::default(), data(json!({ "n": 2 }))).await.unwrap().unwrap();
    store.flush().await.unwrap();
    let loaded = sessions.load(Some(kept)).await.unwrap();
    sessions.save(&loaded, data(json!({ "n": 3 }))).await.unwrap().unwrap();
    sessions.delete(gone).await.unwrap();
    store.flush().await.unwrap();

    let reopened = manager(sqlite_store(dir.path()).await);
    assert_eq!(reopened.load(Some(kept)).await.unwrap().data, data(json!({ "n": 3 })));
    assert_eq!(reopened.load(Some(gone)).await.unwrap().id, None, "a deleted session is back after a reopen");
}

#[tokio::test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Redis: cargo test --features e2e")]
async fn redis_store_unreadable_record_loads_as_an_empty_session() {
    let app = format!("sessions-test-{}", Id::default());
    let sessions = manager(Arc::new(RedisStore::connect(REDIS, &app).await.unwrap()));
    let (id, _) = sessions.save(&VisitorSession::default(), data(json!({ "user": "ada" }))).await.unwrap().unwrap();
    let client = redis_cli(&["SET", &format!("keystone:{app}:session:{id}"), "{not json", "EX", "60"]);
    assert_eq!(client.trim(), "OK");
    let loaded = sessions.load(Some(id)).await.expect("an unreadable record is not a store failure");
    assert_eq!(loaded.id, None);
    assert!(loaded.data.is_empty());
}

fn redis_cli(args: &[&str]) -> String {
    let out = std::process::Command::new("redis-cli").args(args).output().expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// GET / with `cookie`; returns the status, the body and the new cookie, if any.
fn get(url: &str, cookie: &str) -> (u16, String, Option<String>) {
    let reply = http_request("GET", url, &[("cookie", cookie)], "");
    let set = reply.header("set-cookie").map(|c| c.split(';').next().unwrap().to_string());
    (reply.status, reply.body, set)
}

#[test]
fn sqlite_sessions_written_just_before_a_clean_stop_survive_it() {
    let app = TempApp::fixture("session_app");
    let server = Server::start(&app.path);
    let (status, _, cookie) = get(&format!("{}/", server.url), "");
    assert_eq!(status, 200);
    let cookie = cookie.expect("GET / starts a session");
    // Stopped at once, well within the write-behind delay: the shutdown writes it.
    server.stop();

    let server = Server::start(&app.path);
    let (status, body, _) = get(&format!("{}/whoami", server.url), &cookie);
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "message": "Hello World" }));
}

#[test]
fn an_unreadable_sqlite_record_is_an_empty_session_with_a_log_line() {
    let app = TempApp::fixture("session_app");
    let server = Server::start(&app.path);
    let (_, _, cookie) = get(&format!("{}/", server.url), "");
    let cookie = cookie.expect("GET / starts a session");
    server.stop();
    let file = app.path.join(".keystone/sessions.sqlite3");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let conn = tower_sessions_rusqlite_store::tokio_rusqlite::Connection::open(&file).await.unwrap();
        let garbled = conn.call(|c| c.execute("update tower_sessions set data = x'c1c1c1'", [])).await.unwrap();
        assert_eq!(garbled, 1, "the session is on disk after a clean stop");
    });

    let server = Server::start(&app.path);
    for _ in 0..2 {
        let (status, body, _) = get(&format!("{}/whoami", server.url), &cookie);
        assert_eq!(status, 200, "an unreadable record must not fail the visitor's requests: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({}));
    }
    let logged = "unreadable record treated as an empty session";
    assert!(server.wait_for_output(logged, std::time::Duration::from_secs(10)), "{}", server.output());
}

#[test]
fn a_session_value_too_deep_to_load_back_is_refused_and_the_visitor_keeps_browsing() {
    let app = TempApp::fixture("session_app");
    // 1,100 levels: once enough to overflow an async worker's stack and abort the server.
    let settings = app.read("keystone.toml");
    app.write("keystone.toml", &format!("{settings}\n[scripts]\ntimeout = \"60s\"\n"));
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /deep\" = \"deep\"\n"));
    app.write(
        "routes/views/deep.rhai",
        "let v = \"bottom\";\nfor i in 0..1100 { v = [v]; }\nsession.deep = v;\njson(#{ saved: true });\n",
    );
    let server = Server::start(&app.path);
    let (status, _, cookie) = get(&format!("{}/", server.url), "");
    assert_eq!(status, 200);
    let cookie = cookie.expect("GET / starts a session");

    let (status, body, _) = get(&format!("{}/deep", server.url), &cookie);
    assert_eq!(status, 500, "{body}\n{}", server.output());
    assert!(body.contains("nested deeper than 64 levels"), "{body}");
    let logged = "session value `deep` is nested deeper than 64 levels";
    assert!(server.wait_for_output(logged, std::time::Duration::from_secs(10)), "{}", server.output());

    for _ in 0..2 {
        let (status, body, _) = get(&format!("{}/whoami", server.url), &cookie);
        assert_eq!(status, 200, "the visitor's next requests must still work: {body}");
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "message": "Hello World" }));
    }
}
