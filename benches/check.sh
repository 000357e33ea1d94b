#!/usr/bin/env bash
# Benchmark of `keystone-rs check` on a large generated project: 1,000 routes, each with a
# view (extending a layout, using locals, url_for, asset and links to other routes) and a
# controller, and 50 socket namespaces, each used from a page. Target: under 1 s.
#
#   bash benches/check.sh [RUNS]        (default 10 runs; uses hyperfine when installed)
#   KEEP=1 bash benches/check.sh        keeps the generated project and prints its path
set -euo pipefail

# shellcheck source=benches/lib.sh
source "$(dirname "$0")/lib.sh"
RUNS="${1:-10}"
ROUTES=1000
NAMESPACES=50

log "building release binary…"
build_keystone
BIN=$KEYSTONE

WORK="$(mktemp -d)"
APP="$WORK/bench_app"
if [[ -z "${KEEP:-}" ]]; then trap 'rm -rf "$WORK"' EXIT; fi

# ---------------------------------------------------------------------------------------
# The project
# ---------------------------------------------------------------------------------------
mkdir -p "$APP"/{routes/views,routes/middleware,templates/{layouts,partials,mixins,views},sockets,public/{css,js,images}}

cat > "$APP/keystone.toml" <<'TOML'
name = "bench_app"

[session]
store = "memory"
TOML

cat > "$APP/routes/middleware.rhai" <<'RHAI'
// Shared locals of every page.
locals.site = #{ name: "Bench", year: 2025 };
locals.user = session.user;
locals.nav = [#{ href: "/", label: "Home" }, #{ href: "/s1/p1", label: "First" }];
RHAI

cat > "$APP/routes/middleware/require_user.rhai" <<'RHAI'
// Guard of the members' pages.
if session.user == () {
    flash("info", "Sign in first.");
    redirect("/");
}
locals.member = session.user;
RHAI

cat > "$APP/templates/layouts/base.html" <<'HTML'
{% from "mixins/ui.html" import flash_messages %}<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{{ site.name }}{% endblock %}</title>
  <link rel="stylesheet" href="{{ asset('/css/site.css') }}">
</head>
<body>
  {% include "partials/nav.html" %}
  <main>{{ flash_messages(messages) }}{% block body %}{% endblock %}</main>
  <footer>© {{ site.year }} {{ site.name }}</footer>
  <script src="/socket.io/socket.io.js"></script>
  <script src="{{ asset('/js/app.js') }}"></script>
  {% block scripts %}{% endblock %}
</body>
</html>
HTML

cat > "$APP/templates/layouts/section.html" <<'HTML'
{% extends "layouts/base.html" %}
{% import "mixins/ui.html" as ui %}
{% block body %}
<div class="section">
  <aside><img src="{{ asset('/images/logo.svg') }}" alt=""> {{ ui.badge(section) }}</aside>
  <article>{% block content %}{% endblock %}</article>
</div>
{% endblock %}
HTML

cat > "$APP/templates/partials/nav.html" <<'HTML'
<nav>{% for link in nav %}<a href="{{ link.href }}">{{ link.label }}</a>{% endfor %}
{% if user %}<span>{{ user }}</span>{% else %}<a href="/">Sign in</a>{% endif %}</nav>
HTML

cat > "$APP/templates/mixins/ui.html" <<'HTML'
{% macro flash_messages(messages) %}{% for kind, list in messages|items %}{% for m in list %}<p class="flash-{{ kind }}">{{ m }}</p>{% endfor %}{% endfor %}{% endmacro %}
{% macro badge(text) %}<span class="badge">{{ text }}</span>{% endmacro %}
{% macro item(entry) %}<li><a href="{{ entry.href }}">{{ entry.label }}</a></li>{% endmacro %}
HTML

echo 'body { font-family: sans-serif; } .badge { color: #0969da; }' > "$APP/public/css/site.css"
echo '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>' \
  > "$APP/public/images/logo.svg"
cat > "$APP/public/js/app.js" <<'JS'
// Presence on "/" for every page.
const presence = io();
presence.on("hello", function (who) { console.log("hello", who); });
setInterval(function () { presence.emit("ping"); }, 30000);
JS
cat > "$APP/sockets/index.rhai" <<'RHAI'
fn connect(socket) {
    socket.emit("hello", socket.session.user);
    socket.on("ping", |socket, data| true);
}
RHAI

# Route i: /s<section>/p<i>, every 5th with an {id} parameter, every 7th behind a guard.
route_path() {
  local i=$1
  if (( i % 5 == 0 )); then echo "/s$(( i % 25 ))/p$i/{id}"; else echo "/s$(( i % 25 ))/p$i"; fi
}
# A url_for call to route i, with its parameter when it has one.
url_for() {
  local i=$1
  if (( i % 5 == 0 )); then echo "url_for('page$i', id=$i)"; else echo "url_for('page$i')"; fi
}
# A literal link to route i.
link() {
  local i=$1
  if (( i == 0 )); then echo "/"; elif (( i % 5 == 0 )); then echo "/s$(( i % 25 ))/p$i/$i"; else echo "/s$(( i % 25 ))/p$i"; fi
}

{
  echo '"GET /" = "page0"'
  for (( i = 1; i < ROUTES; i++ )); do
    if (( i % 7 == 0 )); then
      printf '"GET,POST %s" = { view = "page%d", before = ["require_user"] }\n' "$(route_path "$i")" "$i"
    else
      printf '"GET %s" = "page%d"\n' "$(route_path "$i")" "$i"
    fi
  done
} > "$APP/routes/index.toml"

for (( i = 0; i < ROUTES; i++ )); do
  next=$(( (i + 1) % ROUTES )); prev=$(( (i + ROUTES - 1) % ROUTES )); far=$(( (i * 37 + 11) % ROUTES ))
  (( next == 0 )) && next=1; (( prev == 0 )) && prev=2; (( far == 0 )) && far=3
  cat > "$APP/routes/views/page$i.rhai" <<RHAI
// Controller of page $i.
locals.title = "Page $i";
locals.section = "s$(( i % 25 ))";
locals.items = [
    #{ href: "$(link "$next")", label: "Next" },
    #{ href: "$(link "$prev")", label: "Previous" },
];
if req.method == "POST" {
    session.last_page = $i;
    session.user = req.form.user ?? "guest";
    flash("success", "Saved page $i.");
    redirect("$(link "$i")");
}
session.visits = (session.visits ?? 0) + 1;
RHAI

  script=""
  if (( i % 20 == 0 )); then
    ns=$(( i / 20 ))
    script=$(cat <<JS
{% block scripts %}
<script>
  const live$ns = io("/ns$ns");
  live$ns.on("update", function (data) { document.title = data.title; });
  live$ns.on("count", function (n) { console.log(n); });
  live$ns.emit("watch", { page: $i });
</script>
{% endblock %}
JS
)
  fi
  cat > "$APP/templates/views/page$i.html" <<HTML
{% extends "layouts/section.html" %}
{% from "mixins/ui.html" import item %}
{% block title %}{{ title }} · {{ site.name }}{% endblock %}
{% block content %}
<h1>{{ title }}</h1>
<p>Visits: {{ session.visits }}. Section {{ section }}.</p>
<ul>{% for entry in items %}{{ item(entry) }}{% endfor %}</ul>
<p><a href="{{ $(url_for "$next") }}">next</a> · <a href="{{ $(url_for "$far") }}">elsewhere</a>
   · <a href="$(link "$prev")">previous</a> · <a href="/">home</a></p>
<img src="{{ asset('images/logo.svg') }}" alt="logo">
<form method="post" action="$(link "$i")"><input type="hidden" name="csrf_token" value="{{ csrf_token }}"><button>Save</button></form>
{% endblock %}
$script
HTML
done

for (( k = 0; k < NAMESPACES; k++ )); do
  cat > "$APP/sockets/ns$k.rhai" <<RHAI
// Namespace /ns$k: live updates of page $(( k * 20 )).
fn connect(socket) {
    socket.join("page-$k");
    socket.emit("count", 1);
    socket.on("watch", |socket, data| {
        socket.emit("update", #{ title: "Page $(( k * 20 ))", by: socket.session.user });
        true
    });
}
RHAI
done

files=$(find "$APP" -type f | wc -l)
echo "generated $APP: $ROUTES routes, $NAMESPACES namespaces, $files files" >&2

# The project must be clean: a benchmark of a broken project would measure the wrong thing.
if ! "$BIN" check "$APP" --deny-warnings > "$WORK/check.out"; then
  cat "$WORK/check.out" >&2
  echo "the generated project does not check clean" >&2
  exit 1
fi

# ---------------------------------------------------------------------------------------
# The measurement
# ---------------------------------------------------------------------------------------
if command -v hyperfine > /dev/null; then
  hyperfine --warmup 2 --runs "$RUNS" --export-json "$WORK/hyperfine.json" \
    "'$BIN' check '$APP'" >&2
  awk '/"mean"/ { gsub(/[",]/, ""); printf "mean %.0f ms\n", $2 * 1000 }
       /"min"/  { gsub(/[",]/, ""); printf "min  %.0f ms\n", $2 * 1000 }' "$WORK/hyperfine.json"
else
  "$BIN" check "$APP" > /dev/null # warm the page cache
  total=0; min=""
  for (( r = 0; r < RUNS; r++ )); do
    start=$(date +%s%N)
    "$BIN" check "$APP" > /dev/null
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    total=$(( total + ms ))
    if [[ -z "$min" ]] || (( ms < min )); then min=$ms; fi
  done
  echo "mean $(( total / RUNS )) ms"
  echo "min  $min ms"
fi
if [[ -n "${KEEP:-}" ]]; then echo "kept $APP" >&2; fi
