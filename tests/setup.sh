#!/usr/bin/env bash
# Installs what the test suite needs beyond Rust: Chromium for the browser tests, the
# official socket.io-client and playwright-core (tests/js), and a running Redis.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
  echo "setup: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

if ! command -v node >/dev/null; then
  echo "setup: installing nodejs"
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

echo "setup: npm ci in tests/js"
npm ci --prefix tests/js --no-audit --no-fund --silent

if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "setup: starting redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
echo "setup: done"
