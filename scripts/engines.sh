#!/usr/bin/env bash
# Extra Docker engines on this machine, for tests that need more than one
# engine (dive fleet) or an engine they may restart, freeze or kill (fault
# tests) without disturbing the main dockerd that every other test uses.
#
# Each engine NAME is a separate dockerd with its own
#   socket      /run/dive-engines/NAME/docker.sock
#   exec-root   /run/dive-engines/NAME/exec   (its own supervised containerd lives under it)
#   pidfile     /run/dive-engines/NAME/docker.pid
#   data-root   /var/lib/dive-engines/NAME
#   containerd namespace dive-NAME
#   network namespace    dive-NAME: its own docker0, bridges, iptables rules and
#                        published ports, like a separate host. (A second dockerd
#                        in the host's network namespace deletes the main one's
#                        docker0 at start.) The host reaches it at 10.<200+index>.255.2
#                        through a veth pair (host side dvh-<index>, 10.<200+index>.255.1/30).
#
# Usage (as root; dockerd must be installed: scripts/docker-up.sh does it):
#   scripts/engines.sh up NAME...      start (or keep) engines; prints "NAME unix:///run/dive-engines/NAME/docker.sock"
#   scripts/engines.sh host NAME       print the engine's DOCKER_HOST
#   scripts/engines.sh addr NAME       print the address the host reaches the engine's published ports at
#   scripts/engines.sh stop NAME       SIGTERM dockerd, wait (containers stop), keep its data
#   scripts/engines.sh start NAME      start a stopped engine again on the same data
#   scripts/engines.sh restart NAME    stop, then start
#   scripts/engines.sh kill NAME       SIGKILL dockerd (a crash; containers keep running in their shims)
#   scripts/engines.sh freeze NAME     SIGSTOP dockerd (a frozen engine: connections hang)
#   scripts/engines.sh thaw NAME       SIGCONT dockerd
#   scripts/engines.sh down NAME...    stop and remove everything of the engine (data, bridge, folders)
#   scripts/engines.sh status          list the engines and whether they answer
#   scripts/engines.sh ssh NAME PORT   also serve engine NAME over ssh on 127.0.0.1:PORT: its own sshd
#                                      (Debian's openssh-server, installed if missing), a key pair made
#                                      here, and DOCKER_HOST=<its socket> in that sshd's sessions
#                                      (SetEnv), so that the remote docker CLI (`docker system
#                                      dial-stdio`, `docker context inspect`) uses engine NAME as a
#                                      remote host's docker uses its own, and a forward of its socket
#                                      (ssh -L) is allowed; ssh://root@127.0.0.1:PORT reaches it as the
#                                      docker CLI's ssh helper would; prints "NAME ssh://root@127.0.0.1:PORT KEYFILE KNOWN_HOSTS".
#                                      The keys live in /var/lib/dive-engines/ssh (kept by down, so a
#                                      known_hosts entry stays valid); the sshd stops with down NAME.
#   scripts/engines.sh ssh-stop NAME   stop that sshd
#
# Environment: ENGINE_UP_TIMEOUT (seconds to wait for an engine to answer, default 60).
set -euo pipefail

RUN_BASE=/run/dive-engines
DATA_BASE=/var/lib/dive-engines
UP_TIMEOUT=${ENGINE_UP_TIMEOUT:-60}

die() { echo "engines: ERROR: $*" >&2; exit 1; }
log() { echo "engines: $*" >&2; }

[ "$(id -u)" = 0 ] || die "must run as root (it starts dockerd instances)"
command -v dockerd >/dev/null 2>&1 || die "dockerd is not installed: run scripts/docker-up.sh first"

valid_name() { [[ $1 =~ ^[a-z0-9][a-z0-9_-]{0,30}$ ]] || die "engine name '$1': use lowercase letters, digits, - and _ (at most 31)"; }
run_dir() { echo "$RUN_BASE/$1"; }
sock() { echo "$RUN_BASE/$1/docker.sock"; }
host() { echo "unix://$(sock "$1")"; }
pidof_engine() {
  local f; f="$(run_dir "$1")/docker.pid"
  [ -s "$f" ] || return 1
  local pid; pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}
answers() { timeout 5 docker -H "$(host "$1")" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# index NAME: a stable small number per engine (1..50), kept in its run dir.
index_of() {
  local name=$1 f; f="$(run_dir "$name")/index"
  if [ -s "$f" ]; then cat "$f"; return; fi
  local used=" " i
  for g in "$RUN_BASE"/*/index; do [ -s "$g" ] && used+="$(cat "$g") "; done
  for ((i = 1; i <= 50; i++)); do
    if [[ $used != *" $i "* ]]; then
      mkdir -p "$(run_dir "$name")"; echo "$i" >"$f"; echo "$i"; return
    fi
  done
  die "no free engine index (50 engines at most)"
}

ensure_netns() {
  local name=$1 idx=$2 ns="dive-$1" h="dvh-$2"
  ip netns add "$ns" 2>/dev/null || true
  ip -n "$ns" link set lo up
  if ! ip link show "$h" >/dev/null 2>&1; then
    ip link add "$h" type veth peer name eth0 netns "$ns"
    ip addr add "10.$((200 + idx)).255.1/30" dev "$h"
    ip -n "$ns" addr add "10.$((200 + idx)).255.2/30" dev eth0
  fi
  ip link set "$h" up
  ip -n "$ns" link set eth0 up
}

start_engine() {
  local name=$1
  valid_name "$name"
  if pidof_engine "$name" >/dev/null && answers "$name"; then
    echo "$name $(host "$name")"; return
  fi
  local idx rd dd
  idx=$(index_of "$name"); rd=$(run_dir "$name"); dd="$DATA_BASE/$name"
  mkdir -p "$rd/exec" "$dd"
  ensure_netns "$name" "$idx"
  rm -f "$(sock "$name")" "$rd/docker.pid"
  # nsenter (not `ip netns exec`, which remounts /sys and hides the cgroup mounts).
  nohup nsenter --net="/run/netns/dive-$name" dockerd \
    --host "$(host "$name")" \
    --pidfile "$rd/docker.pid" \
    --exec-root "$rd/exec" \
    --data-root "$dd" \
    --containerd-namespace "dive-$name" \
    --containerd-plugins-namespace "dive-$name-plugins" \
    --log-level warn \
    >"$rd/dockerd.log" 2>&1 </dev/null &
  disown || true
  local i
  for ((i = 0; i < UP_TIMEOUT * 5; i++)); do
    if answers "$name"; then echo "$name $(host "$name")"; return; fi
    sleep 0.2
  done
  log "engine $name did not answer within ${UP_TIMEOUT}s; last lines of $rd/dockerd.log:"
  tail -n 20 "$rd/dockerd.log" >&2 || true
  exit 1
}

stop_engine() {
  local name=$1 pid i
  pid=$(pidof_engine "$name") || return 0
  kill -CONT "$pid" 2>/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  log "engine $name did not stop within 30s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

down_engine() {
  local name=$1 rd dd idx
  valid_name "$name"
  rd=$(run_dir "$name"); dd="$DATA_BASE/$name"
  [ -d "$rd" ] || [ -d "$dd" ] || return 0
  idx=$(cat "$rd/index" 2>/dev/null || true)
  ssh_stop "$name"
  stop_engine "$name"
  # Shims and their containers outlive a killed dockerd: end them.
  pkill -KILL -f "containerd-shim.*-namespace dive-$name( |$)" 2>/dev/null || true
  pkill -KILL -f "containerd --config $rd/exec/containerd" 2>/dev/null || true
  # Mounts left by containers (overlay, shm, netns) block the removal.
  awk -v a="$dd" -v b="$rd" '$2 ~ "^"a || $2 ~ "^"b {print $2}' /proc/mounts | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$dd" "$rd"
  # Its bridges, veths and iptables rules live in its network namespace:
  # they go with it.
  if [ -n "$idx" ]; then ip link delete "dvh-$idx" 2>/dev/null || true; fi
  ip netns delete "dive-$name" 2>/dev/null || true
  log "engine $name removed"
}

signal_engine() {
  local name=$1 sig=$2 pid
  pid=$(pidof_engine "$name") || die "engine $name is not running"
  kill "-$sig" "$pid"
}

SSH_DIR="$DATA_BASE/ssh"

ssh_keys() {
  mkdir -p "$SSH_DIR"; chmod 700 "$SSH_DIR"
  [ -s "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C dive-engines-host -f "$SSH_DIR/host_ed25519"
  [ -s "$SSH_DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C dive-engines-client -f "$SSH_DIR/client_ed25519"
}

ssh_stop() {
  local f pid; f="$(run_dir "$1")/ssh/sshd.pid"
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null || true
  rm -f "$f"
}

ssh_engine() {
  local name=$1 port=$2 sd i
  valid_name "$name"
  [[ $port =~ ^[0-9]+$ ]] || die "ssh port '$port' is not a number"
  pidof_engine "$name" >/dev/null || die "engine $name is not running (engines.sh up $name first)"
  if [ ! -x /usr/sbin/sshd ]; then
    log "installing openssh-server"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server >/dev/null || die "cannot install openssh-server"
  fi
  ssh_keys
  sd="$(run_dir "$name")/ssh"
  mkdir -p "$sd" /run/sshd; chmod 700 "$sd"
  echo "no-pty,no-agent-forwarding,no-X11-forwarding $(cat "$SSH_DIR/client_ed25519.pub")" >"$sd/authorized_keys"
  chmod 600 "$sd/authorized_keys"
  # sshd's defaults otherwise (MaxStartups 10:30:100 drops connections at
  # random beyond 10 unauthenticated ones): dive must work with a stock sshd.
  printf '%s\n' "Port $port" "ListenAddress 127.0.0.1" "HostKey $SSH_DIR/host_ed25519" "PidFile $sd/sshd.pid" \
    "AuthorizedKeysFile $sd/authorized_keys" "PermitRootLogin prohibit-password" "PasswordAuthentication no" \
    "KbdInteractiveAuthentication no" "UsePAM no" "StrictModes no" "SetEnv DOCKER_HOST=$(host "$name")" >"$sd/sshd_config"
  ssh_stop "$name"
  /usr/sbin/sshd -f "$sd/sshd_config" -E "$sd/sshd.log" || die "sshd did not start; see $sd/sshd.log"
  for ((i = 0; i < 50; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      { grep -v "^\[127.0.0.1\]:$port " "$SSH_DIR/known_hosts" 2>/dev/null || true
        echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")"; } >"$SSH_DIR/known_hosts.new"
      mv "$SSH_DIR/known_hosts.new" "$SSH_DIR/known_hosts"
      echo "$name ssh://root@127.0.0.1:$port $SSH_DIR/client_ed25519 $SSH_DIR/known_hosts"; return
    fi
    sleep 0.1
  done
  die "sshd for $name is not listening on 127.0.0.1:$port; see $sd/sshd.log"
}

signal_engine() {
  local name=$1 sig=$2 pid
  pid=$(pidof_engine "$name") || die "engine $name is not running"
  kill "-$sig" "$pid"
}

cmd=${1:-}
shift || true
case $cmd in
  up) [ $# -gt 0 ] || die "usage: engines.sh up NAME..."; for n in "$@"; do start_engine "$n"; done ;;
  host) [ $# -eq 1 ] || die "usage: engines.sh host NAME"; valid_name "$1"; host "$1" ;;
  addr) [ $# -eq 1 ] || die "usage: engines.sh addr NAME"; valid_name "$1"; echo "10.$((200 + $(index_of "$1"))).255.2" ;;
  stop) [ $# -eq 1 ] || die "usage: engines.sh stop NAME"; stop_engine "$1" ;;
  start) [ $# -eq 1 ] || die "usage: engines.sh start NAME"; start_engine "$1" ;;
  restart) [ $# -eq 1 ] || die "usage: engines.sh restart NAME"; stop_engine "$1"; start_engine "$1" ;;
  kill) [ $# -eq 1 ] || die "usage: engines.sh kill NAME"; signal_engine "$1" KILL ;;
  freeze) [ $# -eq 1 ] || die "usage: engines.sh freeze NAME"; signal_engine "$1" STOP ;;
  thaw) [ $# -eq 1 ] || die "usage: engines.sh thaw NAME"; signal_engine "$1" CONT ;;
  down) [ $# -gt 0 ] || die "usage: engines.sh down NAME..."; for n in "$@"; do down_engine "$n"; done ;;
  ssh) [ $# -eq 2 ] || die "usage: engines.sh ssh NAME PORT"; ssh_engine "$1" "$2" ;;
  ssh-stop) [ $# -eq 1 ] || die "usage: engines.sh ssh-stop NAME"; valid_name "$1"; ssh_stop "$1" ;;
  status)
    shopt -s nullglob
    for d in "$RUN_BASE"/*/; do
      n=$(basename "$d")
      if answers "$n"; then s=answers; elif pidof_engine "$n" >/dev/null; then s="running, not answering"; else s=stopped; fi
      echo "$n $(host "$n") $s"
    done ;;
  *) die "usage: engines.sh up|host|addr|stop|start|restart|kill|freeze|thaw|down|status|ssh|ssh-stop NAME..." ;;
esac
