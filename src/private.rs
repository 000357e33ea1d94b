//! Files only their owner may read: the secret in `.env`, `.keystone/` and the session
//! database (created 0600 / 0700 on Unix, and tightened if they already exist).
use std::io::Write as _;
use std::path::Path;

/// Writes `contents` to a new or existing file readable by its owner only.
///
/// # Errors
/// The file cannot be created, written or have its mode changed.
pub fn write_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = options().write(true).create(true).truncate(true).open(path)?;
    restrict(path, 0o600)?;
    file.write_all(contents)
}

/// Creates the file if it is missing (empty), readable by its owner only either way.
///
/// # Errors
/// The file cannot be created or have its mode changed.
pub fn touch_file(path: &Path) -> std::io::Result<()> {
    options().write(true).create(true).truncate(false).open(path)?;
    restrict(path, 0o600)
}

/// Creates the folder (and its parents) if missing; the folder itself is owner-only.
///
/// # Errors
/// The folder cannot be created or have its mode changed.
pub fn create_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    restrict(path, 0o700)
}

fn options() -> std::fs::OpenOptions {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn restrict(_: &Path, _: u32) -> std::io::Result<()> {
    Ok(())
}
