"""Audit mode lets --userns=host through and logs it; enforce mode refuses it."""

import json

from hosttest.fixtures import REFUSAL, SNAPSHOT_DIR, docker_run

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
