//! Nobody gets in where they don't belong: session push and lifecycle, cross-site socket
//! handshakes, secrets and cookies, the script sandbox, bad input, graceful shutdown.
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{BIN, Server, TempApp, http_request, node, raw_head, read_until_closed};

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
fn signing_in_renews_sockets_so_a_pre_login_cookie_never_sees_the_user() {
    let (_app, server) = secure_app();
    for transport in ["websocket", "polling"] {
        let seen = story("regenerate", &server, transport);
        assert_eq!(seen["changed"], true, "a new cookie: {seen}");
        assert_eq!(seen["before"], Value::Null);
        assert_eq!(seen["reasons"], json!(["io server disconnect", "io server disconnect"]), "{seen}");
        assert_eq!(seen["oldHttp"], json!({}), "the old id opens nothing over HTTP: {seen}");
        assert_eq!(seen["newHttp"]["user"], "ada");
        assert_eq!(seen["newHttp"]["message"], "Hello World", "the data moved to the new id");
        assert_eq!(seen["attackerMsg"], Value::Null, "the pre-login cookie reconnects into nothing: {seen}");
        assert_eq!(seen["attackerWhoami"], Value::Null, "{seen}");
        assert_eq!(seen["attackerNotices"], json!([]), "pushes to the victim miss the attacker: {seen}");
        assert_eq!(seen["victimMsg"], "Hello World", "the victim's tab lands in the new session: {seen}");
        assert_eq!(seen["victimWhoami"], "ada", "{seen}");
        assert_eq!(seen["pushed"], json!(["after login"]), "{seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium: cargo test --features e2e")]
fn our_client_follows_a_sign_in_into_the_new_session_at_once() {
    let (_app, server) = secure_app();
    let out = node("browser.mjs", &["sign-in", &server.url]);
    let seen: Value = serde_json::from_str(out.lines().rev().find(|l| l.starts_with('{')).unwrap()).unwrap();
    assert_eq!(seen["before"], Value::Null, "{seen}");
    assert_eq!(seen["renewed"], true, "the page saw session:renew: {seen}");
    assert_eq!(seen["after"], "ada", "the reconnected socket is in the new session: {seen}");
    assert_eq!(seen["liveConnected"], true, "the live-reload namespace came back too: {seen}");
    assert_eq!(seen["pageErrors"], json!([]), "{seen}");
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
    let forced = "--- left: server namespace disconnect";
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
    assert!(
        server.wait_for_output("refused a socket handshake from origin http://evil.example", Duration::from_secs(10)),
        "{}",
        server.output()
    );
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
    assert!(
        server.wait_for_output("routes/views/sandbox.rhai", std::time::Duration::from_secs(10)),
        "errors are logged with the file"
    );
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
    // Each step copies half a megabyte: slow per operation, so the 2,000,000-operation limit
    // is minutes away and only the time budget can stop them, however fast the machine.
    app.write(
        "routes/views/spin.rhai",
        "let s = \"x\";\nwhile s.len() < 500000 { s += s; }\nprint(\"spin started\");\nloop { let t = s + \"y\"; }\n",
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

/// The visitor's cookie (`keystone.sid=…`) from a first `GET /`.
fn visit(server: &Server) -> String {
    let first = http_request("GET", &format!("{}/", server.url), &[], "");
    first.header("set-cookie").unwrap().split(';').next().unwrap().to_string()
}

/// A socket handshake over `transport` to `path`, carrying the visitor's cookie and `origin`
/// (raw bytes: it need not be text). Returns the status.
fn handshake(server: &Server, path: &str, transport: &str, origin: &[u8], cookie: &str) -> u16 {
    let target = format!("{path}?EIO=4&transport={transport}");
    let mut request =
        format!("GET {target} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n", server.authority()).into_bytes();
    if transport == "websocket" {
        request.extend_from_slice(
            b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        );
    }
    request.extend_from_slice(b"Origin: ");
    request.extend_from_slice(origin);
    request.extend_from_slice(b"\r\n\r\n");
    raw_head(&server.url, &request).0
}

#[test]
fn cross_origin_handshakes_are_refused_on_every_path_the_engine_answers() {
    let (_app, server) = secure_app();
    let cookie = visit(&server);
    let own = server.url.clone();
    let https = own.replace("http://", "https://");
    for transport in ["polling", "websocket"] {
        let answered = if transport == "websocket" { 101 } else { 200 };
        for path in ["/socket.io/", "/socket.io", "/socket.io//", "/socket.io/anything"] {
            let what = format!("{transport} on {path}");
            assert_eq!(
                handshake(&server, path, transport, own.as_bytes(), &cookie),
                answered,
                "the engine answers {what}"
            );
            assert_eq!(handshake(&server, path, transport, b"http://evil.example", &cookie), 403, "{what}");
            assert_eq!(
                handshake(&server, path, transport, https.as_bytes(), &cookie),
                403,
                "an https origin is not a plain-HTTP server's own: {what}"
            );
            assert_eq!(
                handshake(&server, path, transport, b"http://\xffevil.example", &cookie),
                403,
                "not text: {what}"
            );
            assert_eq!(
                handshake(&server, path, transport, b"http://trusted.example", &cookie),
                answered,
                "listed: {what}"
            );
        }
    }
    assert!(server.wait_for_output(
        "refused a socket handshake from origin http://evil.example",
        std::time::Duration::from_secs(10)
    ));
}

/// A `GET path` naming `host`; the status.
fn get_with_host(server: &Server, path: &str, host: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    raw_head(&server.url, request.as_bytes()).0
}

#[test]
fn development_answers_only_loopback_names_ip_addresses_and_allowed_hosts() {
    let app = TempApp::fixture("secure_app");
    let toml =
        app.read("keystone.toml").replace("body_limit = 4096", "body_limit = 4096\nallowed_hosts = [\"app.test\"]");
    app.write("keystone.toml", &toml);
    let server = Server::start(&app.path);
    let port = server.authority().rsplit(':').next().unwrap().to_string();
    let handshake = "/socket.io/?EIO=4&transport=polling";
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}"), "app.test".into()] {
        assert_eq!(get_with_host(&server, "/", &host), 200, "{host}");
        assert_eq!(get_with_host(&server, handshake, &host), 200, "{host}");
    }
    // A rebinding domain reaches neither pages, nor sockets (the live-reload namespace
    // included: it is joined over this same handshake), nor the live script.
    for host in ["evil.example".to_string(), format!("evil.example:{port}"), format!("localhost.evil.example:{port}")] {
        for path in ["/", handshake, "/__keystone/live.js", "/socket.io/socket.io.js"] {
            assert_eq!(get_with_host(&server, path, &host), 403, "{host}{path}");
        }
    }
    assert!(
        server.wait_for_output("refused a request for host evil.example", std::time::Duration::from_secs(10)),
        "{}",
        server.output()
    );

    // Production sits behind a proxy that chose the host: no host check there.
    drop(server);
    let server = Server::start_with(&app.path, &["--production"]);
    assert_eq!(get_with_host(&server, "/", "evil.example"), 200);
}

#[test]
fn partial_idle_unsent_body_and_unread_response_connections_are_closed_but_long_polls_are_not() {
    let app = TempApp::fixture("secure_app");
    let toml = app
        .read("keystone.toml")
        .replace("body_limit = 4096", "body_limit = 4096\nheader_timeout = \"1s\"\nbody_timeout = \"1s\"");
    app.write("keystone.toml", &toml);
    // Larger than what the kernel's socket buffers can hold between server and client.
    let big = 32 * 1024 * 1024;
    app.write("public/big.txt", &"x".repeat(big));
    let server = Server::start(&app.path);
    let limit = Duration::from_secs(20);

    // Slowloris: headers that never end.
    let mut partial = std::net::TcpStream::connect(server.authority()).unwrap();
    std::io::Write::write_all(
        &mut partial,
        format!("GET / HTTP/1.1\r\nHost: {}\r\nX-Slow: a", server.authority()).as_bytes(),
    )
    .unwrap();
    assert!(read_until_closed(&mut partial, limit).is_some(), "a partial header is closed");

    // An idle keep-alive connection, after one answered request.
    let request = format!("GET /whoami HTTP/1.1\r\nHost: {}\r\n\r\n", server.authority());
    let (status, _, mut idle) = raw_head(&server.url, request.as_bytes());
    assert_eq!(status, 200);
    assert!(read_until_closed(&mut idle, limit).is_some(), "an idle keep-alive connection is closed");

    // A body announced but never sent.
    let request = format!(
        "POST /echo HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        server.authority()
    );
    let (status, _, mut unsent) = raw_head(&server.url, request.as_bytes());
    assert_eq!(status, 408, "the body did not arrive in time");
    assert!(read_until_closed(&mut unsent, limit).is_some(), "and the connection is closed");

    // A response nobody reads: the connection goes once its writes stop making progress.
    let request = format!("GET /big.txt HTTP/1.1\r\nHost: {}\r\n\r\n", server.authority());
    let (status, _, mut unread) = raw_head(&server.url, request.as_bytes());
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(3));
    let seen = read_until_closed(&mut unread, limit).expect("the stalled download is closed");
    assert!(seen.len() < big, "closed before the whole file went: {} of {big} bytes", seen.len());
    // One that reads slowly but steadily (about 2.5 s, the timeout is 1 s) is not cut off.
    let (status, _, mut slow) = raw_head(&server.url, request.as_bytes());
    assert_eq!(status, 200);
    let mut received = 0;
    let mut buf = vec![0u8; 256 * 1024];
    while received < big {
        std::thread::sleep(Duration::from_millis(20));
        match std::io::Read::read(&mut slow, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n,
        }
    }
    assert_eq!(received, big, "a slow reader gets the whole file");

    // A long poll outlasts the header timeout: a request in progress has no deadline.
    let sid = polling_handshake(&server).expect("a socket");
    assert_eq!(polling_post(&server, &sid, "40"), 200);
    let poll =
        format!("GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\nHost: {}\r\n\r\n", server.authority());
    let url = format!("{}/socket.io/?EIO=4&transport=polling&sid={sid}", server.url);
    let connected = (0..5).any(|_| http_request("GET", &url, &[], "").body.contains("40{"));
    assert!(connected, "connected to the default namespace");
    let waiting = std::thread::spawn({
        let url = server.url.clone();
        move || raw_head(&url, poll.as_bytes()).0
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(polling_post(&server, &sid, "1"), 200, "the client closes its socket");
    assert_eq!(waiting.join().unwrap(), 200, "the long poll was answered, not cut off");

    // A request head of a few KiB is answered; a much larger one is refused, not buffered
    // (the cap is 32 KiB, checked between reads, so a head can pass it by one read).
    let cookie_jar = format!("a={}", "x".repeat(20 * 1024));
    let url = format!("{}/whoami", server.url);
    assert_eq!(http_request("GET", &url, &[("X-Big", &cookie_jar)], "").status, 200);
    let huge = "x".repeat(100 * 1024);
    assert_eq!(http_request("GET", &url, &[("X-Big", &huge)], "").status, 431);

    // The server still answers.
    assert_eq!(http_request("GET", &format!("{}/whoami", server.url), &[], "").status, 200);
}

#[test]
fn connections_beyond_max_connections_are_closed_and_the_server_recovers_when_they_go() {
    let app = TempApp::fixture("secure_app");
    let toml = app.read("keystone.toml").replace("body_limit = 4096", "body_limit = 4096\nmax_connections = 3");
    app.write("keystone.toml", &toml);
    let server = Server::start(&app.path);
    let request = format!("GET /whoami HTTP/1.1\r\nHost: {}\r\n\r\n", server.authority());

    // Three keep-alive connections, each answered once and then left open.
    let held: Vec<_> = (0..3)
        .map(|_| {
            let (status, _, stream) = raw_head(&server.url, request.as_bytes());
            assert_eq!(status, 200);
            stream
        })
        .collect();

    // A fourth is closed without an answer, and the log says why.
    let mut extra = std::net::TcpStream::connect(server.authority()).unwrap();
    let _ = std::io::Write::write_all(&mut extra, request.as_bytes());
    let seen = read_until_closed(&mut extra, Duration::from_secs(10)).expect("the fourth connection is closed");
    assert!(seen.is_empty(), "no answer beyond the limit: {}", String::from_utf8_lossy(&seen));
    assert!(server.wait_for_output("max_connections", Duration::from_secs(5)), "{}", server.output());

    // Once one goes, a new visitor is answered again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = raw_head(&server.url, request.as_bytes());
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused after the held connections closed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Opens a long-polling engine session: its `sid`, or the refusal's status.
fn polling_handshake(server: &Server) -> Result<String, u16> {
    let reply = http_request("GET", &format!("{}/socket.io/?EIO=4&transport=polling", server.url), &[], "");
    if reply.status != 200 {
        return Err(reply.status);
    }
    let open: Value = serde_json::from_str(reply.body.trim_start_matches('0')).expect("an engine open packet");
    Ok(open["sid"].as_str().unwrap().to_string())
}

fn polling_post(server: &Server, sid: &str, packet: &str) -> u16 {
    http_request("POST", &format!("{}/socket.io/?EIO=4&transport=polling&sid={sid}", server.url), &[], packet).status
}

#[test]
fn handshakes_beyond_max_sockets_are_refused_so_abandoned_long_polls_cannot_pile_up() {
    let app = TempApp::fixture("secure_app");
    let toml = app.read("keystone.toml").replace("[sockets]", "[sockets]\nmax_sockets = 3");
    assert!(toml.contains("max_sockets = 3"), "the fixture has a [sockets] table: {toml}");
    app.write("keystone.toml", &toml);
    let server = Server::start(&app.path);

    // Three sockets connected to the default namespace fill the budget.
    let sids: Vec<String> = (0..3).map(|_| polling_handshake(&server).expect("within the budget")).collect();
    for sid in &sids {
        assert_eq!(polling_post(&server, sid, "40"), 200);
        // Packets come in order; the namespace's answer may follow an engine ping.
        let url = format!("{}/socket.io/?EIO=4&transport=polling&sid={sid}", server.url);
        let mut seen = Vec::new();
        while seen.len() < 5 && !seen.iter().any(|body: &String| body.split('\x1e').any(|p| p.starts_with("40{"))) {
            seen.push(http_request("GET", &url, &[], "").body);
        }
        assert!(seen.iter().any(|body| body.contains("40{")), "connected to the default namespace: {seen:?}");
    }
    assert_eq!(polling_handshake(&server), Err(503), "a fourth handshake is refused");
    assert!(server.wait_for_output("max_sockets", Duration::from_secs(5)), "{}", server.output());
    // The sockets already open go on working.
    assert_eq!(polling_post(&server, &sids[0], "42[\"anything\"]"), 200);

    // One socket closes: a new visitor gets in again.
    assert_eq!(polling_post(&server, &sids[2], "1"), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let newcomer = loop {
        match polling_handshake(&server) {
            Ok(sid) => break sid,
            Err(status) => assert_eq!(status, 503),
        }
        assert!(Instant::now() < deadline, "still refused after a socket closed");
        std::thread::sleep(Duration::from_millis(50));
    };

    // A handshake that never connects holds its place too (until the engine's connect timeout).
    assert_eq!(polling_handshake(&server), Err(503), "the newcomer's pending handshake counts");
    assert_eq!(polling_post(&server, &newcomer, "40"), 200);
}

#[test]
fn rate_limit_holds_back_one_client_and_counts_the_client_a_local_proxy_names() {
    let app = TempApp::scaffold("default");
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /limited\" = \"limited\"\n"));
    app.write(
        "routes/views/limited.rhai",
        "if !rate_limit(`demo:${req.ip}`, 2, \"1m\") { status(429); }\njson(#{ ip: req.ip });\n",
    );
    let server = Server::start(&app.path);
    let url = format!("{}/limited", server.url);
    let statuses: Vec<u16> = (0..3).map(|_| http_request("GET", &url, &[], "").status).collect();
    assert_eq!(statuses, [200, 200, 429], "{}", server.output());

    // Behind a reverse proxy on this host, each client the proxy names has its own count.
    let proxied = http_request("GET", &url, &[("X-Forwarded-For", "198.51.100.1, 192.0.2.7")], "");
    assert_eq!(proxied.status, 200, "{}", proxied.body);
    assert_eq!(serde_json::from_str::<Value>(&proxied.body).unwrap()["ip"], "192.0.2.7");

    // A script passing nonsense gets a script error naming the call, not a panic.
    app.write("routes/views/limited.rhai", "rate_limit(\"k\", 0, \"1m\");\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    let broken = loop {
        let reply = http_request("GET", &url, &[], "");
        if reply.status == 500 || Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(broken.status, 500);
    assert!(
        server.wait_for_output("rate_limit(): the most calls per window must be 1 or more", Duration::from_secs(5))
    );
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_sockets_events_run_in_order_and_a_socket_flooding_its_handlers_is_disconnected() {
    let (_app, server) = secure_app();
    let seen = story("order", &server, "websocket");
    assert_eq!(seen["answered"], 300, "{seen}");
    assert_eq!(seen["inOrder"], true, "300 echoes sent at once are answered in order: {seen}");
    // The disconnect packet is queued behind the echoes; a client still sending may see its
    // transport close first.
    let reason = seen["floodReason"].as_str().unwrap_or("");
    assert!(["io server disconnect", "transport close"].contains(&reason), "{seen}\n{}", server.output());
    assert_eq!(seen["afterwards"], "still here", "{seen}");
    assert!(server.wait_for_output("waiting for their handlers; disconnected", Duration::from_secs(10)));
}

#[test]
fn messages_to_a_client_that_stops_reading_are_dropped_with_a_warning_not_queued_without_end() {
    let (_app, server) = secure_app();
    // A long-polling client connects to "/", asks for 3,000 messages of 4 KiB and never
    // polls again: everything the server sends waits in its queue.
    let sid = polling_handshake(&server).expect("a session");
    assert_eq!(polling_post(&server, &sid, "40"), 200);
    assert_eq!(polling_post(&server, &sid, "42[\"firehose\",3000]"), 200);
    assert!(
        server.wait_for_output("message(s) not sent", Duration::from_secs(30)),
        "a full send buffer is reported:\n{}",
        server.output()
    );
    // The server goes on answering everyone else.
    assert_eq!(http_request("GET", &format!("{}/", server.url), &[], "").status, 200);
}

#[test]
fn static_files_stream_with_head_and_range_and_never_through_a_link_out_of_public() {
    let app = TempApp::fixture("secure_app");
    app.write("public/big.txt", &"0123456789".repeat(1000));
    app.write("public/note.txt", "a public note");
    app.write(".env", &format!("KEYSTONE_SECRET={}\nPAYMENT_KEY=sk_live_not_for_you\n", "s".repeat(64)));
    let server = Server::start_with(&app.path, &["--production"]);
    let url = |path: &str| format!("{}{path}", server.url);

    let part = http_request("GET", &url("/big.txt"), &[("range", "bytes=10-19")], "");
    assert_eq!(part.status, 206, "{}", part.head);
    assert_eq!(part.body, "0123456789");
    assert_eq!(part.header("content-range").as_deref(), Some("bytes 10-19/10000"));
    let head = http_request("HEAD", &url("/big.txt"), &[], "");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length").as_deref(), Some("10000"));
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type").as_deref(), Some("text/plain; charset=utf-8"));
    assert!(head.header("etag").is_some());

    // Production never rescans public/: the listed file is replaced by a link to the secrets.
    assert_eq!(http_request("GET", &url("/note.txt"), &[], "").body, "a public note");
    std::fs::remove_file(app.path.join("public/note.txt")).unwrap();
    std::os::unix::fs::symlink("../.env", app.path.join("public/note.txt")).unwrap();
    let leaked = http_request("GET", &url("/note.txt"), &[], "");
    assert_ne!(leaked.status, 200);
    assert!(!leaked.body.contains("sk_live"), "{}", leaked.body);
}

#[test]
fn secrets_and_sessions_are_readable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let app = TempApp::scaffold("default");
    let mode = |rel: &str| std::fs::metadata(app.path.join(rel)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(".env"), 0o600, ".env holds the secret");
    let server = Server::start(&app.path);
    visit(&server);
    assert_eq!(mode(".keystone"), 0o700);
    assert_eq!(mode(".keystone/sessions.sqlite3"), 0o600);
}

#[test]
fn logged_user_input_cannot_send_escape_sequences_or_forge_lines() {
    let (_app, server) = secure_app();
    let said = "%1B%5B2J%0D%0AGET%20%2Fadmin%20200%200.1ms";
    assert_eq!(http_request("GET", &format!("{}/say?text={said}", server.url), &[], "").status, 200);
    assert!(server.wait_for_output("said:", Duration::from_secs(5)));
    let output = server.output();
    assert!(output.contains(r"said: \u{1b}[2J\r\nGET /admin 200 0.1ms"), "{output}");
    assert!(!output.contains('\u{1b}'), "no raw ESC: {output:?}");
    assert!(!output.lines().any(|l| l.starts_with("GET /admin")), "no forged line: {output}");
}

#[test]
fn production_warns_at_start_when_cookies_are_not_secure() {
    let app = TempApp::fixture("secure_app");
    let server = Server::start_with(&app.path, &["--production"]);
    assert!(server.wait_for_output("deployment-insecure-cookies", Duration::from_secs(5)), "{}", server.output());
    drop(server);
    app.write(
        "keystone.toml",
        &app.read("keystone.toml").replace("body_limit = 4096", "body_limit = 4096\nsecure = true"),
    );
    let server = Server::start_with(&app.path, &["--production"]);
    assert!(!server.output().contains("deployment-insecure-cookies"), "{}", server.output());
}

/// The CSRF token of the visitor with `cookie` (from the `token` page).
fn csrf_token(server: &Server, cookie: &str) -> String {
    let page = http_request("GET", &format!("{}/token", server.url), &[("cookie", cookie)], "");
    page.body.split('<').next().unwrap().trim().to_string()
}

#[test]
fn csrf_guards_put_patch_delete_and_json_bodies() {
    let (_app, server) = secure_app();
    let cookie = visit(&server);
    let token = csrf_token(&server, &cookie);
    assert_eq!(token.len(), 64, "{token}");
    let url = format!("{}/guarded", server.url);
    let json = ("content-type", "application/json");
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let none = http_request(method, &url, &[("cookie", &cookie), json], r#"{"a":1}"#);
        assert_eq!(none.status, 403, "{method} with a JSON body and no token");
        let wrong = http_request(method, &url, &[("cookie", &cookie), json, ("x-csrf-token", &"0".repeat(64))], "{}");
        assert_eq!(wrong.status, 403, "{method} with a wrong token");
        let in_json =
            http_request(method, &url, &[("cookie", &cookie), json], &format!(r#"{{"csrf_token":"{token}"}}"#));
        assert_eq!(in_json.status, 403, "{method}: a JSON field is not where the token goes");
        let right = http_request(method, &url, &[("cookie", &cookie), json, ("x-csrf-token", &token)], r#"{"a":1}"#);
        assert_eq!(right.status, 200, "{method} with the header");
        assert!(right.body.contains(r#""json":{"a":1}"#), "{}", right.body);
        let form = ("content-type", "application/x-www-form-urlencoded");
        let field = http_request(method, &url, &[("cookie", &cookie), form], &format!("csrf_token={token}&b=2"));
        assert_eq!(field.status, 200, "{method} with the form field");
    }
}

#[test]
fn signing_in_rotates_the_csrf_token() {
    let (_app, server) = secure_app();
    let before = visit(&server);
    let old_token = csrf_token(&server, &before);
    let json = ("content-type", "application/json");
    let signin =
        http_request("POST", &format!("{}/signin", server.url), &[("cookie", &before), json], r#"{"user":"ada"}"#);
    let after = signin.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert_ne!(after, before);
    let new_token = csrf_token(&server, &after);
    assert_ne!(new_token, old_token, "a new session, a new token");
    let url = format!("{}/guarded", server.url);
    let stale = http_request("PUT", &url, &[("cookie", &after), json, ("x-csrf-token", &old_token)], "{}");
    assert_eq!(stale.status, 403, "the pre-login token is dead");
    let fresh = http_request("PUT", &url, &[("cookie", &after), json, ("x-csrf-token", &new_token)], "{}");
    assert_eq!(fresh.status, 200);
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn socket_messages_over_max_payload_are_refused_without_growing_memory() {
    let (_app, server) = secure_app();
    let before = rss_kib(server.pid());
    let seen = story("payload", &server, "websocket");
    assert_eq!(seen["small"], 900_000, "under the cap is answered: {seen}");
    assert_eq!(seen["smallBinary"], 9000, "binary attachments reach handlers byte for byte: {seen}");
    for case in ["bigText", "bigBinary"] {
        assert!(seen[case].as_str().unwrap().starts_with("transport"), "{case} closes the connection: {seen}");
    }
    assert_eq!(seen["flood"].as_array().unwrap().len(), 1, "{seen}");
    assert!(seen["flood"][0].as_str().unwrap().starts_with("transport"), "{seen}");
    assert_eq!(seen["afterwards"], "still here", "{seen}");
    let grown = rss_kib(server.pid()).saturating_sub(before);
    assert!(grown < 150 * 1024, "80 MB of refused attachments grew the server by {grown} KiB");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn sessions_expire_when_idle_end_their_sockets_and_live_on_while_active() {
    let app = TempApp::fixture("secure_app");
    app.write(
        "keystone.toml",
        &app.read("keystone.toml").replace("store = \"sqlite\"", "store = \"sqlite\"\nexpiry = \"2s\""),
    );
    let server = Server::start(&app.path);
    let seen = story("expiry", &server, "websocket");
    assert_eq!(seen["msg"], "Hello World", "{seen}");
    assert_eq!(seen["reason"], "io server disconnect", "the sweep ended the socket: {seen}");
    assert_eq!(seen["expiredHttp"], json!({}), "the expired cookie gives an empty session: {seen}");
    assert_eq!(seen["activeSeen"], json!(["Hello World"]), "activity renews the session: {seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn sigterm_closes_sockets_cleanly_and_exits_zero() {
    let (_app, mut server) = secure_app();
    let held = crate::util::NodeProcess::spawn("security.mjs", &["hold", &server.url]);
    crate::util::eventually("the socket to connect", Duration::from_secs(20), || {
        held.lines().iter().any(|l| l["connected"] == true).then_some(())
    });
    server.terminate();
    assert!(server.wait_for_output("shutting down", Duration::from_secs(10)), "{}", server.output());
    let status = server.wait_exit(Duration::from_secs(15)).expect("serve exits after SIGTERM");
    assert!(status.success(), "{status:?}: {}", server.output());
    let reason = crate::util::eventually("the socket to see the end", Duration::from_secs(10), || {
        held.lines().iter().find_map(|l| l["reason"].as_str().map(str::to_string))
    });
    // The transport is closed (the namespace is not left), so clients reconnect to the next
    // server; nothing was left running past the grace period.
    assert_eq!(reason, "transport close");
    assert!(!server.output().contains("still running"), "{}", server.output());
    // The socket's `disconnect` handler ran before the process ended.
    assert!(server.output().contains("--- left: "), "{}", server.output());
}

/// A masked client frame (RFC 6455 §5.3): FIN set, a payload under 126 bytes.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode, 0x80 | u8::try_from(payload.len()).unwrap()];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Reads server frames (unmasked, short) from `stream` until `want` of them arrived: their
/// opcodes and payloads.
fn server_frames(stream: &mut std::net::TcpStream, want: usize) -> Vec<(u8, String)> {
    use std::io::Read as _;
    let mut frames = Vec::new();
    while frames.len() < want {
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).expect("a frame from the server");
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                stream.read_exact(&mut ext).unwrap();
                usize::from(u16::from_be_bytes(ext))
            }
            len => usize::from(len),
        };
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).unwrap();
        frames.push((head[0] & 0x0f, String::from_utf8_lossy(&payload).into_owned()));
    }
    frames
}

#[test]
fn a_websocket_client_whose_frames_arrive_in_pieces_or_together_is_answered_each_time() {
    use std::io::Write as _;
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let cookie = visit(&server);
    let request = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.authority()
    );
    let (status, _, mut stream) = raw_head(&server.url, request.as_bytes());
    assert_eq!(status, 101);
    let open = server_frames(&mut stream, 1);
    assert!(open[0].1.starts_with("0{\"sid\":"), "{open:?}");
    let pause = || std::thread::sleep(Duration::from_millis(100));

    // The namespace connect, its frame in three pieces with pauses between: each piece is read
    // alone, and the server must still wake for the next.
    let connect = client_frame(1, b"40");
    for piece in [&connect[..1], &connect[1..5], &connect[5..]] {
        stream.write_all(piece).unwrap();
        pause();
    }
    let answers = server_frames(&mut stream, 2);
    assert!(answers[0].1.starts_with("40{\"sid\":"), "{answers:?}");
    assert_eq!(answers[1].1, r#"42["msg","Hello World"]"#);

    // A ping whose header and payload come apart, then two pings in one write.
    let ping = client_frame(9, b"first");
    stream.write_all(&ping[..6]).unwrap();
    pause();
    stream.write_all(&ping[6..]).unwrap();
    assert_eq!(server_frames(&mut stream, 1), [(10, "first".to_string())]);
    pause();
    stream.write_all(&[client_frame(9, b"second"), client_frame(9, b"third")].concat()).unwrap();
    assert_eq!(server_frames(&mut stream, 2), [(10, "second".to_string()), (10, "third".to_string())]);

    // A close is answered with a close, and the connection ends.
    stream.write_all(&client_frame(8, &1000u16.to_be_bytes())).unwrap();
    let closing = read_until_closed(&mut stream, Duration::from_secs(10)).expect("the server closes");
    assert_eq!(closing.first().map(|b| b & 0x0f), Some(8), "a close frame first: {closing:?}");
}
