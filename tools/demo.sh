#!/usr/bin/env bash
# make demo: the main job on a disposable Debian 12 Docker host.
#
#   tools/demo.sh         build the host image once, start the host container
#                         docker-userns-demo (systemd + Docker 20.10) on the
#                         private outer dockerd, apply playbooks/site.yml to it,
#                         then show inside it that `docker run --userns=host` is
#                         refused and a plain `docker run` is remapped.
#   tools/demo.sh clean   remove the demo host (make demo-clean).
#
# A second run reuses the image, the host and the virtual environment.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
cd "$PROJECT_ROOT"

DEMO_HOST=docker-userns-demo
DEMO_IMAGE=docker-userns-host:bookworm
DEMO_DIR="$DEV_CACHE/demo"
NESTED_IMAGE=busybox:local
# Every capability but SYS_RESOURCE (absent on these machines, which is also
# why --privileged fails); see .config/molecule/config.yml.
HOST_CAPS=(AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE
    DAC_READ_SEARCH FOWNER FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE
    MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN NET_BIND_SERVICE NET_BROADCAST NET_RAW
    SETFCAP SETGID SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT SYS_CHROOT SYS_MODULE
    SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG WAKE_ALARM)

in_host() { docker exec "$DEMO_HOST" "$@"; }

clean() {
    use_outer_dockerd
    if ! tools/outer-dockerd.sh status; then
        log "Outer dockerd not running: no demo host to remove"
        return
    fi
    if docker container inspect "$DEMO_HOST" >/dev/null 2>&1; then
        log "Removing the demo host $DEMO_HOST and its Docker volume"
        docker rm -f -v "$DEMO_HOST" >/dev/null
    else
        log "No demo host $DEMO_HOST"
    fi
    log "The outer dockerd keeps running (its images are reused); stop it with: tools/outer-dockerd.sh stop"
}

start_host() {
    local state
    state="$(docker container inspect --format '{{.State.Status}}' "$DEMO_HOST" 2>/dev/null || true)"
    case "$state" in
        running) log "Demo host $DEMO_HOST already running; reusing it" ;;
        "")
            log "Starting demo host $DEMO_HOST from $DEMO_IMAGE"
            local caps=() cap
            for cap in "${HOST_CAPS[@]}"; do caps+=(--cap-add "$cap"); done
            docker run -d --name "$DEMO_HOST" --hostname "$DEMO_HOST" \
                --cap-drop ALL "${caps[@]}" \
                --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
                --cgroupns host --network none \
                -v /sys/fs/cgroup:/sys/fs/cgroup:rw -v /var/lib/docker \
                --tmpfs /run --tmpfs /run/lock \
                "$DEMO_IMAGE" /lib/systemd/systemd >/dev/null
            ;;
        *) log "Demo host $DEMO_HOST is $state; starting it"; docker start "$DEMO_HOST" >/dev/null ;;
    esac
    log "Waiting for systemd and Docker inside $DEMO_HOST"
    local i state_now=""
    for i in $(seq 1 60); do
        state_now="$(in_host systemctl is-system-running 2>/dev/null || true)"
        if [[ "$state_now" =~ ^(running|degraded)$ ]] && in_host docker info >/dev/null 2>&1; then
            return
        fi
        sleep 2
    done
    die "$DEMO_HOST did not boot (systemd: '$state_now'); look with: docker -H unix://$OUTER_SOCKET exec -it $DEMO_HOST journalctl -b"
}

apply_playbook() {
    mkdir -p "$DEMO_DIR"
    cat > "$DEMO_DIR/inventory.ini" <<INVENTORY
# Written by tools/demo.sh: the demo host, reached with \`docker exec\` on the outer dockerd.
[docker_hosts]
$DEMO_HOST ansible_connection=community.docker.docker ansible_python_interpreter=/usr/bin/python3
INVENTORY
    log "Applying playbooks/site.yml to $DEMO_HOST (inventory $DEMO_DIR/inventory.ini)"
    ANSIBLE_CONFIG="$PROJECT_ROOT/ansible.cfg" ansible-playbook -i "$DEMO_DIR/inventory.ini" playbooks/site.yml
}

show() {
    local out rc
    in_host import-busybox-image "$NESTED_IMAGE"
    echo
    log "Inside $DEMO_HOST: docker run --rm --network none --userns=host $NESTED_IMAGE cat /proc/self/uid_map"
    set +e
    out="$(in_host docker run --rm --network none --userns=host "$NESTED_IMAGE" cat /proc/self/uid_map 2>&1)"
    rc=$?
    set -e
    printf '%s\n' "$out"
    if [ "$rc" -eq 0 ] || ! grep -q 'userns=host is not allowed' <<<"$out"; then
        die "--userns=host was NOT refused (exit $rc): the enforcement is not working"
    fi
    log "Refused, as it should be (exit $rc)."
    echo
    log "Inside $DEMO_HOST: docker run --rm --network none $NESTED_IMAGE cat /proc/self/uid_map"
    out="$(in_host docker run --rm --network none "$NESTED_IMAGE" cat /proc/self/uid_map)"
    printf '%s\n' "$out"
    if [ "$(awk '{print $2}' <<<"$out")" = 0 ]; then
        die "the container's root is the host's root: remapping is not on"
    fi
    log "Container root is host uid $(awk '{print $2}' <<<"$out") ($(grep '^dockremap:' <(in_host cat /etc/subuid)) in /etc/subuid)."
    echo
    cat <<HINT
The demo host stays up. Try it yourself:
  docker -H unix://$OUTER_SOCKET exec -it $DEMO_HOST bash
  (then e.g.: docker run --rm --userns=host $NESTED_IMAGE id; journalctl -u 'docker-userns*')
Remove it:  make demo-clean
HINT
}

if [ "${1:-}" = clean ]; then
    clean
    exit 0
fi

log "Step 1/5: packages and virtual environment"
tools/setup.sh >/dev/null
use_venv
log "Step 2/5: private outer dockerd"
tools/outer-dockerd.sh start
use_outer_dockerd
log "Step 3/5: Debian 12 host image (built once)"
tools/build-host-image.sh bookworm
log "Step 4/5: demo host"
start_host
apply_playbook
log "Step 5/5: the proof"
show
