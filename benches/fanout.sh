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
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

RECEIVERS=${FANOUT_RECEIVERS:-1000}
MESSAGES=${FANOUT_MESSAGES:-200}
RATE=${FANOUT_RATE:-25}
WORKERS=${FANOUT_WORKERS:-2}
REDIS=${FANOUT_REDIS:-redis://127.0.0.1:6379}
FIXTURE="$ROOT/tests/fixtures/valid/cluster_app"

# --- processes and cleanup ---------------------------------------------------------------------
NAME=""
trap_cleanup
# Called by cleanup: the sessions this run's app made in Redis (its keys are prefixed with its
# own name).
cleanup_more() {
    if [[ -n "$NAME" ]] && command -v redis-cli >/dev/null; then
        redis-cli -u "$REDIS" --scan --pattern "keystone:$NAME:*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1 || true
    fi
}

# --- prerequisites -----------------------------------------------------------------------------
require_tools cargo curl node npm
[[ -d "$FIXTURE" ]] || die "missing $FIXTURE"
ensure_socketio_client
redis_hostport=${REDIS#redis://}
(exec 3<>"/dev/tcp/${redis_hostport%:*}/${redis_hostport##*:}") 2>/dev/null || die "no Redis at $REDIS"

# A file descriptor per socket on both ends.
raise_fd_limit $((RECEIVERS + 256)) "$RECEIVERS"

# --- build (release only) ----------------------------------------------------------------------
log "building keystone-rs (release)"
build_keystone

setup_workdir fanout
unset KEYSTONE_ENV

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
