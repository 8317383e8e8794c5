#!/usr/bin/env bash
# The role and its tests against Docker CE, from Docker's official static binary tarballs:
#
#   tools/upstream-engines.sh 24.0.9 29.7.2      (make upstream-engines ENGINES="24.0.9 29.7.2")
#
# Not part of `make test` (about 4 minutes per engine). For each VERSION:
#   1. the tarball docker-VERSION.tgz, from $UPSTREAM_ENGINE_CACHE (default
#      /var/cache/docker-userns-dev/engines), else downloaded from Docker; its layout is checked
#      and the sha256 of every binary recorded (build/upstream-engines/VERSION/sha256sums);
#   2. a host image docker-userns-upstream:VERSION: docker-userns-host:trixie (containerd 1.7,
#      runc 1.1, cgroup v1: Docker 24 to 28, whose tarballs ship containerd 1.7) or :forky (Docker
#      29, whose tarballs ship containerd 2), with Debian's docker.io, containerd and runc packages
#      purged and the tarball's dockerd, docker-proxy, docker-init, containerd,
#      containerd-shim-runc-v2, ctr and runc in /usr/bin, as Docker documents a static install,
#      started by systemd units of our own; the client is Debian forky's docker CLI with its
#      compose and buildx plugins in every image (the same client for every engine: it negotiates
#      the API version down); the tarball's own docker CLI is recorded, not used;
#   3. `molecule test -s upstream` on that image (molecule/upstream: the role in enforce mode, then
#      its tests), its log in build/upstream-engines/VERSION/molecule.log;
# then a table: per engine the run's time, the tests, the bypass probe's figures, the everyday
# work, and the docker cp routes in audit mode (what the daemon runs as real root) and enforcing.
# Exits non-zero when a tarball is missing or a run failed. UPSTREAM_BASE_SUITE=trixie|forky
# overrides the base image for every engine.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

ENGINE_CACHE="${UPSTREAM_ENGINE_CACHE:-$DEV_CACHE/engines}"
DOWNLOAD_BASE="https://download.docker.com/linux/static/stable/x86_64"
OUT="$PROJECT_ROOT/build/upstream-engines"
ENGINE_BINARIES="dockerd docker-proxy docker-init containerd containerd-shim-runc-v2 ctr runc"
RECIPE="$(sha256sum "$0" | cut -c1-16)"

[ $# -gt 0 ] || die "usage: $0 VERSION... (e.g. 24.0.9 25.0.17 26.1.5 27.5.1 28.5.2 29.5.0 29.7.2)"
[ -n "${DOCKER_HOST:-}" ] || use_outer_dockerd
docker version >/dev/null 2>&1 || die "no Docker engine answers at ${DOCKER_HOST}; run tools/outer-dockerd.sh start"
use_venv
mkdir -p "$ENGINE_CACHE" "$OUT"

# The tarball for VERSION in the cache, downloading it when missing; prints its path.
tarball() {
    local version="$1" file="$ENGINE_CACHE/docker-$1.tgz" url="$DOWNLOAD_BASE/docker-$1.tgz" error
    if [ ! -s "$file" ]; then
        log "docker-$version.tgz is not in $ENGINE_CACHE: downloading $url"
        if ! error="$(curl -fsSL --connect-timeout 20 --max-time 600 -o "$file.part" "$url" 2>&1)"; then
            rm -f "$file.part"
            warn "Could not download $url: ${error:-no answer}."
            warn "Get Docker's official static tarball docker-$version.tgz on a machine that can reach it and copy it to $file, then run this again."
            return 1
        fi
        mv "$file.part" "$file"
    fi
    echo "$file"
}

# Unpack the tarball into DIR, check Docker's layout, record the binaries' sha256.
unpack() {
    local file="$1" dir="$2" version="$3" name reported
    rm -rf "$dir/docker"
    tar -xzf "$file" -C "$dir"
    for name in $ENGINE_BINARIES docker; do
        [ -x "$dir/docker/$name" ] || { warn "$file has no executable docker/$name: not Docker's static tarball layout"; return 1; }
    done
    (cd "$dir" && sha256sum docker/*) > "$OUT/$version/sha256sums"
    sha256sum "$file" | sed "s|$ENGINE_CACHE/||" >> "$OUT/$version/sha256sums"
    reported="$("$dir/docker/dockerd" --version 2>/dev/null || true)"
    case "$reported" in
        "Docker version $version,"*) ;;
        *) warn "docker/dockerd in $file says '$reported', not Docker version $version: the tests will fail on the version check" ;;
    esac
}

base_suite() {
    if [ -n "${UPSTREAM_BASE_SUITE:-}" ]; then echo "$UPSTREAM_BASE_SUITE"
    elif [ "${1%%.*}" -ge 29 ]; then echo forky
    else echo trixie
    fi
}

# docker-userns-upstream:VERSION from the unpacked tarball in DIR; reused while neither this
# script nor the tarball changed.
host_image() {
    local version="$1" dir="$2" suite="$3" image="docker-userns-upstream:$1" label client
    label="$RECIPE-$(sha256sum "$OUT/$version/sha256sums" | cut -c1-16)-$suite"
    if [ "$(docker image inspect --format '{{index .Config.Labels "docker-userns.upstream"}}' "$image" 2>/dev/null || true)" = "$label" ]; then
        log "Image $image is up to date; reusing it"
        return 0
    fi
    log "Building $image from docker-userns-host:$suite"
    local context="$dir/context"
    rm -rf "$context"
    mkdir -p "$context/engine" "$context/client" "$context/units"
    for name in $ENGINE_BINARIES; do cp "$dir/docker/$name" "$context/engine/"; done
    client="$(docker create docker-userns-host:forky)"
    docker cp "$client:/usr/bin/docker" "$context/client/docker"
    docker cp "$client:/usr/libexec/docker/cli-plugins" "$context/client/cli-plugins"
    docker rm "$client" >/dev/null
    cat > "$context/units/containerd.service" <<'UNIT'
[Unit]
Description=containerd, from Docker's static binaries (test host)
After=network.target local-fs.target

[Service]
ExecStart=/usr/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=2
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
UNIT
    cat > "$context/units/docker.socket" <<'UNIT'
[Unit]
Description=Docker Socket for the API (test host)

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
UNIT
    cat > "$context/units/docker.service" <<'UNIT'
[Unit]
Description=Docker Application Container Engine, from Docker's static binaries (test host)
After=network-online.target docker.socket containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=0
Restart=always
RestartSec=2
StartLimitBurst=3
StartLimitInterval=60s
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
Delegate=yes
KillMode=process
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
UNIT
    cat > "$context/Dockerfile" <<DOCKERFILE
FROM docker-userns-host:$suite
# A static install: no package owns the engine (the role then records no package fixes for it).
RUN dpkg --purge --force-depends docker.io containerd runc > /var/log/upstream-engine-purge.log 2>&1
COPY engine/ /usr/bin/
COPY client/docker /usr/bin/docker
COPY client/cli-plugins/ /usr/libexec/docker/cli-plugins/
COPY units/ /etc/systemd/system/
# The engines whose docker cp no longer runs the container's decompressors (25.0.17, 29.5.1 on)
# unpack xz archives with the host's xz. Debian's docker.io recommends xz-utils, but debootstrap
# leaves recommends out, and there is no network here: busybox's xz applet stands in.
RUN ln -s /bin/busybox /usr/bin/xz \\
    && groupadd --force docker \\
    && mkdir -p /etc/systemd/system/multi-user.target.wants /etc/systemd/system/sockets.target.wants \\
    && ln -sf ../containerd.service ../docker.service /etc/systemd/system/multi-user.target.wants/ \\
    && ln -sf ../docker.socket /etc/systemd/system/sockets.target.wants/
LABEL docker-userns.upstream=$label docker-userns.engine=$version docker-userns.suite=$suite
DOCKERFILE
    DOCKER_BUILDKIT=0 docker build --quiet --network none -t "$image" "$context" >/dev/null
    rm -rf "$context"
}

# One row of the table, from the tests' figures and the pytest summary.
row() {
    python3 - "$@" <<'PY'
import json, sys
version, suite, seconds, summary, results = sys.argv[1:6]
try:
    figures = json.load(open(results))
except (OSError, ValueError):
    figures = {}
def probe():
    parts = []
    for key in ("probe bodies", "probe generated", "probe existing,mounts,routes", "probe rootwork"):
        f = figures.get(key)
        if f:
            parts.append("%s %d cases, %d escaped" % (key.split(" ", 1)[1], f["cases"], f["escaped"]))
    return "; ".join(parts) or "-"
def work():
    keys = sorted(k for k in figures if k.startswith("workload: "))
    return "; ".join("%s %s" % (k[10:], figures[k]) for k in keys) or "-"
def routes(mode):
    out = []
    short = {"docker cp out of a container": "cp out", "docker cp into a container": "cp in",
             "docker cp of an xz archive into a container whose image ships an xz": "cp xz",
             "docker cp -a into a container that sets a user and ships a getent": "cp -a"}
    for case, r in sorted(figures.get("engine routes", {}).items()):
        m = r[mode]
        state = "refused" if m["status"] == 403 else str(m["status"])
        out.append("%s %s%s" % (short.get(case, case), state, ", ROOT ON THE HOST" if m["ran as real root"] else ""))
    return "; ".join(out) or "-"
engine = figures.get("engine", {})
print("| %s | %s (containerd %s, runc %s) | %dm%02ds | %s | %s | %s | %s | %s |" % (
    version, suite, engine.get("containerd", "?"), engine.get("runc", "?"), int(seconds) // 60, int(seconds) % 60,
    summary, figures.get("docker run --userns=host", "-"), probe(), work(), routes("audit") + " / enforcing: " + routes("enforce")))
PY
}

ROWS=()
FAILED=0
for version in "$@"; do
    mkdir -p "$OUT/$version"
    suite="$(base_suite "$version")"
    if ! file="$(tarball "$version")"; then
        ROWS+=("| $version | $suite | - | no tarball: put docker-$version.tgz in $ENGINE_CACHE | | | | |")
        FAILED=1
        continue
    fi
    work="$(mktemp -d "$DEV_CACHE/build/upstream-$version.XXXXXX")"
    if ! unpack "$file" "$work" "$version"; then
        ROWS+=("| $version | $suite | - | not Docker's static tarball layout | | | | |")
        FAILED=1
        rm -rf "$work"
        continue
    fi
    log "docker-$version.tgz (sha256 of each binary, in $OUT/$version/sha256sums):"
    sed 's/^/    /' "$OUT/$version/sha256sums" >&2
    "$PROJECT_ROOT/tools/build-host-image.sh" forky
    [ "$suite" = forky ] || "$PROJECT_ROOT/tools/build-host-image.sh" "$suite"
    host_image "$version" "$work" "$suite"
    rm -rf "$work"

    results="$OUT/$version/results.json"
    rm -f "$results"
    cgroup=/sys/fs/cgroup
    [ "$suite" != forky ] || cgroup=/sys/fs/cgroup/unified
    log "Docker $version: molecule test -s upstream (log: $OUT/$version/molecule.log)"
    start=$SECONDS
    rc=0
    (cd "$PROJECT_ROOT" && UPSTREAM_ENGINE_IMAGE="docker-userns-upstream:$version" UPSTREAM_ENGINE_VERSION="$version" \
        UPSTREAM_ENGINE_CGROUP="$cgroup" UPSTREAM_ENGINE_RESULTS="$results" molecule test -s upstream) > "$OUT/$version/molecule.log" 2>&1 || rc=$?
    seconds=$((SECONDS - start))
    # pytest's closing line, e.g. "2 failed, 34 passed in 24.23s", inside Molecule's framed output.
    summary="$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/$version/molecule.log" | grep -aoE '[0-9]+ (passed|failed|errors?)[a-z0-9, ]* in [0-9.]+s' \
        | tail -n 1 | sed -E 's/ in [0-9.]+s$//' || true)"
    if [ "$rc" -ne 0 ]; then
        FAILED=1
        summary="FAILED (rc $rc${summary:+: $summary})"
        warn "Docker $version: molecule failed; see $OUT/$version/molecule.log"
    fi
    ROWS+=("$(row "$version" "$suite" "$seconds" "${summary:-no tests ran}" "$results")")
done

{
    echo "| engine | host (containerd, runc) | run | tests | --userns=host | bypass probe | everyday work (enforcing) | docker cp routes: audit mode / enforcing |"
    echo "|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/summary.md"
exit "$FAILED"
