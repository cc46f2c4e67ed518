#!/usr/bin/env bash
# Static checks, the same in `make check` and in scripts/test.sh (CI):
# gofmt, go vet, and staticcheck at a pinned version with its default checks
# (bugs, simplifications, unused code, style such as error naming). The tool
# and its analysis are cached (GOMODCACHE, GOCACHE, ~/.cache/staticcheck), so
# a run on unchanged code takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
STATICCHECK_VERSION=v0.8.2 # newest on the Go module proxy (go list -m -versions honnef.co/go/tools)

unformatted=$(gofmt -l cmd internal stacks test)
if [ -n "$unformatted" ]; then
  echo "gofmt needed:"; echo "$unformatted"; exit 1
fi
go vet ./...
go run "honnef.co/go/tools/cmd/staticcheck@${STATICCHECK_VERSION}" ./...
