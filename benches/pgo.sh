#!/usr/bin/env bash
# Writes src/pgo.profdata, the profile a release build is optimized with (install.sh): how
# often each branch of keystone-rs ran while a server answered pages and sockets. Run on demand
# after larger changes (never by CI), then benches/hot-code.sh, whose names follow the build:
#
#   bash benches/pgo.sh
#
# Builds keystone-rs instrumented (a separate target folder, `target/pgo-generate`), serves the
# blog app of benches/lib.sh with it and drives what a server does most: GET / with a session
# (plain, gzip, br), first visits, a list page, a static file, the client script, a 404,
# websocket visits and connects, and a broadcast. A stale profile is harmless: functions
# changed since are built as without it. Paths the load does not reach (the Admin UI, form
# posts, development mode's reload) are optimized for size, as the compiler treats code a
# profile never saw as cold. Needs the `llvm-tools` component (`rustup component add llvm-tools`).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

trap_cleanup
require_tools cargo rustc curl node npm
ensure_socketio_client
PROFDATA="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | awk '/^host:/ {print $2}')/bin/llvm-profdata"
if [[ ! -x "$PROFDATA" ]]; then
    command -v rustup >/dev/null || die "no llvm-profdata: install the llvm-tools component of $(rustc --version)"
    log "installing rustup's llvm-tools component (llvm-profdata)"
    rustup component add llvm-tools >&2
    [[ -x "$PROFDATA" ]] || die "rustup installed llvm-tools, but $PROFDATA is missing"
fi
setup_workdir pgo
export KEYSTONE_ENV=production

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/pgo-generate"
log "building keystone-rs instrumented into $TARGET"
# (The same flags each run, so a second run rebuilds only what changed.)
RUSTFLAGS="-Cprofile-generate=$TARGET/profiles" cargo build --release --locked --bin keystone-rs \
    --target-dir "$TARGET" --manifest-path "$ROOT/Cargo.toml" >&2
KEYSTONE="$TARGET/release/keystone-rs"

blog_app "$WORK/app" 200
add_chat_handler "$WORK/app"

# Only the server's profile counts (not `new`'s, nor the build's).
LLVM_PROFILE_FILE="$WORK/serve.profraw" start "$WORK/serve.log" "$KEYSTONE" serve "$WORK/app" --port 0 --quiet --production
PID=$STARTED_PID
wait_for_url "$PID" "$WORK/serve.log" 30
COOKIE=$(session_cookie "$URL")
log "serving the training load"
get 4000 / -H "Cookie: $COOKIE"
get 1000 / -H "Cookie: $COOKIE" -H "Accept-Encoding: gzip, deflate, br, zstd"
get 500 / -H "Cookie: $COOKIE" -H "Accept-Encoding: gzip"
get 1000 /
get 500 "/blog?page=2" -H "Cookie: $COOKIE"
get 200 /styles/site.css
get 200 /socket.io/socket.io.js -H "Accept-Encoding: gzip"
curl -sS -o /dev/null "$URL/no-such-page"
node_load() { VERSUS_JS_DIR="$ROOT/tests/js" node "$ROOT/benches/versus.mjs" "$@" >/dev/null || die "versus.mjs $1 failed"; }
node_load visits "$URL" "$PID" 500 10
node_load connects "$URL" "$PID" 500 "$COOKIE"
node_load fanout "$URL" "$PID" 200 100
kill -TERM "$PID"
wait "$PID" || true # writes the profile as it exits
[[ -s "$WORK/serve.profraw" ]] || die "the server wrote no profile"
"$PROFDATA" merge --sparse -o "$ROOT/src/pgo.profdata" "$WORK/serve.profraw"
log "wrote src/pgo.profdata ($(du -k "$ROOT/src/pgo.profdata" | cut -f1) KB)"
