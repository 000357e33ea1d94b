//! Scripts that cannot block run inline on the async workers; one that runs long there is
//! stopped at the inline limits and made again on the script pool, without holding up other
//! requests and without doing anything twice.
use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{Server, TempApp, http_request, node};

/// Effects that must happen once (recorded before the inline run is stopped), deterministic
/// work, then at least two seconds of copying an array whatever the build: too long for a
/// worker, well under the operation limit.
const HEAVY: &str = r#"print("heavy started");
session.heavy = (session.heavy ?? 0) + 1;
emit_to_session("heavy", session.heavy);
let started = timestamp();
let big = [];
big.pad(20000, 1);
let total = 0;
for i in 0..100 { total += big.len(); }
while started.elapsed < 2.0 { let copy = big; }
json(#{ total: total, runs: session.heavy });
"#;

/// The scaffold's socket script, and a handler that runs past the inline limits in any build
/// (300,000 operations) after effects that must happen once.
const SOCKETS: &str = r#"fn connect(socket) {
    socket.emit("msg", socket.session.message);
    socket.on("heavy", |socket, n| {
        socket.session.socket_runs = (socket.session.socket_runs ?? 0) + 1;
        socket.emit("socket heavy", socket.session.socket_runs);
        let total = 0;
        for i in 0..n { total += i; }
        total
    });
}
"#;

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_heavy_script_leaves_the_worker_free_and_its_effects_happen_once() {
    let app = TempApp::scaffold("default");
    app.write("routes/views/heavy.rhai", HEAVY);
    app.write("routes/views/runs.rhai", "json(#{ runs: session.heavy, socket_runs: session.socket_runs });\n");
    app.write("sockets/index.rhai", SOCKETS);
    let routes = app.read("routes/index.toml") + "\"GET /heavy\" = \"heavy\"\n\"GET /runs\" = \"runs\"\n";
    app.write("routes/index.toml", &routes);
    app.write("keystone.toml", &(app.read("keystone.toml") + "\n[scripts]\ntimeout = \"30s\"\n"));
    // One async worker: a heavy run that kept it would hold up every other request.
    let server = Server::start_with_env(&app.path, &[], &[("TOKIO_WORKER_THREADS", "1"), ("KEYSTONE_DEBUG", "1")]);
    let out = node("inline.mjs", &[&server.url]);
    let seen: Value = serde_json::from_str(out.lines().rev().find(|l| l.starts_with('{')).unwrap()).unwrap();

    assert_eq!(seen["homeStatus"], 200, "{seen}");
    assert!(seen["homeMs"].as_u64().unwrap() < 1000, "`/` answered at once while the heavy script ran: {seen}");
    assert_eq!(seen["heavyStillRunning"], true, "`/` was measured while the heavy script ran: {seen}");
    assert_eq!(seen["heavyStatus"], 200, "{seen}");
    assert_eq!(seen["heavy"], json!({ "total": 2_000_000, "runs": 1 }), "the pool's run started afresh: {seen}");
    assert_eq!(seen["emits"], json!([1]), "emitted once: {seen}");
    assert_eq!(seen["socketAck"], 4_999_950_000_i64, "the handler's value, from its run on the pool: {seen}");
    assert_eq!(seen["socketEmits"], json!([1]), "the handler emitted once: {seen}");
    assert_eq!(seen["runs"], json!({ "runs": 1, "socket_runs": 1 }), "the session was written once each: {seen}");
    for file in ["routes/views/heavy.rhai", "sockets/index.rhai"] {
        assert!(
            server.wait_for_output(&format!("{file}: ran past"), Duration::from_secs(5)),
            "{file} was marked heavy: {}",
            server.output()
        );
    }
}

/// `KEYSTONE_INLINE_SCRIPTS=off` sends every run to the pool: a busy script is never stopped
/// inline (nor marked heavy), and answers the same either way.
#[test]
fn keystone_inline_scripts_off_runs_every_script_on_the_pool() {
    let app = TempApp::scaffold("default");
    app.write("routes/views/busy.rhai", "let n = 0;\nfor i in 0..100000 { n += i; }\njson(#{ n: n });\n");
    app.write("routes/index.toml", &(app.read("routes/index.toml") + "\"GET /busy\" = \"busy\"\n"));
    app.write("keystone.toml", &(app.read("keystone.toml") + "\n[scripts]\ntimeout = \"30s\"\n"));
    for (setting, stopped_inline) in [("on", true), ("off", false)] {
        let env = [("KEYSTONE_INLINE_SCRIPTS", setting), ("KEYSTONE_DEBUG", "1")];
        let server = Server::start_with_env(&app.path, &[], &env);
        let reply = http_request("GET", &format!("{}/busy", server.url), &[], "");
        assert_eq!(reply.body, r#"{"n":4999950000}"#, "{setting}");
        let output = server.stop();
        assert_eq!(output.contains("routes/views/busy.rhai: ran past"), stopped_inline, "{setting}: {output}");
    }
}

/// A list write, then enough work to pass the inline limits: a run that wrote is never made
/// again on the pool.
const WRITE_THEN_WORK: &str = r#"let saved = list("Note").create(#{ text: req.query.text ?? "one" });
let n = 0;
for i in 0..300000 { n += i; }
json(#{ ok: saved.ok, n: n, notes: list("Note").count(#{ text: req.query.text ?? "one" }) });
"#;

/// Lists run inline: a read answered from memory stays on the worker, and one that reaches the
/// database hands the worker's other tasks to another thread first. So a write waiting for the
/// database's lock holds up no other request, and it happens once even when the script then
/// runs past the inline limits.
#[test]
fn a_list_write_leaves_the_worker_free_and_happens_once() {
    let app = TempApp::scaffold("default");
    app.write("models/Note.toml", "[fields]\ntext = { type = \"text\" }\n");
    app.write("routes/views/write.rhai", WRITE_THEN_WORK);
    app.write("routes/index.toml", &(app.read("routes/index.toml") + "\"GET /write\" = \"write\"\n"));
    app.write("keystone.toml", &(app.read("keystone.toml") + "\n[scripts]\ntimeout = \"30s\"\n"));
    // One async worker: a write that kept it while it waited would hold up every other request.
    let server = Server::start_with_env(&app.path, &[], &[("TOKIO_WORKER_THREADS", "1")]);
    let url = server.url.clone();

    let once = http_request("GET", &format!("{url}/write?text=once"), &[], "");
    assert_eq!(once.status, 200, "{}", once.body);
    assert_eq!(once.body, r#"{"n":44999850000,"notes":1,"ok":true}"#, "written once, not again on the pool");

    // Another program holds SQLite's write lock: these writes wait for it (busy_timeout).
    let lock = rusqlite::Connection::open(app.path.join(keystone::lists::SQLITE_FILE)).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE; INSERT INTO ks_updates (name, applied_at) VALUES ('lock', 'now');").unwrap();
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || http_request("GET", &format!("{url}/write?text=waited"), &[], ""))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    let home = http_request("GET", &format!("{url}/"), &[], "");
    let home_ms = started.elapsed().as_millis();
    let writers_waiting = writers.iter().all(|w| !w.is_finished());
    lock.execute_batch("ROLLBACK;").unwrap();
    assert_eq!(home.status, 200);
    assert!(home_ms < 1000, "`/` answered while three writes waited for the lock: {home_ms} ms");
    assert!(writers_waiting, "`/` was measured while the writes waited");
    for writer in writers {
        let reply = writer.join().unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.contains(r#""ok":true"#), "{}", reply.body);
    }
    let count = http_request("GET", &format!("{url}/write?text=waited"), &[], "");
    assert!(count.body.contains(r#""notes":4"#), "three waited writes and this one, each once: {}", count.body);
}
