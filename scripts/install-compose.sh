#!/usr/bin/env bash
# Build the docker compose v2 CLI plugin from the Go module proxy and install it
# so that `docker compose ...` works. Idempotent: the built binary is cached and
# the plugin is only (re)installed when it differs from the cached one.
#
# Why not `go install github.com/docker/compose/v2/cmd@VERSION`? compose's go.mod
# has `exclude` directives, which `go install pkg@version` refuses. So we fetch
# the module source with `go mod download`, copy it to a writable temp dir and
# `go build ./cmd` there (compose is then the main module and its go.mod applies).
#
# Environment:
#   COMPOSE_VERSION        compose release to build (default v2.40.3; works with
#                          Engine API 1.41, i.e. Docker 20.10)
#   COMPOSE_BUILD_TIMEOUT  seconds allowed for download + build (default 1800;
#                          a cold build takes ~5 min on 2 CPUs)
#   COMPOSE_CACHE_DIR      where the binary is cached
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/dive/compose-VERSION)
#   COMPOSE_PLUGIN_DIR     where the plugin is installed (default
#                          /usr/local/lib/docker/cli-plugins as root,
#                          ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins otherwise)
set -euo pipefail

VERSION=${COMPOSE_VERSION:-v2.40.3}
BUILD_TIMEOUT=${COMPOSE_BUILD_TIMEOUT:-1800}
CACHE_DIR=${COMPOSE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/dive/compose-$VERSION}
CACHED_BIN=$CACHE_DIR/docker-compose

if [ -n "${COMPOSE_PLUGIN_DIR:-}" ]; then
  PLUGIN_DIR=$COMPOSE_PLUGIN_DIR
elif [ "$(id -u)" = 0 ]; then
  PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
else
  PLUGIN_DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
fi
PLUGIN=$PLUGIN_DIR/docker-compose

die() { echo "install-compose: ERROR: $*" >&2; exit 1; }
log() { echo "install-compose: $*"; }

case $VERSION in
  v[0-9]*.[0-9]*.[0-9]*) ;;
  *) die "COMPOSE_VERSION must look like vX.Y.Z, got '$VERSION'" ;;
esac
MAJOR=${VERSION%%.*}                        # v2
MODULE=github.com/docker/compose/$MAJOR     # github.com/docker/compose/v2

cached_ok() {
  [ -x "$CACHED_BIN" ] && "$CACHED_BIN" version 2>/dev/null | grep -qF "$VERSION"
}

build() {
  if ! command -v go >/dev/null 2>&1; then
    if [ -x /usr/local/go/bin/go ]; then
      PATH=/usr/local/go/bin:$PATH
    else
      die "Go toolchain not found (need go on PATH or /usr/local/go/bin/go) to build compose $VERSION"
    fi
  fi
  command -v timeout >/dev/null 2>&1 || die "'timeout' (coreutils) not found"

  local work src modjson moddir start
  work=$(mktemp -d "${TMPDIR:-/tmp}/install-compose.XXXXXX")
  # Module cache files are read-only; make the copy removable.
  trap 'chmod -R u+w "'"$work"'" 2>/dev/null || true; rm -rf "'"$work"'"' EXIT
  start=$(date +%s)

  log "downloading $MODULE@$VERSION from the Go module proxy ($(go env GOPROXY))"
  # Run outside any module/workspace so the caller's go.mod/go.work do not interfere.
  if ! modjson=$(cd "$work" && GOWORK=off GOFLAGS= timeout "$BUILD_TIMEOUT" \
      go mod download -json "$MODULE@$VERSION" 2>&1); then
    die "go mod download $MODULE@$VERSION failed:
$modjson"
  fi
  moddir=$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)
  [ -n "$moddir" ] && [ -f "$moddir/go.mod" ] || die "could not find the module directory in: $modjson"

  src=$work/src
  cp -R "$moddir" "$src"
  chmod -R u+w "$src"

  local remaining=$(( BUILD_TIMEOUT - ($(date +%s) - start) ))
  [ "$remaining" -gt 0 ] || die "build timeout (${BUILD_TIMEOUT}s) exhausted while downloading"
  log "building $MODULE/cmd (timeout ${remaining}s; a cold build takes several minutes)"
  local rc=0
  ( cd "$src" && GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 timeout "$remaining" \
      go build -trimpath \
        -ldflags "-s -w -X $MODULE/internal.Version=$VERSION" \
        -o "$work/docker-compose" ./cmd ) >"$work/build.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 40 "$work/build.log" >&2 || true
    if [ "$rc" -eq 124 ]; then
      die "building compose $VERSION timed out after ${BUILD_TIMEOUT}s (raise COMPOSE_BUILD_TIMEOUT)"
    fi
    die "building compose $VERSION failed (exit $rc); see the build output above"
  fi
  "$work/docker-compose" version >/dev/null 2>&1 || die "the freshly built binary does not run"

  mkdir -p "$CACHE_DIR" || die "cannot create cache dir $CACHE_DIR"
  # Atomic replace so a concurrent or interrupted run never leaves a half-written binary.
  cp "$work/docker-compose" "$CACHE_DIR/.docker-compose.tmp.$$"
  chmod 0755 "$CACHE_DIR/.docker-compose.tmp.$$"
  mv -f "$CACHE_DIR/.docker-compose.tmp.$$" "$CACHED_BIN"
  log "built $CACHED_BIN in $(( $(date +%s) - start ))s ($(wc -c <"$CACHED_BIN") bytes)"
}

if cached_ok; then
  log "using cached build $CACHED_BIN"
else
  build
fi

if [ -x "$PLUGIN" ] && cmp -s "$CACHED_BIN" "$PLUGIN"; then
  log "plugin already installed at $PLUGIN"
else
  mkdir -p "$PLUGIN_DIR" 2>/dev/null || die "cannot create $PLUGIN_DIR (run as root, or set COMPOSE_PLUGIN_DIR)"
  tmp=$PLUGIN_DIR/.docker-compose.tmp.$$
  cp "$CACHED_BIN" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$PLUGIN" \
    || { rm -f "$tmp"; die "cannot install the plugin into $PLUGIN_DIR"; }
  log "installed $PLUGIN"
fi

if [ -n "${COMPOSE_PLUGIN_DIR:-}" ]; then
  # A custom dir may not be on the docker CLI's plugin search path
  # (see "cliPluginsExtraDirs" in ~/.docker/config.json), so don't claim it works.
  log "plugin installed at $PLUGIN (custom COMPOSE_PLUGIN_DIR; 'docker compose' not checked)"
elif command -v docker >/dev/null 2>&1; then
  got=$(docker compose version --short 2>&1) \
    || die "'docker compose version' failed after installing $PLUGIN: $got"
  # The docker CLI looks in ${DOCKER_CONFIG:-~/.docker}/cli-plugins before the
  # system dirs, so an older plugin there would shadow ours.
  [ "v${got#v}" = "$VERSION" ] \
    || die "'docker compose' reports version '$got', not $VERSION: another docker-compose plugin (e.g. in ${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins) shadows $PLUGIN"
  log "docker compose version $got (plugin: $PLUGIN)"
else
  log "docker CLI not found; plugin installed at $PLUGIN but not checked"
fi
