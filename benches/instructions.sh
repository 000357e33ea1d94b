#!/usr/bin/env bash
# Instructions per request and per socket connect of `keystone-rs serve`, counted by valgrind's
# callgrind: the same number whatever else the machine is doing, so a change can be judged on
# a quiet number (never run by CI).
#
#   bash benches/instructions.sh
#
# Serves the default scaffold (production, default sqlite store) under callgrind and counts, per
# operation, every instruction the server runs while the operation happens (counters zeroed
# before, dumped after a 1 s settle, so work done just after — the sqlite write-behind — counts):
#   page    GET / with a session (keep-alive)
#   first   GET / with no cookie: a new session each
#   connect a websocket connect with the session's cookie until `msg`, then disconnect
# Knobs (environment): BENCH_KEYSTONE (a keystone-rs binary to measure instead of building this
# tree), INSTR_REQUESTS (200), INSTR_CONNECTS (50), INSTR_KEEP (a folder to copy the callgrind
# dumps to, one per operation, for callgrind_annotate).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

REQUESTS=${INSTR_REQUESTS:-200}
CONNECTS=${INSTR_CONNECTS:-50}

trap_cleanup
require_tools cargo curl node npm valgrind callgrind_control
ensure_node_reference
build_keystone
setup_workdir instructions
export KEYSTONE_ENV=production

"$KEYSTONE" new "$WORK/app" >/dev/null
start "$WORK/serve.log" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$KEYSTONE" serve "$WORK/app" --port 0 --quiet --production
PID=$STARTED_PID
deadline=$((SECONDS + 180)) # valgrind starts slowly
until grep -q 'http://127\.0\.0\.1:[0-9]*' "$WORK/serve.log"; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; die "server exited early"; }
    ((SECONDS < deadline)) || die "server did not start under valgrind within 180 s"
    sleep 0.5
done
URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$WORK/serve.log" | head -n1)
curl -fsS --max-time 300 -o /dev/null "$URL/" || die "GET $URL/ failed" # the first is slow under valgrind
COOKIE=$(session_cookie "$URL")

# urls N: N copies of URL/ for one curl invocation (one keep-alive connection).
urls() { for ((i = 0; i < $1; i++)); do printf '%s/\n' "$URL"; done; }
page() { urls "$REQUESTS" | xargs curl -fsS -H "Cookie: $COOKIE" >/dev/null; }
first() { urls "$REQUESTS" | xargs curl -fsS >/dev/null; }
connect() {
    node "$ROOT/benches/versus.mjs" connects "$URL" "$PID" "$CONNECTS" "$COOKIE" >/dev/null ||
        die "versus.mjs connects failed"
}

declare -A IR

log "counting (slow: everything runs under valgrind)"
callgrind_count page "$REQUESTS"
callgrind_count first "$REQUESTS"
callgrind_count connect "$CONNECTS"

echo
echo "keystone-rs ($KEYSTONE), instructions per operation (callgrind, all threads)"
printf '%-48s %14s\n' "GET / with a session" "${IR[page]}"
printf '%-48s %14s\n' "GET / with no cookie (new session, incl. its write)" "${IR[first]}"
printf '%-48s %14s\n' "websocket connect -> msg -> disconnect" "${IR[connect]}"
echo "INSTRUCTIONS page=${IR[page]} first=${IR[first]} connect=${IR[connect]}"
