"""The role across a fleet of real Docker hosts: a failed rolling run, the audit, plugin kills, upgrades.

Six fresh Debian 12 hosts (systemd, Docker 20.10) on the private outer dockerd. The tests share
them and run in file order: a flag on Docker's command line stopping the role, the failed rollout, then the same rollout repaired, then the audit, the
SIGKILLs and the in-place upgrade on the converged hosts. Behaviour only: no timing is asserted
(bench/ prints the figures).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import Fleet, audit_failing, audit_table, remove_enforcement_by_hand, require_outer_dockerd_and_image, run_playbook
from resilience import PLUGIN_PATH, kill_under_load, restart_under_load, upgrade_under_load

# The daemon.json every host has before the role: the rollout must keep it where it fails.
PREVIOUS_DAEMON_JSON = '{\n  "log-opts": {"max-size": "10m", "max-file": "2"}\n}\n'
# Docker 20.10 has no `dockerd --validate`: this setting reaches daemon.json and dockerd refuses to start.
BAD_SETTINGS = """'{"log-level": "not-a-level"}'"""


@pytest.fixture(scope="module")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="due-fleet-test-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet(workdir):
    require_outer_dockerd_and_image()
    hosts = Fleet("due-fleet-test", 6, workdir).start()

    def seed(host):
        hosts.write_file(host, "/etc/docker/daemon.json", PREVIOUS_DAEMON_JSON)
        hosts.restart_docker(host)

    with ThreadPoolExecutor(len(hosts.names)) as pool:
        list(pool.map(seed, hosts.names))
    yield hosts
    hosts.remove()


def refuses_host_userns(fleet: Fleet, host: str) -> bool:
    result = fleet.run(host, "docker", "create", "--userns=host", "--network=none", "--pull=never",
                       "docker-userns-selftest-does-not-exist:never", "true", check=False)
    return result.returncode != 0 and "userns=host is not allowed" in result.stderr.decode()


def host_state(fleet: Fleet, host: str) -> dict:
    """What the rollout tests look at on one host."""
    answers = fleet.docker_answers(host)
    info = json.loads(fleet.run(host, "docker", "info", "--format", "{{json .}}").stdout) if answers else {}
    return {"daemon_json": fleet.read_file(host, "/etc/docker/daemon.json"), "plugin_installed": fleet.read_file(host, PLUGIN_PATH) is not None,
            "docker_answers": answers, "authorization": (info.get("Plugins") or {}).get("Authorization"),
            "refuses_host_userns": refuses_host_userns(fleet, host)}


@pytest.fixture(scope="module")
def failed_rollout(fleet, workdir):
    """site.yml two hosts at a time; the third host's Docker will not start with the new daemon.json.
    The hosts' state is read right after the run (`.hosts`): later tests converge, break and repair
    them, and the test of this rollout must not depend on running before them."""
    bad = fleet.names[2]
    inventory = fleet.inventory(host_vars={bad: {"docker_userns_daemon_settings": BAD_SETTINGS}}, filename="failing.ini")
    # serial and max_fail_percentage are play keywords: Ansible templates them before it reads
    # inventory variables, so they come as extra vars.
    run = run_playbook("playbooks/site.yml", inventory, ["-e", "docker_userns_serial=2", "-e", "docker_userns_max_fail_percentage=0"],
                       log=workdir / "failing-rollout.log")
    with ThreadPoolExecutor(len(fleet.names)) as pool:
        run.hosts = dict(zip(fleet.names, pool.map(lambda host: host_state(fleet, host), fleet.names)))
    return run


@pytest.fixture(scope="module")
def converged(fleet, failed_rollout, workdir):
    """The same rollout once the bad setting is gone: every host converges."""
    run = run_playbook("playbooks/site.yml", fleet.inventory(), ["-e", "docker_userns_serial=3"],
                       log=workdir / "repaired-rollout.log")
    assert run.rc == 0, run.output[-3000:]
    return fleet


def test_a_flag_on_dockers_command_line_stops_the_role_before_any_change(fleet, workdir):
    """DOCKER_OPTS in /etc/default/docker reaches only the running daemon's command line (the unit's
    ExecStart shows "$DOCKER_OPTS"): the preflight must still see the flag that daemon.json would repeat."""
    host = fleet.names[5]
    original = fleet.read_file(host, "/etc/default/docker")
    # Compared with what the host has before this run (the rollouts may have converged it already).
    daemon_json_before, plugin_before = fleet.read_file(host, "/etc/docker/daemon.json"), fleet.read_file(host, PLUGIN_PATH)
    fleet.write_file(host, "/etc/default/docker", 'DOCKER_OPTS="--log-level=info"\n')
    fleet.restart_docker(host)
    try:
        inventory = fleet.inventory(hosts=[host], host_vars={host: {"docker_userns_daemon_settings": """'{"log-level": "warn"}'"""}},
                                    filename="flag-conflict.ini")
        run = run_playbook("playbooks/site.yml", inventory, log=workdir / "flag-conflict.log")
        assert run.rc != 0 and run.recap()[host]["failed"] == 1, run.output[-3000:]
        assert "Docker is started with --log-level" in run.output, run.output[-3000:]
        assert fleet.read_file(host, "/etc/docker/daemon.json") == daemon_json_before
        assert fleet.read_file(host, PLUGIN_PATH) == plugin_before
    finally:
        fleet.write_file(host, "/etc/default/docker", original or "")
        fleet.restart_docker(host)
    assert fleet.docker_answers(host)


def test_failed_host_stops_the_rollout_and_keeps_its_previous_docker(fleet, failed_rollout):
    first, second, bad, same_batch, later, last = fleet.names
    recap = failed_rollout.recap()
    assert failed_rollout.rc != 0, failed_rollout.output[-3000:]
    # The recap names the failed host, the one batch that ran with it, and no later host ...
    assert recap[bad]["failed"] >= 1, failed_rollout.output[-3000:]
    assert recap[same_batch]["failed"] == 0, recap
    assert "daemon.json was restored from" in failed_rollout.output, failed_rollout.output[-3000:]
    assert "it is back" in failed_rollout.output, failed_rollout.output[-3000:]
    # ... and max_fail_percentage stopped the run there: the next batch never started.
    assert later not in recap and last not in recap, recap
    after = failed_rollout.hosts  # read right after the run
    for host in (later, last):
        assert not after[host]["plugin_installed"]
        assert after[host]["daemon_json"] == PREVIOUS_DAEMON_JSON
    # The failed host: previous daemon.json, Docker answering, with none of the new settings.
    assert after[bad]["daemon_json"] == PREVIOUS_DAEMON_JSON
    assert after[bad]["docker_answers"]
    assert not after[bad]["authorization"]
    # The batch before it converged and enforces.
    for host in (first, second):
        assert recap[host]["failed"] == 0
        assert after[host]["refuses_host_userns"]


def test_audit_flags_the_host_whose_enforcement_was_removed_by_hand(converged, workdir):
    broken = converged.names[1]
    remove_enforcement_by_hand(converged, broken)
    # Any window and traffic will do here: the verdict's other conditions are what this test is about.
    audit = run_playbook("playbooks/audit.yml", converged.inventory(filename="audit.ini"), log=workdir / "audit.log",
                         extra_args=["-e", "docker_userns_report_min_hours=0", "-e", "docker_userns_report_min_requests=0"])
    assert audit.rc == 0, audit.output[-3000:]
    table = audit_table(audit.output)
    assert sorted(table) == sorted(converged.names), audit.output[-3000:]
    assert [host for host, row in table.items() if audit_failing(row)] == [broken]
    assert table[broken]["selftest"] == "allowed" and table[broken]["cis_2_12"] == "FAIL"
    for host in converged.names:
        if host != broken:
            assert table[host]["selftest"] == "refused" and table[host]["plugin"] == "active"
            # Enforce mode since the last change of its config, and only the role's self-tests refused.
            assert table[host]["decisions"] == "ready", audit.output[-3000:]
    # No refusals in its journal, but Docker no longer asks the plugin: nothing to conclude.
    assert table[broken]["decisions"] == "unknown (plugin off)"


def test_sigkilled_plugin_lets_nothing_through_and_comes_back(converged):
    host = converged.names[0]
    result = kill_under_load(converged, host, kills=5)
    assert result["wrongly_allowed"] == 0, result
    assert result["host_userns_containers"] == [], result
    assert len(result["kills"]) == 5
    for kill in result["kills"]:
        assert kill["new_pid"] not in (0, kill["pid"]), result  # systemd started a new plugin
        assert kill["recovery_s"] is not None, result  # and Docker answered as expected again
    assert result["expected"] > 0 and result["docker_answers_after"]
    assert refuses_host_userns(converged, host)


def test_planned_restarts_refuse_nothing(converged):
    host = converged.names[2]
    result = restart_under_load(converged, host, restarts=3)
    assert [r["new_pid"] not in (0, r["pid"]) for r in result["restarts"]] == [True] * 3, result
    assert result["wrongly_allowed"] == 0 and result["host_userns_containers"] == [], result
    assert result["refused_error"] == 0 and result["lost"] == 0, result  # the drain: nothing refused
    assert result["expected"] > 0 and result["docker_answers_after"]


def test_upgrades_in_place_replace_the_plugin_without_restarting_docker_or_refusing(converged, workdir):
    host = converged.names[3]
    result = upgrade_under_load(converged, host, workdir, upgrades=2)
    assert result["playbook_rc"] == 0 and result["upgrades"] == 2, result
    assert result["installed_version"] == result["new_version"] != result["old_version"]
    assert result["plugin_restarted"]
    assert not result["docker_restarted"]
    assert result["wrongly_allowed"] == 0 and result["host_userns_containers"] == [], result
    assert result["refused_error"] == 0 and result["lost"] == 0, result
    assert result["expected"] > 0 and result["docker_answers_after"]
    assert refuses_host_userns(converged, host)


def test_containers_left_outside_the_remapping_are_stopped_or_removed_as_chosen(converged, workdir):
    """An audit-mode rollout can leave --userns=host containers behind; enforce mode then does
    with them what docker_userns_unremapped_workloads says."""
    host = converged.names[4]
    inventory = converged.inventory(hosts=[host], filename="unremapped-%s.ini" % host)

    def site(*extra):
        run = run_playbook("playbooks/site.yml", inventory, list(extra), log=workdir / ("unremapped-%s.log" % "-".join(extra)))
        assert run.rc == 0, run.output[-3000:]
        return run

    def state(name):
        result = converged.run(host, "docker", "inspect", "-f", "{{.State.Running}}", name, check=False)
        return result.stdout.decode().strip() if result.returncode == 0 else "gone"

    site("-e", "docker_userns_mode=audit")
    converged.run(host, "import-busybox-image", "busybox:local")
    converged.run(host, "docker", "run", "-d", "--userns=host", "--network", "none", "--name", "left-running", "busybox:local", "sleep", "3600")
    converged.run(host, "docker", "create", "--userns=host", "--network", "none", "--name", "left-stopped", "busybox:local", "id")

    stopped = site("-e", "docker_userns_unremapped_workloads=stop")
    assert "left-running" in stopped.output and "left-stopped" in stopped.output  # the preflight named both
    assert (state("left-running"), state("left-stopped")) == ("false", "false")
    start = converged.run(host, "docker", "start", "left-running", check=False)
    assert start.returncode != 0 and "userns=host is not allowed" in start.stderr.decode()

    site("-e", "docker_userns_unremapped_workloads=remove")
    assert (state("left-running"), state("left-stopped")) == ("gone", "gone")
    site()  # nothing left outside: the default (fail) has nothing to stop on
