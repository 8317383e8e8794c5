#!/usr/bin/env bash
# Build a disposable Debian host image for Molecule and the demo, once:
#
#   tools/build-host-image.sh bookworm|trixie|forky [--force]
#
# debootstrap (minbase) with systemd, python3 and Debian's docker.io, from the
# mirror this machine's apt already uses, then `docker import` into the Docker
# engine at $DOCKER_HOST (default: the outer dockerd, see outer-dockerd.sh) as
# docker-userns-host:SUITE. The image carries a label with the hash of this
# script: it is rebuilt when the recipe changes and reused otherwise.
#
# Debian 12 (bookworm) gives Docker 20.10, Debian 13 (trixie) Docker 26.1,
# Debian forky (testing) Docker 28.5 with buildx and compose (testing moves:
# the tests read versions at run time).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

SUITE="${1:-}"
FORCE="${2:-}"
DEBOOTSTRAP_SCRIPT=""
APT_PACKAGES=""
case "$SUITE" in
    bookworm) EXTRA_PACKAGES="" ;;
    # In Debian 13 the docker client is its own package. git and ansible-core
    # (2.19 in Debian 13; apt-get in the new root, debootstrap cannot configure
    # its dependencies) let the collection scenario run ansible-pull inside the
    # host, which has no network.
    trixie)
        EXTRA_PACKAGES=",docker-cli"
        APT_PACKAGES="git ansible-core"
        ;;
    # This debootstrap has no forky script: forky is bootstrapped like sid.
    forky)
        EXTRA_PACKAGES=",docker-cli,docker-buildx,docker-compose"
        DEBOOTSTRAP_SCRIPT=/usr/share/debootstrap/scripts/sid
        ;;
    *) echo "usage: $0 bookworm|trixie|forky [--force]" >&2; exit 2 ;;
esac

IMAGE="docker-userns-host:$SUITE"
RECIPE="$(sha256sum "$0" | cut -c1-16)"
PACKAGES="systemd,systemd-sysv,dbus,python3,docker.io,iproute2,procps,sudo,busybox-static$EXTRA_PACKAGES"

[ -n "${DOCKER_HOST:-}" ] || use_outer_dockerd
docker version >/dev/null 2>&1 || die "no Docker engine answers at ${DOCKER_HOST}; run tools/outer-dockerd.sh start"

existing_recipe="$(docker image inspect --format '{{index .Config.Labels "docker-userns.recipe"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$existing_recipe" = "$RECIPE" ] && [ "$FORCE" != "--force" ]; then
    log "Image $IMAGE is up to date (recipe $RECIPE); reusing it"
    exit 0
fi

# One build per suite at a time on this machine.
mkdir -p "$DEV_CACHE/build"
exec 9>"$DEV_CACHE/build/$SUITE.lock"
flock 9

ROOTFS="$DEV_CACHE/build/rootfs-$SUITE"
trap 'rm -rf "$ROOTFS"' EXIT
rm -rf "$ROOTFS"
MIRROR="$("$(dirname "$0")/debian-mirror.sh")"
log "Building $IMAGE: debootstrap $SUITE from $MIRROR (about a minute)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" ${DEBOOTSTRAP_SCRIPT:+"$DEBOOTSTRAP_SCRIPT"} \
    > "$DEV_CACHE/build/debootstrap-$SUITE.log" 2>&1 \
    || { tail -n 30 "$DEV_CACHE/build/debootstrap-$SUITE.log" >&2; die "debootstrap $SUITE failed; see $DEV_CACHE/build/debootstrap-$SUITE.log"; }

if [ -n "$APT_PACKAGES" ]; then
    log "Installing $APT_PACKAGES into the $SUITE root"
    { chroot "$ROOTFS" apt-get update -q \
        && DEBIAN_FRONTEND=noninteractive chroot "$ROOTFS" apt-get install -y -q --no-install-recommends $APT_PACKAGES; } \
        > "$DEV_CACHE/build/apt-$SUITE.log" 2>&1 \
        || { tail -n 30 "$DEV_CACHE/build/apt-$SUITE.log" >&2; die "apt-get install in the $SUITE root failed; see $DEV_CACHE/build/apt-$SUITE.log"; }
fi

# Test-host set-up only (never part of the role): Docker masks /proc paths and
# makes /proc/sys read-only in every container. The nested dockerd under
# userns-remap then fails to mount proc for its own containers. The docker CLI
# could lift this with systempaths=unconfined, but the API (Molecule's driver)
# cannot, so the booted host lifts the masks itself before Docker starts.
cat > "$ROOTFS/usr/local/sbin/lift-docker-proc-masks" <<'SCRIPT'
#!/bin/sh
# Unmount the masks and read-only binds Docker put over /proc and /sys/firmware.
for m in $(awk '$5 ~ "^/proc/." || $5 == "/sys/firmware" {print $5}' /proc/self/mountinfo | sort -r); do
    umount -l "$m"
done
SCRIPT
chmod 0755 "$ROOTFS/usr/local/sbin/lift-docker-proc-masks"
cat > "$ROOTFS/etc/systemd/system/lift-docker-proc-masks.service" <<'UNIT'
[Unit]
Description=Lift Docker's /proc masks so the nested Docker can run containers (test host only)
DefaultDependencies=no
Before=sysinit.target containerd.service docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lift-docker-proc-masks

[Install]
WantedBy=sysinit.target
UNIT
mkdir -p "$ROOTFS/etc/systemd/system/sysinit.target.wants"
ln -sf ../lift-docker-proc-masks.service "$ROOTFS/etc/systemd/system/sysinit.target.wants/"

# Nested Docker cannot pull either: this imports a tiny busybox image
# (busybox-static and its applets) into the host's own Docker, for tests and the demo.
cat > "$ROOTFS/usr/local/sbin/import-busybox-image" <<'SCRIPT'
#!/bin/sh
# usage: import-busybox-image [NAME]   (default busybox:local); no-op if present
set -eu
name="${1:-busybox:local}"
docker image inspect "$name" >/dev/null 2>&1 && exit 0
root="$(mktemp -d /var/tmp/busybox-rootfs.XXXXXX)"
mkdir -p "$root/bin"
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
tar -C "$root" -c . | docker import -c 'CMD ["sh"]' - "$name" >/dev/null
rm -rf "$root"
SCRIPT
chmod 0755 "$ROOTFS/usr/local/sbin/import-busybox-image"

# Smaller image, no stale package lists; an empty machine-id is filled at boot.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
: > "$ROOTFS/etc/machine-id"

log "Importing $IMAGE"
tar -C "$ROOTFS" -c . | docker import \
    -c 'ENV container=docker' \
    -c 'CMD ["/lib/systemd/systemd"]' \
    -c "LABEL docker-userns.recipe=$RECIPE docker-userns.suite=$SUITE" \
    - "$IMAGE" >/dev/null
log "Built $IMAGE ($(docker image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
