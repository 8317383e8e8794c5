#!/usr/bin/env bash
# The "outer" dockerd: a private Docker engine that runs the disposable
# Debian hosts of Molecule and the demo. It never touches the machine's own
# Docker: data-root, exec-root, pidfile and socket all live under
# $DOCKER_USERNS_DEV_CACHE/outer (default /var/cache/docker-userns-dev/outer).
# Images stay in its data-root between runs, so host images are built once.
#
#   tools/outer-dockerd.sh start    start it in the background (no-op if running)
#   tools/outer-dockerd.sh stop     stop it by its pidfile, wait for it to exit
#   tools/outer-dockerd.sh status   exit 0 if running and answering
#   tools/outer-dockerd.sh env      print "export DOCKER_HOST=..." for eval
#
# Test hosts use --network none, so it needs no bridge and no iptables rules:
# the machine's networking is left alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

LOGFILE="$OUTER_DIR/dockerd.log"

running_pid() {
    local pid
    [ -f "$OUTER_PIDFILE" ] || return 1
    pid="$(cat "$OUTER_PIDFILE")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A stale pidfile could name an unrelated process that reused the pid.
    [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$(command -v dockerd)")" ] || return 1
    echo "$pid"
}

answering() {
    docker -H "unix://$OUTER_SOCKET" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start() {
    require_root
    if running_pid >/dev/null && answering; then
        log "Outer dockerd already running (pid $(running_pid), unix://$OUTER_SOCKET)"
        return
    fi
    command -v dockerd >/dev/null || die "dockerd not found: run tools/setup.sh (installs docker.io)."
    mkdir -p "$OUTER_DIR/data" "$OUTER_DIR/exec"
    log "Starting outer dockerd (log: $LOGFILE)"
    # setsid: the daemon outlives the calling script (make demo leaves its host running).
    setsid dockerd \
        --data-root "$OUTER_DIR/data" \
        --exec-root "$OUTER_DIR/exec" \
        --pidfile "$OUTER_PIDFILE" \
        -H "unix://$OUTER_SOCKET" \
        --bridge=none --iptables=false --ip-masq=false \
        >>"$LOGFILE" 2>&1 </dev/null &
    local i
    for i in $(seq 1 60); do
        if answering; then
            log "Outer dockerd ready: unix://$OUTER_SOCKET (Docker $(docker -H "unix://$OUTER_SOCKET" version --format '{{.Server.Version}}'))"
            return
        fi
        sleep 1
    done
    tail -n 20 "$LOGFILE" >&2 || true
    die "outer dockerd did not answer within 60 s; see $LOGFILE"
}

stop() {
    local pid i
    if ! pid="$(running_pid)"; then
        log "Outer dockerd not running"
        return
    fi
    log "Stopping outer dockerd (pid $pid)"
    kill -TERM "$pid"
    for i in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || { log "Outer dockerd stopped"; return; }
        sleep 1
    done
    die "outer dockerd (pid $pid) still running after 60 s; see $LOGFILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) running_pid >/dev/null && answering ;;
    env) echo "export DOCKER_HOST=unix://$OUTER_SOCKET" ;;
    *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
