//! End to end: a real `keystone-rs serve` of `tests/fixtures/valid/session_app`, driven by the
//! official socket.io-client (`tests/js/story.mjs`) and reqwest. Each test owns its app copy and
//! server, so they run in parallel.
use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{Server, TempApp, repo};

const TRANSPORTS: [&str; 2] = ["websocket", "polling"];
const WAIT: Duration = Duration::from_secs(5);

fn serve() -> (TempApp, Server) {
    let app = TempApp::fixture("session_app");
    let server = Server::start(&app.path);
    (app, server)
}

/// The JSON line a story printed last.
fn observed(scenario: &str, output: &str) -> Value {
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("story {scenario} printed no JSON:\n{output}"));
    let value: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("story {scenario} printed bad JSON ({e}):\n{output}"));
    assert_eq!(value["scenario"], scenario, "{output}");
    value
}

/// `node tests/js/story.mjs ARGS…`, not yet started.
fn story_command(args: &[&str]) -> Command {
    let js = repo().join("tests/js");
    assert!(
        js.join("node_modules").exists(),
        "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (tests/setup.sh does)"
    );
    let mut command = Command::new("node");
    command.arg(js.join("story.mjs")).args(args).current_dir(&js);
    command
}

/// Checks a finished story, showing its output and the server's if it failed.
fn finish(scenario: &str, transport: &str, out: &Output, server: &Server) -> Value {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "story {scenario} ({transport}) failed:\n{text}\n--- server output:\n{}",
        server.output()
    );
    observed(scenario, &text)
}

/// Runs `node story.mjs SCENARIO URL TRANSPORT [extra…]` and returns what it observed.
fn story(scenario: &str, server: &Server, transport: &str, extra: &[&str]) -> Value {
    let mut args = vec![scenario, server.url.as_str(), transport];
    args.extend_from_slice(extra);
    let out = story_command(&args).stdin(Stdio::null()).output().unwrap();
    finish(scenario, transport, &out, server)
}

/// `GET url` with an optional cookie: status, body, and the `name=value` of any session cookie.
fn get(url: &str, cookie: Option<&str>) -> (u16, String, Option<String>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(WAIT).build().unwrap();
        let mut request = client.get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap().trim().to_string())
            .find(|pair| pair.starts_with("keystone.sid="));
        (status, response.text().await.unwrap(), cookie)
    })
}

/// Waits until the server has printed `text` at least `count` times.
fn wait_for_count(server: &Server, text: &str, count: usize) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < WAIT {
        if server.output().matches(text).count() >= count {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn hello(transport: &str) {
    let (_app, server) = serve();
    let seen = story("hello", &server, transport, &[]);
    assert_eq!(seen["msg"], "Hello World", "{seen}");
    assert_eq!(seen["cookieName"], "keystone.sid", "{seen}");
}

#[test]
fn socket_gets_hello_world_over_websocket() {
    hello("websocket");
}

#[test]
fn socket_gets_hello_world_over_polling() {
    hello("polling");
}

/// The official client's default: long-polling first, then the upgrade to WebSocket (probe,
/// noop, upgrade), and the socket keeps its session and handlers across it.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn the_official_clients_default_upgrades_from_polling_to_websocket() {
    let (_app, server) = serve();
    let seen = story("upgrade", &server, "upgrade", &[]);
    assert_eq!(seen["msg"], "Hello World", "{seen}");
    assert_eq!(seen["upgradedTo"], "websocket", "{seen}");
    assert_eq!(seen["now"], "websocket", "{seen}");
    assert_eq!(seen["echo"], json!({"after": "upgrade"}), "{seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn socket_without_cookie_gets_empty_session() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("no-cookie", &server, transport, &[]);
        assert_eq!(seen["msg"], Value::Null, "{transport}: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn tampered_cookie_gets_empty_session() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("tampered", &server, transport, &[]);
        assert_eq!(seen["genuine"], "Hello World", "{transport}: the control with the real cookie: {seen}");
        assert_eq!(seen["msg"], Value::Null, "{transport}: {seen}");
    }
}

fn login_after_connect(transport: &str) {
    let (_app, server) = serve();
    let seen = story("fresh", &server, transport, &[]);
    assert_eq!(seen["before"], Value::Null, "{seen}");
    assert_eq!(seen["after"], "ada", "{seen}");
    assert_eq!(seen["sameSocket"], true, "{seen}");
}

#[test]
fn socket_sees_login_made_after_connect_over_websocket() {
    login_after_connect("websocket");
}

#[test]
fn socket_sees_login_made_after_connect_over_polling() {
    login_after_connect("polling");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn socket_write_is_seen_by_next_http_request() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("write", &server, transport, &[]);
        assert_eq!(seen["ack"], true, "{transport}: {seen}");
        assert_eq!(seen["session"], json!({ "message": "Hello World", "note": "note-1" }), "{transport}: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn socket_without_cookie_writes_only_its_own_session() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("anon-write", &server, transport, &[]);
        assert_eq!(seen["ack"], true, "{transport}: {seen}");
        assert_eq!(seen["anonymous"], json!({}), "{transport}: {seen}");
        assert_eq!(seen["other"], json!({ "message": "Hello World" }), "{transport}: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn broadcast_and_rooms_reach_the_right_sockets() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("rooms-broadcast", &server, transport, &[]);
        // A, B and C joined "r1", D did not; C sent to the room, A shouted.
        assert_eq!(seen["roomMessages"], json!({ "A": ["hi"], "B": ["hi"], "C": [], "D": [] }), "{transport}: {seen}");
        assert_eq!(
            seen["shouted"],
            json!({ "A": [], "B": ["hey"], "C": ["hey"], "D": ["hey"] }),
            "{transport}: {seen}"
        );
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn namespaces_and_event_names_with_colons_work() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("namespace", &server, transport, &[]);
        assert_eq!(seen["welcome"], "chat", "{transport}: {seen}");
        assert_eq!(seen["pong"], "pong:x", "{transport}: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn io_emit_reaches_the_whole_namespace_from_handlers_and_controllers() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("io-emit", &server, transport, &[]);
        assert_eq!(seen["A"], json!(["from a socket", "from http", "to room"]), "{transport}: {seen}");
        assert_eq!(seen["B"], json!(["from a socket", "from http"]), "{transport}: {seen}");
        assert_eq!(seen["C"], json!(["to chat"]), "{transport}: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn acks_round_trip_json() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("ack-echo", &server, transport, &[]);
        assert_eq!(seen["nested"], json!({ "a": [1, 2, { "b": "c" }] }), "{transport}: {seen}");
        assert_eq!(seen["text"], "é ü 😀", "{transport}: {seen}");
        assert_eq!(
            seen["mixed"],
            json!({ "n": null, "t": true, "f": false, "x": 1.5, "neg": -7, "s": "", "list": [], "map": {} }),
            "{transport}: {seen}"
        );
    }
}

#[test]
fn unknown_events_and_runaway_handlers_do_not_break_the_socket() {
    let (_app, server) = serve();
    for (round, transport) in TRANSPORTS.into_iter().enumerate() {
        let mut child = story_command(&["unknown-and-malformed", &server.url, transport])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The story sends its events, then waits for "go": sent once the server has cut `spin` off.
        // Stopped by the operations limit or the time budget, whichever comes first.
        let stopped = wait_for_count(&server, "script stopped", round + 1);
        if stopped {
            writeln!(child.stdin.take().unwrap(), "go").unwrap();
        } else {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        assert!(stopped, "{transport}: the runaway handler was never stopped:\n{}", server.output());
        let seen = finish("unknown-and-malformed", transport, &out, &server);
        assert_eq!(seen["echo"], 1, "{transport}: {seen}");
        assert_eq!(seen["spin"], "no ack", "{transport}: {seen}");
    }
    let log = server.output();
    assert!(log.contains("sockets/index.rhai: script stopped"), "{log}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn sessions_survive_a_restart_with_sqlite_store() {
    let app = TempApp::fixture("session_app");
    let server = Server::start(&app.path);
    let (status, _, cookie) = get(&format!("{}/", server.url), None);
    assert_eq!(status, 200);
    let cookie = cookie.expect("GET / sets the session cookie");
    server.stop();
    assert!(app.path.join(".keystone/sessions.sqlite3").is_file(), "no .keystone/sessions.sqlite3");

    let server = Server::start(&app.path);
    for transport in TRANSPORTS {
        let seen = story("restart-read", &server, transport, &[&cookie]);
        assert_eq!(seen["msg"], "Hello World", "{transport}: {seen}\n{}", server.output());
    }
    let (status, body, _) = get(&format!("{}/whoami", server.url), Some(&cookie));
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({ "message": "Hello World" }));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn server_prints_user_connected_and_disconnected() {
    let (_app, server) = serve();
    assert!(!server.output().contains("--- User connected"));
    story("hello", &server, "websocket", &[]);
    assert!(server.wait_for_output("--- User connected", WAIT), "{}", server.output());
    assert!(server.wait_for_output("--- User disconnected", WAIT), "{}", server.output());
    let log = server.output();
    let connected = log.find("--- User connected").unwrap();
    let disconnected = log.find("--- User disconnected").unwrap();
    assert!(connected < disconnected, "{log}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn server_logs_one_line_per_request() {
    let (_app, server) = serve();
    assert_eq!(get(&format!("{}/", server.url), None).0, 200);
    assert_eq!(get(&format!("{}/teapot", server.url), None).0, 418);
    assert_eq!(get(&format!("{}/no-such-page", server.url), None).0, 404);
    for expected in ["GET / 200 ", "GET /teapot 418 ", "GET /no-such-page 404 "] {
        assert!(server.wait_for_output(expected, WAIT), "no `{expected}…ms` line:\n{}", server.output());
        let log = server.output();
        let line = log.lines().find(|l| l.starts_with(expected)).unwrap();
        let time = line.strip_prefix(expected).unwrap();
        assert!(
            time.ends_with("ms") && time.trim_end_matches("ms").parse::<f64>().is_ok(),
            "request line `{line}` does not end with a time in ms"
        );
    }
    // Socket.IO traffic is not logged as requests.
    story("hello", &server, "polling", &[]);
    assert!(!server.output().contains("/socket.io/"), "{}", server.output());
}

// Races and edge cases of the socket event path; see the stories in tests/js/story.mjs.

/// `emitWithAck("whoami")` sends no argument at all; the handler still runs (with `()`).
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn events_without_arguments_reach_their_handler() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("no-args", &server, transport, &[]);
        assert_eq!(seen["who"], Value::Null, "{transport}: {seen}");
    }
}

/// The server answers CONNECT before the async `connect` script has registered the handlers;
/// events sent at once must wait for them, not be dropped.
#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn events_sent_right_after_connect_reach_their_handlers() {
    let (_app, server) = serve();
    for transport in TRANSPORTS {
        let seen = story("early-emit", &server, transport, &[]);
        assert_eq!(seen["answered"], seen["of"], "{transport}: {seen}");
    }
}

#[test]
fn serve_open_opens_the_app_in_the_browser() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TempApp::scaffold("default");
    let bin = tempfile::tempdir().unwrap();
    let opened = bin.path().join("opened");
    let opener = bin.path().join("xdg-open");
    std::fs::write(&opener, format!("#!/bin/sh\necho \"$1\" > {}\n", opened.display())).unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let mut child = std::process::Command::new(crate::util::BIN)
        .args(["serve", app.path.to_str().unwrap(), "--port", "0", "--open", "--quiet"])
        .env("PATH", path)
        .env("KEYSTONE_SECRET", crate::util::SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = crate::util::eventually("the browser to be opened", std::time::Duration::from_secs(10), || {
        std::fs::read_to_string(&opened).ok().filter(|u| !u.is_empty())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(url.trim().starts_with("http://127.0.0.1:") && url.trim().ends_with('/'), "{url}");
}
