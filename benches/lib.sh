# shellcheck shell=bash disable=SC2034 # sets globals (KEYSTONE, URL, WRK_OUT, …) for the scripts
# Shell helpers shared by the benchmark scripts in benches/ (sourced, never run on its own):
#
#   source "$(dirname "$0")/lib.sh"
#
# Functions that start processes, read /proc or load a server expect the script's own globals
# where noted (WORK, PIN_CLIENT, CONNECTIONS, DURATION).

# The repository root.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# log MESSAGE…: prints to stderr.
log() { printf '%s\n' "$*" >&2; }

# die MESSAGE…: logs "SCRIPT.sh: MESSAGE" and exits 1.
die() { log "${0##*/}: $*"; exit 1; }

# --- processes and cleanup ---------------------------------------------------------------------

# cleanup: on exit, stops every process in PIDS (TERM, then KILL after 5 s), removes WORK and
# runs the script's cleanup_more if it defines one.
cleanup() {
    local status=$?
    exec 9>&- 2>/dev/null || true # closes a socket holder's stdin (see hold_sockets)
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    local deadline=$((SECONDS + 5))
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf "$WORK"; fi
    if declare -F cleanup_more >/dev/null; then cleanup_more; fi
    exit "$status"
}

# trap_cleanup: starts with no processes and no WORK, and runs cleanup however the script ends.
trap_cleanup() {
    PIDS=()
    WORK=""
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# start LOGFILE CMD...: runs CMD in the background with its output in LOGFILE, sets STARTED_PID.
start() {
    local out=$1
    shift
    : >"$out"
    "$@" >"$out" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# --- prerequisites and setup -------------------------------------------------------------------

# require_tools TOOL...: dies unless every TOOL is on PATH.
require_tools() {
    local tool hint=""
    if [[ " $* " == *" wrk "* ]]; then hint=" (wrk: apt-get install wrk)"; fi
    for tool in "$@"; do
        command -v "$tool" >/dev/null || die "needs \`$tool\` on PATH$hint"
    done
}

# ensure_socketio_client: installs tests/js's node modules if socket.io-client is missing.
ensure_socketio_client() {
    local js_dir="$ROOT/tests/js"
    if [[ ! -d "$js_dir/node_modules/socket.io-client" ]]; then
        [[ -f "$js_dir/package.json" ]] || die "no $js_dir/package.json to install socket.io-client from"
        log "installing socket.io-client into tests/js"
        npm ci --prefix "$js_dir" --no-audit --no-fund >&2
    fi
}

# raise_fd_limit NEEDED SOCKETS: raises the open-file limit, dies if it stays below NEEDED.
raise_fd_limit() {
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    (($(ulimit -n) >= $1)) || die "open-file limit $(ulimit -n) is too low for $2 sockets"
}

# pin_cpus CLIENTS: sets PIN_SERVER (CPU 0) and PIN_CLIENT (CPU 1), both empty on one CPU.
pin_cpus() {
    if (($(nproc) >= 2)); then
        PIN_SERVER=(taskset -c 0)
        PIN_CLIENT=(taskset -c 1)
    else
        log "warning: one CPU only; server and $1 share it"
        PIN_SERVER=()
        PIN_CLIENT=()
    fi
}

# build_keystone: builds keystone-rs in release mode as install.sh does (profile-guided, see
# there), sets KEYSTONE to a copy of the binary that no later build replaces. With
# BENCH_KEYSTONE=/path/to/keystone-rs set, uses that binary instead (to measure an older build).
build_keystone() {
    if [[ -n "${BENCH_KEYSTONE:-}" ]]; then
        KEYSTONE=$BENCH_KEYSTONE
    else
        # shellcheck source=install.sh
        source "$ROOT/install.sh"
        local target=${CARGO_TARGET_DIR:-$ROOT/target}
        RUSTFLAGS=$(release_rustflags) cargo build --release --bin keystone-rs --manifest-path "$ROOT/Cargo.toml" >&2
        # A copy of its own: build_bare's `cargo bench` builds the package's binaries too (bench
        # profile, without src/pgo.profdata) into the same target/release/keystone-rs.
        mkdir -p "$target/measured"
        cp "$target/release/keystone-rs" "$target/measured/keystone-rs"
        KEYSTONE="$target/measured/keystone-rs"
    fi
    [[ -x "$KEYSTONE" ]] || die "missing $KEYSTONE"
}

# build_bare: builds benches/bare_server.rs (release), sets BARE to its executable. With
# BENCH_BARE=/path/to/bare_server set, uses that executable instead (the bench profile rebuilds
# the whole library after any change to it).
build_bare() {
    if [[ -n "${BENCH_BARE:-}" ]]; then
        BARE=$BENCH_BARE
        [[ -x "$BARE" ]] || die "missing $BARE"
        return
    fi
    BARE=$(cargo bench --bench bare_server --no-run --message-format=json --manifest-path "$ROOT/Cargo.toml" \
        2>/dev/null | grep -o '"executable":"[^"]*/bare_server-[^"]*"' | tail -n1 | cut -d'"' -f4) || true
    if [[ -z "$BARE" ]]; then
        cargo bench --bench bare_server --no-run --manifest-path "$ROOT/Cargo.toml" >&2 # shows the error
        die "could not find the bare_server executable"
    fi
    [[ -x "$BARE" ]] || die "missing $BARE"
}

# ensure_node_reference: installs benches/node (Express, express-session, socket.io and its
# client: the Node reference stack of versus.sh) with npm if it is not installed yet.
ensure_node_reference() {
    local dir="$ROOT/benches/node"
    if [[ ! -d "$dir/node_modules/socket.io" || ! -d "$dir/node_modules/express-session" ]]; then
        log "installing the Node reference stack into benches/node"
        if [[ -f "$dir/package-lock.json" ]]; then
            npm ci --prefix "$dir" --no-audit --no-fund >&2
        else
            npm install --prefix "$dir" --no-audit --no-fund >&2
        fi
    fi
}

# setup_workdir NAME: sets WORK to a new temp dir and exports a random KEYSTONE_SECRET.
setup_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/keystone-$1.XXXXXX")
    export KEYSTONE_SECRET
    KEYSTONE_SECRET=$(head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n') # 96 hex chars
}

# add_chat_handler APP: adds to APP's sockets/index.rhai a `chat` event that reaches every socket
# of the namespace, sender included (like the Node app's io.emit).
add_chat_handler() {
    local script="$1/sockets/index.rhai"
    sed -i 's|^    socket.on("disconnect"|    socket.on("chat", \|socket, data\| { socket.broadcast("chat", data); socket.emit("chat", data); });\n&|' \
        "$script"
    grep -q 'socket.on("chat"' "$script" || die "could not add the chat handler to $script"
}

# get N PATH [CURL ARGS…]: N requests for PATH to the server at URL on one keep-alive
# connection (uses WORK for the list).
get() {
    local n=$1 path=$2 i
    shift 2
    for ((i = 0; i < n; i++)); do printf 'url = "%s%s"\noutput = "/dev/null"\n' "$URL" "$path"; done >"$WORK/urls"
    curl -fsS --max-time 300 -K "$WORK/urls" "$@"
}

# --- the lists app (lists.sh, lists-instructions.sh) ---------------------------------------------

# blog_app DIR POSTS: scaffolds (with $KEYSTONE) an app in DIR with 100 users and POSTS posts
# seeded through updates/ (a third of them drafts), and GET /blog: published posts, newest
# first, 10 a page, each with its author populated.
blog_app() {
    local app=$1 posts=$2
    "$KEYSTONE" new "$app" >/dev/null
    mkdir -p "$app/models" "$app/updates"
    cat >"$app/models/User.toml" <<'TOML'
[fields]
name  = { type = "text", required = true }
email = { type = "email", required = true, unique = true }
TOML
    cat >"$app/models/Post.toml" <<'TOML'
title = "title"
slug = { from = "title" }
sort = "-published_at"
[fields]
title        = { type = "text", required = true }
state        = { type = "select", options = ["draft", "published", "archived"], default = "draft", index = true }
author       = { type = "relationship", ref = "User" }
published_at = { type = "datetime" }
brief        = { type = "markdown" }
TOML
    printf '"GET /blog" = "blog"\n' >>"$app/routes/index.toml"
    cat >"$app/routes/views/blog.rhai" <<'RHAI'
locals.posts = list("Post").find(#{ state: "published" }).sort("-published_at")
                           .populate("author").paginate(req.query.page ?? 1, 10);
RHAI
    cat >"$app/templates/views/blog.html" <<'HTML'
{% extends "layouts/default.html" %}
{% block content %}
{% for post in posts.items %}
<article><h2><a href="/blog?post={{ post.slug }}">{{ post.title }}</a></h2>
  <p>by {{ post.author.name if post.author else "nobody" }}, {{ post.published_at }}</p>{{ post.brief.html | safe }}</article>
{% endfor %}
<nav>page {{ posts.page }} of {{ posts.pages }} ({{ posts.total }} posts)</nav>
{% endblock %}
HTML
    local u
    for ((u = 1; u <= 100; u++)); do
        printf '[[User]]\nname = "Author %d"\nemail = "author%d@example.com"\n' "$u" "$u"
    done >"$app/updates/001-users.toml"
    awk -v n="$posts" 'BEGIN {
        split("published published draft", states, " ");
        for (i = 1; i <= n; i++) {
            printf "[[Post]]\ntitle = \"Post number %d\"\nstate = \"%s\"\nauthor = \"Author %d\"\n", i, states[i % 3 + 1], i % 100 + 1;
            printf "published_at = \"%s\"\nbrief = \"A *short* brief of post %d.\"\n", strftime("%Y-%m-%dT%H:%M:%SZ", 1600000000 + i * 3600, 1), i;
        }
    }' >"$app/updates/002-posts.toml"
}

# --- servers -----------------------------------------------------------------------------------

# wait_for_url PID LOGFILE [SECONDS]: waits (15 s unless told) for the "http://127.0.0.1:PORT/"
# a server prints, sets URL.
wait_for_url() {
    local pid=$1 out=$2 limit=${3:-15}
    local deadline=$((SECONDS + limit))
    URL=""
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || { cat "$out" >&2; die "server exited early"; }
        URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$out" | head -n1 || true)
        [[ -n "$URL" ]] && return 0
        sleep 0.05
    done
    cat "$out" >&2
    die "server did not start within $limit s"
}

# session_cookie URL: GET / once (must render the index view), prints "keystone.sid=…".
session_cookie() {
    local headers cookie
    headers=$(curl -fsS --max-time 5 -D - -o "$WORK/first.html" "$1/") || die "GET $1/ failed"
    grep -q 'Welcome to' "$WORK/first.html" || die "GET $1/ did not render the index view"
    cookie=$(printf '%s\n' "$headers" | tr -d '\r' | grep -io 'set-cookie: keystone\.sid=[^;]*' |
        head -n1 | cut -d' ' -f2)
    [[ -n "$cookie" ]] || die "GET $1/ set no keystone.sid cookie"
    printf '%s\n' "$cookie"
}

# hold_sockets LABEL OUT CMD...: starts the socket holder CMD reading a FIFO only fd 9 writes
# (closing fd 9 or exiting makes it disconnect), waits 90 s for its "connected N" line; sets
# HOLDER_PID and CONNECTED.
hold_sockets() {
    local label=$1 out=$2
    shift 2
    mkfifo "$WORK/hold"
    exec 9<>"$WORK/hold"
    start "$out" "$@" <"$WORK/hold" 9>&-
    HOLDER_PID=$STARTED_PID
    local deadline=$((SECONDS + 90))
    until grep -q '^connected' "$out"; do
        kill -0 "$HOLDER_PID" 2>/dev/null || { cat "$out" >&2; die "$label failed"; }
        ((SECONDS < deadline)) || die "sockets did not connect within 90 s"
        sleep 0.2
    done
    CONNECTED=$(awk '/^connected/ {print $2}' "$out")
}

# --- /proc and units ---------------------------------------------------------------------------

# cpu_ticks PID: user + system CPU time of PID so far, in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# rss_kib PID: resident memory (VmRSS) of PID in KiB, 0 if it is gone.
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# mib KIB: KiB as MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# to_ms "1.23ms": a wrk duration (us, ms or s) in ms → 1.23
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.2f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.2f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.2f", v * 1000 }
        else print v }'
}

# --- wrk ---------------------------------------------------------------------------------------

# wrk_load PID URL [WRK ARGS...]: 2 s warm-up, then wrk --latency for DURATION with CONNECTIONS
# (on PIN_CLIENT) against URL/; sets WRK_OUT (wrk's report) and WRK_TICKS (PID's CPU ticks).
wrk_load() {
    local pid=$1 url=$2 before after
    shift 2
    timeout 30 "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d2s "$@" "$url/" >/dev/null
    before=$(cpu_ticks "$pid")
    WRK_OUT=$(timeout 120 "${PIN_CLIENT[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency \
        "$@" "$url/")
    after=$(cpu_ticks "$pid")
    WRK_TICKS=$((after - before))
}

# wrk_requests < REPORT: the number of requests wrk made.
wrk_requests() { awk '/requests in/ {print $1}'; }

# wrk_rps < REPORT: requests per second, rounded.
wrk_rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}'; }

# wrk_latency_ms PERCENTILE < REPORT: that latency percentile of a --latency report, in ms.
wrk_latency_ms() { to_ms "$(awk -v p="$1%" '$1 == p {print $2}')"; }

# cpu_us_per_req TICKS REQUESTS: server CPU µs per request.
cpu_us_per_req() {
    awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}'
}

# callgrind_count NAME N: with the server PID running under valgrind's callgrind and writing
# its dumps into $WORK, runs NAME once to warm up, zeroes the counters, runs NAME again, dumps
# and sets IR[NAME] to the instructions per operation (N operations). INSTR_KEEP=DIR keeps the
# dump as DIR/callgrind.NAME for callgrind_annotate. With callgrind's cache and branch
# simulation on, also sets MISSES[NAME] (misses and mispredictions per operation). The caller
# declares `declare -A IR MISSES`.
callgrind_count() {
    local name=$1 n=$2 before total dump deadline
    "$name" # warm-up
    sleep 1
    callgrind_control -z "$PID" >/dev/null 2>&1
    "$name"
    sleep 1
    before=$(find "$WORK" -name 'callgrind.out*' | wc -l)
    callgrind_control -d "$name" "$PID" >/dev/null 2>&1
    deadline=$((SECONDS + 60))
    until (($(find "$WORK" -name 'callgrind.out*' | wc -l) > before)); do
        ((SECONDS < deadline)) || die "callgrind wrote no dump"
        sleep 0.2
    done
    sleep 1 # the dump is written in one go, but give it a moment
    dump=$(ls -t "$WORK"/callgrind.out* | head -n1)
    total=$(grep -h '^summary:\|^totals:' "$dump" | head -n1 | awk '{print $2}')
    if [[ -n "${INSTR_KEEP:-}" ]]; then mkdir -p "$INSTR_KEEP" && cp "$dump" "$INSTR_KEEP/callgrind.$name"; fi
    IR[$name]=$((total / n))
    log "$name: $total instructions for $n"
    # With --cache-sim=yes --branch-sim=yes: misses and mispredictions per operation too.
    if grep -q '^events:.*I1mr' "$dump"; then
        MISSES[$name]=$(awk -v n="$n" '
            /^events:/ { for (i = 2; i <= NF; i++) col[$i] = i - 1 }
            /^(summary|totals):/ && !done {
                done = 1
                printf "I1 %d, D1 %d, branches %d", $(col["I1mr"] + 1) / n,
                    ($(col["D1mr"] + 1) + $(col["D1mw"] + 1)) / n, ($(col["Bcm"] + 1) + $(col["Bim"] + 1)) / n
            }' "$dump")
    fi
}
