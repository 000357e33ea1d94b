//! Live reload against a real `serve`, real files and the real watcher: edits apply without a
//! restart, broken edits keep the last good version, browsers are told what changed.
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{NodeProcess, Server, TempApp, eventually, http_get, node, repo};

const WAIT: Duration = Duration::from_secs(10);

/// The live-reload events a page would get, recorded by the official client.
struct LiveEvents(NodeProcess);

impl LiveEvents {
    fn listen(url: &str) -> LiveEvents {
        let live = LiveEvents(NodeProcess::spawn("live.mjs", &["events", url]));
        live.wait("connected");
        live
    }

    fn named(&self, name: &str) -> Vec<Value> {
        self.0.lines().into_iter().filter(|e| e["event"] == name).collect()
    }

    /// Waits for an event called `name` (since the last `clear`) and returns its data.
    fn wait(&self, name: &str) -> Value {
        eventually(&format!("live event `{name}`"), WAIT, || self.named(name).last().map(|e| e["data"].clone()))
    }

    fn clear(&self) {
        self.0.clear();
    }
}

fn body_of(server: &Server, path: &str) -> String {
    http_get(&format!("{}{path}", server.url)).1
}

fn until_body_contains(server: &Server, path: &str, text: &str) -> String {
    eventually(&format!("{path} to contain {text:?}"), WAIT, || {
        Some(body_of(server, path)).filter(|b| b.contains(text))
    })
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn edited_template_changes_the_next_response_and_pages_are_told_to_reload() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let live = LiveEvents::listen(&server.url);
    assert!(body_of(&server, "/").contains("<script src=\"/__keystone/live.js\" defer></script></body>"));

    let view = app.read("templates/views/index.html").replace("Welcome to", "Hello from an edit in");
    app.write("templates/views/index.html", &view);
    until_body_contains(&server, "/", "Hello from an edit in app");
    live.wait("reload");
    assert!(live.named("css").is_empty(), "a template edit is a reload, not a stylesheet swap");
}

#[test]
fn a_changed_layout_reaches_every_view_that_extends_it() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let layout = app.read("templates/layouts/default.html").replace("<main>", "<main data-edited=\"yes\">");
    app.write("templates/layouts/default.html", &layout);
    until_body_contains(&server, "/", "data-edited=\"yes\"");
}

#[test]
fn an_atomic_rename_save_is_picked_up() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let edited = app.read("templates/views/index.html").replace("Welcome to", "Renamed into");
    // What vim and JetBrains do: write a temporary file, then rename it over the original.
    let tmp = app.path.join("templates/views/.index.html.tmp~");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, app.path.join("templates/views/index.html")).unwrap();
    until_body_contains(&server, "/", "Renamed into app");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_broken_template_keeps_the_last_good_page_and_the_fix_clears_it() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let live = LiveEvents::listen(&server.url);
    let good = app.read("templates/views/index.html");
    app.write("templates/views/index.html", &format!("{good}\n{{% if %}}\n"));

    let diagnostics = live.wait("diagnostics");
    let first = &diagnostics[0];
    assert_eq!(first["file"], "templates/views/index.html", "{diagnostics}");
    assert_eq!(first["code"], "template-syntax");
    assert!(first["line"].as_u64().unwrap() > 10, "names the line: {diagnostics}");
    assert!(first["snippet"].as_str().unwrap().contains("{% if %}"));
    assert!(body_of(&server, "/").contains("Welcome to app"), "the last good version keeps serving");
    assert!(server.wait_for_output("still serving the last good version", WAIT), "{}", server.output());

    // A page opened while broken is shown the problem at once.
    let late = LiveEvents::listen(&server.url);
    late.wait("diagnostics");

    live.clear();
    app.write("templates/views/index.html", &good.replace("Welcome to", "Fixed"));
    live.wait("reload");
    live.wait("fixed");
    until_body_contains(&server, "/", "Fixed app");
}

#[test]
fn a_save_paused_between_truncating_and_writing_does_not_make_the_empty_file_the_last_good_one() {
    // A writer that truncates the file, pauses past the quiet moment, then writes a broken
    // version: the burst lasts until it closes the file, so what served before comes back.
    use std::io::Write as _;
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let good = app.read("templates/views/index.html");
    let mut file = std::fs::File::create(app.path.join("templates/views/index.html")).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    file.write_all(format!("{good}\n{{% if %}}\n").as_bytes()).unwrap();
    drop(file);
    assert!(server.wait_for_output("still serving the last good version", WAIT), "{}", server.output());
    until_body_contains(&server, "/", "Welcome to app");
    assert!(
        !server.output().contains("reloaded after"),
        "the half-written file never served as good: {}",
        server.output()
    );
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn an_edit_only_the_checks_find_broken_brings_back_the_last_good_page() {
    // It loads (minijinja fails an unknown filter only when rendering), so it may serve for
    // the moment the checks take; then the checks bring back what served before.
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let live = LiveEvents::listen(&server.url);
    let good = app.read("templates/views/index.html");
    app.write("templates/views/index.html", &good.replace("Welcome to", "{{ 1|no_such_filter }} Broken"));

    let diagnostics = live.wait("diagnostics");
    assert_eq!(diagnostics[0]["code"], "template-filter-unknown", "{diagnostics}");
    assert!(server.wait_for_output("still serving the last good version", WAIT), "{}", server.output());
    until_body_contains(&server, "/", "Welcome to app");
}

#[test]
fn a_route_added_to_the_table_serves_without_a_restart() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    assert_eq!(http_get(&format!("{}/about", server.url)).0, 404);
    let routes = app.read("routes/index.toml") + "\"GET /about\" = \"about\"\n";
    app.write(
        "templates/views/about.html",
        "{% extends \"layouts/default.html\" %}{% block content %}About us{% endblock %}",
    );
    app.write("routes/index.toml", &routes);
    eventually("GET /about", WAIT, || Some(http_get(&format!("{}/about", server.url))).filter(|(s, _)| *s == 200));
    assert!(body_of(&server, "/about").contains("About us"));
}

#[test]
fn a_changed_controller_runs_on_the_next_request() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    app.write(
        "routes/views/index.rhai",
        "locals.section = \"home\";\nsession.message = \"Hello World\";\nlocals.extra = \"from the new controller\";\n",
    );
    let view = app.read("templates/views/index.html").replace("<h1>", "<h1>{{ extra }} ");
    app.write("templates/views/index.html", &view);
    until_body_contains(&server, "/", "from the new controller");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_changed_socket_handler_serves_new_connections() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    assert!(node("live.mjs", &["first-msg", &server.url]).contains(r#"{"msg":null}"#), "no session: null message");
    let script = app
        .read("sockets/index.rhai")
        .replace("socket.emit(\"msg\", socket.session.message);", "socket.emit(\"msg\", \"new handler\");");
    app.write("sockets/index.rhai", &script);
    eventually("the new socket handler", WAIT, || {
        Some(node("live.mjs", &["first-msg", &server.url])).filter(|o| o.contains("new handler"))
    });
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_new_socket_namespace_accepts_connections_without_a_restart() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    app.write("sockets/news.rhai", "fn connect(socket) { socket.emit(\"msg\", \"news\"); }\n");
    let url = format!("{}/news", server.url);
    eventually("namespace /news", WAIT, || {
        node_ok("live.mjs", &["first-msg", &url]).filter(|o| o.contains("\"news\""))
    });
}

/// Like `node`, but `None` instead of a panic when the script fails.
fn node_ok(script: &str, args: &[&str]) -> Option<String> {
    let out = Command::new("node").arg(repo().join("tests/js").join(script)).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_css_only_change_swaps_stylesheets_instead_of_reloading() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let live = LiveEvents::listen(&server.url);
    let css = app.read("public/styles/site.css") + "h1 { color: rebeccapurple; }\n";
    app.write("public/styles/site.css", &css);
    let urls = live.wait("css");
    let url = urls["/styles/site.css"].as_str().unwrap();
    assert!(url.starts_with("/styles/site.css?v="), "{urls}");
    assert!(body_of(&server, "/").contains(url), "pages now link the new asset URL");
    // A template edit afterwards is a marker: events arrive in order, so a reload for the CSS
    // would come before the marker's.
    app.write("templates/views/index.html", &app.read("templates/views/index.html").replace("Welcome", "Hello"));
    live.wait("reload");
    assert_eq!(live.named("reload").len(), 1, "no reload for CSS, one for the marker: {:?}", live.0.lines());
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_burst_of_fifty_writes_gives_one_reload() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let live = LiveEvents::listen(&server.url);
    for i in 0..50 {
        app.write(&format!("templates/partials/part{i}.html"), &format!("<p>part {i}</p>"));
    }
    live.wait("reload");
    // A template edit afterwards is a marker: once the page shows it, its reload has been
    // announced, and a second reload of the burst would have come before it.
    app.write("templates/views/index.html", &app.read("templates/views/index.html").replace("Welcome", "Marker"));
    until_body_contains(&server, "/", "Marker");
    eventually("the marker's reload", WAIT, || (live.named("reload").len() >= 2).then_some(()));
    assert_eq!(live.named("reload").len(), 2, "one reload for the burst, one for the marker: {:?}", live.0.lines());
    drop(server);
}

#[test]
fn a_setting_that_needs_a_restart_says_so_and_the_server_keeps_running() {
    let app = TempApp::scaffold("default");
    let server = Server::start(&app.path);
    let toml = app.read("keystone.toml").replace("port = 3000", "port = 4321");
    app.write("keystone.toml", &toml);
    assert!(server.wait_for_output("takes effect when serve restarts", WAIT), "{}", server.output());
    assert_eq!(http_get(&format!("{}/", server.url)).0, 200);
}

#[test]
fn production_mode_injects_nothing_and_ignores_edits() {
    let app = TempApp::scaffold("default");
    let server = Server::start_with(&app.path, &["--production"]);
    let page = body_of(&server, "/");
    assert!(page.contains("Welcome to app") && !page.contains("__keystone"), "{page}");
    assert_eq!(http_get(&format!("{}/__keystone/live.js", server.url)).0, 404);
    // A development server on the same folder is the witness that the edit was seen.
    let witness = Server::start(&app.path);
    let view = app.read("templates/views/index.html").replace("Welcome to", "Edited");
    app.write("templates/views/index.html", &view);
    until_body_contains(&witness, "/", "Edited app");
    assert!(body_of(&server, "/").contains("Welcome to app"), "production ignores edits");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_deleted_socket_namespace_stops_accepting_connections() {
    let app = TempApp::scaffold("default");
    app.write("sockets/news.rhai", "fn connect(socket) { socket.emit(\"msg\", \"news\"); }\n");
    let server = Server::start(&app.path);
    let url = format!("{}/news", server.url);
    assert!(node("live.mjs", &["first-msg", &url]).contains("\"news\""));
    std::fs::remove_file(app.path.join("sockets/news.rhai")).unwrap();
    eventually("namespace /news to go away", WAIT, || {
        let out = Command::new("node").arg(repo().join("tests/js/live.mjs")).args(["first-msg", &url]).output().ok()?;
        (!out.status.success()).then_some(())
    });
    assert!(node("live.mjs", &["first-msg", &server.url]).contains("msg"), "/ stays");
}

/// A project broken when `serve` starts still serves in development: the broken page says
/// why, the rest serves, and the fix heals it without a restart. Production refuses to start.
#[test]
fn serve_starts_on_a_broken_project_in_development_and_heals_on_the_fix() {
    let app = TempApp::scaffold("default");
    let good = app.read("templates/views/index.html");
    app.write("templates/views/index.html", &format!("{good}\n{{% if %}}\n"));
    app.write(
        "templates/views/about.html",
        "{% extends \"layouts/default.html\" %}{% block content %}<h1>About</h1>{% endblock %}",
    );
    app.write("routes/index.toml", &(app.read("routes/index.toml") + "\"GET /about\" = \"about\"\n"));

    let production =
        crate::util::keystone(&["serve", app.path.to_str().unwrap(), "--port", "0", "--production"], &app.path);
    assert_eq!(production.status.code(), Some(1), "{}", String::from_utf8_lossy(&production.stderr));
    assert!(String::from_utf8_lossy(&production.stderr).contains("template-syntax"));

    let server = Server::start(&app.path);
    assert!(
        server.wait_for_output("template-syntax", std::time::Duration::from_secs(10)),
        "the diagnostic is printed: {}",
        server.output()
    );
    let (status, page) = http_get(&format!("{}/", server.url));
    assert_eq!(status, 500, "{page}");
    assert!(page.contains("templates/views/index.html:"), "the page names the file and line: {page}");
    assert!(page.contains("/__keystone/live.js"), "the page carries the overlay script: {page}");
    assert!(body_of(&server, "/about").contains("<h1>About</h1>"), "what loaded serves");

    app.write("templates/views/index.html", &good);
    until_body_contains(&server, "/", "Welcome to app");
}

#[test]
#[cfg_attr(not(feature = "e2e"), ignore = "needs Node: cargo test --features e2e")]
fn a_project_broken_at_start_shows_its_errors_to_open_pages_until_fixed() {
    let app = TempApp::scaffold("default");
    let good = app.read("templates/views/index.html");
    app.write("templates/views/index.html", &format!("{good}\n{{% if %}}\n"));
    let server = Server::start(&app.path);
    let live = LiveEvents::listen(&server.url);
    let diagnostics = live.wait("diagnostics");
    assert_eq!(diagnostics[0]["code"], "template-syntax", "{diagnostics}");
    app.write("templates/views/index.html", &good);
    live.wait("fixed");
    until_body_contains(&server, "/", "Welcome to app");
}
