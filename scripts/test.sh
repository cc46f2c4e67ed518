#!/usr/bin/env bash
# The whole test suite: static checks, then unit and integration tests
# against the real Docker daemon (started by docker-up.sh when needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0

./scripts/docker-up.sh
# Chromium renders the HTML report in one test; install it when we can.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && [ "${DIVE_SKIP_CHROMIUM:-}" = "" ]; then
  echo "test: installing Debian's chromium for the report render test"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
    || echo "test: chromium could not be installed; the render test will be skipped"
fi

# docker compose v2.40.3 for the conformance suite (test/conformance), which
# skips without it; the script caches its build (a cold build takes ~5 min).
./scripts/install-compose.sh || echo "test: docker compose could not be installed; the conformance suite will be skipped"

./scripts/lint.sh
go build -o /dev/null ./cmd/dive
# -p 2: packages with integration tests share one daemon on a 2-core machine.
go test -count=1 -p 2 -timeout 20m ./... "$@"
