//! The command line as a user meets it: generators, `--help` examples, `-p`, shell
//! completions in a real bash, `--open` failures, and `new` starting a git repository.
use std::path::Path;
use std::process::Command;

use crate::util::{BIN, TempApp, keystone};

fn check_passes(app: &Path) -> String {
    let out = keystone(&["check", app.to_str().unwrap()], app);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "check fails after generate:\n{text}");
    text
}

fn generate(app: &TempApp, args: &[&str]) -> std::process::Output {
    let mut all = vec!["generate"];
    all.extend_from_slice(args);
    keystone(&all, &app.path)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn generate_view_writes_template_and_route_and_the_page_serves() {
    let app = TempApp::scaffold("default");
    let out = generate(&app, &["view", "about"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.contains("created  templates/views/about.html"), "{said}");
    assert!(said.contains("updated  routes/index.toml (+ \"GET /about\" = \"about\")"), "{said}");
    assert!(app.read("routes/index.toml").contains("\"GET /about\" = \"about\""));
    assert!(app.read("routes/index.toml").starts_with("# Binds URLs"), "the table keeps its comments");
    let report = check_passes(&app.path);
    assert!(report.contains("no problems found"), "no warning either:\n{report}");

    let server = crate::util::Server::start(&app.path);
    let (status, body) = crate::util::http_get(&format!("{}/about", server.url));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<h1>About</h1>") && body.contains("<nav>"), "extends the layout: {body}");
}

#[test]
fn generate_view_with_a_form_writes_a_controller_and_a_csrf_field() {
    let app = TempApp::scaffold("default");
    let out = generate(&app, &["view", "contact", "--method", "GET,POST", "--path", "/contact-us"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("created  routes/views/contact.rhai"), "{}", stdout(&out));
    assert!(app.read("templates/views/contact.html").contains("csrf_token"));
    assert!(app.read("routes/index.toml").contains("\"GET,POST /contact-us\" = \"contact\""));
    assert!(check_passes(&app.path).contains("no problems found"));
}

#[test]
fn generate_socket_guard_and_list_write_their_files() {
    let app = TempApp::scaffold("default");
    for (args, file) in [
        (&["socket", "live"][..], "sockets/live.rhai"),
        (&["guard", "require_user"][..], "routes/middleware/require_user.rhai"),
        (&["list", "User", "name:text:required", "email:email:unique"][..], "models/User.toml"),
        (
            &["list", "Post", "title:text:required", "state:select:draft|published", "author:relationship:User"][..],
            "models/Post.toml",
        ),
    ] {
        let out = generate(&app, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).contains(&format!("created  {file}")), "{args:?}: {}", stdout(&out));
        assert!(app.path.join(file).is_file(), "{file}");
    }
    assert!(stdout(&generate(&app, &["socket", "other"])).contains("io(\"/other\")"), "says how to connect");
    let out = generate(&app, &["list", "Comment", "post:relationship:Post", "author:relationship:Person"]);
    assert_eq!(out.status.code(), Some(2), "a relationship to a missing list is refused");
    assert!(stderr(&out).contains("list `Person` does not exist yet"), "{}", stderr(&out));
    assert!(!app.path.join("models/Comment.toml").exists(), "nothing written");
    check_passes(&app.path);

    let model: toml::Value = toml::from_str(&app.read("models/Post.toml")).unwrap();
    assert_eq!(model["title"].as_str(), Some("title"));
    assert_eq!(model["fields"]["state"]["type"].as_str(), Some("select"));
    assert_eq!(model["fields"]["author"]["ref"].as_str(), Some("User"));

    // The routes command sees the new namespace and its events.
    let routes = stdout(&keystone(&["routes", app.path.to_str().unwrap()], &app.path));
    assert!(routes.contains("socket namespace /live (sockets/live.rhai)") && routes.contains("ping"), "{routes}");
}

#[test]
fn generate_refuses_to_overwrite_and_to_clash_with_a_route() {
    let app = TempApp::scaffold("default");
    app.write("templates/views/about.html", "mine");
    let out = generate(&app, &["view", "about"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("templates/views/about.html already exists"), "{}", stderr(&out));
    assert_eq!(app.read("templates/views/about.html"), "mine");
    assert!(!app.read("routes/index.toml").contains("about"), "nothing half-written");

    let out = generate(&app, &["view", "home", "--path", "/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot add the route"), "{}", stderr(&out));
    assert!(!app.path.join("templates/views/home.html").exists());

    let out = generate(&app, &["guard", "Bad Name"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid guard name"), "{}", stderr(&out));

    let out = generate(&app, &["list", "Post", "title:txt"]);
    assert!(stderr(&out).contains("did you mean `text`"), "{}", stderr(&out));

    let elsewhere = tempfile::tempdir().unwrap();
    let out = keystone(&["generate", "view", "about"], elsewhere.path());
    assert!(stderr(&out).contains("no keystone.toml"), "{}", stderr(&out));
}

/// Every command and subcommand, as `["generate", "view"]`.
fn commands() -> Vec<Vec<String>> {
    let root = stdout(&keystone(&["--help"], Path::new(".")));
    let mut found = vec![vec![]];
    let names = |help: &str| -> Vec<String> {
        help.split("Commands:")
            .nth(1)
            .map(|rest| rest.split("\n\n").next().unwrap_or(""))
            .unwrap_or("")
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(|n| n.trim_end_matches(',').to_string())
            .filter(|n| n != "help")
            .collect()
    };
    for name in names(&root) {
        let help = stdout(&keystone(&[name.as_str(), "--help"], Path::new(".")));
        for sub in names(&help) {
            found.push(vec![name.clone(), sub]);
        }
        found.push(vec![name]);
    }
    found
}

#[test]
fn every_help_page_has_examples() {
    let commands = commands();
    assert!(commands.len() >= 11, "{commands:?}");
    for command in commands {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let help = stdout(&keystone(&args, Path::new(".")));
        let examples = help.split("Examples:").nth(1).unwrap_or("");
        assert!(examples.contains("keystone-rs"), "`keystone-rs {}` has no examples:\n{help}", command.join(" "));
    }
}

#[test]
fn serve_takes_dash_p_for_the_port() {
    let app = TempApp::scaffold("default");
    let server = crate::util::Server::start_with(&app.path, &["-p", "0"]);
    let (status, _) = crate::util::http_get(&format!("{}/", server.url));
    assert_eq!(status, 200);
}

#[test]
fn completions_say_how_to_install_them() {
    for shell in ["bash", "zsh", "fish"] {
        let out = keystone(&["completions", shell], Path::new("."));
        assert!(out.status.success());
        assert!(stderr(&out).contains("to install: keystone-rs completions"), "{shell}: {}", stderr(&out));
        assert!(!stdout(&out).contains("# to install:"), "stdout holds only the script");
    }
    let help = stdout(&keystone(&["completions", "--help"], Path::new(".")));
    assert!(help.contains("bash-completion/completions/keystone-rs"), "{help}");
}

/// What bash completes for `line` (the words typed so far, the last one being completed),
/// using the script `completions bash` prints, in a real bash.
fn bash_complete(script: &Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n\
         function=$(complete -p keystone-rs | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n\
         \"$function\" keystone-rs '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash").arg("-c").arg(program).output().expect("bash runs");
    assert!(out.status.success(), "bash failed: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

#[test]
fn bash_completion_works_past_the_first_word() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("keystone-rs.bash");
    let out = keystone(&["completions", "bash"], dir.path());
    std::fs::write(&script, &out.stdout).unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete -F"), "a bash completion script");

    assert!(bash_complete(&script, "keystone-rs se").contains(&"serve".to_string()));
    let serve = bash_complete(&script, "keystone-rs serve --");
    for flag in ["--port", "--host", "--open", "--log-format"] {
        assert!(serve.contains(&flag.to_string()), "serve flags: {serve:?}");
    }
    let generate = bash_complete(&script, "keystone-rs generate ");
    for sub in ["view", "socket", "guard", "list"] {
        assert!(generate.contains(&sub.to_string()), "generate subcommands: {generate:?}");
    }
    let view = bash_complete(&script, "keystone-rs generate view --");
    assert!(view.contains(&"--controller".to_string()), "generate view flags: {view:?}");
    assert_eq!(bash_complete(&script, "keystone-rs new app --template "), ["blog", "chat", "default"]);
    assert_eq!(bash_complete(&script, "keystone-rs serve --log-format "), ["text", "json"]);
}

#[test]
fn open_that_fails_says_so() {
    let app = TempApp::scaffold("default");
    let bin = tempfile::tempdir().unwrap();
    // A desktop without a browser: the opener is there but fails, as xdg-open does.
    let opener = bin.path().join("no-browser");
    std::fs::write(&opener, "#!/bin/sh\necho 'no method available for opening' >&2\nexit 3\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", app.path.to_str().unwrap(), "--port", "0", "--open"])
        .env("BROWSER", &opener)
        .env("KEYSTONE_SECRET", crate::util::SECRET)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut said = None;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("--open") => {
                said = Some(line);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let said = said.expect("serve said that --open failed");
    assert!(said.contains("could not open a browser") && said.contains("no method available"), "{said}");
    assert!(said.contains("open http://127.0.0.1:"), "says where to go instead: {said}");
}

fn git_available() -> bool {
    Command::new("git").arg("--version").output().is_ok_and(|o| o.status.success())
}

#[test]
fn new_starts_a_git_repository_unless_already_inside_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = keystone(&["new", "shop"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    if !git_available() {
        assert!(!dir.path().join("shop/.git").exists());
        return;
    }
    assert!(dir.path().join("shop/.git").is_dir(), "git init ran");
    assert!(stdout(&out).contains("git init"), "and said so: {}", stdout(&out));
    // .env stays out of the repository.
    let ignored = Command::new("git")
        .args(["check-ignore", ".env", ".keystone/x"])
        .current_dir(dir.path().join("shop"))
        .output()
        .unwrap();
    assert_eq!(stdout(&ignored).lines().count(), 2, "{}", stdout(&ignored));

    // An app made inside a repository stays part of it.
    let out = keystone(&["new", "shop/admin"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.path().join("shop/admin/.git").exists(), "no nested repository");
    assert!(stdout(&out).contains("already inside a git repository"), "{}", stdout(&out));

    let out = keystone(&["new", "plain", "--no-git"], dir.path());
    assert!(out.status.success());
    assert!(!dir.path().join("plain/.git").exists());
}
