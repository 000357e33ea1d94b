#!/usr/bin/env bash
# Builds keystone-rs from this checkout and installs it into cargo's bin folder.
#
# The release build is profile-guided when this rustc can read src/pgo.profdata (written by
# benches/pgo.sh from a server under load): the compiler inlines and lays out the paths serving
# runs for speed and the rest for size. KEYSTONE_PGO=off builds without it. benches/lib.sh
# sources this file for `release_rustflags`, so what is measured is what is installed.
set -euo pipefail

# release_rustflags: $RUSTFLAGS plus the profile's flags when this rustc reads the profile.
release_rustflags() {
    local root profile flags=${RUSTFLAGS:-}
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    profile="$root/src/pgo.profdata"
    # (RUSTFLAGS splits at spaces: a checkout path with one builds without the profile.)
    if [[ "${KEYSTONE_PGO:-on}" != off && -f "$profile" && "$profile" != *[[:space:]]* ]] &&
        profile_readable "$profile"; then
        # Functions changed since the profile was written are built as without it, silently.
        flags+=" -Cprofile-use=$profile -Cllvm-args=-pgo-warn-missing-function=false -Cllvm-args=-no-pgo-warn-mismatch"
    fi
    printf '%s\n' "${flags# }"
}

# profile_readable FILE: this rustc builds a program with FILE as its profile without a word
# (a profile written by a newer LLVM than this rustc's is only a warning, then ignored).
profile_readable() {
    local dir output
    dir=$(mktemp -d)
    echo 'fn main() {}' >"$dir/probe.rs"
    output=$(rustc -O -Cprofile-use="$1" -o "$dir/probe" "$dir/probe.rs" 2>&1) || output="failed"
    rm -rf "$dir"
    [[ -z "$output" ]]
}

main() {
    cd "$(dirname "$0")"
    command -v cargo >/dev/null || { echo "install.sh: cargo is missing; install Rust from https://rustup.rs" >&2; exit 1; }
    local rustflags
    rustflags=$(release_rustflags)
    if [[ "$rustflags" == *profile-use* ]]; then
        echo "install.sh: profile-guided build (src/pgo.profdata)"
    else
        echo "install.sh: plain release build (src/pgo.profdata not used)"
    fi
    RUSTFLAGS="$rustflags" cargo install --path . --locked --force
    local bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    echo
    echo "Installed $("$bin/keystone-rs" --version) in $bin"
    case ":$PATH:" in
        *":$bin:"*) ;;
        *) echo "Add $bin to your PATH:  export PATH=\"$bin:\$PATH\"" ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
