//! `keystone-rs new`: writes a scaffold into a new folder, with a fresh secret in `.env`.
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// # Errors
/// An invalid name, a non-empty target without `--force`, or a write failure.
pub fn run(path: &Path, template: &str, force: bool, git: bool) -> anyhow::Result<ExitCode> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("`{}` does not end in a folder name", path.display()))?;
    validate_name(name)?;
    if path.exists() {
        if !path.is_dir() {
            bail!("`{}` exists and is not a folder", path.display());
        }
        let empty = std::fs::read_dir(path).with_context(|| format!("reading {}", path.display()))?.next().is_none();
        if !empty && !force {
            bail!(
                "`{}` is not empty; pick a new folder, or pass --force to write the scaffold into it",
                path.display()
            );
        }
    }
    std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
    crate::scaffold::write(template, path, name)?;
    let env = path.join(".env");
    crate::private::write_file(&env, format!("KEYSTONE_SECRET={}\n", crate::server::session::new_secret()).as_bytes())
        .with_context(|| format!("writing {}", env.display()))?;

    println!("Created {name} from the `{template}` template in {}", path.display());
    if git {
        match git_init(path) {
            GitInit::Done => println!("Initialized a git repository (git init); .env and .keystone/ are git-ignored"),
            GitInit::InsideRepository => {
                println!("Not running git init: the folder is already inside a git repository")
            }
            GitInit::NoGit => {}
            GitInit::Failed(why) => eprintln!("warning: git init failed ({why}); the app is complete without it"),
        }
    }
    println!();
    println!("Next steps:");
    println!("  cd {}", path.display());
    println!("  keystone-rs serve");
    println!();
    println!("Then open http://127.0.0.1:3000/");
    Ok(ExitCode::SUCCESS)
}

enum GitInit {
    Done,
    InsideRepository,
    NoGit,
    Failed(String),
}

/// `git init` in the new app, unless git is missing or the folder already belongs to a
/// repository (an app inside a monorepo stays part of it).
fn git_init(path: &Path) -> GitInit {
    let git = |args: &[&str]| {
        std::process::Command::new("git").args(args).current_dir(path).stdin(std::process::Stdio::null()).output()
    };
    match git(&["rev-parse", "--is-inside-work-tree"]) {
        Err(_) => GitInit::NoGit,
        Ok(out) if out.status.success() => GitInit::InsideRepository,
        Ok(_) => match git(&["init", "--quiet"]) {
            Ok(out) if out.status.success() => GitInit::Done,
            Ok(out) => GitInit::Failed(String::from_utf8_lossy(&out.stderr).trim().to_string()),
            Err(err) => GitInit::Failed(err.to_string()),
        },
    }
}

/// Names start with a letter and hold letters, digits, `-` and `_` (at most 64).
///
/// # Errors
/// The name breaks that rule; the message says how.
pub fn validate_name(name: &str) -> anyhow::Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        bail!(
            "invalid app name `{name}`: start with a letter and use only letters, digits, `-` and `_` (at most 64 characters)"
        );
    }
    Ok(())
}
