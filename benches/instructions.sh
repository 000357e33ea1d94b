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
#   browser the same with Chromium's Accept-Encoding (the page sent compressed)
#   first   GET / with no cookie: a new session each
#   connect a websocket connect with the session's cookie until `msg`, then disconnect
#   visit   versus.sh's visit, one at a time: GET / with no cookie, then a websocket connect
#           with the new session until `msg`, then disconnect
# and the same GET / and visit of benches/bare_server.rs (bare axum + minijinja, same template;
# with `--visits`, a session map in memory and the least Socket.IO answer): the page path's
# and the visit's floors, counted the same way.
# Knobs (environment): BENCH_KEYSTONE (a keystone-rs binary to measure instead of building this
# tree), BENCH_BARE (a bare_server executable, likewise), INSTR_REQUESTS (200), INSTR_CONNECTS
# (50), INSTR_VISITS (50), INSTR_KEEP (a folder to copy the callgrind dumps to, one per operation, for
# callgrind_annotate), INSTR_CACHE=1 (simulate caches and branches too: prints instruction-cache
# and data-cache misses and branch mispredictions per operation; where instructions are equal,
# these are what CPU time still differs by).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

REQUESTS=${INSTR_REQUESTS:-200}
CONNECTS=${INSTR_CONNECTS:-50}
VISITS=${INSTR_VISITS:-50}

trap_cleanup
require_tools cargo curl node npm valgrind callgrind_control
ensure_node_reference
build_keystone
build_bare
setup_workdir instructions
VALGRIND=(valgrind --tool=callgrind)
if [[ "${INSTR_CACHE:-}" == 1 ]]; then VALGRIND+=(--cache-sim=yes --branch-sim=yes); fi
export KEYSTONE_ENV=production

"$KEYSTONE" new "$WORK/app" >/dev/null
start "$WORK/serve.log" "${VALGRIND[@]}" --callgrind-out-file="$WORK/callgrind.out" "$KEYSTONE" serve "$WORK/app" --port 0 --quiet --production
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
# What a browser asks: the page compressed (Chromium's Accept-Encoding; brotli is chosen).
browser() { urls "$REQUESTS" | xargs curl -fsS -H "Cookie: $COOKIE" -H "Accept-Encoding: gzip, deflate, br, zstd" >/dev/null; }
first() { urls "$REQUESTS" | xargs curl -fsS >/dev/null; }
connect() {
    node "$ROOT/benches/versus.mjs" connects "$URL" "$PID" "$CONNECTS" "$COOKIE" >/dev/null ||
        die "versus.mjs connects failed"
}
# versus.mjs warms up with as many visits as it measures: 2 × VISITS in all.
visit() { node "$ROOT/benches/versus.mjs" visits "$URL" "$PID" "$VISITS" 1 >/dev/null || die "versus.mjs visits failed"; }

declare -A IR MISSES

log "counting (slow: everything runs under valgrind)"
callgrind_count page "$REQUESTS"
callgrind_count browser "$REQUESTS"
callgrind_count first "$REQUESTS"
callgrind_count connect "$CONNECTS"
callgrind_count visit $((2 * VISITS))
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true

# The baseline: bare axum + minijinja rendering the same template (the cookie is sent, unread).
start "$WORK/bare.log" "${VALGRIND[@]}" --callgrind-out-file="$WORK/callgrind.out.bare" "$BARE" "$WORK/app/templates" 0
PID=$STARTED_PID
wait_for_url "$PID" "$WORK/bare.log" 180
curl -fsS --max-time 300 -o /dev/null "$URL/" || die "GET $URL/ (bare) failed"
bare() { page; }
callgrind_count bare "$REQUESTS"
kill -TERM "$PID"
wait "$PID" 2>/dev/null || true

# The visit's floor: the same bare server with a session map and the least Socket.IO answer.
start "$WORK/bare_visit.log" "${VALGRIND[@]}" --callgrind-out-file="$WORK/callgrind.out.bare_visit" "$BARE" "$WORK/app/templates" 0 --visits
PID=$STARTED_PID
wait_for_url "$PID" "$WORK/bare_visit.log" 180
curl -fsS --max-time 300 -o /dev/null "$URL/" || die "GET $URL/ (bare --visits) failed"
bare_visit() { visit; }
callgrind_count bare_visit $((2 * VISITS))

# row LABEL NAME: one operation's instructions (and misses, when simulated).
row() { printf '%-64s %10s   %s\n' "$1" "${IR[$2]}" "${MISSES[$2]:-}"; }
echo
echo "keystone-rs ($KEYSTONE), instructions per operation (callgrind, all threads)"
row "GET / with a session" page
row "GET / with a session, compressed (browser's Accept-Encoding)" browser
row "GET / with no cookie (new session, incl. its write)" first
row "websocket connect -> msg -> disconnect" connect
row "visit: GET / with no cookie, then connect -> msg -> disconnect" visit
row "bare axum + minijinja, same page (baseline)" bare
row "bare visit: session map, least Socket.IO answer (floor)" bare_visit
awk -v b="${IR[bare]}" -v k="${IR[page]}" 'BEGIN {printf "GET / with a session: %.2f of bare by instructions\n", b / k}'
awk -v b="${IR[bare_visit]}" -v k="${IR[visit]}" 'BEGIN {printf "visit: %.2f of the bare floor by instructions\n", b / k}'
echo "INSTRUCTIONS page=${IR[page]} browser=${IR[browser]} first=${IR[first]} connect=${IR[connect]} visit=${IR[visit]} bare=${IR[bare]} bare_visit=${IR[bare_visit]}"
