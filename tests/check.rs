//! `keystone-rs check`: one fixture per diagnostic code (`tests/fixtures/invalid/CODE`) with a
//! snapshot of its report, exit codes, the JSON shape, colour, clean scaffolds, `routes`, and
//! a realistic app (`tests/fixtures/valid/big_app`) that must check clean and serve.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::util::{BIN, Server, TempApp, copy_dir, keystone, repo};

/// Codes without a fixture: an unreadable file cannot be committed to git; `model-index`
/// (a unique index over repeated values) and `update-failed` come from data in a database,
/// which only `serve` opens (tests/lists.rs covers them).
const NO_FIXTURE: &[&str] = &["file-unreadable", "model-index", "update-failed"];

fn rule(code: &str) -> &'static keystone::check::Rule {
    keystone::check::rules::find(code).unwrap_or_else(|| panic!("`{code}` is not in the registry"))
}

/// Production rules are checked with `--production`.
fn options_of(code: &str) -> &'static [&'static str] {
    if rule(code).when == keystone::check::When::Production { &["--production"] } else { &[] }
}

fn is_warning(code: &str) -> bool {
    rule(code).severity == keystone::diagnostic::Severity::Warning
}

/// `tests/fixtures/invalid/CODE`, or `CODE--VARIANT` for a second place the code comes from.
fn code_of(fixture: &str) -> &str {
    fixture.split("--").next().unwrap()
}

fn invalid_fixtures() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("tests/fixtures/invalid"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `keystone-rs check APP ARGS…` with colour off.
fn check(app: &Path, args: &[&str]) -> Output {
    Command::new(BIN).arg("check").arg(app).args(args).env("NO_COLOR", "1").output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check printed bad JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout)))
}

/// `tests/fixtures/invalid/NAME` applied to a fresh default scaffold, as `app/` in a temp dir
/// (the dir goes with the guard). A fixture holds only the files it changes, plus a
/// `REMOVED` list of scaffold files it deletes.
fn invalid_copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("app");
    let out = keystone(&["new", "app"], dir.path());
    assert!(out.status.success(), "new failed: {}", String::from_utf8_lossy(&out.stderr));
    copy_dir(&repo().join("tests/fixtures/invalid").join(name), &app);
    if let Ok(list) = std::fs::read_to_string(app.join("REMOVED")) {
        for path in list.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
            std::fs::remove_file(app.join(path)).unwrap();
        }
        std::fs::remove_file(app.join("REMOVED")).unwrap();
    }
    (dir, app)
}

#[test]
fn every_invalid_fixture_reports_exactly_its_code() {
    let fixtures = invalid_fixtures();
    assert!(fixtures.len() >= 27, "one fixture per code: {fixtures:?}");
    for name in &fixtures {
        let code = code_of(name);
        let warning = is_warning(code);
        let (_dir, app) = invalid_copy(name);
        let options = options_of(code);
        let with = |args: &[&'static str]| -> Vec<&'static str> { options.iter().chain(args).copied().collect() };

        let human = check(&app, &with(&["--format", "human"]));
        let text = stdout(&human);
        assert_eq!(human.status.code(), Some(if warning { 0 } else { 1 }), "{name}:\n{text}");
        assert!(text.contains(&format!("[{code}]")), "{name}:\n{text}");
        if warning {
            let denied = check(&app, &with(&["--deny-warnings"]));
            assert_eq!(denied.status.code(), Some(1), "{name} with --deny-warnings:\n{}", stdout(&denied));
        }

        let report = json(&check(&app, &with(&["--format", "json"])));
        let diagnostics = report["diagnostics"].as_array().unwrap();
        // A mismatch between page and server is reported where each side names the event.
        let sides = if code == "socket-event-mismatch" { 2 } else { 1 };
        assert_eq!(diagnostics.len(), sides, "{name}: one defect, one diagnostic per side: {report:#}");
        for d in diagnostics {
            assert_eq!(d["code"], code, "{name}: {d:#}");
            assert_eq!(d["severity"], if warning { "warning" } else { "error" }, "{name}: {d:#}");
        }

        // Paths are project-relative; the filter only guards against a regression.
        let text = text.replace(&app.display().to_string(), "[APP]");
        insta::with_settings!({
            description => format!("keystone-rs check tests/fixtures/invalid/{name} {}--format human", options.iter().map(|o| format!("{o} ")).collect::<String>()),
            omit_expression => true,
        }, {
            insta::assert_snapshot!(format!("invalid_{name}"), text);
        });
    }
}

/// Every code of the registry has a fixture, every fixture's code is in the registry, and
/// every code the sources produce is in the registry (so it is documented and tested).
#[test]
fn every_diagnostic_code_has_a_fixture() {
    let registry: BTreeSet<&str> = keystone::check::rules::ALL.iter().map(|r| r.code).collect();
    let fixtures: BTreeSet<String> = invalid_fixtures().iter().map(|f| code_of(f).to_string()).collect();
    let missing: Vec<_> = registry.iter().filter(|c| !fixtures.contains(**c) && !NO_FIXTURE.contains(c)).collect();
    assert!(missing.is_empty(), "codes without tests/fixtures/invalid/CODE: {missing:?}");
    let stale: Vec<_> = fixtures.iter().filter(|f| !registry.contains(f.as_str())).collect();
    assert!(stale.is_empty(), "fixtures whose code is not in the registry: {stale:?}");

    // Codes written literally in the sources (the loader's): each must be registered.
    let pattern =
        regex::Regex::new(r#"(?:Diagnostic::(?:error|warning)\(\s*|template_diagnostic\([^;]*?)"([a-z]+-[a-z-]+)""#)
            .unwrap();
    let mut stack: Vec<PathBuf> = vec![repo().join("src")];
    let mut used = BTreeSet::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let source = std::fs::read_to_string(&path).unwrap();
                used.extend(pattern.captures_iter(&source).map(|c| c[1].to_string()));
            }
        }
    }
    assert!(used.len() >= 10, "the scan found too few codes: {used:?}");
    let unregistered: Vec<_> = used.iter().filter(|c| !registry.contains(c.as_str())).collect();
    assert!(unregistered.is_empty(), "codes the sources produce but the registry lacks: {unregistered:?}");
}

#[test]
fn a_missing_folder_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(&dir.path().join("nope"), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no app folder"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {}", stdout(&out));
}

#[test]
fn json_report_has_every_field_and_a_summary() {
    let (_dir, app) = invalid_copy("link-broken");
    let out = check(&app, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    let d = &report["diagnostics"][0];
    assert_eq!(d["code"], "link-broken");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "`/about` matches no route and no file in public/");
    assert_eq!(d["file"], "templates/views/index.html");
    assert_eq!(d["line"], 4);
    assert_eq!(d["column"], 13);
    assert_eq!(d["snippet"], "<p><a href=\"/about\">About us</a></p>");
    assert!(d["help"].as_str().unwrap().contains("add a route"), "{d:#}");
    assert_eq!(report["summary"]["errors"], 1);
    assert_eq!(report["summary"]["warnings"], 0);

    // A warning counts as a warning; the exit code follows --deny-warnings.
    let (_dir, app) = invalid_copy("orphan-view");
    let out = check(&app, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let report = json(&out);
    assert_eq!(report["diagnostics"][0]["severity"], "warning");
    assert_eq!(report["summary"]["errors"], 0);
    assert_eq!(report["summary"]["warnings"], 1);
    assert_eq!(check(&app, &["--format", "json", "--deny-warnings"]).status.code(), Some(1));

    // A whole-file diagnostic has no position and no snippet.
    let (_dir, app) = invalid_copy("config-missing");
    let d = &json(&check(&app, &["--format", "json"]))["diagnostics"][0];
    assert_eq!(
        (d["file"].as_str(), d["line"].as_u64(), d["column"].as_u64()),
        (Some("keystone.toml"), Some(0), Some(0))
    );
    assert!(d["snippet"].is_null(), "{d:#}");

    let clean = TempApp::scaffold("default");
    let report = json(&check(&clean.path, &["--format", "json"]));
    assert_eq!(report["diagnostics"], Value::Array(vec![]));
    assert_eq!((report["summary"]["errors"].as_u64(), report["summary"]["warnings"].as_u64()), (Some(0), Some(0)));
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    const ESC: &str = "\x1b[";
    let (_dir, app) = invalid_copy("link-broken");
    // Piped: plain, with or without NO_COLOR.
    let piped = Command::new(BIN).arg("check").arg(&app).env_remove("NO_COLOR").output().unwrap();
    assert!(!stdout(&piped).contains(ESC), "{}", stdout(&piped));
    assert!(!stdout(&check(&app, &[])).contains(ESC));

    // On a terminal (a pty from util-linux `script`): colour, unless NO_COLOR is set.
    let on_tty = |no_color: bool| -> Option<String> {
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &format!("{BIN} check {}", app.display()), "/dev/null"]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().ok()?;
        Some(stdout(&out))
    };
    match on_tty(false) {
        Some(text) if text.contains("link-broken") => {
            assert!(text.contains(ESC), "colour on a terminal: {text:?}");
            let text = on_tty(true).unwrap();
            assert!(text.contains("link-broken") && !text.contains(ESC), "NO_COLOR on a terminal: {text:?}");
        }
        _ => eprintln!("skipped the terminal half: util-linux `script` is not available"),
    }
}

#[test]
fn every_scaffold_checks_clean_with_deny_warnings() {
    for template in ["default", "chat", "blog"] {
        let app = TempApp::scaffold(template);
        let out = check(&app.path, &["--deny-warnings"]);
        assert_eq!(out.status.code(), Some(0), "{template}:\n{}", stdout(&out));
        assert_eq!(stdout(&out).trim(), "no problems found", "{template}");
    }
}

#[test]
fn routes_json_lists_routes_and_namespace_events() {
    let app = TempApp::fixture("session_app");
    let out = keystone(&["routes", app.path.to_str().unwrap(), "--format", "json"], &app.path);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = json(&out);
    let routes = listing["routes"].as_array().unwrap();
    let find = |path: &str| {
        routes.iter().find(|r| r["path"] == path).unwrap_or_else(|| panic!("no route {path}: {listing:#}"))
    };
    let index = find("/");
    assert_eq!(
        (&index["methods"], &index["view"], &index["controller"], &index["template"]),
        (
            &Value::from("GET"),
            &Value::from("index"),
            &Value::from("routes/views/index.rhai"),
            &Value::from("templates/views/index.html")
        )
    );
    let admin = find("/admin");
    assert_eq!(admin["guards"], serde_json::json!(["require_user"]));
    assert!(admin["controller"].is_null(), "admin has no controller: {admin:#}");
    assert_eq!(find("/posts/{slug}")["view"], "post");
    assert_eq!(find("/files/{*rest}")["view"], "files");
    assert_eq!(find("/any")["methods"], "ALL");
    assert_eq!(find("/form")["methods"], "GET,POST");
    assert_eq!(find("/login")["methods"], "POST");

    let namespaces = listing["namespaces"].as_array().unwrap();
    let events = |ns: &str, key: &str| -> BTreeSet<String> {
        let entry = namespaces.iter().find(|n| n["namespace"] == ns).unwrap_or_else(|| panic!("no {ns}: {listing:#}"));
        entry[key].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect()
    };
    let root_listens = events("/", "listens");
    for event in ["whoami", "remember", "echo", "join room", "to room", "shout", "disconnect"] {
        assert!(root_listens.contains(event), "/ listens for {event}: {root_listens:?}");
    }
    let root_emits = events("/", "emits");
    for event in ["msg", "room message", "shouted"] {
        assert!(root_emits.contains(event), "/ emits {event}: {root_emits:?}");
    }
    assert!(events("/chat", "listens").contains("ping:me"));
    assert!(events("/chat", "emits").contains("welcome"));
    let script = &namespaces.iter().find(|n| n["namespace"] == "/chat").unwrap()["script"];
    assert_eq!(script, "sockets/chat.rhai");
}

/// A route conflict is reported on the later route, naming the earlier one and its line.
#[test]
fn route_conflicts_point_at_the_later_route() {
    let source = "\"GET /files/{*rest}\" = \"files\"\n\"GET /files/{*path}\" = \"files\"\n";
    let (_, diagnostics) = keystone::project::routes::parse(source);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    assert_eq!((d.code, d.line, d.column), ("route-conflict", 2, 6), "{d:#?}");
    assert_eq!(d.message, "route path `/files/{*path}` conflicts with `/files/{*rest}` on line 1");
}

/// The false-positive fixes must not hide real problems in partials and layouts.
#[test]
fn list_hooks_are_checked_like_other_scripts() {
    let app = TempApp::scaffold("default");
    app.write("models/Note.toml", "[fields]\ntext = { type = \"text\" }\n");
    // Its `io.emit` answers the page's listener; its `list("Nope")` is a mistake.
    app.write(
        "models/Note.rhai",
        "fn after_save(note) {\n    io.emit(\"note:saved\", note);\n    list(\"Nope\").count();\n}\n",
    );
    app.write(
        "templates/views/index.html",
        &app.read("templates/views/index.html")
            .replace("socket.on(\"msg\",", "socket.on(\"note:saved\", function () {});\n  socket.on(\"msg\","),
    );
    let report = json(&check(&app.path, &["--format", "json"]));
    let found: Vec<(&str, &str, u64)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["file"].as_str().unwrap(), d["line"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(found, [("list-unknown", "models/Note.rhai", 3)], "no socket-event-never-emitted for note:saved");
}

#[test]
fn variables_nothing_binds_still_warn_in_partials_and_layouts() {
    let app = TempApp::scaffold("default");
    app.write("templates/partials/card.html", "<div>{{ card_title }} {{ item }}</div>\n");
    app.write(
        "templates/views/index.html",
        &app.read("templates/views/index.html").replace(
            "<h1>Welcome to app</h1>",
            "<h1>Welcome to app</h1>\n{% for item in [1, 2] %}{% include \"partials/card.html\" %}{% endfor %}",
        ),
    );
    let report = json(&check(&app.path, &["--format", "json"]));
    let found: Vec<(&str, &str)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap(), d["message"].as_str().unwrap()))
        .collect();
    assert_eq!(found.len(), 1, "`item` is bound by the loop around the include, `card_title` by nothing: {found:?}");
    assert_eq!(found[0].0, "template-variable-undefined");
    assert!(found[0].1.contains("`card_title`"), "{found:?}");
}

#[test]
fn big_app_loads_and_checks_without_a_single_diagnostic() {
    let app = TempApp::fixture("big_app");
    let project = keystone::project::load(&app.path);
    assert!(project.diagnostics.is_empty(), "{:#?}", project.diagnostics);
    assert!(project.routes.routes.len() >= 20, "{} routes", project.routes.routes.len());
    let namespaces: Vec<&str> = project.sockets.keys().map(String::as_str).collect();
    assert_eq!(namespaces, ["/", "/admin", "/chat", "/notifications"]);
    let found = keystone::check::run(&project, false);
    assert!(found.is_empty(), "false positives:\n{}", keystone::diagnostic::render_all(&found, false));

    let out = check(&app.path, &["--deny-warnings"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).trim(), "no problems found");
}

/// The big app is not just clean on paper: its pages render, guards redirect, forms post.
#[test]
fn big_app_serves_its_pages() {
    let app = TempApp::fixture("big_app");
    let server = Server::start(&app.path);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let get = |path: &str| {
            let request = client.get(format!("{}{path}", server.url));
            async move {
                let response = request.send().await.unwrap();
                let status = response.status().as_u16();
                let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
                (status, location, response.text().await.unwrap())
            }
        };
        let token = |page: &str| {
            const FIELD: &str = "name=\"csrf_token\" value=\"";
            let at = page.find(FIELD).map_or(page.len(), |i| i + FIELD.len());
            page[at..].split('"').next().unwrap_or("").to_string()
        };

        for path in [
            "/",
            "/about",
            "/contact",
            "/docs/getting-started",
            "/docs/sockets/rooms",
            "/blog",
            "/blog?page=2",
            "/blog/feed.json",
            "/blog/tag/rust",
            "/blog/sessions-over-sockets",
            "/login",
            "/signup",
            "/api/posts",
            "/api/ping",
            "/css/site.css",
            "/js/app.js",
            "/images/logo.svg",
        ] {
            let (status, _, body) = get(path).await;
            assert_eq!(status, 200, "GET {path}:\n{body}\n{}", server.output());
        }
        assert_eq!(get("/docs/missing").await.0, 404);
        assert_eq!(get("/blog/missing").await.0, 404);
        let (_, _, post) = get("/blog/templates-three-deep").await;
        assert!(post.contains("<h1>Templates, three deep</h1>"), "view content: {post}");
        assert!(post.contains("data-active=\"blog\""), "a section layout's `set` reaches the base layout: {post}");
        assert!(post.contains("<h3>Tags</h3>") && post.contains("href=\"/blog/tag/templates\""), "sidebar: {post}");
        assert!(post.contains("<strong>grace</strong>"), "comments partial: {post}");
        assert!(post.contains("/css/site.css?v="), "asset(): {post}");

        // Guards: signed out, to the login page.
        for path in ["/account", "/chat", "/chat/rust", "/notifications", "/admin"] {
            let (status, location, _) = get(path).await;
            assert_eq!((status, location.as_deref()), (302, Some("/login")), "GET {path}");
        }

        // Sign in as the administrator.
        let (_, _, login) = get("/login").await;
        let form = [("name", "admin"), ("csrf_token", &token(&login))];
        let response = client.post(format!("{}/login", server.url)).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302, "{}", server.output());
        for path in [
            "/account",
            "/account/settings",
            "/notifications",
            "/chat",
            "/chat/general",
            "/admin",
            "/admin/posts",
            "/admin/posts/new",
            "/admin/posts/1/edit",
            "/admin/users",
        ] {
            let (status, _, body) = get(path).await;
            assert_eq!(status, 200, "GET {path} signed in:\n{body}\n{}", server.output());
        }
        let (_, location, _) = get("/chat/nowhere").await;
        assert_eq!(location.as_deref(), Some("/chat"));
        let (_, _, contact) = get("/contact").await;
        let form = [
            ("name", "Ada"),
            ("email", "ada@example.com"),
            ("message", "Hello from the test suite"),
            ("csrf_token", &token(&contact)),
        ];
        let response = client.post(format!("{}/contact", server.url)).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
        assert!(response.text().await.unwrap().contains("Thank you, Ada!"), "render() of another view");

        // A comment (a guarded POST that calls emit_to_session), then sign out (destroy_session).
        let (_, _, post) = get("/blog/hello-lighthouse").await;
        let form = [("text", "Nice post"), ("csrf_token", &token(&post))];
        let url = format!("{}/blog/hello-lighthouse/comments", server.url);
        let response = client.post(url).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302, "{}", server.output());
        assert_eq!(response.headers()["location"], "/blog/hello-lighthouse");
        let (_, _, home) = get("/").await;
        let form = [("csrf_token", token(&home))];
        let response = client.post(format!("{}/logout", server.url)).form(&form).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 302, "{}", server.output());
        assert_eq!(get("/account").await.1.as_deref(), Some("/login"), "signed out");
    });
}

/// Five realistic mistakes in one app, all reported by one run, each with file:line.
#[test]
fn five_mistakes_in_one_app_are_all_reported_in_one_run() {
    let app = TempApp::scaffold("default");
    app.write("keystone.toml", &app.read("keystone.toml").replace("[session]", "[sesion]"));
    app.write("routes/index.toml", &(app.read("routes/index.toml") + "\"GET /about\" = \"about\"\n"));
    let view = app
        .read("templates/views/index.html")
        .replace("<h1>", "{% include \"partials/nav.html\" %}\n<a href=\"/contact\">Contact</a>\n<h1>")
        .replace("socket.on(\"msg\"", "socket.on(\"mgs\"");
    app.write("templates/views/index.html", &view);
    let out = check(&app.path, &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = json(&out);
    let found: BTreeSet<&str> =
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> =
        ["config-unknown-key", "view-missing-template", "template-missing", "link-broken", "socket-event-mismatch"]
            .into();
    assert_eq!(found, expected, "{report:#}");
    for d in report["diagnostics"].as_array().unwrap() {
        assert!(d["line"].as_u64().unwrap() > 0 && d["snippet"].is_string(), "file:line and a snippet: {d:#}");
    }
    let typo = report["diagnostics"].as_array().unwrap().iter().find(|d| d["code"] == "config-unknown-key").unwrap();
    assert!(typo["help"].as_str().unwrap().contains("did you mean `session`?"), "{typo:#}");
}
