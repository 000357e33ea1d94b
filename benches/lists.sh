#!/usr/bin/env bash
# On-demand benchmark of lists (DESIGN §10; never run by CI or the tests):
#
#   bash benches/lists.sh
#
# Scaffolds an app with 10,000 posts by 100 authors (seeded through updates/), serves it in
# release mode and loads, in the same run, GET / (the scaffold's index) and GET /blog?page=3
# (published posts, newest first, 10 a page, each with its author populated), first on
# SQLite, then on the PostgreSQL at 127.0.0.1:5432 (a database made for the run and dropped
# after). Prints req/s, latency and server CPU per request; the target is the list page at
# >= 50% of GET /'s throughput on SQLite.
#
# Knobs (environment): BENCH_DURATION (10s), BENCH_CONNECTIONS (32), BENCH_POSTS (10000),
# BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432; empty to skip PostgreSQL), BENCH_BINARY (a
# keystone-rs binary to use instead of building one in release mode).
set -euo pipefail
# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
POSTS=${BENCH_POSTS:-10000}
POSTGRES=${BENCH_POSTGRES-postgres://postgres@127.0.0.1:5432}
PG_DB=""

trap_cleanup
cleanup_more() {
    if [[ -n "$PG_DB" ]]; then psql "$POSTGRES/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true; fi
}

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    if ! apt-cache show wrk >/dev/null 2>&1; then as_root apt-get update -qq; fi
    as_root apt-get install -y -qq wrk >&2
fi
require_tools cargo curl wrk taskset
pin_cpus wrk
if [[ -n "${BENCH_BINARY:-}" ]]; then
    KEYSTONE=$BENCH_BINARY
else
    log "building keystone-rs (release)"
    build_keystone
fi
setup_workdir lists

# --- the app -----------------------------------------------------------------------------------
APP="$WORK/app"
blog_app "$APP" "$POSTS"

# --- one backend -------------------------------------------------------------------------------
# bench LABEL: serves $APP, seeds it (the updates), loads GET / and the list page.
bench() {
    local label=$1 started
    started=$SECONDS
    start "$WORK/$label.log" "${PIN_SERVER[@]}" "$KEYSTONE" serve "$APP" --port 0 --production --quiet
    local pid=$STARTED_PID
    wait_for_url "$pid" "$WORK/$label.log" 600 # seeding 10,000 items takes a while
    log "$label: serving after $((SECONDS - started)) s (seeding included)"
    local cookie
    cookie=$(session_cookie "$URL")
    curl -fsS -H "Cookie: $cookie" "$URL/blog?page=3" -o "$WORK/blog.html" || die "GET /blog failed"
    grep -q "page 3 of" "$WORK/blog.html" || { cat "$WORK/blog.html" >&2; die "the list page did not render"; }
    local path rps cpu p50
    for path in "/" "/blog?page=3"; do
        load "$pid" "$URL$path" -H "Cookie: $cookie"
        rps=$(wrk_rps <<<"$WRK_OUT")
        cpu=$(cpu_us_per_req "$WRK_TICKS" "$(wrk_requests <<<"$WRK_OUT")")
        p50=$(wrk_latency_ms 50 <<<"$WRK_OUT")
        printf '%-10s %-16s %9s req/s  %8s µs CPU/req  p50 %6s ms\n' "$label" "GET $path" "$rps" "$cpu" "$p50"
        RESULTS["$label $path"]=$rps
    done
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
}

# load PID URL [WRK ARGS]: 2 s warm-up, then wrk for DURATION; sets WRK_OUT and WRK_TICKS.
load() {
    local pid=$1 url=$2 before after
    shift 2
    timeout 30 "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d2s "$@" "$url" >/dev/null
    before=$(cpu_ticks "$pid")
    WRK_OUT=$(timeout 120 "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$url")
    after=$(cpu_ticks "$pid")
    WRK_TICKS=$((after - before))
}

declare -A RESULTS
printf '%-10s %-16s %15s  %17s  %s\n' backend request throughput "server CPU" latency
bench sqlite
if [[ -n "$POSTGRES" ]]; then
    require_tools psql
    PG_DB="ks_bench_$$"
    psql "$POSTGRES/postgres" -qc "CREATE DATABASE $PG_DB" >/dev/null
    printf '\n[database]\nurl = "%s/%s"\n' "$POSTGRES" "$PG_DB" >>"$APP/keystone.toml"
    bench postgres
fi
awk -v list="${RESULTS[sqlite /blog?page=3]}" -v home="${RESULTS[sqlite /]}" \
    'BEGIN {printf "\nSQLite: the list page at %.0f%% of GET /'"'"'s throughput (target: >= 50%%)\n", 100 * list / home}'
