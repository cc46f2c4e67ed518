#!/usr/bin/env bash
# Make a Docker Engine answer on this machine, installing and starting it if needed.
# Used by the README, by developers' sessions and by .ci/run. Idempotent.
#  - If `docker info` already answers (any engine, any version), do nothing.
#  - Otherwise install Debian's docker.io when dockerd is missing (needs root),
#    start dockerd in the background and wait (bounded) until it answers.
set -euo pipefail

DEADLINE_S=${DOCKER_UP_TIMEOUT:-90}
LOG=${DOCKERD_LOG:-/var/log/dive-dockerd.log}

answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then
  echo "docker-up: engine answers ($(docker version --format '{{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "docker-up: no Docker engine answers and dockerd is not installed; run this script as root to install Debian's docker.io" >&2
    exit 1
  fi
  echo "docker-up: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
fi

if [ "$(id -u)" != 0 ]; then
  echo "docker-up: dockerd is installed but not running; start it (e.g. 'sudo systemctl start docker') or run this script as root" >&2
  exit 1
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker-up: starting dockerd (log: $LOG)"
  # containerd is started by dockerd itself when it is not running.
  nohup dockerd >"$LOG" 2>&1 </dev/null &
  disown || true
fi

for ((i = 0; i < DEADLINE_S * 5; i++)); do
  if answers; then
    echo "docker-up: engine answers ($(docker version --format '{{.Server.Version}} API {{.Server.APIVersion}}' 2>/dev/null))"
    exit 0
  fi
  sleep 0.2
done
echo "docker-up: dockerd did not answer within ${DEADLINE_S}s; last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
