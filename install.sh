#!/usr/bin/env bash
# Builds keystone-rs from this checkout and installs it into cargo's bin folder.
set -euo pipefail
cd "$(dirname "$0")"
command -v cargo >/dev/null || { echo "install.sh: cargo is missing; install Rust from https://rustup.rs" >&2; exit 1; }
cargo install --path . --locked --force
bin="${CARGO_HOME:-$HOME/.cargo}/bin"
echo
echo "Installed $("$bin/keystone-rs" --version) in $bin"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Add $bin to your PATH:  export PATH=\"$bin:\$PATH\"" ;;
esac
