#!/usr/bin/env bash
# Install what the tests and the demo need on a Debian machine, idempotently:
#   - Debian packages (only the missing ones): docker.io, debootstrap,
#     busybox-static, golang-go, make, python3-venv, gcc and libc6-dev (a test
#     NSS module, tests/integration/test_nss_accounts.py)
#   - a virtual environment with requirements-dev.txt, cached under
#     $DOCKER_USERNS_DEV_CACHE (default /var/cache/docker-userns-dev) and keyed
#     by the file's sha256, so an unchanged file reuses it.
#   - a second, small virtual environment with only the pinned ansible-core, for
#     `ansible-test sanity` (tests/collection): with --requirements it installs each
#     sanity test's own pinned tools, which must not change the main one.
# Prints the main virtual environment's path on stdout as its last line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root

DEBIAN_PACKAGES=(docker.io debootstrap busybox-static golang-go make python3-venv gcc libc6-dev)

install_debian_packages() {
    local missing=() pkg
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "Debian packages present: ${DEBIAN_PACKAGES[*]}"
        return
    fi
    log "Installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build_venv() {
    local venv python
    venv="$(venv_dir)"
    if [ -f "$venv/.complete" ]; then
        log "Virtual environment reused: $venv"
        return
    fi
    # Debian's own interpreter: it is what a fresh machine has.
    python="${PYTHON:-/usr/bin/python3}"
    log "Building virtual environment $venv with $python (a few minutes, once)"
    rm -rf "$venv"
    mkdir -p "$DEV_CACHE"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r "$PROJECT_ROOT/requirements-dev.txt"
    # Written last: a half-built venv (interrupted run) is rebuilt next time.
    date -u +%FT%TZ > "$venv/.complete"
}

build_sanity_venv() {
    local venv core
    venv="$(sanity_venv_dir)"
    if [ -f "$venv/.complete" ]; then
        log "ansible-test virtual environment reused: $venv"
        return
    fi
    core="$(grep -E '^ansible-core==' "$PROJECT_ROOT/requirements-dev.txt")"
    log "Building the ansible-test virtual environment $venv ($core)"
    rm -rf "$venv"
    "${PYTHON:-/usr/bin/python3}" -m venv "$venv"
    "$venv/bin/pip" install -q "$core"
    date -u +%FT%TZ > "$venv/.complete"
}

install_debian_packages
build_venv
build_sanity_venv
venv_dir
