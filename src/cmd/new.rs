//! `keystone-rs new`: writes a scaffold into a new folder, with a fresh secret in `.env`.
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

/// # Errors
/// An invalid name, a non-empty target without `--force`, or a write failure.
pub fn run(path: &Path, template: &str, force: bool) -> anyhow::Result<ExitCode> {
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
    println!();
    println!("Next steps:");
    println!("  cd {}", path.display());
    println!("  keystone-rs serve");
    println!();
    println!("Then open http://127.0.0.1:3000/");
    Ok(ExitCode::SUCCESS)
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
