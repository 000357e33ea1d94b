#!/usr/bin/env bash
# Instructions per request of issue 12's list page beside GET / of the same app, counted by
# valgrind's callgrind: a quiet number on a noisy machine (never run by CI).
#
#   bash benches/lists-instructions.sh
#
# Scaffolds the app of benches/lists.sh (10,000 posts by 100 authors, SQLite), seeds it with a
# plain run of the server, then serves it under callgrind and counts, per request, every
# instruction the server runs (all threads; counters zeroed before, dumped after a 1 s settle)
# for GET / and GET /blog?page=3 with a session over one keep-alive connection, after a
# warm-up round of each.
#
# Knobs (environment): BENCH_KEYSTONE (a keystone-rs binary to measure instead of building this
# tree), INSTR_REQUESTS (200), BENCH_POSTS (10000), INSTR_KEEP (a directory to copy the
# callgrind dumps into, for `callgrind_annotate DIR/callgrind.blog`).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

REQUESTS=${INSTR_REQUESTS:-200}
POSTS=${BENCH_POSTS:-10000}

trap_cleanup
require_tools cargo curl valgrind callgrind_control
build_keystone
setup_workdir lists-instructions
APP="$WORK/app"
blog_app "$APP" "$POSTS"

log "seeding $POSTS posts"
start "$WORK/seed.log" "$KEYSTONE" serve "$APP" --port 0 --production --quiet
wait_for_url "$STARTED_PID" "$WORK/seed.log" 600
kill -TERM "$STARTED_PID"
wait "$STARTED_PID" 2>/dev/null || true

start "$WORK/serve.log" valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" --compress-strings=no \
    "$KEYSTONE" serve "$APP" --port 0 --quiet --production
PID=$STARTED_PID
wait_for_url "$PID" "$WORK/serve.log" 180 # valgrind starts slowly
curl -fsS --max-time 300 -o /dev/null "$URL/" || die "GET $URL/ failed" # the first is slow under valgrind
COOKIE=$(session_cookie "$URL")
curl -fsS --max-time 300 -H "Cookie: $COOKIE" "$URL/blog?page=3" -o "$WORK/blog.html" || die "GET /blog failed"
grep -q "page 3 of" "$WORK/blog.html" || { cat "$WORK/blog.html" >&2; die "the list page did not render"; }

# requests PATH: REQUESTS requests of URL/PATH with the session, on one keep-alive connection.
requests() {
    local i
    for ((i = 0; i < REQUESTS; i++)); do printf '%s%s\n' "$URL" "$1"; done |
        xargs curl -fsS -H "Cookie: $COOKIE" >/dev/null
}
home() { requests /; }
blog() { requests "/blog?page=3"; }

declare -A IR MISSES

log "counting (slow: everything runs under valgrind)"
callgrind_count home "$REQUESTS"
callgrind_count blog "$REQUESTS"

echo
echo "keystone-rs ($KEYSTONE), instructions per request (callgrind, all threads)"
printf '%-48s %14s\n' "GET / with a session" "${IR[home]}"
printf '%-48s %14s\n' "GET /blog?page=3 (the list page)" "${IR[blog]}"
awk -v b="${IR[blog]}" -v h="${IR[home]}" 'BEGIN {printf "the list page costs %.2f x GET / (target: <= 2)\n", b / h}'
echo "INSTRUCTIONS home=${IR[home]} blog=${IR[blog]}"
