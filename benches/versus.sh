#!/usr/bin/env bash
# On-demand comparison of keystone-rs with the Node stack it replaces (never run by CI):
#
#   bash benches/versus.sh
#
# Serves the default scaffold (production, default sqlite store, plus a `chat` handler that
# reaches every socket, sender included) and benches/node/app.mjs (Express 4 + express-session
# + socket.io 4 telling the same story), one after the other, each pinned to CPU 0 with the
# load on CPU 1, through the same load: wrk for HTTP, benches/versus.mjs for visits, sockets
# and fan-out. Also serves the scaffold in development for edit -> next response
# (benches/reload.mjs) and benches/bare_server.rs for the page path's baseline and, with
# `--visits`, the visit's floor (it takes its turn in the visit rounds). Prints one table
# of values and the ratios issue 11 sets as targets.
#
# Knobs (environment): BENCH_KEYSTONE (a keystone-rs binary to measure instead of building
# this tree), BENCH_BARE (a bare_server executable, likewise), BENCH_DURATION (10s, per wrk
# run), VERSUS_SOCKETS (5000), VERSUS_VISITS (300), VERSUS_VISIT_ROUNDS (5: visits alternate
# between the stacks, after one uncounted warm-up round each), VERSUS_RECEIVERS (1000),
# VERSUS_MESSAGES (200), VERSUS_PAGE_ROUNDS (7) and VERSUS_PAGE_DURATION (4s): the alternating
# rounds of GET / against bare axum.
# Traffic goes to 127.0.0.1 only. Every process started here is stopped on exit.
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DURATION=${BENCH_DURATION:-10s}
PAGE_ROUNDS=${VERSUS_PAGE_ROUNDS:-7}
PAGE_DURATION=${VERSUS_PAGE_DURATION:-4s}
SOCKETS=${VERSUS_SOCKETS:-5000}
VISITS=${VERSUS_VISITS:-300}
VISIT_ROUNDS=${VERSUS_VISIT_ROUNDS:-5}
RECEIVERS=${VERSUS_RECEIVERS:-1000}
MESSAGES=${VERSUS_MESSAGES:-200}

trap_cleanup

require_tools cargo curl node npm taskset wrk gzip
ensure_socketio_client
ensure_node_reference
raise_fd_limit $((2 * SOCKETS + 512)) "$SOCKETS"
pin_cpus "the load"

log "building keystone-rs and bare_server (release)"
build_keystone
build_bare
setup_workdir versus
export NODE_ENV=production KEYSTONE_ENV=production

declare -A V # V[stack.measure] = value

# versus STACK MODE ARGS...: runs versus.mjs MODE against STACK's server on CPU 1; stores every
# field of its JSON line as V[STACK.field].
versus() {
    local stack=$1 mode=$2 line
    shift 2
    line=$("${PIN_CLIENT[@]}" node "$ROOT/benches/versus.mjs" "$mode" "${URLS[$stack]}" "${PID[$stack]}" "$@") ||
        die "$stack: versus.mjs $mode failed"
    while IFS='=' read -r key value; do V[$stack.$key]=$value; done < <(
        node -e 'for (const [k, v] of Object.entries(JSON.parse(process.argv[1]))) console.log(`${k}=${v}`)' "$line"
    )
}

# http STACK NAME CONNECTIONS [WRK ARGS...]: wrk against STACK; stores V[STACK.NAME_rps] and
# V[STACK.NAME_cpu_us].
http() {
    local stack=$1 name=$2 requests
    CONNECTIONS=$3
    shift 3
    wrk_load "${PID[$stack]}" "${URLS[$stack]}" "$@"
    if grep -q 'Non-2xx' <<<"$WRK_OUT"; then
        printf '%s\n' "$WRK_OUT" >&2
        die "$stack answered errors under load"
    fi
    requests=$(wrk_requests <<<"$WRK_OUT")
    V[$stack.${name}_rps]=$(wrk_rps <<<"$WRK_OUT")
    V[$stack.${name}_cpu_us]=$(cpu_us_per_req "$WRK_TICKS" "$requests")
}

# median VALUE...: the median of the values.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# measure_idle STACK: STACK's resident memory after its first request, and its client script.
measure_idle() {
    local stack=$1 url=${URLS[$1]}
    session_cookie "$url" >/dev/null
    sleep 0.5
    V[$stack.idle_rss_kib]=$(rss_kib "${PID[$stack]}")
    V[$stack.client_raw]=$(curl -fsS "$url/socket.io/socket.io.js" | wc -c)
    V[$stack.client_gzip]=$(curl -fsS "$url/socket.io/socket.io.js" | gzip -9 | wc -c)
}

# measure STACK: the rest of the load (after the visits) against STACK's running server.
measure() {
    local stack=$1 url=${URLS[$1]} cookie
    cookie=$(session_cookie "$url")
    log "$stack: first visits (no cookie), wrk -c50"
    http "$stack" first 50
    log "$stack: GET / with a session, wrk -c32"
    http "$stack" page 32 -H "Cookie: $cookie"
    log "$stack: $SOCKETS sockets, each with its own session"
    versus "$stack" sockets "$SOCKETS"
    log "$stack: fan-out to $RECEIVERS sockets"
    versus "$stack" fanout "$RECEIVERS" "$MESSAGES"
}

declare -A URLS PID

# --- keystone-rs (production, default store) ---------------------------------------------------
"$KEYSTONE" new "$WORK/app" >/dev/null
grep -q '^store = "sqlite"' "$WORK/app/keystone.toml" || die "the scaffold's store is not sqlite"
# `chat` reaches every socket of the namespace, sender included, like the Node app's io.emit.
add_chat_handler "$WORK/app"
start "$WORK/keystone.log" "${PIN_SERVER[@]}" "$KEYSTONE" serve "$WORK/app" --port 0 --quiet --production
PID[keystone]=$STARTED_PID
wait_for_url "${PID[keystone]}" "$WORK/keystone.log"
URLS[keystone]=$URL
measure_idle keystone

# --- the Node reference, up beside it (idle while keystone-rs is loaded) ------------------------
start "$WORK/node.log" "${PIN_SERVER[@]}" node "$ROOT/benches/node/app.mjs" 0
PID[node]=$STARTED_PID
wait_for_url "${PID[node]}" "$WORK/node.log"
URLS[node]=$URL
measure_idle node

# --- visits, rounds alternating between the stacks ---------------------------------------------
# Like the page's, a visit's latency and CPU drift with the machine: both servers take turns,
# fresh (the first visits below leave keystone-rs's sessions file at hundreds of thousands of
# rows, which makes each new session's write cost more), and the medians are compared.
# The visit's floor takes its turn too: bare_server --visits, a tokio server that keeps
# sessions in a map and answers the official client the least Socket.IO can (what any server
# on tokio pays for the visit's two connections, its syscalls and its kernel time).
start "$WORK/bare_visit.log" "${PIN_SERVER[@]}" "$BARE" "$WORK/app/templates" 0 --visits
PID[floor]=$STARTED_PID
wait_for_url "${PID[floor]}" "$WORK/bare_visit.log"
URLS[floor]=$URL
declare -a VISIT_P50_RATIOS VISIT_CPU_RATIOS FLOOR_CPU_RATIOS
declare -A VISIT_P50 VISIT_CPU
# Node's JIT warms up over the first thousands of visits (its CPU per visit has halved between
# the first and last rounds here): every stack gets one uncounted round first, so the rounds
# compare servers in their steady state, as production runs them.
log "visits: one warm-up round per stack ($((VISITS * 4)) visits, 20 at a time, not counted)"
for stack in keystone floor node; do versus "$stack" visits $((VISITS * 4)) 20; done
log "visits, $VISIT_ROUNDS alternating rounds: $VISITS one after the other, $((VISITS * 4)) 20 at a time"
for ((round = 0; round < VISIT_ROUNDS; round++)); do
    for stack in keystone floor node; do
        versus "$stack" visits "$VISITS" 1
        VISIT_P50[$stack]+=" ${V[$stack.p50_ms]}"
        versus "$stack" visits $((VISITS * 4)) 20
        VISIT_CPU[$stack]+=" ${V[$stack.cpu_us]}"
    done
    VISIT_P50_RATIOS+=("$(awk -v k="${VISIT_P50[keystone]##* }" -v n="${VISIT_P50[node]##* }" 'BEGIN {printf "%.2f", k / n}')")
    VISIT_CPU_RATIOS+=("$(awk -v k="${VISIT_CPU[keystone]##* }" -v n="${VISIT_CPU[node]##* }" 'BEGIN {printf "%.2f", k / n}')")
    FLOOR_CPU_RATIOS+=("$(awk -v k="${VISIT_CPU[keystone]##* }" -v f="${VISIT_CPU[floor]##* }" 'BEGIN {printf "%.2f", k / f}')")
done
kill -TERM "${PID[floor]}"
for stack in keystone floor node; do
    # shellcheck disable=SC2086 # the rounds' values, one word each
    V[$stack.visit_p50]=$(median ${VISIT_P50[$stack]})
    # shellcheck disable=SC2086
    V[$stack.visit_cpu_us]=$(median ${VISIT_CPU[$stack]})
done

# --- keystone-rs: the rest of its load ---------------------------------------------------------
measure keystone

# --- GET / against bare axum + minijinja (same template), rounds alternating --------------------
# The machine drifts by tens of percent over a minute: keystone-rs and bare axum are measured in
# alternating rounds (both running, one loaded at a time) and the medians compared.
start "$WORK/bare.log" "${PIN_SERVER[@]}" "$BARE" "$WORK/app/templates" 0
PID[bare]=$STARTED_PID
wait_for_url "${PID[bare]}" "$WORK/bare.log"
URLS[bare]=$URL
cookie=$(session_cookie "${URLS[keystone]}")
declare -a KS_ROUNDS BARE_ROUNDS RATIO_ROUNDS
log "GET / with a session vs bare axum, $PAGE_ROUNDS alternating rounds of $PAGE_DURATION"
for ((round = 0; round < PAGE_ROUNDS; round++)); do
    DURATION=$PAGE_DURATION http keystone page 32 -H "Cookie: $cookie"
    DURATION=$PAGE_DURATION http bare page 32
    KS_ROUNDS+=("${V[keystone.page_cpu_us]}")
    BARE_ROUNDS+=("${V[bare.page_cpu_us]}")
    RATIO_ROUNDS+=("$(awk -v b="${V[bare.page_cpu_us]}" -v k="${V[keystone.page_cpu_us]}" 'BEGIN {printf "%.2f", b / k}')")
done
V[keystone.page_cpu_us]=$(median "${KS_ROUNDS[@]}")
V[bare.page_cpu_us]=$(median "${BARE_ROUNDS[@]}")
PAGE_RATIO=$(median "${RATIO_ROUNDS[@]}")
kill -TERM "${PID[bare]}"

# --- the Node reference (the rest of its load) --------------------------------------------------
measure node

kill -TERM "${PID[keystone]}" "${PID[node]}"

# --- edit -> next response (development) -------------------------------------------------------
unset KEYSTONE_ENV
"$KEYSTONE" new "$WORK/dev" >/dev/null
start "$WORK/dev.log" "${PIN_SERVER[@]}" "$KEYSTONE" serve "$WORK/dev" --port 0 --quiet
wait_for_url "$STARTED_PID" "$WORK/dev.log"
log "keystone-rs: edit -> next response, 30 edits"
KEYSTONE_JS_DIR="$ROOT/benches/node" "${PIN_CLIENT[@]}" node "$ROOT/benches/reload.mjs" "$URL" "$WORK/dev" \
    "$(session_cookie "$URL")" 30 200 >"$WORK/reload.out" || { cat "$WORK/reload.out" >&2; die "reload.mjs failed"; }
RELOAD_P50=$(awk '/^RELOAD / {sub("served_p50=", "", $3); print $3}' "$WORK/reload.out")

# --- report ------------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
kib() { awk -v b="$1" 'BEGIN {printf "%.1f KB", b / 1024}'; }
row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
k() { printf '%s' "${V[keystone.$1]}"; }
n() { printf '%s' "${V[node.$1]}"; }
echo
echo "keystone-rs ($KEYSTONE) vs Node (Express 4 + express-session + socket.io 4); servers on CPU 0, load on CPU 1"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (this machine has $(nproc) CPUs)"
echo
row measure keystone-rs "Node stack" ratio target
row --- --- --- --- ---
row "visit, sequential: GET / (new session) + websocket connect → msg, p50, median of $VISIT_ROUNDS rounds" \
    "$(k visit_p50) ms" "$(n visit_p50) ms" \
    "$(median "${VISIT_P50_RATIOS[@]}") (rounds: ${VISIT_P50_RATIOS[*]})" "≤ 1"
row "CPU per visit (GET + connect + msg), 20 at a time, median of $VISIT_ROUNDS rounds" "$(k visit_cpu_us) µs" \
    "$(n visit_cpu_us) µs" "$(median "${VISIT_CPU_RATIOS[@]}") (rounds: ${VISIT_CPU_RATIOS[*]})" "≤ 0.20"
row "the visit's floor: bare_server --visits (tokio, sessions in a map, least Socket.IO), CPU per visit" \
    "$(k visit_cpu_us) µs (floor $(printf '%s' "${V[floor.visit_cpu_us]}") µs, p50 ${V[floor.visit_p50]} ms)" \
    "$(n visit_cpu_us) µs" "keystone-rs/floor $(median "${FLOOR_CPU_RATIOS[@]}") (rounds: ${FLOOR_CPU_RATIOS[*]}); floor/Node $(ratio "${V[floor.visit_cpu_us]}" "$(n visit_cpu_us)")" "–"
row "first visit: GET / with no cookie, c=50" "$(k first_rps) req/s, $(k first_cpu_us) µs" \
    "$(n first_rps) req/s, $(n first_cpu_us) µs" "$(ratio "$(k first_cpu_us)" "$(n first_cpu_us)") (CPU)" "≤ 0.20"
row "memory per connected socket with its own session, $SOCKETS sockets" "$(k kib_per_socket) KiB" \
    "$(n kib_per_socket) KiB" "$(ratio "$(k kib_per_socket)" "$(n kib_per_socket)")" "≤ 10 KiB"
row "RSS after those sockets disconnect (before the sockets, their sessions made; before both)" \
    "$(mib "$(k rss_after_kib)") MiB ($(mib "$(k rss_sessions_kib)"); $(mib "$(k rss_before_kib)"))" \
    "$(mib "$(n rss_after_kib)") MiB ($(mib "$(n rss_sessions_kib)"); $(mib "$(n rss_before_kib)"))" \
    "$(ratio "$(k rss_after_kib)" "$(k rss_sessions_kib)"); $(ratio "$(k rss_after_kib)" "$(k rss_before_kib)") (after/before)" "≤ 1.25"
row "memory per session kept after its socket left (part of the socket's above)" "$(k kib_per_session) KiB" \
    "$(n kib_per_session) KiB" "$(ratio "$(k kib_per_session)" "$(n kib_per_session)")" "–"
row "idle RSS" "$(mib "$(k idle_rss_kib)") MiB" "$(mib "$(n idle_rss_kib)") MiB" \
    "$(ratio "$(k idle_rss_kib)" "$(n idle_rss_kib)")" "≤ 12 MiB"
row "GET / with a session, CPU per request, median of $PAGE_ROUNDS rounds (bare axum: ${V[bare.page_cpu_us]} µs)" \
    "$(k page_cpu_us) µs" "$(n page_cpu_us) µs, $(n page_rps) req/s" \
    "$PAGE_RATIO of bare (rounds: ${RATIO_ROUNDS[*]})" "≥ 0.90 of bare"
row "/socket.io/socket.io.js, raw and gzip -9" "$(kib "$(k client_raw)"), $(kib "$(k client_gzip)")" \
    "$(kib "$(n client_raw)"), $(kib "$(n client_gzip)")" "–" "≤ 12 KB, ≤ 5 KB"
row "edit a template → next response shows it, p50" "$RELOAD_P50 ms" – – "≤ 10 ms"
row "fan-out: chat to $RECEIVERS sockets, CPU per delivery" "$(k cpu_us_per_delivery) µs" \
    "$(n cpu_us_per_delivery) µs" "$(ratio "$(k cpu_us_per_delivery)" "$(n cpu_us_per_delivery)")" "≤ 0.25"
