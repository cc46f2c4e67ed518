#!/usr/bin/env bash
# The benchmark (`make bench`): dive against docker compose on synthetic
# stacks with known readiness delays, plus the demo hub's no-op redeploy.
# Writes docs/performance.md. See cmd/dive-bench for what is measured.
#
#   ./scripts/bench.sh                 # default: -runs 3, writes docs/performance.md
#   ./scripts/bench.sh -runs 1         # extra flags go to dive-bench (later flags win)
#   ./scripts/bench.sh -write ''       # print only, do not touch docs/performance.md
#
# Needs a Docker engine (started by scripts/docker-up.sh when needed). docker
# compose is optional: installed by scripts/install-compose.sh when missing,
# and when that fails the compose columns are skipped. A miss of a target
# never fails the bench; a failed deploy or down does (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=0
GO=${GO:-go}

make build
work=$(mktemp -d "${TMPDIR:-/tmp}/dive-bench-bin.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$GO" build -trimpath -o "$work/dive-bench" ./cmd/dive-bench

./scripts/docker-up.sh

if ! docker compose version >/dev/null 2>&1; then
  if [ -x scripts/install-compose.sh ]; then
    echo "bench: docker compose is missing; installing it with scripts/install-compose.sh"
    ./scripts/install-compose.sh || echo "bench: docker compose could not be installed; the compose columns are skipped"
  else
    echo "bench: docker compose is missing; the compose columns are skipped"
  fi
fi

"$work/dive-bench" -dive bin/dive -write docs/performance.md "$@"
