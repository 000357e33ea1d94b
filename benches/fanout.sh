#!/usr/bin/env bash
# On-demand benchmark of socket broadcasts across nodes (never run by CI or the tests):
#
#   bash benches/fanout.sh
#
# Serves tests/fixtures/valid/cluster_app (whose socket `shout` handler broadcasts `shouted` to
# everyone else) two ways in the same run:
#   cluster:  two `serve --production` nodes sharing sessions and socket rooms on the Redis at
#             127.0.0.1:6379 (under an app name of this run's own), receivers split evenly;
#   single:   one node, `[session] store = "memory"`, `[sockets] adapter = "local"`.
# benches/fanout.mjs connects FANOUT_RECEIVERS socket.io-client sockets (websocket) plus one
# sender, which emits FANOUT_MESSAGES shouts at FANOUT_RATE per second, each stamped with its
# send time; every receiver records the latency. Prints deliveries/s and latency p50/p99 each.
#
# At a fixed rate deliveries/s only shows whether the setup keeps up (the offered load is
# RATE x RECEIVERS); the latency is the measure. Every delivery costs the socket.io-client side
# tens of µs, so above ~25 shouts/s to 1,000 receivers on a 2-CPU machine the client threads
# saturate and their queueing dominates the latency (each run prints how busy they were).
#
# Knobs (environment): FANOUT_RECEIVERS (1000), FANOUT_MESSAGES (200), FANOUT_RATE (25),
# FANOUT_WORKERS (2: client threads the receivers are spread over), FANOUT_REDIS
# (redis://127.0.0.1:6379). Servers and client are not pinned (2 nodes + Redis +
# the client share this machine's CPUs). Traffic goes to 127.0.0.1 only. Every process started
# here is stopped on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RECEIVERS=${FANOUT_RECEIVERS:-1000}
MESSAGES=${FANOUT_MESSAGES:-200}
RATE=${FANOUT_RATE:-25}
WORKERS=${FANOUT_WORKERS:-2}
REDIS=${FANOUT_REDIS:-redis://127.0.0.1:6379}
JS_DIR="$ROOT/tests/js"
FIXTURE="$ROOT/tests/fixtures/valid/cluster_app"

log() { printf '%s\n' "$*" >&2; }
die() { log "fanout.sh: $*"; exit 1; }

# --- processes and cleanup ---------------------------------------------------------------------
PIDS=()
WORK=""
NAME=""
cleanup() {
    local status=$?
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + 5))
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf "$WORK"; fi
    # The sessions this run's app made in Redis (its keys are prefixed with its own name).
    if [[ -n "$NAME" ]] && command -v redis-cli >/dev/null; then
        redis-cli -u "$REDIS" --scan --pattern "keystone:$NAME:*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites -----------------------------------------------------------------------------
for tool in cargo curl node npm; do
    command -v "$tool" >/dev/null || die "needs \`$tool\` on PATH"
done
[[ -d "$FIXTURE" ]] || die "missing $FIXTURE"
if [[ ! -d "$JS_DIR/node_modules/socket.io-client" ]]; then
    log "installing socket.io-client into tests/js"
    npm ci --prefix "$JS_DIR" --no-audit --no-fund >&2
fi
redis_hostport=${REDIS#redis://}
(exec 3<>"/dev/tcp/${redis_hostport%:*}/${redis_hostport##*:}") 2>/dev/null || die "no Redis at $REDIS"

# A file descriptor per socket on both ends.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= RECEIVERS + 256)) || die "open-file limit $(ulimit -n) is too low for $RECEIVERS sockets"

# --- build (release only) ----------------------------------------------------------------------
log "building keystone-rs (release)"
cargo build --release --bin keystone-rs >&2
KEYSTONE="$ROOT/target/release/keystone-rs"
[[ -x "$KEYSTONE" ]] || die "missing $KEYSTONE"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/keystone-fanout.XXXXXX")
export KEYSTONE_SECRET
KEYSTONE_SECRET=$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n') # 96 hex chars
unset KEYSTONE_ENV

start() {
    local out=$1
    shift
    "$@" >"$out" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

wait_for_url() {
    local pid=$1 out=$2 deadline=$((SECONDS + 15))
    URL=""
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; die "server exited early"; }
        URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out" | head -n1 || true)
        [[ -n "$URL" ]] && return 0
        sleep 0.05
    done
    cat "$out" >&2
    die "server did not start within 15 s"
}

# serve NAME DIR: serves DIR in production mode; sets URL and SERVED_PID.
serve() {
    start "$WORK/$1.log" "$KEYSTONE" serve "$2" --port 0 --quiet --production
    SERVED_PID=$STARTED_PID
    wait_for_url "$SERVED_PID" "$WORK/$1.log"
    curl -fsS --max-time 5 -o /dev/null "$URL/" || die "GET $URL/ failed ($1)"
}

# --- the two setups ----------------------------------------------------------------------------
NAME="fanout_$$_$RANDOM"
cp -r "$FIXTURE" "$WORK/cluster"
sed -i -e "s/^name = \"cluster_app\"/name = \"$NAME\"/" -e "s#redis://127\.0\.0\.1:6379#$REDIS#g" \
    "$WORK/cluster/keystone.toml"
grep -q "^name = \"$NAME\"" "$WORK/cluster/keystone.toml" || die "could not rename the cluster app"

cp -r "$FIXTURE" "$WORK/single"
sed -i -e "s/^name = \"cluster_app\"/name = \"${NAME}_single\"/" \
    -e 's#^store = .*#store = "memory"#' -e 's#^adapter = .*#adapter = "local"#' "$WORK/single/keystone.toml"
grep -q '^adapter = "local"' "$WORK/single/keystone.toml" || die "could not set the local adapter"
grep -q '^store = "memory"' "$WORK/single/keystone.toml" || die "could not set the memory store"

serve node_a "$WORK/cluster"
URL_A=$URL
serve node_b "$WORK/cluster"
URL_B=$URL
serve single "$WORK/single"
URL_SINGLE=$URL

run() { # run LABEL URL...
    local label=$1
    shift
    log "$label: $RECEIVERS receivers, $MESSAGES shouts at $RATE/s"
    timeout 200 node "$ROOT/benches/fanout.mjs" "$label" "$RECEIVERS" "$MESSAGES" "$RATE" "$WORKERS" "$@" \
        >"$WORK/$label.out" || { cat "$WORK/$label.out"; die "fanout.mjs $label failed"; }
}
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
run cluster "$URL_A" "$URL_B"
run single "$URL_SINGLE"
LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || die "a server died"; done
if grep -il 'panicked' "$WORK"/*.log >&2; then die "a server panicked"; fi

# --- report ------------------------------------------------------------------------------------
field() { awk -v k="$2" '/^FANOUT / {for (i = 2; i <= NF; i++) {split($i, kv, "="); if (kv[1] == k) print kv[2]}}' \
    "$WORK/$1.out"; }
echo
echo "== broadcast fan-out: release build, serve --production, $(nproc) CPUs shared by servers, Redis and client"
echo "load average $LOAD_BEFORE before, $LOAD_AFTER after"
grep -hv '^FANOUT ' "$WORK/cluster.out" "$WORK/single.out"
echo
printf '%-34s %13s %8s %8s %8s %11s\n' setup deliveries/s "p50 ms" "p99 ms" "max ms" delivered
for label in cluster single; do
    case $label in
    cluster) title="2 nodes, Redis adapter + store" ;;
    single) title="1 node, local adapter, memory" ;;
    esac
    printf '%-34s %13s %8s %8s %8s %11s\n' "$title" "$(field $label per_s)" "$(field $label p50)" \
        "$(field $label p99)" "$(field $label max)" "$(field $label delivered)/$(field $label expected)"
done
