//! install.sh's release build: profile-guided with src/pgo.profdata when this rustc reads it,
//! plain otherwise, and always with the user's own RUSTFLAGS.
use std::process::Command;

use crate::util::repo;

/// Runs `SNIPPET` in bash with install.sh sourced (its functions, not its install).
fn with_install_sh(snippet: &str, env: &[(&str, &str)]) -> (bool, String) {
    let script = format!("source {}/install.sh && {snippet}", repo().display());
    let mut command = Command::new("bash");
    command.args(["-c", &script]).env_remove("RUSTFLAGS").env_remove("KEYSTONE_PGO");
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("running bash");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_release_build_uses_the_repositorys_profile_and_keeps_the_users_flags() {
    let profile = repo().join("src/pgo.profdata");
    let (ok, flags) = with_install_sh("release_rustflags", &[("RUSTFLAGS", "-Ctarget-cpu=native")]);
    assert!(ok, "{flags}");
    assert!(flags.starts_with("-Ctarget-cpu=native "), "the user's flags come first: {flags}");
    assert!(flags.contains(&format!("-Cprofile-use={}", profile.display())), "{flags}");
    assert!(flags.contains("-no-pgo-warn-mismatch"), "a stale profile builds quietly: {flags}");
}

#[test]
fn keystone_pgo_off_builds_without_the_profile() {
    let (ok, flags) = with_install_sh("release_rustflags", &[("KEYSTONE_PGO", "off"), ("RUSTFLAGS", "-Copt-level=3")]);
    assert!(ok, "{flags}");
    assert_eq!(flags.trim(), "-Copt-level=3");
}

#[test]
fn a_profile_this_rustc_cannot_read_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.profdata");
    std::fs::write(&garbage, b"not an LLVM profile, or one from a newer LLVM").unwrap();
    let (readable, said) = with_install_sh(&format!("profile_readable {}", garbage.display()), &[]);
    assert!(!readable, "rustc only warns about such a file, so the probe must catch it: {said}");
    let (readable, said) = with_install_sh(&format!("profile_readable {}/src/pgo.profdata", repo().display()), &[]);
    assert!(readable, "the repository's own profile reads: {said}");
}
