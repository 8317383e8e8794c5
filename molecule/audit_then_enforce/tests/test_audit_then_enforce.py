"""Audit mode lets --userns=host through and logs it; enforce mode refuses it, stops on the containers
the audit phase left outside the remapping (default), reports them (keep), and refuses entering them."""

import json

from hosttest.fixtures import REFUSAL, SNAPSHOT_DIR, docker_run, raw_api

PLUGIN_UNIT = "docker-userns-enforcement-plugin.service"


def plugin_log(host):
    """The plugin's JSON log lines from the journal, parsed."""
    lines = host.check_output("journalctl --no-pager -o cat -u %s", PLUGIN_UNIT).splitlines()
    events = []
    for line in lines:
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # systemd's own "Started ..." lines
    return events


def test_audit_mode_let_userns_host_through(host):
    run = json.loads(host.file(f"{SNAPSHOT_DIR}/audit-run.json").content_string)
    assert run["rc"] == 0, run["stderr"]
    # The container really ran outside the remapping: the identity map.
    assert run["stdout"].split() == ["0", "0", "4294967295"]


def test_audit_mode_logged_the_would_deny_in_the_journal(host):
    would_deny = [e for e in plugin_log(host)
                  if e.get("event") == "decision" and e.get("decision") == "would-deny"
                  and e.get("rule") == "host-userns" and e.get("path", "").endswith("/containers/create")]
    assert would_deny, "no would-deny decision for host-userns in the plugin's journal"
    assert all(e.get("mode") == "audit" for e in would_deny)


def test_enforce_mode_refuses_userns_host(host, test_image):
    result = docker_run(host, "--userns=host", test_image, "true")
    assert result.rc != 0
    assert REFUSAL in result.stderr


def test_enforce_mode_logged_the_deny_in_the_journal(host, test_image):
    docker_run(host, "--userns=host", test_image, "true")
    denies = [e for e in plugin_log(host)
              if e.get("event") == "decision" and e.get("decision") == "deny"
              and e.get("rule") == "host-userns"]
    assert denies
    assert denies[-1].get("mode") == "enforce"


def test_plain_run_still_works_and_is_remapped(host, test_image):
    result = docker_run(host, test_image, "cat", "/proc/self/uid_map")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[:2] != ["0", "0"]


# --- containers left outside the remapping by the audit phase --------------------------------

OUTSIDE = ["outside-running", "outside-stopped", "outside-stdin"]


def test_enforce_with_the_default_choice_stopped_on_them_and_named_each(host):
    default = json.loads(host.file(f"{SNAPSHOT_DIR}/enforce-default.json").content_string)
    assert default["failed"] is True, default
    assert default["task"].startswith("Ensure nothing runs outside the remapping"), default
    for name in OUTSIDE:
        assert name in default["msg"], default["msg"]
    assert "docker_userns_unremapped_workloads" in default["msg"] and "Nothing was changed" in default["msg"]


def test_the_stopped_run_changed_nothing(host):
    config = json.loads(host.file(f"{SNAPSHOT_DIR}/config-after-default.json").content_string)
    assert config["mode"] == "audit"


def test_enforce_with_keep_reported_each_one(host):
    reported = json.loads(host.file(f"{SNAPSHOT_DIR}/enforce-keep.json").content_string)
    assert sorted(r["name"] for r in reported) == sorted(OUTSIDE)
    assert all(r["kind"] == "container" and "--userns=host" in r["reason"] for r in reported)
    running = {r["name"]: r["running"] for r in reported}
    assert running == {"outside-running": True, "outside-stopped": False, "outside-stdin": True}


def test_nothing_can_exec_into_start_or_attach_to_them(host):
    exec_into = host.run("docker exec outside-running cat /proc/self/uid_map")
    assert exec_into.rc != 0 and REFUSAL in exec_into.stderr and "0 4294967295" not in exec_into.stdout
    start = host.run("docker start outside-stopped")
    assert start.rc != 0 and REFUSAL in start.stderr
    restart = host.run("docker restart -t 0 outside-running")
    assert restart.rc != 0 and REFUSAL in restart.stderr
    attach = host.run("echo 'cat /proc/self/uid_map' | timeout 20 docker attach outside-stdin")
    assert attach.rc != 0 and "403" in attach.stderr and "4294967295" not in attach.stdout
    pending = host.file(f"{SNAPSHOT_DIR}/pending-exec").content_string.strip()
    status, answer = raw_api(host, "POST", "/exec/%s/start" % pending, {"Detach": True})
    assert status == 403 and REFUSAL in answer, answer


def test_the_plugin_names_them_in_its_journal(host):
    host.run("docker exec outside-running true")
    denies = [e for e in plugin_log(host) if e.get("rule") == "outside-container" and e.get("decision") == "deny"]
    assert denies and "outside-running" in denies[-1]["reason"]


def test_cleaning_them_up_stays_possible(host):
    assert host.run("docker logs outside-running").rc == 0
    assert host.run("docker stop -t 1 outside-running outside-stdin").rc == 0
    assert host.run("docker rm outside-running outside-stopped outside-stdin").rc == 0


# --- the decision report, taken by playbooks/audit.yml in audit mode --------------------------


def test_the_report_requests_reached_docker(host):
    made = json.loads(host.file(f"{SNAPSHOT_DIR}/report-requests.json").content_string)
    # Only the Debian 12 host made them; the plugin let each through (audit mode), Docker answered.
    for _kind, method, path, status in made:
        assert status != 403, (method, path, status)
    assert [m[0] for m in made].count("would-deny") in (0, 3)


def test_audit_reports_exactly_what_enforcement_would_refuse_or_ready(host):
    made = json.loads(host.file(f"{SNAPSHOT_DIR}/report-requests.json").content_string)
    report = json.loads(host.file(f"{SNAPSHOT_DIR}/audit-report.json").content_string)
    audit, fleet = report["audit"], report["fleet"]
    decisions = audit["decision_report"]
    hostname = host.backend.get_hostname()
    [row] = [line for line in fleet if line.startswith(hostname + " ")]
    # The converge and idempotence runs' self-tests were refused in the window and counted apart.
    assert int(decisions["selftest_requests"]) >= 2, decisions
    assert decisions["error"] == "" and decisions["window_complete"] is True, decisions
    assert "(config changed, " in decisions["since"], decisions
    assert (decisions["dropped"], decisions["unreadable"]) == (0, 0), decisions
    if not made:
        assert audit["decisions"] == "ready" and decisions["counts"] == {}, decisions
        assert row.endswith(" ready"), row
        return
    assert audit["decisions"] == "NOT ready (host-userns, managed-plugins, outside-container)", audit
    assert row.endswith(" NOT ready (host-userns, managed-plugins, outside-container)"), row
    # Exactly the three requests enforcement would refuse; the allowed ones are not there.
    assert decisions["counts"] == {"would-deny": {"host-userns": 1, "managed-plugins": 1, "outside-container": 1}}, decisions
    examples = decisions["examples"]
    [create] = examples["host-userns"]
    assert (create["decision"], create["method"], create["route"]) == ("would-deny", "POST", "/v1.41/containers/create?name=report-userns")
    assert (create["image"], create["name"], create["user"]) == ("busybox:local", "report-userns", "")
    [exec_into] = examples["outside-container"]
    assert (exec_into["route"], exec_into["target"]) == ("/v1.41/containers/report-userns/exec", "report-userns")
    [enable] = examples["managed-plugins"]
    assert (enable["route"], enable["target"]) == ("/v1.41/plugins/report-plugin:latest/enable", "report-plugin:latest")
    assert all(e["time"] for e in (create, exec_into, enable))
