//! Nobody gets in where they don't belong: session push and lifecycle, cross-site socket
//! handshakes, secrets and cookies, the script sandbox, bad input, graceful shutdown.
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{BIN, Server, TempApp, http_request, node};

fn story(scenario: &str, server: &Server, transport: &str) -> Value {
    let out = node("security.mjs", &[scenario, &server.url, transport]);
    let line = out.lines().rev().find(|l| l.starts_with('{')).unwrap_or_else(|| panic!("no JSON in {out}"));
    serde_json::from_str(line).unwrap()
}

fn secure_app() -> (TempApp, Server) {
    let app = TempApp::fixture("secure_app");
    let server = Server::start(&app.path);
    (app, server)
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn emit_to_session_reaches_every_tab_of_the_visitor_and_nobody_else() {
    let (_app, server) = secure_app();
    let seen = story("session-push", &server, "websocket");
    assert_eq!(seen["a1"], json!(["for A"]), "{seen}");
    assert_eq!(seen["a2"], json!(["for A"]), "{seen}");
    assert_eq!(seen["b1"], json!([]), "another visitor gets nothing: {seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn regenerated_session_gets_a_new_cookie_and_open_sockets_follow_it() {
    let (_app, server) = secure_app();
    for transport in ["websocket", "polling"] {
        let seen = story("regenerate", &server, transport);
        assert_eq!(seen["changed"], true, "a new cookie: {seen}");
        assert_eq!(seen["before"], Value::Null);
        assert_eq!(seen["after"], "ada", "the open socket follows the new id: {seen}");
        assert_eq!(seen["oldHttp"], json!({}), "the old id opens nothing over HTTP: {seen}");
        assert_eq!(seen["newHttp"]["user"], "ada");
        assert_eq!(seen["newHttp"]["message"], "Hello World", "the data moved to the new id");
        assert_eq!(seen["pushed"], json!(["after login"]), "pushes to the new id reach the socket: {seen}");
        assert_eq!(seen["lateMsg"], json!([null]), "a socket opened later with the old cookie gets nothing: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn destroyed_session_ends_its_sockets_and_reconnecting_gives_an_empty_session() {
    let (_app, server) = secure_app();
    let seen = story("destroy", &server, "websocket");
    assert_eq!(seen["cleared"], true, "the cookie is cleared: {seen}");
    assert_eq!(seen["reasons"], json!(["io server disconnect", "io server disconnect"]), "{seen}");
    assert_eq!(seen["reconnectMsg"], Value::Null, "{seen}");
    assert_eq!(seen["whoami"], json!({}), "{seen}");
    // Their disconnect handlers still ran, without the ended session.
    let forced = "--- left: socket was forcefully disconnected from the namespace";
    assert!(server.wait_for_output(forced, Duration::from_secs(5)), "{}", server.output());
    assert_eq!(server.output().matches(forced).count(), 2, "{}", server.output());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn foreign_origins_cannot_open_sockets_before_any_upgrade() {
    let (_app, server) = secure_app();
    for transport in ["websocket", "polling"] {
        let seen = story("origin", &server, transport);
        assert!(seen["foreign"].as_str().unwrap().starts_with("refused"), "{transport}: {seen}");
        assert_eq!(seen["own"], "connected", "{transport}: {seen}");
        assert_eq!(seen["listed"], "connected", "allowed_origins: {seen}");
        assert_eq!(seen["none"], "connected", "no Origin (non-browser clients) is allowed: {seen}");
        assert_eq!(seen["pollingStatus"], 403, "{seen}");
    }
    assert!(server.output().contains("refused a socket handshake from origin http://evil.example"));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn hostile_socket_payloads_do_not_take_the_server_down() {
    let (_app, server) = secure_app();
    let seen = story("abuse", &server, "websocket");
    assert_eq!(seen["afterwards"], "still here", "{seen}");
    assert_eq!(seen["binary"], "answered 1024", "binary attachments reach handlers as bytes: {seen}");
    assert_eq!(http_request("GET", &format!("{}/", server.url), &[], "").status, 200);
}

#[test]
fn scripts_cannot_import_files_or_exhaust_memory_or_the_stack() {
    let (_app, server) = secure_app();
    for (kind, expect) in [("import", "secrets"), ("string", "string"), ("array", "array"), ("recursion", "stack")] {
        let reply = http_request("GET", &format!("{}/sandbox/{kind}", server.url), &[], "");
        assert_eq!(reply.status, 500, "{kind}: {}", reply.body);
        assert!(reply.body.to_lowercase().contains(expect), "{kind} names the limit: {}", reply.body);
    }
    let fine = http_request("GET", &format!("{}/sandbox/none", server.url), &[], "");
    assert_eq!(fine.body, r#"{"survived":"none"}"#);
    assert!(server.output().contains("routes/views/sandbox.rhai"), "errors are logged with the file");
}

#[test]
fn oversized_and_malformed_bodies_get_clear_errors() {
    let (_app, server) = secure_app();
    let url = format!("{}/echo", server.url);
    let big = "x".repeat(5000);
    assert_eq!(http_request("POST", &url, &[], &big).status, 413, "[server] body_limit = 4096");
    let bad = http_request("POST", &url, &[("content-type", "application/json")], "{\"a\":");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("malformed JSON"), "{}", bad.body);
    let form = http_request("POST", &url, &[("content-type", "application/x-www-form-urlencoded")], "a=%ZZ&b");
    assert_eq!(form.status, 200, "forms are decoded leniently: {}", form.body);
}

#[test]
fn cookies_are_httponly_lax_and_secure_when_asked() {
    let app = TempApp::fixture("secure_app");
    let toml = app.read("keystone.toml").replace("body_limit = 4096", "body_limit = 4096\nsecure = true");
    app.write("keystone.toml", &toml);
    let server = Server::start(&app.path);
    let cookie = http_request("GET", &format!("{}/", server.url), &[], "").header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Secure"), "{cookie}");
}

fn serve_without_server(app: &TempApp, env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(["serve", app.path.to_str().unwrap(), "--port", "0", "--production"]).env_remove("KEYSTONE_SECRET");
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let started = std::time::Instant::now();
    let id = child.id();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(5));
        let _ = Command::new("kill").arg(id.to_string()).stderr(std::process::Stdio::null()).status();
    });
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "serve should refuse at once");
    out
}

#[test]
fn production_refuses_a_missing_or_short_secret_and_says_how_to_make_one() {
    let app = TempApp::fixture("secure_app");
    for env in [vec![], vec![("KEYSTONE_SECRET", "too-short")]] {
        let out = serve_without_server(&app, &env);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("KEYSTONE_SECRET") && stderr.contains("openssl rand -hex 64"), "{stderr}");
    }
    // A secret in the app's .env is enough (and nothing else provides one here).
    app.write(".env", &format!("KEYSTONE_SECRET={}\n", "a".repeat(64)));
    let mut command = Command::new(BIN);
    command.args(["serve", app.path.to_str().unwrap(), "--port", "0", "--production"]).env_remove("KEYSTONE_SECRET");
    let server = Server::start_command(command);
    assert_eq!(http_request("GET", &format!("{}/", server.url), &[], "").status, 200);
}

#[test]
fn development_without_a_secret_warns_and_uses_a_random_one() {
    let app = TempApp::fixture("secure_app");
    let mut child = Command::new(BIN)
        .args(["serve", app.path.to_str().unwrap(), "--port", "0"])
        .env_remove("KEYSTONE_SECRET")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let line = std::thread::spawn(move || {
        use std::io::Read as _;
        let mut buf = [0u8; 512];
        let n = stderr.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    })
    .join()
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("no KEYSTONE_SECRET") && line.contains("random"), "{line}");
}

#[test]
fn shutdown_finishes_requests_in_flight_and_keeps_sessions() {
    let (app, server) = secure_app();
    let first = http_request("GET", &format!("{}/", server.url), &[], "");
    let cookie = first.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let url = format!("{}/slow", server.url);
    let slow = std::thread::spawn(move || http_request("GET", &url, &[], ""));
    assert!(server.wait_for_output("slow request started", Duration::from_secs(10)), "{}", server.output());
    let output = server.stop();
    let reply = slow.join().unwrap();
    assert_eq!(reply.status, 200, "the request in flight finished: {output}");
    assert_eq!(reply.body, r#"{"done":true}"#);
    assert!(output.contains("shutting down"), "{output}");

    let again = Server::start(&app.path);
    let whoami = http_request("GET", &format!("{}/whoami", again.url), &[("cookie", &cookie)], "");
    assert_eq!(whoami.body, r#"{"message":"Hello World"}"#, "the session survived the restart");
}

/// Two runaway scripts at once (inside every operation and size limit, so only the time budget
/// stops them) hold up nothing: `/` answers while both still run, and each ends at its budget.
#[test]
fn two_runaway_scripts_at_once_stall_nothing_and_stop_at_their_time_budget() {
    let app = TempApp::scaffold("default");
    // Each step copies up to half a megabyte: slow per operation, far from the operations limit.
    app.write(
        "routes/views/spin.rhai",
        "print(\"spin started\");\nlet s = \"x\";\nloop { s += s; if s.len() > 500000 { s = \"x\"; } }\n",
    );
    app.write("routes/index.toml", &(app.read("routes/index.toml") + "\"GET /spin\" = \"spin\"\n"));
    app.write("keystone.toml", &(app.read("keystone.toml") + "\n[scripts]\ntimeout = \"8s\"\n"));
    let server = Server::start(&app.path);
    let spins: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{}/spin", server.url);
            std::thread::spawn(move || http_request("GET", &url, &[], ""))
        })
        .collect();
    crate::util::eventually("both runaway scripts to run", Duration::from_secs(20), || {
        (server.output().matches("spin started").count() >= 2).then_some(())
    });
    let home = http_request("GET", &format!("{}/", server.url), &[], "");
    assert_eq!(home.status, 200, "{}", home.body);
    assert!(home.body.contains("Welcome to app"), "{}", home.body);
    assert!(spins.iter().all(|s| !s.is_finished()), "`/` answered while both runaway scripts were still running");
    for spin in spins {
        let reply = spin.join().unwrap();
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert!(reply.body.contains("time budget"), "{}", reply.body);
    }
}

/// `PORT` and `HOST` written only in `.env` are used (they are read after `.env` is loaded).
#[test]
fn port_and_host_written_in_dotenv_are_used() {
    let app = TempApp::scaffold("default");
    let port = crate::util::free_port();
    app.write(".env", &format!("KEYSTONE_SECRET={}\nPORT={port}\nHOST=127.0.0.1\n", crate::util::SECRET));
    let mut command = Command::new(BIN);
    command
        .args(["serve", app.path.to_str().unwrap()])
        .env_remove("PORT")
        .env_remove("HOST")
        .env_remove("KEYSTONE_SECRET");
    let server = Server::start_command(command);
    assert_eq!(server.url, format!("http://127.0.0.1:{port}"), "{}", server.output());
    assert_eq!(http_request("GET", &format!("{}/", server.url), &[], "").status, 200);
}
