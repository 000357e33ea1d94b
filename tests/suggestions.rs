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
