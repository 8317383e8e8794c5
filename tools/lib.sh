# Shared helpers for the tools/*.sh scripts. Source it; do not run it.
#
# Everything the test set-up keeps between runs lives under one machine cache
# directory (override with DOCKER_USERNS_DEV_CACHE): the virtual environment,
# the outer dockerd's data-root, image build scratch space.

DEV_CACHE="${DOCKER_USERNS_DEV_CACHE:-/var/cache/docker-userns-dev}"
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The outer dockerd hosts the Molecule and demo hosts. Its unix socket path
# must stay short (< 100 chars), so keep the cache directory short too.
OUTER_DIR="$DEV_CACHE/outer"
OUTER_SOCKET="$OUTER_DIR/docker.sock"
OUTER_PIDFILE="$OUTER_DIR/dockerd.pid"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
warn() { printf '\033[33mWARN: %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "$(basename "$0") must run as root (it installs packages and runs dockerd)."
}

# The virtual environment is keyed by the pinned requirements, so changing
# requirements-dev.txt builds a new one and CI reuses an unchanged one.
venv_dir() {
    local hash
    hash="$(sha256sum "$PROJECT_ROOT/requirements-dev.txt" | cut -c1-12)"
    echo "$DEV_CACHE/venv-$hash"
}

# ansible-core alone, for ansible-test sanity (tools/setup.sh builds it).
sanity_venv_dir() {
    echo "$DEV_CACHE/venv-sanity-$(grep -E '^ansible-core==' "$PROJECT_ROOT/requirements-dev.txt" | cut -d= -f3)"
}

# Point docker and Molecule at the outer dockerd and put the venv first on PATH.
use_outer_dockerd() {
    export DOCKER_HOST="unix://$OUTER_SOCKET"
}

use_venv() {
    local venv
    venv="$(venv_dir)"
    [ -f "$venv/.complete" ] || die "no virtual environment at $venv: run tools/setup.sh first."
    export PATH="$venv/bin:$PATH"
    export VIRTUAL_ENV="$venv"
}
