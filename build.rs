//! Rebuilds when a scaffold file changes, since `include_dir!` embeds them, and lays out a
//! release build's code in the order of `src/hot-code.txt` (written by benches/hot-code.sh).
use std::env;

fn main() {
    println!("cargo:rerun-if-changed=scaffold-templates");
    println!("cargo:rerun-if-changed=src/client");
    println!("cargo:rerun-if-changed=src/hot-code.txt");
    println!("cargo:rerun-if-env-changed=KEYSTONE_CODE_ORDER");
    // The functions a server runs, packed together at the front of the code instead of
    // scattered over its 11 MB: a serving process maps and caches far fewer pages of it.
    // `--symbol-ordering-file` is LLD's, which rustc links x86_64 Linux binaries with by default
    // (since 1.90); KEYSTONE_CODE_ORDER=off skips it for another linker.
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_target = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let off = env::var("KEYSTONE_CODE_ORDER").is_ok_and(|v| v == "off");
    if release && lld_target && !off {
        let order = std::path::Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap()).join("src/hot-code.txt");
        println!("cargo:rustc-link-arg-bin=keystone-rs=-Wl,--symbol-ordering-file={}", order.display());
        // A name the code no longer has is skipped; the list is refreshed now and then.
        println!("cargo:rustc-link-arg-bin=keystone-rs=-Wl,--no-warn-symbol-ordering");
        // The 45,000 pointer fix-ups of a position-independent binary, packed into a few KB
        // (RELR, glibc 2.36+) instead of 1 MB that the loader reads, and keeps mapped, at start.
        println!("cargo:rustc-link-arg-bin=keystone-rs=-Wl,-z,pack-relative-relocs");
    }
}
