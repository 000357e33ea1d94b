//! The development error page (a script or template failing while answering a request): the
//! message in plain words, the code frame with the span underlined, the request and the
//! session, the same in the terminal; production answers with the generic page.
use std::time::Duration;

use crate::util::{Server, TempApp, http_request};

/// The default scaffold plus `/boom`, whose controller reads a property of an unset value, and
/// `/total`, whose template adds a number to a string.
fn broken_app() -> TempApp {
    let app = TempApp::scaffold("default");
    app.write("routes/views/boom.rhai", "locals.section = \"\";\nlet name = session.user.name;\n");
    app.write("templates/views/boom.html", "{% extends \"layouts/default.html\" %}\n");
    app.write(
        "templates/views/total.html",
        "{% extends \"layouts/default.html\" %}\n{% block content %}\n<p>{{ navLinks|length + \"x\" }}</p>\n{% endblock %}\n",
    );
    let routes = app.read("routes/index.toml");
    app.write(
        "routes/index.toml",
        &format!("{routes}\"GET,POST /boom/{{id}}\" = \"boom\"\n\"GET /total\" = \"total\"\n"),
    );
    app
}

/// GET / (which stores `session.message`), then `path` with the same cookie.
fn visit_after_home(server: &Server, path: &str) -> (u16, String) {
    let home = http_request("GET", &format!("{}/", server.url), &[], "");
    let cookie = home.header("set-cookie").expect("a session cookie").split(';').next().unwrap().to_string();
    let reply = http_request("GET", &format!("{}{path}", server.url), &[("Cookie", &cookie)], "");
    (reply.status, reply.body)
}

#[test]
fn a_failing_controller_shows_plain_words_the_code_frame_the_request_and_the_session() {
    let app = broken_app();
    let server = Server::start(&app.path);
    let (status, page) = visit_after_home(&server, "/boom/42?tab=info");
    assert_eq!(status, 500, "{page}");
    assert!(page.contains("`.name` was read from an empty value (unit)"), "plain words, not `()`: {page}");
    assert!(page.contains("routes/views/boom.rhai:2:"), "{page}");
    assert!(page.contains("<span class=\"hit\"><b class=\"n\">2 | </b>let name = session.user.name;</span>"), "{page}");
    assert!(page.contains("<b class=\"mark\">^^^^</b>"), "the failing property is underlined: {page}");
    assert!(page.contains("<dt>id</dt><dd><code>&quot;42&quot;</code></dd>"), "route params: {page}");
    assert!(page.contains("<dt>tab</dt><dd><code>&quot;info&quot;</code></dd>"), "query: {page}");
    assert!(page.contains("<dt>message</dt><dd><code>&quot;Hello World&quot;</code></dd>"), "the session: {page}");
    assert!(page.contains("/__keystone/live.js"), "the page heals by itself after the fix");

    assert!(
        // The report's last line: the terminal writes the whole report, but not in one read.
        server.wait_for_output("session: {\"message\":\"Hello World\"}", Duration::from_secs(10)),
        "{}",
        server.output()
    );
    let output = server.output();
    assert!(output.contains("GET /boom/42: error[script-error]"), "{output}");
    assert!(output.contains("2 | let name = session.user.name;"), "the terminal shows the frame too:\n{output}");
    assert!(output.contains("session: {\"message\":\"Hello World\"}"), "{output}");
}

#[test]
fn a_failing_template_points_at_the_expression_in_the_template() {
    let app = broken_app();
    let server = Server::start(&app.path);
    let (status, page) = visit_after_home(&server, "/total");
    assert_eq!(status, 500, "{page}");
    assert!(page.contains("template error"), "{page}");
    assert!(page.contains("templates/views/total.html:3:"), "{page}");
    assert!(page.contains("3 | </b>&lt;p&gt;{{ navLinks|length + &quot;x&quot; }}&lt;/p&gt;"), "{page}");
    assert!(page.contains("<b class=\"mark\">^^^"), "{page}");
}

#[test]
fn production_keeps_the_generic_error_page() {
    let app = broken_app();
    let server = Server::start_with(&app.path, &["--production"]);
    let (status, page) = visit_after_home(&server, "/boom/1");
    assert_eq!(status, 500);
    assert!(page.contains("Something went wrong"), "{page}");
    for detail in ["boom.rhai", "session.user", "Hello World", "empty value"] {
        assert!(!page.contains(detail), "production leaks {detail:?}: {page}");
    }
    assert!(
        server.wait_for_output("routes/views/boom.rhai:2", Duration::from_secs(10)),
        "the terminal still says where"
    );
}
