//! "Did you mean": a name one typo away from a known one is pointed out, and a socket event
//! misspelt between page and server is an error reported on both sides.
use serde_json::Value;

use crate::util::{TempApp, keystone};

fn check_json(app: &TempApp) -> (i32, Vec<Value>) {
    let out = keystone(&["check", app.path.to_str().unwrap(), "--format", "json"], &app.path);
    let report: Value = serde_json::from_slice(&out.stdout).expect("check --format json prints JSON");
    (out.status.code().unwrap(), report["diagnostics"].as_array().unwrap().clone())
}

#[test]
fn a_misspelt_socket_event_is_an_error_on_both_sides() {
    let app = TempApp::scaffold("default");
    let page = app.read("templates/views/index.html").replace("socket.on(\"msg\"", "socket.on(\"mgs\"");
    app.write("templates/views/index.html", &page);
    let (status, diagnostics) = check_json(&app);
    assert_eq!(status, 1, "an error, not a warning: {diagnostics:#?}");
    let client = diagnostics
        .iter()
        .find(|d| d["file"] == "templates/views/index.html")
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!(client["severity"], "error");
    assert!(client["message"].as_str().unwrap().contains("`mgs`, but the server emits `msg`"), "{client}");
    assert!(client["help"].as_str().unwrap().contains("did you mean `msg`?"), "{client}");
    assert_eq!(client["snippet"].as_str().unwrap().trim(), "socket.on(\"mgs\", function (message) {");
    let server =
        diagnostics.iter().find(|d| d["file"] == "sockets/index.rhai").unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!(server["severity"], "error");
    assert!(server["message"].as_str().unwrap().contains("listens for `mgs`"), "{server}");
    assert!(
        server["snippet"].as_str().unwrap().contains("socket.emit(\"msg\""),
        "points at the server's emit: {server}"
    );
}

#[test]
fn a_misspelt_client_emit_points_at_the_server_handler() {
    let app = TempApp::scaffold("chat");
    let page =
        app.read("templates/views/chat.html").replace("socket.emit(\"chat message\"", "socket.emit(\"chat mesage\"");
    app.write("templates/views/chat.html", &page);
    let (status, diagnostics) = check_json(&app);
    assert_eq!(status, 1, "{diagnostics:#?}");
    assert!(
        diagnostics.iter().any(|d| d["file"] == "templates/views/chat.html"
            && d["help"].as_str().is_some_and(|h| h.contains("did you mean `chat message`?"))),
        "{diagnostics:#?}"
    );
    assert!(
        diagnostics.iter().any(|d| d["file"] == "sockets/index.rhai" && d["code"] == "socket-event-mismatch"),
        "{diagnostics:#?}"
    );
}

#[test]
fn an_unrelated_unhandled_event_stays_a_warning() {
    let app = TempApp::scaffold("default");
    let page = app.read("templates/views/index.html").replace("socket.on(\"msg\"", "socket.on(\"weather\"");
    app.write("templates/views/index.html", &page);
    let (status, diagnostics) = check_json(&app);
    assert_eq!(status, 0, "{diagnostics:#?}");
    assert!(diagnostics.iter().all(|d| d["severity"] == "warning"), "{diagnostics:#?}");
}

fn find<'a>(diagnostics: &'a [Value], code: &str) -> &'a Value {
    diagnostics.iter().find(|d| d["code"] == code).unwrap_or_else(|| panic!("no {code}: {diagnostics:#?}"))
}

#[test]
fn misspelt_views_guards_and_url_for_targets_get_a_suggestion() {
    let app = TempApp::scaffold("chat");
    let routes = app
        .read("routes/index.toml")
        .replace("view = \"chat\", before = [\"require_nickname\"]", "view = \"chta\", before = [\"require_nicknme\"]");
    app.write("routes/index.toml", &routes);
    let (_, diagnostics) = check_json(&app);
    assert!(find(&diagnostics, "view-missing-template")["help"].as_str().unwrap().starts_with("did you mean `chat`?"));
    assert!(
        find(&diagnostics, "guard-missing")["help"].as_str().unwrap().starts_with("did you mean `require_nickname`?")
    );

    // The rules over the wiring run once the project loads.
    let app = TempApp::scaffold("chat");
    let page = app.read("templates/views/index.html");
    app.write("templates/views/index.html", &format!("{page}<a href=\"{{{{ url_for('indx') }}}}\">home</a>\n"));
    let (_, diagnostics) = check_json(&app);
    assert!(find(&diagnostics, "url-for-unknown-view")["help"].as_str().unwrap().starts_with("did you mean `index`?"));
}

#[test]
fn links_built_in_scripts_are_checked_like_template_links() {
    let app = TempApp::scaffold("default");
    app.write("templates/views/about.html", "{% extends \"layouts/default.html\" %}\n");
    let routes = app.read("routes/index.toml");
    app.write("routes/index.toml", &format!("{routes}\"GET /about\" = \"about\"\n"));
    let middleware = app.read("routes/middleware.rhai").replace(
        "#{ label: \"Home\", key: \"home\", href: \"/\" },",
        "#{ label: \"Home\", key: \"home\", href: \"/\" },\n    #{ label: \"About\", key: \"about\", href: \"/abuot\" },",
    );
    app.write("routes/middleware.rhai", &middleware);
    app.write("routes/views/about.rhai", "if req.query.old == \"1\" { redirect(\"/nowhere\"); }\n");
    let (status, diagnostics) = check_json(&app);
    assert_eq!(status, 1, "{diagnostics:#?}");
    let nav = diagnostics
        .iter()
        .find(|d| d["file"] == "routes/middleware.rhai")
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!(nav["code"], "link-broken");
    assert!(nav["snippet"].as_str().unwrap().contains("href: \"/abuot\""), "{nav}");
    assert!(nav["help"].as_str().unwrap().starts_with("did you mean `/about`?"), "{nav}");
    let redirect = diagnostics
        .iter()
        .find(|d| d["file"] == "routes/views/about.rhai")
        .unwrap_or_else(|| panic!("{diagnostics:#?}"));
    assert_eq!(redirect["code"], "link-broken", "{redirect}");

    // The scaffolds' own links all resolve.
    for template in ["default", "chat"] {
        let (status, diagnostics) = check_json(&TempApp::scaffold(template));
        assert_eq!((status, diagnostics.len()), (0, 0), "{template}: {diagnostics:#?}");
    }
}
