//! `keystone-rs new`: the generated tree, refusals, secrets, templates.
use crate::util::{TempApp, keystone};

/// Every file of a generated app, `.env` excepted (its secret is random), as one text.
fn tree_snapshot(app: &TempApp) -> String {
    let mut files = Vec::new();
    collect(&app.path, &app.path, &mut files);
    files.sort();
    files
        .into_iter()
        .filter(|f| f != ".env")
        .map(|f| format!("=== {f}\n{}", app.read(&f)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn collect(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"));
        }
    }
}

fn secret_of(app: &TempApp) -> String {
    let env = app.read(".env");
    let secret = env.trim().strip_prefix("KEYSTONE_SECRET=").expect(".env holds KEYSTONE_SECRET").to_string();
    assert_eq!(secret.len(), 128, "64 bytes, hex");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()));
    secret
}

#[test]
fn new_writes_the_default_app_tree() {
    let app = TempApp::scaffold("default");
    insta::assert_snapshot!("default_scaffold", tree_snapshot(&app));
}

#[test]
fn new_writes_the_chat_app_tree() {
    let app = TempApp::scaffold("chat");
    insta::assert_snapshot!("chat_scaffold", tree_snapshot(&app));
}

#[test]
fn new_writes_the_blog_app_tree() {
    let app = TempApp::scaffold("blog");
    insta::assert_snapshot!("blog_scaffold", tree_snapshot(&app));
}

#[test]
fn generated_apps_load_without_any_diagnostic() {
    for template in ["default", "chat", "blog"] {
        let app = TempApp::scaffold(template);
        let project = keystone::project::load(&app.path);
        assert!(project.diagnostics.is_empty(), "{template}: {:#?}", project.diagnostics);
        assert_eq!(project.settings.name.value, "app");
    }
}

#[test]
fn new_generates_a_different_secret_each_time() {
    let a = TempApp::scaffold("default");
    let b = TempApp::scaffold("default");
    assert_ne!(secret_of(&a), secret_of(&b));
    assert!(a.read(".gitignore").lines().any(|l| l == ".env"), ".env must be git-ignored");
}

#[test]
fn new_refuses_a_non_empty_folder_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("busy");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "mine").unwrap();

    let out = keystone(&["new", "busy"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not empty") && stderr.contains("--force"), "{stderr}");
    assert!(!target.join("keystone.toml").exists(), "nothing written");

    let out = keystone(&["new", "busy", "--force"], dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(target.join("keystone.toml").exists());
    assert_eq!(std::fs::read_to_string(target.join("notes.txt")).unwrap(), "mine", "other files are kept");
}

#[test]
fn new_rejects_invalid_names_clearly() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["1app", "my app", "app!", "-x"] {
        let out = keystone(&["new", "--", name], dir.path());
        assert_eq!(out.status.code(), Some(2), "{name}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid app name"), "{name}: {stderr}");
        assert!(!dir.path().join(name).exists(), "{name} was created");
    }
}

#[test]
fn new_works_from_any_directory_and_prints_next_steps() {
    let elsewhere = tempfile::tempdir().unwrap();
    let target = tempfile::tempdir().unwrap().keep().join("shop");
    let out = keystone(&["new", target.to_str().unwrap()], elsewhere.path());
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("keystone-rs serve"), "{stdout}");
    assert!(stdout.contains(&format!("cd {}", target.display())), "{stdout}");
    let toml = std::fs::read_to_string(target.join("keystone.toml")).unwrap();
    assert!(toml.contains("name = \"shop\""), "{toml}");
    assert!(std::fs::read_dir(elsewhere.path()).unwrap().next().is_none(), "nothing written in the cwd");
    std::fs::remove_dir_all(target.parent().unwrap()).unwrap();
}

#[test]
fn new_rejects_an_unknown_template() {
    let dir = tempfile::tempdir().unwrap();
    let out = keystone(&["new", "app", "--template", "nope"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chat") && stderr.contains("default"), "lists the templates: {stderr}");
}
