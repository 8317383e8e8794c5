#!/usr/bin/env bash
# make bench: every benchmark, then every figure on its own line as `name: value`.
#
#   1. set-up shared with `make test`: tools/setup.sh (packages, venv), tools/outer-dockerd.sh
#      (private engine for the Debian hosts), tools/build-host-image.sh bookworm (built once)
#   2. bench/authz_overhead.py  plugin overhead over a Go floor plugin, plugin memory  (~15 s)
#      bench/startup.py         exec to the first answer, against the Go floor and bare Python (~3 s)
#   3. bench/saturation.py      8 clients saturating dockerd with no plugin, the Go floor
#                               plugin and this plugin: ping, mix, docker exec; CPU per decision (~4 min)
#   4. bench/fleet_scale.py     site.yml on 1 host, on 6 hosts, no-change run, audit    (~3 min)
#   5. bench/resilience.py      plugin SIGKILLed, restarted and upgraded under load      (~1.5 min)
#   6. bench/decision_report.py the decision report (docker_userns_decisions) on a host with
#                               100,000 decision lines in its journal                    (~7 min)
#   7. bench/data_root_carry.py the data-root carry against cp -a of the same data       (~1 min)
#
# Each script's output is kept in bench/results/NAME.txt (not committed). Choose some with
# BENCHMARKS="saturation fleet_scale". The exit status is non-zero if any benchmark failed.
set -uo pipefail
. "$(dirname "$0")/../tools/lib.sh"
require_root
cd "$PROJECT_ROOT"

BENCHMARKS="${BENCHMARKS:-authz_overhead startup saturation fleet_scale resilience decision_report data_root_carry}"
RESULTS="$PROJECT_ROOT/bench/results"
FAILED=()

tools/setup.sh >/dev/null || die "tools/setup.sh failed"
use_venv
STARTED_OUTER=0
if ! tools/outer-dockerd.sh status; then
    tools/outer-dockerd.sh start || die "the outer dockerd did not start"
    STARTED_OUTER=1
fi
# Stop the outer dockerd at the end only if this run started it.
trap '[ "$STARTED_OUTER" -eq 1 ] && tools/outer-dockerd.sh stop' EXIT
use_outer_dockerd
tools/build-host-image.sh bookworm || die "the Debian 12 host image could not be built"

mkdir -p "$RESULTS"
{
    echo "machine_cores: $(nproc)"
    echo "machine_mem_gib: $(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)"
    echo "machine_os: $(. /etc/os-release && echo "$PRETTY_NAME") kernel $(uname -r)"
    echo "machine_cgroup: $([ -f /sys/fs/cgroup/cgroup.controllers ] && echo v2 || echo v1)"
    echo "machine_dockerd: $(dockerd --version | awk '{print $3}' | tr -d ,)"
    echo "machine_load_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RESULTS/machine.txt"

for bench in $BENCHMARKS; do
    log "[bench] $bench"
    start=$SECONDS
    python3 "bench/$bench.py" > "$RESULTS/$bench.txt"
    rc=$?
    cat "$RESULTS/$bench.txt"
    log "[bench] $bench: exit $rc after $((SECONDS - start))s"
    [ "$rc" -eq 0 ] || FAILED+=("$bench")
done

echo
log "Figures (bench/results/)"
cat "$RESULTS/machine.txt"
for bench in $BENCHMARKS; do
    grep -E '^[a-z0-9_]+: ' "$RESULTS/$bench.txt"
done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo "bench_failed: ${FAILED[*]}"
    exit 1
fi
