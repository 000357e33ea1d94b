//! The app scaffolds of `keystone-rs new`, embedded in the binary from `scaffold-templates/`.
use std::path::Path;

use anyhow::Context as _;
use include_dir::{Dir, DirEntry, include_dir};

static SCAFFOLDS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/scaffold-templates");

/// Placeholder replaced by the app's name in every scaffold file.
const NAME_PLACEHOLDER: &str = "__APP_NAME__";

/// Names of the available scaffolds (`default`, `chat`).
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&str> = SCAFFOLDS.dirs().filter_map(|d| d.path().file_name()?.to_str()).collect();
    names.sort_unstable();
    names
}

/// Writes scaffold `template` into `target` for an app called `name`. Files named
/// `gitignore` become `.gitignore` (a dotfile would be ignored by the repo itself).
///
/// # Errors
/// Unknown scaffold, or a file that cannot be written.
pub fn write(template: &str, target: &Path, name: &str) -> anyhow::Result<Vec<String>> {
    let dir = SCAFFOLDS.get_dir(template).with_context(|| format!("unknown template `{template}`"))?;
    let mut written = Vec::new();
    write_dir(dir, dir.path(), target, name, &mut written)?;
    written.sort();
    Ok(written)
}

fn write_dir(dir: &Dir<'_>, base: &Path, target: &Path, name: &str, written: &mut Vec<String>) -> anyhow::Result<()> {
    for entry in dir.entries() {
        match entry {
            DirEntry::Dir(sub) => write_dir(sub, base, target, name, written)?,
            DirEntry::File(file) => {
                let mut rel = file.path().strip_prefix(base).unwrap_or(file.path()).to_path_buf();
                if rel.file_name().is_some_and(|n| n == "gitignore") {
                    rel.set_file_name(".gitignore");
                }
                let dest = target.join(&rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
                }
                let contents = match file.contents_utf8() {
                    Some(text) => text.replace(NAME_PLACEHOLDER, name).into_bytes(),
                    None => file.contents().to_vec(),
                };
                std::fs::write(&dest, contents).with_context(|| format!("writing {}", dest.display()))?;
                written.push(crate::diagnostic::relative(target, &dest));
            }
        }
    }
    Ok(())
}
