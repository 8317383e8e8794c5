#!/usr/bin/env bash
# The whole test run (`make test`, and `.ci/run` through it), with its own set-up:
#
#   1. tools/setup.sh              Debian packages + cached virtual environment
#   2. tools/outer-dockerd.sh      private Docker engine for the test hosts
#   3. tools/build-host-image.sh   Debian 12, 13 and forky host images (built once, reused)
#   4. the plugin's file is its package's build (tools/build_plugin.py --check), the reviewed
#      API's documents are its table's rendering (tools/gen_threat_model.py --check),
#      yamllint, ansible-lint, ruff and mypy (pyproject.toml), pytest tests/ (unit, integration, fleet), the
#      collection as users get it (pytest tests/collection), then
#      `molecule test -s NAME` for every scenario
#
# Every part runs even when an earlier one failed; the exit status is non-zero
# if any failed. Each part's time goes into the summary table at the end (also
# written to build/test-summary.txt).
#
# Narrow it down while developing (defaults shown):
#   TEST_PARTS="lint pytest collection molecule"
#   MOLECULE_SCENARIOS="default existing_host adopt audit_then_enforce absent collection"
set -uo pipefail
. "$(dirname "$0")/lib.sh"
require_root
cd "$PROJECT_ROOT"

TEST_PARTS="${TEST_PARTS:-lint pytest collection molecule}"
MOLECULE_SCENARIOS="${MOLECULE_SCENARIOS:-default existing_host adopt audit_then_enforce absent collection}"
SUMMARY_FILE="$PROJECT_ROOT/build/test-summary.txt"
declare -a SUMMARY=()
FAILED=0
RUN_START=$SECONDS

# run_part NAME COMMAND...: run, time and record one part; never stops the run.
run_part() {
    local name="$1" start rc
    shift
    log "[$name] $*"
    start=$SECONDS
    "$@"
    rc=$?
    record "$name" "$rc" $((SECONDS - start))
    return "$rc"
}

record() {
    local name="$1" rc="$2" seconds="$3" status=ok
    [ "$rc" -eq 0 ] || { status="FAILED (exit $rc)"; FAILED=1; }
    SUMMARY+=("$(printf '%-34s %-18s %4dm%02ds' "$name" "$status" $((seconds / 60)) $((seconds % 60)))")
    log "[$name] $status after ${seconds}s"
}

print_summary() {
    mkdir -p "$(dirname "$SUMMARY_FILE")"
    {
        printf '%-34s %-18s %8s\n' PART RESULT TIME
        printf '%s\n' "${SUMMARY[@]}"
        local total=$((SECONDS - RUN_START))
        printf '%-34s %-18s %4dm%02ds\n' total "$([ "$FAILED" -eq 0 ] && echo ok || echo FAILED)" $((total / 60)) $((total % 60))
    } | tee "$SUMMARY_FILE"
}

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
# tests/collection is its own part (`collection`).
run_pytest() {
    pytest -p no:cacheprovider "$@"
    local rc=$?
    [ "$rc" -ne 5 ] || echo "pytest collected no tests" >&2
    return "$rc"
}

# Molecule only warns when a scenario has no testinfra tests; here that fails.
run_molecule() {
    local scenario="$1"
    compgen -G "molecule/$scenario/tests/test_*.py" >/dev/null \
        || { echo "molecule/$scenario/tests has no test_*.py: nothing would be verified" >&2; return 1; }
    molecule test -s "$scenario"
}

# ---- set-up: without it nothing else can run ----------------------------------
run_part setup tools/setup.sh >/dev/null || { print_summary; exit 1; }
use_venv

STARTED_OUTER=0
if ! tools/outer-dockerd.sh status; then
    run_part outer-dockerd tools/outer-dockerd.sh start || { print_summary; exit 1; }
    STARTED_OUTER=1
fi
# Stop the outer dockerd at the end only if this run started it (a running
# `make demo` host keeps its engine).
trap '[ "$STARTED_OUTER" -eq 1 ] && tools/outer-dockerd.sh stop' EXIT
use_outer_dockerd

# ---- checks ------------------------------------------------------------------------
for part in $TEST_PARTS; do
    case "$part" in
        lint)
            run_part plugin-build python3 tools/build_plugin.py --check
            run_part threat-model python3 tools/gen_threat_model.py --check
            run_part yamllint yamllint --strict .
            run_part ansible-lint ansible-lint --offline
            run_part ruff ruff check .
            run_part mypy mypy
            ;;
        pytest)
            run_part "pytest tests/" run_pytest tests --ignore=tests/collection
            ;;
        collection)
            run_part "pytest tests/collection" run_pytest tests/collection
            ;;
        molecule)
            for suite in bookworm trixie forky; do
                run_part "image $suite" tools/build-host-image.sh "$suite"
            done
            for scenario in $MOLECULE_SCENARIOS; do
                run_part "molecule $scenario" run_molecule "$scenario"
            done
            ;;
        *) warn "unknown part '$part' (known: lint pytest collection molecule)"; record "$part" 2 0 ;;
    esac
done

print_summary
exit "$FAILED"
