//! `keystone-rs generate`: writes the files of a new view, socket namespace, guard or list,
//! refusing to overwrite anything, and prints what it wrote.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// What `generate` makes.
#[derive(Debug)]
pub enum Item {
    /// `templates/views/NAME.html` (+ controller), and a route to it.
    View { name: String, path: Option<String>, methods: String, controller: bool },
    /// `sockets/NAME.rhai`, wiring namespace `/NAME`.
    Socket { name: String },
    /// `routes/middleware/NAME.rhai`, a guard routes list in `before`.
    Guard { name: String },
    /// `models/NAME.toml` (DESIGN §10) from `field:type` arguments.
    List { name: String, fields: Vec<String> },
}

/// Field types of a list (DESIGN §10).
pub const FIELD_TYPES: &[&str] = &[
    "text",
    "textarea",
    "markdown",
    "html",
    "email",
    "url",
    "password",
    "boolean",
    "number",
    "date",
    "datetime",
    "select",
    "relationship",
    "json",
];

/// Flags a field argument may end with.
const FIELD_FLAGS: &[&str] = &["required", "unique", "index", "initial", "hidden", "many"];

/// # Errors
/// A bad name or argument, a file that already exists, or a write failure.
pub fn run(app: &Path, item: Item) -> anyhow::Result<ExitCode> {
    let root = app.canonicalize().with_context(|| format!("no app folder at {}", app.display()))?;
    if !root.join("keystone.toml").is_file() {
        bail!("{} has no keystone.toml; run generate inside an app (or pass --app PATH)", root.display());
    }
    let plan = plan(&root, item)?;
    for file in &plan.create {
        if root.join(&file.path).exists() {
            bail!("{} already exists; generate never overwrites a file (pick another name)", file.path);
        }
    }
    for file in &plan.create {
        let dest = root.join(&file.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&dest, &file.contents).with_context(|| format!("writing {}", dest.display()))?;
        println!("  created  {}", file.path);
    }
    if let Some(route) = &plan.route {
        append_route(&root, route)?;
        println!("  updated  {} (+ {route})", crate::project::routes::FILE);
    }
    for line in &plan.next {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

struct NewFile {
    path: String,
    contents: String,
}

/// Files to create, a route line to add, and what to tell the user afterwards.
struct Plan {
    create: Vec<NewFile>,
    route: Option<String>,
    next: Vec<String>,
}

fn plan(root: &Path, item: Item) -> anyhow::Result<Plan> {
    match item {
        Item::View { name, path, methods, controller } => view(root, &name, path, &methods, controller),
        Item::Socket { name } => {
            check_name("socket namespace", &name)?;
            if name == "index" {
                bail!("sockets/index.rhai wires namespace \"/\" and comes with every app; pick another name");
            }
            Ok(Plan {
                create: vec![NewFile { path: format!("sockets/{name}.rhai"), contents: socket_script(&name) }],
                route: None,
                next: vec![format!(
                    "Connect from a page with `io(\"/{name}\")` (after loading /socket.io/socket.io.js)."
                )],
            })
        }
        Item::Guard { name } => {
            check_name("guard", &name)?;
            let mut next = vec![format!(
                "Use it on a route in routes/index.toml: \"GET /admin\" = {{ view = \"admin\", before = [\"{name}\"] }}"
            )];
            if crate::users::guards::Builtin::named(&name).is_some() {
                next.insert(0, format!("`{name}` is built in; this script replaces the built-in guard."));
            }
            Ok(Plan {
                create: vec![NewFile { path: format!("routes/middleware/{name}.rhai"), contents: guard_script(&name) }],
                route: None,
                next,
            })
        }
        Item::List { name, fields } => {
            let contents = list_model(&name, &fields)?;
            // A relationship to a list that does not exist would fail `check`: make it first.
            for target in fields.iter().filter_map(|f| relationship_target(f)) {
                if target != name && !root.join(format!("models/{target}.toml")).is_file() {
                    bail!(
                        "list `{target}` does not exist yet; generate it first (keystone-rs generate list {target} name:text), then {name}"
                    );
                }
            }
            Ok(Plan {
                create: vec![NewFile { path: format!("models/{name}.toml"), contents }],
                route: None,
                next: vec![],
            })
        }
    }
}

/// The list a `field:relationship:List[:many]` argument refers to.
fn relationship_target(arg: &str) -> Option<&str> {
    let mut parts = arg.split(':');
    (parts.nth(1) == Some("relationship")).then(|| parts.next()).flatten()
}

/// View, guard and namespace names: lower-case words joined by `_` or `-`, like file names.
fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        bail!(
            "invalid {what} name `{name}`: start with a lower-case letter and use only a-z, 0-9, `_` and `-` (at most 64)"
        );
    }
    Ok(())
}

fn view(root: &Path, name: &str, path: Option<String>, methods: &str, controller: bool) -> anyhow::Result<Plan> {
    check_name("view", name)?;
    let path = path.unwrap_or_else(|| format!("/{name}"));
    let methods = methods.split(',').map(|m| m.trim().to_ascii_uppercase()).collect::<Vec<_>>().join(",");
    let route = format!("\"{methods} {path}\" = \"{name}\"");
    // The new line must parse on its own and not clash with the table: parse them together.
    let table_file = root.join(crate::project::routes::FILE);
    let table = std::fs::read_to_string(&table_file).unwrap_or_default();
    let (_, problems) = crate::project::routes::parse(&format!("{table}\n{route}\n"));
    let (_, before) = crate::project::routes::parse(&table);
    if let Some(problem) = problems.iter().find(|p| !before.iter().any(|b| b.message == p.message)) {
        bail!("cannot add the route {route}: {}", problem.message);
    }
    let unsafe_method = methods.split(',').any(|m| m != "GET" && m != "HEAD");
    let mut create = vec![NewFile {
        path: format!("templates/{}", crate::project::Project::view_template(name)),
        contents: view_template(root, name, unsafe_method),
    }];
    if controller || unsafe_method {
        create.push(NewFile { path: format!("routes/views/{name}.rhai"), contents: controller_script(name, &methods) });
    }
    let shown = if path.contains('{') { String::new() } else { format!(" at {path}") };
    Ok(Plan { create, route: Some(route), next: vec![format!("View `{name}` is served{shown}.")] })
}

fn view_template(root: &Path, name: &str, form: bool) -> String {
    let title = title_case(name);
    let mut body = format!("<h1>{title}</h1>\n<p>Find me in templates/views/{name}.html.</p>\n");
    if form {
        body.push_str(
            "<form method=\"post\">\n  <input type=\"hidden\" name=\"csrf_token\" value=\"{{ csrf_token }}\">\n  \
             <button type=\"submit\">Send</button>\n</form>\n",
        );
    }
    if root.join("templates/layouts/default.html").is_file() {
        format!(
            "{{% extends \"layouts/default.html\" %}}\n{{% block title %}}{title}{{% endblock %}}\n{{% block content %}}\n{body}{{% endblock %}}\n"
        )
    } else {
        format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n  <meta charset=\"utf-8\">\n  <title>{title}</title>\n</head>\n<body>\n{body}</body>\n</html>\n"
        )
    }
}

fn controller_script(name: &str, methods: &str) -> String {
    let mut script = format!(
        "// Controller of the `{name}` view: runs on every request to its route, after\n\
         // routes/middleware.rhai, with `req`, `session` and `locals` in scope.\n"
    );
    if methods.split(',').any(|m| m == "POST") {
        script
            .push_str("if req.method == \"POST\" {\n    flash(\"success\", \"Sent.\");\n    redirect(req.path);\n}\n");
    } else {
        script.push_str("locals.section = \"\";\n");
    }
    script
}

fn socket_script(name: &str) -> String {
    format!(
        "// Socket wiring of namespace \"/{name}\". `socket.session` is the visitor's HTTP session.\n\
         fn connect(socket) {{\n    \
             print(\"--- connected to /{name}\");\n\n    \
             socket.on(\"ping\", |socket, data| {{\n        \
                 // The return value answers the client's ack.\n        \
                 data\n    \
             }});\n\n    \
             socket.on(\"disconnect\", |socket, reason| {{\n        \
                 print(\"--- disconnected from /{name}\");\n    \
             }});\n\
         }}\n"
    )
}

fn guard_script(name: &str) -> String {
    format!(
        "// Guard `{name}`: runs before the controller of every route that lists it in `before`.\n\
         // Calling redirect(), status() or render() here stops the chain.\n\
         if session.user == () {{\n    \
             flash(\"info\", \"Please sign in first.\");\n    \
             redirect(\"/\");\n\
         }}\n"
    )
}

/// `models/NAME.toml` from `field:type[:option…][:flag…]` arguments: `title:text:required`,
/// `state:select:draft|published`, `author:relationship:User`, `tags:relationship:Tag:many`.
///
/// # Errors
/// A name that is not PascalCase, an unknown type or flag, or a field given twice.
pub fn list_model(name: &str, fields: &[String]) -> anyhow::Result<String> {
    let pascal = name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if !pascal {
        bail!("invalid list name `{name}`: lists are PascalCase, like `Post` or `PostCategory`");
    }
    if fields.is_empty() {
        bail!("a list needs fields: e.g. `keystone-rs generate list {name} title:text:required`");
    }
    let mut lines = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    let mut title = None;
    for arg in fields {
        let mut parts = arg.split(':');
        let field = parts.next().unwrap_or("");
        let valid = field.starts_with(|c: char| c.is_ascii_lowercase())
            && field.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            bail!("invalid field name `{field}` in `{arg}`: use snake_case, like `published_at`");
        }
        if names.contains(&field) {
            bail!("field `{field}` is given twice");
        }
        let Some(kind) = parts.next() else {
            bail!("field `{field}` has no type: write `{field}:text` (types: {})", FIELD_TYPES.join(", "));
        };
        if !FIELD_TYPES.contains(&kind) {
            let hint = crate::diagnostic::did_you_mean(kind, FIELD_TYPES.iter().copied())
                .map(|s| format!("did you mean `{s}`? "))
                .unwrap_or_default();
            bail!("unknown field type `{kind}` in `{arg}`; {hint}types: {}", FIELD_TYPES.join(", "));
        }
        let mut spec = format!("type = \"{kind}\"");
        let mut rest: Vec<&str> = parts.collect();
        match kind {
            "select" => {
                if rest.is_empty() || FIELD_FLAGS.contains(&rest[0]) {
                    bail!("select field `{field}` needs its options: `{field}:select:draft|published`");
                }
                let options: Vec<String> = rest.remove(0).split('|').map(|o| format!("{o:?}")).collect();
                let _ = write!(spec, ", options = [{}]", options.join(", "));
            }
            "relationship" => {
                let target = if rest.first().is_some_and(|r| !FIELD_FLAGS.contains(r)) { rest.remove(0) } else { "" };
                if !target.starts_with(|c: char| c.is_ascii_uppercase()) {
                    bail!("relationship field `{field}` needs the list it refers to: `{field}:relationship:User`");
                }
                let _ = write!(spec, ", ref = {target:?}");
            }
            _ => {}
        }
        for flag in rest {
            if !FIELD_FLAGS.contains(&flag) || (flag == "many" && kind != "relationship") {
                let hint = crate::diagnostic::did_you_mean(flag, FIELD_FLAGS.iter().copied())
                    .map(|s| format!("did you mean `{s}`? "))
                    .unwrap_or_default();
                bail!(
                    "unknown option `{flag}` in `{arg}`; {hint}options: required, unique, index, initial, hidden, and many (relationships)"
                );
            }
            let _ = write!(spec, ", {flag} = true");
        }
        if title.is_none() && kind == "text" {
            title = Some(field.to_string());
        }
        names.push(field);
        lines.push((field.to_string(), spec));
    }
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let mut out = format!("# The `{name}` list (DESIGN §10): one item per document, no migration needed.\n");
    if let Some(title) = &title {
        let _ = writeln!(out, "title = {title:?}");
    }
    let columns: Vec<String> = names.iter().take(4).map(|n| format!("{n:?}")).collect();
    let _ = writeln!(out, "columns = [{}]", columns.join(", "));
    out.push_str("\n[fields]\n");
    for (field, spec) in lines {
        let _ = writeln!(out, "{field:<width$} = {{ {spec} }}");
    }
    Ok(out)
}

/// Appends a route line to `routes/index.toml`, keeping the file's own text.
fn append_route(root: &Path, route: &str) -> anyhow::Result<()> {
    let file: PathBuf = root.join(crate::project::routes::FILE);
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(route);
    text.push('\n');
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))
}

/// `blog_post` → `Blog post`.
fn title_case(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_fields_become_section_10_toml() {
        let fields: Vec<String> =
            ["title:text:required", "state:select:draft|published:index", "author:relationship:User", "body:markdown"]
                .map(String::from)
                .to_vec();
        let text = list_model("Post", &fields).unwrap();
        let parsed: toml::Value = toml::from_str(&text).unwrap();
        assert_eq!(parsed["title"].as_str(), Some("title"));
        let f = &parsed["fields"];
        assert_eq!(f["title"]["required"].as_bool(), Some(true));
        assert_eq!(f["state"]["options"].as_array().unwrap().len(), 2);
        assert_eq!(f["state"]["index"].as_bool(), Some(true));
        assert_eq!(f["author"]["ref"].as_str(), Some("User"));
        assert_eq!(f["body"]["type"].as_str(), Some("markdown"));
    }

    #[test]
    fn list_arguments_are_checked_with_suggestions() {
        let err = |fields: &[&str]| {
            list_model("Post", &fields.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap_err().to_string()
        };
        assert!(err(&["title:txt"]).contains("did you mean `text`"));
        assert!(err(&["title:text:requird"]).contains("did you mean `required`"));
        assert!(err(&["state:select"]).contains("options"));
        assert!(err(&["author:relationship"]).contains(":User"));
        assert!(err(&["a:text", "a:text"]).contains("twice"));
        assert!(list_model("post", &["a:text".into()]).unwrap_err().to_string().contains("PascalCase"));
    }
}
