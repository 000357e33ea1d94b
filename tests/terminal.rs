//! What `serve` prints (DESIGN §7): the network URL, warnings printed once, timestamps and
//! JSON lines for production logs; and `env("NAME")` for scripts, which never yields the secret.
use std::time::Duration;

use crate::util::{SECRET, Server, TempApp, http_get};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn serve_on_every_interface_shows_the_network_url_too() {
    let app = TempApp::scaffold("default");
    let server = Server::start_with(&app.path, &["--host", "0.0.0.0"]);
    assert!(server.url.starts_with("http://127.0.0.1:"), "the local URL comes first: {}", server.url);
    assert!(server.wait_for_output("on your network:", WAIT), "{}", server.output());
    let output = server.output();
    let port = server.url.rsplit(':').next().unwrap();
    for line in output.lines().filter(|l| l.contains("on your network: http://")) {
        assert!(line.trim_end().ends_with(&format!(":{port}/")), "{line}");
        assert!(!line.contains("127.0.0.1"), "{line}");
    }
    let (status, _) = http_get(&format!("{}/", server.url));
    assert_eq!(status, 200);

    let local = Server::start(&app.path);
    assert!(!local.output().contains("on your network"), "only when listening beyond loopback");
}

#[test]
fn an_unchanged_warning_is_not_printed_again_at_every_reload() {
    let app = TempApp::scaffold("default");
    app.write("templates/views/orphan.html", "<p>nobody renders me</p>\n");
    let server = Server::start(&app.path);
    assert!(server.wait_for_output("orphan-view", WAIT), "{}", server.output());

    for (i, title) in ["First edit", "Second edit"].iter().enumerate() {
        let index = app.read("templates/views/index.html").replace("<h1>", &format!("<h1>{title} "));
        app.write("templates/views/index.html", &index);
        let reloaded = crate::util::eventually("a reload", WAIT, || {
            let output = server.output();
            (output.matches("reloaded after").count() > i).then_some(output)
        });
        assert_eq!(reloaded.matches("orphan-view").count(), 1, "printed once, at start:\n{reloaded}");
        assert!(reloaded.contains("1 warning shown before, unchanged"), "{reloaded}");
    }

    // A new warning prints; the old one still does not.
    app.write("templates/views/stray.html", "<p>nor me</p>\n");
    let output = crate::util::eventually("the new warning", WAIT, || {
        let output = server.output();
        output.contains("view `stray`").then_some(output)
    });
    assert_eq!(output.matches("view `orphan`").count(), 1, "{output}");
}

#[test]
fn timestamps_start_every_line_when_asked_for() {
    let app = TempApp::scaffold("default");
    let server = Server::start_with(&app.path, &["--timestamps"]);
    http_get(&format!("{}/", server.url));
    assert!(server.wait_for_output("GET / 200", WAIT), "{}", server.output());
    let output = server.output();
    let line = output.lines().find(|l| l.contains("GET / 200")).unwrap();
    let stamp = line.split(' ').next().unwrap();
    let rfc3339 = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$").unwrap();
    assert!(rfc3339.is_match(stamp), "starts with an RFC 3339 time: {line}");
    let banner = output.lines().find(|l| l.contains("keystone-rs serving")).unwrap();
    assert!(banner.starts_with(|c: char| c.is_ascii_digit()), "{banner}");
}

#[test]
fn log_format_json_prints_one_object_per_line() {
    let app = TempApp::scaffold("default");
    let server = Server::start_with(&app.path, &["--log-format", "json"]);
    http_get(&format!("{}/", server.url));
    let request = crate::util::eventually("a JSON request line", WAIT, || {
        server
            .output()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["kind"] == "request")
    });
    assert_eq!(request["method"], "GET");
    assert_eq!(request["path"], "/");
    assert_eq!(request["status"], 200);
    assert!(request["ms"].is_number() && request["time"].is_string(), "{request}");
    for line in server.output().lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(value["level"].is_string() && value["kind"].is_string(), "{line}");
    }
}

#[test]
fn scripts_read_settings_with_env_but_never_the_secret() {
    let app = TempApp::scaffold("default");
    app.write(".env", "GREETING=Hello from .env\n");
    app.write("routes/views/index.rhai", "locals.section = \"home\";\nsession.message = env(\"GREETING\");\nlocals.missing = env(\"KEYSTONE_TEST_UNSET\", \"fallback\");\n");
    app.write(
        "templates/views/index.html",
        "{% extends \"layouts/default.html\" %}{% block content %}<p id=\"g\">{{ session.message }}</p><p>{{ missing }}</p>{% endblock %}",
    );
    app.write("routes/views/leak.rhai", "locals.secret = env(\"KEYSTONE_SECRET\");\n");
    app.write(
        "templates/views/leak.html",
        "{% extends \"layouts/default.html\" %}{% block content %}{{ secret }}{% endblock %}",
    );
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /leak\" = \"leak\"\n"));

    let server = Server::start(&app.path);
    let (status, body) = http_get(&format!("{}/", server.url));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<p id=\"g\">Hello from .env</p>"), "{body}");
    assert!(body.contains("<p>fallback</p>"), "{body}");

    let (status, body) = http_get(&format!("{}/leak", server.url));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("never readable"), "the developer is told why: {body}");
    assert!(!body.contains(SECRET), "the secret never reaches the page");
    assert!(!server.output().contains(SECRET), "nor the terminal");
}
