#!/usr/bin/env bash
# On-demand soak of `keystone-rs serve` (never run by CI; tests/soak.rs runs it when asked with
# `cargo test --test tests soak -- --ignored`):
#
#   bash benches/soak.sh
#
# Scaffolds the default app and serves it (release build, development mode as `serve` runs by
# default, --quiet). benches/soak.mjs connects SOAK_SOCKETS socket.io-client sockets, each with
# a session cookie of its own, and holds them; meanwhile wrk loads GET / with a reused session
# cookie for SOAK_SECONDS, and the server's RSS (VmRSS) is sampled every second. Errors are
# counted: sockets that fail to connect or are dropped, failed session GETs, non-2xx answers and
# wrk socket errors. Prints the errors (target 0), RSS at second 20 and at the end and their
# difference (target within 10%), then one machine-readable line:
#
#   SOAK errors=0 rss20=KiB rss60=KiB diff_pct=P seconds=60 sockets=2000 requests=R
#
# Knobs (environment): SOAK_SOCKETS (2000), SOAK_SECONDS (60; RSS is compared between second 20
# and the last), SOAK_CONNECTIONS (wrk connections, 32). Server on CPU 0, clients on CPU 1.
# Traffic goes to 127.0.0.1 only. Every process started here is stopped on exit.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SOCKETS=${SOAK_SOCKETS:-2000}
SECONDS_TOTAL=${SOAK_SECONDS:-60}
CONNECTIONS=${SOAK_CONNECTIONS:-32}
EARLY=20
((SECONDS_TOTAL > EARLY)) || die "SOAK_SECONDS must be above $EARLY"

trap_cleanup

# --- prerequisites -----------------------------------------------------------------------------
require_tools cargo curl node npm taskset wrk
ensure_socketio_client
# A file descriptor per socket on both ends, plus wrk's connections.
raise_fd_limit $((SOCKETS + CONNECTIONS + 256)) "$SOCKETS"
pin_cpus clients

# --- build (release only) ----------------------------------------------------------------------
log "building keystone-rs (release)"
build_keystone

setup_workdir soak
unset KEYSTONE_ENV

# --- serve -------------------------------------------------------------------------------------
APP="$WORK/app"
"$KEYSTONE" new "$APP" >/dev/null
start "$WORK/serve.log" "${PIN_SERVER[@]}" "$KEYSTONE" serve "$APP" --port 0 --quiet
SERVER_PID=$STARTED_PID
wait_for_url "$SERVER_PID" "$WORK/serve.log"
COOKIE=$(session_cookie "$URL")
RSS_START=$(rss_kib "$SERVER_PID")

# --- sockets -----------------------------------------------------------------------------------
log "connecting $SOCKETS sockets, each with a session of its own"
# The holder disconnects and reports when fd 9 is closed or this script ends (see hold_sockets).
hold_sockets soak.mjs "$WORK/sockets.out" "${PIN_CLIENT[@]}" node "$ROOT/benches/soak.mjs" "$URL" \
    "$SOCKETS" $((SECONDS_TOTAL + 90))
RSS_SOCKETS=$(rss_kib "$SERVER_PID")

# --- the soak: wrk on GET / while RSS is sampled every second ----------------------------------
log "soaking for ${SECONDS_TOTAL} s: $CONNECTED sockets held, wrk -t1 -c$CONNECTIONS on GET /"
start "$WORK/wrk.out" timeout $((SECONDS_TOTAL + 30)) "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" \
    -d"${SECONDS_TOTAL}s" --timeout 5s -H "Cookie: $COOKIE" "$URL/"
WRK_PID=$STARTED_PID
RSS=()
t0=${EPOCHREALTIME/[.,]/}
RSS[0]=$(rss_kib "$SERVER_PID")
for ((s = 1; s <= SECONDS_TOTAL; s++)); do
    now=${EPOCHREALTIME/[.,]/}
    rest=$((t0 + s * 1000000 - now))
    if ((rest > 0)); then sleep "$(printf '%d.%06d' $((rest / 1000000)) $((rest % 1000000)))"; fi
    kill -0 "$SERVER_PID" 2>/dev/null || die "serve died at second $s"
    RSS[s]=$(rss_kib "$SERVER_PID")
done
wait "$WRK_PID" || die "wrk failed: $(cat "$WORK/wrk.out")"
exec 9>&- # the holder reports and exits
deadline=$((SECONDS + 15))
until grep -q '^SOCKETS' "$WORK/sockets.out"; do
    ((SECONDS < deadline)) || die "soak.mjs did not report"
    sleep 0.1
done

# --- errors ------------------------------------------------------------------------------------
sock() { awk -v k="$1" '/^SOCKETS / {for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' \
    "$WORK/sockets.out"; }
FAILED=$(sock failed) DROPPED=$(sock disconnects) STILL=$(sock still) HTTP_ERRORS=$(sock http_errors)
LOST=$((SOCKETS - STILL))                          # not connected at the end, for whatever reason
NON2XX=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$WORK/wrk.out")
NON2XX=${NON2XX:-0}
WRK_SOCKET_ERRORS=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$WORK/wrk.out")
WRK_SOCKET_ERRORS=${WRK_SOCKET_ERRORS:-0}
REQUESTS=$(wrk_requests <"$WORK/wrk.out")
RPS=$(wrk_rps <"$WORK/wrk.out")
((REQUESTS > 0)) || { cat "$WORK/wrk.out" >&2; die "wrk made no requests"; }
# A socket that failed to connect or was dropped is also missing at the end: count it once.
SOCKET_ERRORS=$((FAILED + DROPPED > LOST ? FAILED + DROPPED : LOST))
ERRORS=$((SOCKET_ERRORS + HTTP_ERRORS + NON2XX + WRK_SOCKET_ERRORS))
PANICS=$(grep -c 'panicked' "$WORK/serve.log" || true)
ERRORS=$((ERRORS + PANICS))

# --- report ------------------------------------------------------------------------------------
RSS_EARLY=${RSS[EARLY]}
RSS_END=${RSS[SECONDS_TOTAL]}
DIFF=$(awk -v a="$RSS_EARLY" -v b="$RSS_END" 'BEGIN {printf "%+.1f", 100 * (b - a) / a}')
MAX=0
for v in "${RSS[@]}"; do ((v > MAX)) && MAX=$v; done
echo
echo "== soak: keystone-rs serve (release, development, default scaffold), ${SECONDS_TOTAL} s"
echo "server on CPU 0; soak.mjs and wrk -t1 -c$CONNECTIONS on CPU 1; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "sockets: $CONNECTED/$SOCKETS connected with their own sessions, $STILL still connected at the end"
echo "HTTP: $REQUESTS requests to GET / ($RPS req/s) with a reused session"
echo "errors: $ERRORS (sockets failed $FAILED, dropped $DROPPED, missing at the end $LOST; session GETs failed" \
    "$HTTP_ERRORS; non-2xx $NON2XX; wrk socket errors $WRK_SOCKET_ERRORS; panics $PANICS)"
echo "RSS MiB: start $(mib "$RSS_START"), with sockets $(mib "$RSS_SOCKETS"); during the soak:"
line=""
for ((s = 0; s <= SECONDS_TOTAL; s += 5)); do line+=$(printf ' %ds=%s' "$s" "$(mib "${RSS[s]}")"); done
echo " $line"
echo "RSS at second $EARLY: $(mib "$RSS_EARLY") MiB; at second $SECONDS_TOTAL: $(mib "$RSS_END") MiB;" \
    "difference $DIFF% (target within 10%); peak $(mib "$MAX") MiB"
verdict="meets"
if ((ERRORS > 0)) || awk -v d="$DIFF" 'BEGIN {exit !(d > 10 || d < -10)}'; then verdict="MISSES"; fi
echo "$verdict the targets (0 errors, RSS within 10%)"
echo "SOAK errors=$ERRORS rss20=$RSS_EARLY rss60=$RSS_END diff_pct=$DIFF seconds=$SECONDS_TOTAL sockets=$STILL requests=$REQUESTS"
