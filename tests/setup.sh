#!/usr/bin/env bash
# Installs and starts what the full test suite needs beyond Rust: Chromium for the browser
# tests, Node with the official socket.io-client and playwright-core (tests/js), Redis 7+
# and PostgreSQL. Plain `cargo test` needs none of these; `--features e2e` needs all.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v node >/dev/null || missing+=(nodejs npm)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Redis 7 or later: the socket adapter's subscriber speaks RESP3.
redis_major=$(redis-server --version | sed -E 's/.*v=([0-9]+).*/\1/')
if [ "${redis_major:-0}" -lt 7 ]; then
  echo "setup: redis-server $redis_major is too old; version 7 or later is needed" >&2
  exit 1
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "setup: starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi

# PostgreSQL on 127.0.0.1:5432 with trust auth for the local user `postgres`.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  conf=/etc/postgresql/$version/main
  if ! grep -q "keystone-rs tests" "$conf/pg_hba.conf"; then
    echo "setup: trusting local connections to postgresql $version (test machine)"
    { echo "# keystone-rs tests"; echo "host all all 127.0.0.1/32 trust"; echo "host all all ::1/128 trust";
      echo "local all all trust"; cat "$conf/pg_hba.conf"; } > /tmp/pg_hba.conf
    install -o postgres -g postgres -m 640 /tmp/pg_hba.conf "$conf/pg_hba.conf"
  fi
  echo "setup: starting postgresql $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi

echo "setup: npm ci in tests/js"
npm ci --prefix tests/js --no-audit --no-fund --silent
echo "setup: done"
