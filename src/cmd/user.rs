//! `keystone-rs user add|passwd|list`: the people who sign in (DESIGN §11), written to the
//! `[admin] user_list` list on the app's own database (SQLite or PostgreSQL) through the
//! same validation and hooks as any write. Passwords come from a prompt without echo on a
//! terminal, else from one line of stdin; never from an argument (it would sit in the shell's
//! history and in `ps`).
use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use crate::lists::{Backend, Db, Saved, value};
use crate::project::settings::Database;
use crate::users::{EMAIL, IS_ADMIN, PASSWORD};

/// Shortest password the command accepts.
pub const MIN_PASSWORD: usize = 8;

/// What `user` does.
#[derive(Debug)]
pub enum Action {
    Add { email: String, admin: bool, name: Option<String> },
    Passwd { email: String },
    List,
}

/// # Errors
/// No app or user list, a database that cannot be opened, an email taken or unknown, a
/// password refused (exit 2).
pub fn run(path: &Path, action: Action) -> anyhow::Result<ExitCode> {
    let root = path.canonicalize().with_context(|| format!("no app folder at {}", path.display()))?;
    // The list's hooks see the environment `serve` would give them.
    super::serve::load_dotenv(&root);
    let (db, list) = open(&root)?;
    match action {
        Action::Add { email, admin, name } => add(&db, &list, &email, admin, name),
        Action::Passwd { email } => passwd(&db, &list, &email),
        Action::List => print_list(&db, &list),
    }
}

/// The app's lists on its database, and the name of the user list (checked to be usable).
fn open(root: &Path) -> anyhow::Result<(Arc<Db>, String)> {
    let project = crate::project::load(root);
    let list = project.settings.admin.user_list.to_string();
    let Some(model) = project.lists.models.get(&list) else {
        bail!(
            "the app has no user list: [admin] user_list is `{list}`, and models/{list}.toml does not exist (or does not load; run `keystone-rs check`).\n\
             Create it with: keystone-rs generate list {list} name:text email:email:required:unique password:password is_admin:boolean"
        );
    };
    let problems = crate::users::user_list_problems(model);
    if !problems.is_empty() {
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        bail!("{} cannot hold users: {}", model.file, messages.join("; "));
    }
    let backend = match &*project.settings.database.url {
        Database::Sqlite => Backend::Sqlite,
        Database::Postgres(url) => Backend::Postgres(url.to_string()),
    };
    let store = crate::lists::open_store(root, &backend).context("opening the app's database")?;
    let (db, found) = Db::new(store, project.lists.models.clone(), project.lists.hooks.clone());
    if let Some(d) = found.first() {
        bail!("{}", d.message);
    }
    Ok((db, list))
}

fn normalize(email: &str) -> String {
    email.trim().to_lowercase()
}

fn add(db: &Db, list: &str, email: &str, admin: bool, name: Option<String>) -> anyhow::Result<ExitCode> {
    let email = normalize(email);
    if crate::users::find_by_email(db, list, &email)?.is_some() {
        bail!("a user with email {email} already exists; to change the password: keystone-rs user passwd {email}");
    }
    let model = db.model(list)?;
    let mut input = Map::new();
    input.insert(EMAIL.into(), json!(email));
    input.insert(IS_ADMIN.into(), json!(admin));
    if model.field("name").is_some() {
        let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_string());
        input.insert("name".into(), json!(name));
    } else if name.is_some() {
        bail!("--name: {} has no `name` field", model.file);
    }
    // Everything else is checked before the password is asked for.
    let errors = invalid_fields(db, list, &input);
    if !errors.is_empty() {
        bail!("{}", describe(&errors));
    }
    input.insert(PASSWORD.into(), json!(read_password()?));
    match db.create(crate::script::engine(), list, &input)? {
        Saved::Item(item) => {
            let role = if admin { "admin" } else { "user" };
            println!("added {role} {email} (id {})", item.get("id").and_then(Value::as_str).unwrap_or("?"));
            Ok(ExitCode::SUCCESS)
        }
        Saved::Invalid(errors) => bail!("{}", describe(&errors)),
    }
}

/// Problems of the values in `input` (field by field), found without writing anything.
fn invalid_fields(db: &Db, list: &str, input: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    let Ok(model) = db.model(list) else { return errors };
    for (name, v) in input {
        if let Some(field) = model.field(name)
            && let Err(message) = value::convert(field, v, false)
        {
            errors.insert(name.clone(), format!("{} {message}", field.label));
        }
    }
    errors
}

fn passwd(db: &Db, list: &str, email: &str) -> anyhow::Result<ExitCode> {
    let email = normalize(email);
    let Some(user) = crate::users::find_by_email(db, list, &email)? else {
        bail!("no user has email {email}; to add one: keystone-rs user add {email}");
    };
    let id = user.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut patch = Map::new();
    patch.insert(PASSWORD.into(), json!(read_password()?));
    match db.update(crate::script::engine(), list, &id, &patch)? {
        Saved::Item(_) => {
            println!("changed the password of {email}");
            Ok(ExitCode::SUCCESS)
        }
        Saved::Invalid(errors) => bail!("{}", describe(&errors)),
    }
}

fn print_list(db: &Db, list: &str) -> anyhow::Result<ExitCode> {
    let find = crate::lists::Find { sort: Some(EMAIL.into()), ..crate::lists::Find::default() };
    let users = db.find(list, &find)?;
    let mut out = String::new();
    if users.is_empty() {
        out.push_str("no users yet: keystone-rs user add EMAIL --admin\n");
    }
    for user in &users {
        let text = |k: &str| user.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let admin = if crate::users::is_admin(user) { "  admin" } else { "" };
        let name = text("name");
        let name = if name.is_empty() { String::new() } else { format!("  {name}") };
        out.push_str(&format!("{}{name}{admin}\n", text(EMAIL)));
    }
    super::write_out(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn describe(errors: &BTreeMap<String, String>) -> String {
    let lines: Vec<String> = errors.iter().map(|(field, message)| format!("{field}: {message}")).collect();
    format!("the user was not saved: {}", lines.join("; "))
}

/// The new password: asked twice without echo on a terminal, else one line of stdin.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = prompt("Password: ")?;
        check_password(&first)?;
        let again = prompt("Password again: ")?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    } else {
        // One line, read with a bound: stdin could be anything.
        let mut line = String::new();
        stdin
            .lock()
            .take(value::MAX_PASSWORD as u64 + 2)
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    check_password(&password)?;
    Ok(password)
}

fn check_password(password: &str) -> anyhow::Result<()> {
    let length = password.chars().count();
    if password.trim().is_empty() {
        bail!("the password is empty; type it at the prompt, or pipe it: echo \"$PASSWORD\" | keystone-rs user …");
    }
    if length < MIN_PASSWORD {
        bail!("the password is too short ({length} characters); use at least {MIN_PASSWORD}");
    }
    if password.len() > value::MAX_PASSWORD {
        bail!("the password is too long; use at most {} bytes", value::MAX_PASSWORD);
    }
    Ok(())
}

/// Reads a line from the terminal with echo off, restoring the terminal even on error.
fn prompt(label: &str) -> anyhow::Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut stderr = std::io::stderr();
    write!(stderr, "{label}")?;
    stderr.flush()?;
    let saved = tcgetattr(&stdin).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&stdin, OptionalActions::Flush, &quiet).context("turning the terminal's echo off")?;
    let mut line = String::new();
    let read = stdin.lock().take(value::MAX_PASSWORD as u64 + 2).read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Flush, &saved);
    read.context("reading the password")?;
    restored.context("restoring the terminal's echo")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
