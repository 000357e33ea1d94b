//! In a real browser: Chromium (through playwright-core, `tests/js/browser.mjs`) against a real
//! `keystone-rs serve` of a freshly scaffolded app. Proves the guide's story with our own
//! `/socket.io/socket.io.js` (WebSocket and long-polling), the chat scaffold with two visitors,
//! and live reload: page reload on a template edit, stylesheet swap in place, and the
//! diagnostics overlay. Each test owns its app and server, so they run in parallel.
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Server, TempApp, node, repo};

const WAIT: Duration = Duration::from_secs(10);
/// Browser launch and first page load included.
const FIRST_STEP: Duration = Duration::from_secs(30);

/// The JSON line a story printed last.
fn observed(scenario: &str, output: &str) -> Value {
    let line = output
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("browser story {scenario} printed no JSON:\n{output}"));
    let value: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("browser story {scenario} printed bad JSON ({e}):\n{output}"));
    assert_eq!(value["scenario"], scenario, "{output}");
    value
}

/// Runs `node browser.mjs SCENARIO URL [extra]` to its end and returns what it observed.
fn browse(scenario: &str, server: &Server, extra: &[&str]) -> Value {
    let mut args = vec![scenario, server.url.as_str()];
    args.extend_from_slice(extra);
    let output = node("browser.mjs", &args);
    observed(scenario, &output)
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().unwrap_or_else(|| panic!("not an array: {value}")).iter().filter_map(Value::as_str).collect()
}

/// A browser story the test takes part in: the script prints `STEP name` and waits for a line
/// on stdin while the test edits the project.
struct Story {
    scenario: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Story {
    fn start(scenario: &str, server: &Server) -> Story {
        let js = repo().join("tests/js");
        assert!(
            js.join("node_modules").exists(),
            "tests/js/node_modules is missing: run `npm ci --prefix tests/js` (tests/setup.sh does)"
        );
        let mut child = Command::new("node")
            .arg(js.join("browser.mjs"))
            .args([scenario, server.url.as_str()])
            .current_dir(&js)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running node");
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let stdin = child.stdin.take();
        Story { scenario: scenario.to_string(), child, stdin, lines, stdout: Vec::new(), stderr }
    }

    fn transcript(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout.join("\n"), self.stderr.lock().unwrap())
    }

    /// Waits for `STEP name`: the page is ready for the test's edit.
    fn expect_step(&mut self, name: &str, timeout: Duration, server: &Server) {
        let want = format!("STEP {name}");
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line == want;
                    self.stdout.push(line);
                    if found {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no `{want}` within {timeout:?}\n{}\nserver:\n{}",
                        self.scenario,
                        self.transcript(),
                        server.output()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    std::thread::sleep(Duration::from_millis(50));
                    panic!(
                        "{}: ended before `{want}`\n{}\nserver:\n{}",
                        self.scenario,
                        self.transcript(),
                        server.output()
                    )
                }
            }
        }
    }

    /// Lets the script go on after an edit.
    fn go(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin.write_all(b"go\n").and_then(|()| stdin.flush()).expect("writing to browser.mjs");
    }

    /// Waits for the script to end successfully; returns its JSON observations.
    fn finish(mut self, server: &Server) -> Value {
        self.stdin = None;
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "{}: still running after 40 s\n{}\nserver:\n{}",
                self.scenario,
                self.transcript(),
                server.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // the reader thread hands over what is left once the pipe closes
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stdout.push(line);
        }
        assert!(
            status.success(),
            "{} failed ({status})\n{}\nserver:\n{}",
            self.scenario,
            self.transcript(),
            server.output()
        );
        observed(&self.scenario, &self.stdout.join("\n"))
    }
}

impl Drop for Story {
    fn drop(&mut self) {
        // A failed test must not leave Chromium behind: closing stdin makes the script fail and
        // close its browser; the kill is the backstop.
        self.stdin = None;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts a page had no uncaught exceptions, console errors or failed loads.
fn assert_clean(page: &Value) {
    assert_eq!(page["pageErrors"], serde_json::json!([]), "uncaught errors in the page: {page}");
    if let Some(errors) = page.get("consoleErrors") {
        assert_eq!(errors, &serde_json::json!([]), "console errors in the page: {page}");
    }
    if let Some(bad) = page.get("badResponses") {
        assert_eq!(bad, &serde_json::json!([]), "failed loads in the page: {page}");
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

// ---------------------------------------------------------------------------------------------
// §1's story in Chromium, with our own client

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn browser_console_prints_hello_world_over_websocket_and_server_logs_connect_then_disconnect() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let page = browse("hello", &server, &[]);

    assert!(strings(&page["console"]).contains(&"Hello World"), "{page}");
    assert_eq!(page["pageMessage"], "Hello World", "the page shows the message, not only the console: {page}");
    assert_eq!(page["connected"], true, "{page}");
    assert_eq!(page["transport"], "websocket", "WebSocket first: {page}");
    assert!(strings(&page["websockets"]).contains(&"/socket.io/"), "{page}");
    assert_eq!(page["socketRequests"], serde_json::json!([]), "no long-polling needed: {page}");
    assert_clean(&page);

    assert!(server.wait_for_output("--- User connected", WAIT), "{}", server.output());
    assert!(
        server.wait_for_output("--- User disconnected", WAIT),
        "closing the page must run the socket's disconnect handler:\n{}",
        server.output()
    );
    let output = server.output();
    assert_eq!(count(&output, "--- User connected"), 1, "one page, one `/` socket:\n{output}");
    assert!(output.find("--- User connected").unwrap() < output.find("--- User disconnected").unwrap(), "{output}");
}

/// A page that forces our client onto long-polling.
fn add_polling_page(app: &TempApp) {
    app.write(
        "templates/views/poll.html",
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Long-polling</title></head>
<body>
  <h1>Long-polling</h1>
  <script src="/socket.io/socket.io.js"></script>
  <script>
    var socket = io({ transports: ["polling"] });
    socket.on("msg", function (message) {
      console.log(message);
    });
  </script>
</body>
</html>
"#,
    );
    app.write("routes/views/poll.rhai", "session.message = \"Hello World\";\n");
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /poll\" = \"poll\"\n"));
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn browser_console_prints_hello_world_over_long_polling_and_server_logs_connect_then_disconnect() {
    let app = TempApp::scaffold("default");
    add_polling_page(&app);
    let server = Server::start(&app.path);
    let page = browse("hello-polling", &server, &["/poll"]);

    assert!(strings(&page["console"]).contains(&"Hello World"), "{page}");
    assert_eq!(page["connected"], true, "{page}");
    assert_eq!(page["transport"], "polling", "{page}");
    assert_eq!(
        page["websockets"],
        serde_json::json!([]),
        "transports: [\"polling\"] must not open a WebSocket: {page}"
    );
    let requests = strings(&page["socketRequests"]);
    assert!(requests.contains(&"GET polling") && requests.contains(&"POST polling"), "{page}");
    assert_clean(&page);

    assert!(server.wait_for_output("--- User connected", WAIT), "{}", server.output());
    assert_eq!(count(&server.output(), "--- User connected"), 1, "{}", server.output());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn closing_a_long_polling_page_runs_the_disconnect_handler_promptly() {
    let app = TempApp::scaffold("default");
    add_polling_page(&app);
    let server = Server::start(&app.path);
    let mut story = Story::start("leave-polling", &server);
    story.expect_step("left", FIRST_STEP, &server);
    assert!(server.wait_for_output("--- User connected", WAIT), "{}", server.output());
    assert!(
        server.wait_for_output("--- User disconnected", WAIT),
        "leaving a long-polling page must run the socket's disconnect handler:\n{}",
        server.output()
    );
    story.go();
    let page = story.finish(&server);
    assert_eq!(page["transport"], "polling", "{page}");
}

// ---------------------------------------------------------------------------------------------
// The chat scaffold with two visitors

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn chat_scaffold_two_visitors_see_each_others_messages_and_the_history_after_a_reload() {
    let app = TempApp::scaffold("chat");
    let server = Server::start(&app.path);
    let seen = browse("chat", &server, &[]);

    for visitor in ["alice", "bob"] {
        assert_eq!(seen[visitor]["url"], "/chat", "{visitor} landed on the chat: {seen}");
        assert_clean(&seen[visitor]);
    }
    let alice = strings(&seen["alice"]["messages"]);
    let bob = strings(&seen["bob"]["messages"]);
    assert!(bob.contains(&"alice: hello from alice"), "bob sees alice's message under her nickname: {seen}");
    assert!(alice.contains(&"alice: hello from alice"), "alice sees her own message: {seen}");
    assert!(alice.contains(&"bob: hi alice"), "{seen}");
    assert!(alice.contains(&"bob joined #general"), "{seen}");
    assert_eq!(count(&alice.join("\n"), "alice: hello from alice"), 1, "delivered once: {seen}");
    assert_eq!(count(&bob.join("\n"), "alice: hello from alice"), 1, "delivered once: {seen}");
    assert_eq!(strings(&seen["alice"]["mine"]), ["hello from alice"], "alice's own messages are marked: {seen}");
    assert_eq!(strings(&seen["bob"]["mine"]), ["hi alice"], "bob's own messages are marked: {seen}");
    for visitor in ["alice", "bob"] {
        assert_eq!(seen[visitor]["stamped"], true, "every message shows when it was sent: {seen}");
        let mut people = strings(&seen[visitor]["people"]);
        assert_eq!(people.first(), Some(&visitor), "the visitor is listed first: {seen}");
        people.sort_unstable();
        assert_eq!(people, ["alice", "bob"], "{visitor} sees who is in the room: {seen}");
    }
    assert_eq!(strings(&seen["aliceAfterBobLeft"]), ["alice"], "bob left the room: {seen}");

    // The room's history comes back after a reload, in order, from the Message list.
    let reloaded = strings(&seen["aliceAfterReload"]);
    let history: Vec<&str> = reloaded.iter().copied().filter(|m| !m.contains(" joined #")).collect();
    assert_eq!(history, ["alice: hello from alice", "bob: hi alice"], "alice's page after a reload: {seen}");

    let output = server.output();
    assert!(output.contains("--- alice connected to #general"), "{output}");
    assert!(output.contains("--- bob connected to #general"), "{output}");
}

// ---------------------------------------------------------------------------------------------
// Live reload (§7 "Browsers follow")

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn live_reload_template_edit_reloads_the_open_page_with_the_new_text() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let mut story = Story::start("live-reload", &server);
    story.expect_step("edit", FIRST_STEP, &server);

    let template = app.read("templates/views/index.html");
    let h1 = template
        .lines()
        .find(|l| l.trim_start().starts_with("<h1>"))
        .expect("the scaffold's index has an <h1>")
        .to_string();
    app.write("templates/views/index.html", &template.replace(&h1, "<h1>Edited live</h1>"));
    story.go();
    let seen = story.finish(&server);

    assert_eq!(seen["h1Before"], "Welcome to app", "{seen}");
    assert_eq!(seen["h1After"], "Edited live", "{seen}");
    assert_eq!(seen["markerAfter"], Value::Null, "the page state is gone: it reloaded: {seen}");
    assert_eq!(seen["navigationType"], "reload", "{seen}");
    assert_eq!(seen["navigationsDuringEdit"], 1, "exactly one reload: {seen}");
    assert_clean(&seen);
    assert!(server.wait_for_output("reloaded after templates/views/index.html changed", WAIT), "{}", server.output());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn css_edit_swaps_the_stylesheet_in_place_without_reloading_the_page() {
    let app = TempApp::scaffold("default");
    let index = app.read("templates/views/index.html");
    app.write(
        "templates/views/index.html",
        &index.replace(
            "{% endblock %}\n{% block scripts %}",
            "<input id=\"probe\">\n{% endblock %}\n{% block scripts %}",
        ),
    );
    assert!(app.read("templates/views/index.html").contains("id=\"probe\""), "the scaffold's index changed shape");
    let server = Server::start(&app.path);
    let mut story = Story::start("css-swap", &server);
    story.expect_step("edit", FIRST_STEP, &server);

    let css = app.read("public/styles/site.css");
    app.write("public/styles/site.css", &format!("{css}h1 {{ color: rgb(255, 0, 0); }}\n"));
    story.go();
    let seen = story.finish(&server);

    assert_eq!(seen["colorBefore"], "rgb(31, 35, 40)", "{seen}");
    assert_eq!(seen["colorAfter"], "rgb(255, 0, 0)", "{seen}");
    assert_eq!(seen["inputAfter"], "typed before the edit", "typed text survives: {seen}");
    assert_eq!(seen["markerAfter"], "kept", "page state survives: {seen}");
    assert_eq!(seen["navigationsDuringEdit"], 0, "no reload: {seen}");
    assert_eq!(seen["navigationType"], "navigate", "{seen}");
    let (before, after) = (seen["hrefBefore"].as_str().unwrap(), seen["hrefAfter"].as_str().unwrap());
    assert!(before.starts_with("/styles/site.css?v=") && after.starts_with("/styles/site.css?v="), "{seen}");
    assert_ne!(before, after, "the stylesheet's URL changes with its content: {seen}");
    assert_clean(&seen);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn broken_template_shows_the_overlay_with_file_and_line_and_the_fix_reloads_it_away() {
    let app = TempApp::scaffold("default");
    let server = Server::start_with_env(&app.path, &[], &[("KEYSTONE_EDITOR", "vscode")]);
    let mut story = Story::start("overlay", &server);
    story.expect_step("break", FIRST_STEP, &server);

    let good = app.read("templates/views/index.html");
    app.write("templates/views/index.html", &format!("{good}{{% if %}}\n"));
    story.go();
    story.expect_step("fix", WAIT, &server);
    app.write("templates/views/index.html", &good);
    story.go();
    let seen = story.finish(&server);

    assert_eq!(seen["overlayBefore"], false, "{seen}");
    let text = seen["overlayText"].as_str().unwrap();
    let broken_line = good.lines().count() + 1;
    assert!(
        text.contains(&format!("templates/views/index.html:{broken_line}")),
        "the overlay names the file and the line of `{{% if %}}` ({broken_line}):\n{text}"
    );
    let look = &seen["look"];
    assert_eq!(look["background"], "rgb(27, 27, 31)", "opaque: the page does not bleed through: {seen}");
    assert_eq!(look["frame"].as_str().unwrap().lines().next(), Some(&*format!("{broken_line} | {{% if %}}")), "{seen}");
    let underline = look["underline"].as_str().expect("the span is underlined");
    assert!(
        underline.trim_start().starts_with('^') && underline.starts_with("   "),
        "under `if`, not at column 1: {seen}"
    );
    let root = app.path.canonicalize().unwrap();
    let href = look["editorHref"].as_str().unwrap_or("");
    assert!(
        href.starts_with(&format!("vscode://file{}/templates/views/index.html:{broken_line}:", root.display())),
        "KEYSTONE_EDITOR=vscode makes file:line a link into the editor: {seen}"
    );
    assert_eq!(seen["overlayAfterEsc"], false, "Esc closes the overlay: {seen}");
    assert_eq!(seen["navigationsBeforeFix"], 1, "the overlay came without a reload: {seen}");
    assert_eq!(seen["navigationsAfterFix"], 1, "the fix reloads the page once: {seen}");
    assert_eq!(seen["navigationType"], "reload", "{seen}");
    assert_eq!(seen["overlayAfterFix"], false, "{seen}");
    assert_eq!(seen["h1AfterFix"], "Welcome to app", "{seen}");
    assert_clean(&seen);
    let output = server.output();
    assert!(output.contains("broke the project; still serving the last good version"), "{output}");
}

// ---------------------------------------------------------------------------------------------
// Our client's features, each in Chromium (`client` and `reconnect` in browser.mjs)

/// The session app ("/" echoes, "/chat" welcomes and echoes) with a page that only loads our
/// client, so the story makes its own sockets, and events that answer with the bytes they got.
fn client_app() -> TempApp {
    let app = TempApp::fixture("session_app");
    let sockets = app.read("sockets/index.rhai");
    let echo = "    socket.on(\"echo\", |socket, data| data);\n";
    let bytes = r#"    socket.on("bytes", |socket, data| {
        let out = [];
        for b in data { out.push(b); }
        out
    });
    socket.on("nested bytes", |socket, data| {
        let out = [];
        for b in data.parts[0] { out.push(b); }
        #{ name: data.name, parts: [out, data.parts[1]] }
    });
"#;
    assert!(sockets.contains(echo), "the session app's sockets changed shape");
    app.write("sockets/index.rhai", &sockets.replace(echo, &format!("{echo}{bytes}")));
    app.write(
        "templates/views/client.html",
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Client</title></head>\n\
         <body><script src=\"/socket.io/socket.io.js\"></script></body></html>\n",
    );
    app.write("routes/views/client.rhai", "// the page only loads the client\n");
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /client\" = \"client\"\n"));
    app
}

/// [`client_app`] served in production: no live-reload socket on the page.
fn serve_client_app() -> (TempApp, Server) {
    let app = client_app();
    let server = Server::start_with(&app.path, &["--production"]);
    (app, server)
}

/// What every transport must give: see `clientFeatures` in browser.mjs.
fn assert_client_features(seen: &Value, transport: &str) {
    use serde_json::json;
    assert_eq!(seen["transport"], transport, "{seen}");
    assert_eq!(seen["connectedAtFirst"], false, "{seen}");
    assert_eq!(seen["early"], "sent before the connection opened", "an early emit is buffered, then answered: {seen}");
    assert_eq!(seen["binary"], json!([0, 1, 2, 255]), "bytes from the browser come back as bytes: {seen}");
    assert_eq!(
        seen["nested"],
        json!({ "name": "file", "parts": [[7, 8], "text"] }),
        "attachments inside objects: {seen}"
    );
    assert_eq!(seen["withAck"], json!({ "list": [1, "two", null] }), "emitWithAck: {seen}");
    assert_eq!(seen["unanswered"], "operation has timed out", "timeout(ms) gives the callback an error: {seen}");
    assert_eq!(seen["welcome"], "chat", "a second namespace connects: {seen}");
    assert_eq!(seen["chatEcho"], "over /chat", "{seen}");
    assert_eq!(seen["sharedConnection"], true, "namespaces of one origin share a connection: {seen}");
    assert_eq!(seen["stillConnected"], true, "{seen}");
    assert_clean(seen);
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn our_client_over_websocket_buffers_early_emits_carries_binary_and_shares_one_websocket() {
    let (_app, server) = serve_client_app();
    let seen = browse("client", &server, &["websocket"]);
    assert_client_features(&seen, "websocket");
    assert_eq!(seen["websockets"], serde_json::json!(["/socket.io/"]), "one WebSocket for both namespaces: {seen}");
    assert_eq!(seen["socketRequests"], serde_json::json!([]), "{seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn our_client_over_long_polling_carries_binary_acks_and_namespaces_too() {
    let (_app, server) = serve_client_app();
    let seen = browse("client", &server, &["polling"]);
    assert_client_features(&seen, "polling");
    assert_eq!(seen["websockets"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["socketRequests"], serde_json::json!(["GET polling", "POST polling"]), "{seen}");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn our_client_falls_back_to_long_polling_when_the_websocket_is_refused_or_swallowed() {
    let (_app, server) = serve_client_app();
    // refused: the WebSocket closes at once; swallowed: it opens and nothing comes (a proxy
    // eating the upgrade), so the client gives it half its timeout, at most 3 s.
    for mode in ["refused", "swallowed"] {
        let seen = browse("client", &server, &[mode]);
        assert_client_features(&seen, "polling");
        assert_eq!(seen["socketRequests"], serde_json::json!(["GET polling", "POST polling"]), "{mode}: {seen}");
    }
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Chromium and Node: cargo test --features e2e")]
fn our_client_reconnects_after_a_server_restart_and_sends_what_was_emitted_meanwhile() {
    let app = client_app();
    let port = crate::util::free_port().to_string();
    let args = ["--port", port.as_str(), "--production"];
    let server = Server::start_with(&app.path, &args);
    let mut story = Story::start("reconnect", &server);
    story.expect_step("restart", FIRST_STEP, &server);
    server.stop();
    let server = Server::start_with(&app.path, &args);
    story.go();
    let seen = story.finish(&server);

    assert_eq!(seen["meanwhile"], "sent while disconnected", "buffered while disconnected, answered after: {seen}");
    let events = strings(&seen["seen"]);
    assert_eq!(events.first(), Some(&"connect"), "{seen}");
    assert!(events.get(1).is_some_and(|e| e.starts_with("disconnect: ")), "{seen}");
    assert_eq!(&events[2..], ["reconnect", "connect"], "{seen}");
    assert_clean(&seen);
}
