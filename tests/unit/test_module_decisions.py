"""Unit tests of plugins/modules/docker_userns_decisions.py: reading the plugin's journal lines.

The lines are the real plugin's (files/docker_userns_enforcement_plugin.py deciding real AuthZReq
payloads), among the lines systemd and journald add to the service's journal, as `journalctl
--output=cat --unit=...` prints them. The module's journalctl calls on a real journal are proven
in the Molecule scenario audit_then_enforce and by bench/decision_report.py.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from conftest_modules import load_module, run_module
from test_plugin_containers import FakeDaemon

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import audit_log, plugin_service
from docker_userns_plugin import config as config_module

mod = load_module("docker_userns_decisions")

SELFTEST_IMAGE = "docker-userns-selftest-does-not-exist:never"
HOST_USERNS = {"HostConfig": {"UsernsMode": "host"}}
UNIT = "docker-userns-enforcement-plugin.service"


def plugin_lines(capfd, requests, lookup=None, **config):
    """What the plugin writes to stderr (the journal) while it decides these (method, uri, body) requests."""
    server = plugin_service.Plugin(config_module.validate_config(config), None, "deny-userns-mode-host")
    capfd.readouterr()
    for method, uri, body in requests:
        payload = {"User": "", "RequestMethod": method, "RequestUri": uri, "RequestHeaders": {}}
        if body is not None:
            payload["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
        server.authz_request(json.dumps(payload).encode(), lookup)
    return capfd.readouterr().err.splitlines()


def journal(*groups):
    """journalctl -o cat of the plugin's service: systemd's lines around the plugin's own."""
    lines = ["Started %s - Docker authorization plugin deny-userns-mode-host." % UNIT,
             json.dumps({"time": "2026-11-29T18:25:50+0000", "event": "start", "version": config_module.VERSION, "mode": "audit"})]
    for group in groups:
        lines += group
    return lines


AUDIT_REQUESTS = [
    ("POST", "/v1.41/containers/create?name=web", dict(HOST_USERNS, Image="busybox:local")),
    ("POST", "/v1.41/containers/create", dict(HOST_USERNS, Image=SELFTEST_IMAGE)),  # the role's self-test
    ("POST", "/v1.41/containers/create?name=plain", {"Image": "busybox:local"}),  # allowed: not logged
    ("POST", "/v1.41/plugins/vieux%2Fsshfs:latest/enable", None),
    ("GET", "/v1.41/containers/json", None),
    ("POST", "/v1.41/containers/create?name=db", dict(HOST_USERNS, Image="postgres:16")),
]


def test_audit_mode_lines_are_counted_by_rule_with_what_they_were_about(capfd):
    lines = journal(plugin_lines(capfd, AUDIT_REQUESTS, mode="audit"))
    summary = mod.summarize(lines, ignore_images=[SELFTEST_IMAGE])
    assert summary["counts"] == {"would-deny": {"host-userns": 2, "managed-plugins": 1}}
    assert summary["rules"] == ["host-userns", "managed-plugins"]
    assert summary["ignored"] == 1 and summary["unreadable"] == 0 and summary["dropped"] == 0
    assert summary["lines_read"] == len(lines) == 2 + 4
    first = summary["examples"]["host-userns"][0]
    assert first["decision"] == "would-deny" and first["method"] == "POST" and first["user"] == ""
    assert first["route"] == "/v1.41/containers/create?name=web"
    assert (first["image"], first["name"], first["target"]) == ("busybox:local", "web", "")
    assert [e["name"] for e in summary["examples"]["host-userns"]] == ["web", "db"]
    assert summary["examples"]["managed-plugins"][0]["target"] == "vieux/sshfs:latest"
    assert mod.verdict(summary, "") == (False, "NOT ready (host-userns, managed-plugins)")


def test_without_the_selftest_image_ignored_the_selftest_counts(capfd):
    summary = mod.summarize(journal(plugin_lines(capfd, AUDIT_REQUESTS, mode="audit")))
    assert summary["counts"]["would-deny"]["host-userns"] == 3 and summary["ignored"] == 0


def test_enforce_mode_denials_count_as_deny(capfd):
    lines = plugin_lines(capfd, AUDIT_REQUESTS)
    summary = mod.summarize(journal(lines), ignore_images=[SELFTEST_IMAGE])
    assert summary["counts"] == {"deny": {"host-userns": 2, "managed-plugins": 1}}


def test_a_host_that_made_only_the_selftest_is_ready(capfd):
    lines = plugin_lines(capfd, [AUDIT_REQUESTS[1], AUDIT_REQUESTS[2], AUDIT_REQUESTS[4]], mode="audit")
    summary = mod.summarize(journal(lines), ignore_images=[SELFTEST_IMAGE])
    assert summary["counts"] == {} and summary["rules"] == [] and summary["ignored"] == 1
    assert mod.verdict(summary, "") == (True, "ready")


def test_allowed_requests_logged_with_log_allowed_are_counted_and_do_not_spoil_the_verdict(capfd):
    lines = plugin_lines(capfd, [AUDIT_REQUESTS[2], AUDIT_REQUESTS[4]], mode="audit", log_allowed=True)
    summary = mod.summarize(journal(lines))
    assert summary["counts"] == {"allow": {"": 2}} and summary["examples"] == {}
    assert mod.verdict(summary, "")[0] is True


def test_examples_are_the_first_ones_and_capped(capfd):
    requests = [("POST", "/containers/create?name=c%d" % i, dict(HOST_USERNS, Image="busybox")) for i in range(6)]
    summary = mod.summarize(journal(plugin_lines(capfd, requests, mode="audit")), examples=2)
    assert summary["counts"]["would-deny"]["host-userns"] == 6
    assert [e["name"] for e in summary["examples"]["host-userns"]] == ["c0", "c1"]
    assert mod.summarize(journal(plugin_lines(capfd, requests, mode="audit")), examples=0)["examples"] == {"host-userns": []}


def test_a_line_cut_at_the_plugins_limit_still_counts_by_its_head(capfd):
    # log_event cuts a line at MAX_LOG_LINE bytes when its fields stay too long (here the user name
    # from the client's certificate): no longer JSON, but its head still says what was decided.
    audit_log.log_event("decision", decision="would-deny", rule="host-userns", reason="r", mode="audit", user="u" * 5000)
    cut = capfd.readouterr().err.splitlines()[0]
    with pytest.raises(ValueError):
        json.loads(cut)
    summary = mod.summarize(journal([cut]))
    assert summary["counts"] == {"would-deny": {"host-userns": 1}} and summary["unreadable"] == 0
    assert summary["examples"]["host-userns"][0]["decision"] == "would-deny"


def test_a_decision_line_that_cannot_be_read_makes_the_host_not_ready():
    summary = mod.summarize(journal(['{"event": "decision", "decision": "would-deny", "rule": "host-us']))
    assert summary["unreadable"] == 1 and summary["counts"] == {}
    assert mod.verdict(summary, "") == (False, "NOT ready (1 unreadable lines)")


def test_lines_journald_dropped_make_the_host_not_ready(capfd):
    # What journald writes (as the plugin's service, OBJECT_SYSTEMD_UNIT) after its rate limit.
    lines = journal(["Suppressed 92500 messages from %s" % UNIT], plugin_lines(capfd, [AUDIT_REQUESTS[4]], mode="audit"))
    summary = mod.summarize(lines)
    assert summary["dropped"] == 92500 and summary["rules"] == []
    assert mod.verdict(summary, "") == (False, "NOT ready (92500 lines dropped by journald)")


def test_quoted_markers_inside_values_are_not_decisions():
    # A reason or path quoting the markers is JSON-escaped: never a decision line, never a drop.
    text = json.dumps({"time": "t", "event": "reload-failed", "reason": '"event": "decision", "decision": "allow"'})
    summary = mod.summarize(journal([text, "  Suppressed 3 messages from x"]))
    assert summary["counts"] == {} and summary["unreadable"] == 0 and summary["dropped"] == 0


def test_no_journal_is_never_ready():
    assert mod.verdict(mod.summarize([]), "journalctl failed (exit 1): ...") == (False, "no journal")
    assert mod.verdict(mod.summarize([]), "") == (True, "ready")


# ---- the window and journalctl's answers ---------------------------------------------


def test_window_given_is_passed_as_it_is():
    assert mod.window("-2d", "/nonexistent", 0) == ("-2d", "parameter", "")


def test_window_starts_when_the_config_last_changed(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{}")
    os.utime(config, (1795976748.7, 1795976748.7))
    assert mod.window(None, str(config), time.time()) == ("@1795976748", "config changed", "2026-11-29T18:25:48Z")


def test_window_is_7_days_without_a_config():
    now = 1795976748
    assert mod.window("", "/nonexistent/config.json", now) == ("@%d" % (now - 7 * 86400), "7 days", "2026-11-22T18:25:48Z")


@pytest.mark.parametrize("rc, err, expected", [
    (0, "", ""),
    (1, "No journal files were opened due to insufficient permissions.\n", "journalctl failed (exit 1)"),
    (0, "Hint: You are currently not seeing messages from other users and the system.\n", "run the module as root"),
    (0, "Journal file /var/log/journal/x/system@y.journal~ is truncated, ignoring file.\n", ""),
])
def test_journal_errors(rc, err, expected):
    error = mod.journal_error(rc, err)
    assert (expected in error) if expected else error == ""


def test_main_without_journalctl_reports_no_journal(capsys, monkeypatch, tmp_path):
    # A host without systemd's journal: the module's own lookup (PATH and the sbin directories) finds none.
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run_module(mod, capsys, {"config_path": str(tmp_path / "none.json")}, check_mode=True)
    assert result["ready"] is False and result["verdict"] == "no journal"
    assert "journalctl not found" in result["error"] and result["since_source"] == "7 days"
    assert result["changed"] is False and result["counts"] == {}


def test_main_refuses_a_negative_number_of_examples(capsys):
    result = run_module(mod, capsys, {"examples": -1})
    assert result["failed"] and "examples" in result["msg"]


def a_module():
    """The module's AnsibleModule, as main() builds it (for run_command)."""
    with patch_module_args({}):
        return mod.AnsibleModule(argument_spec={}, supports_check_mode=True)


def test_a_commands_output_is_summarized_as_it_streams(capfd, tmp_path):
    lines = journal(plugin_lines(capfd, AUDIT_REQUESTS * 500, mode="audit"), ["Suppressed 7 messages from %s" % UNIT])
    saved = tmp_path / "journal.txt"
    saved.write_text("\n".join(lines) + "\n")
    rc, summary, err = mod.summarize_command(a_module(), ["cat", str(saved)], [SELFTEST_IMAGE], 3)
    assert (rc, err) == (0, "")
    assert summary["counts"] == {"would-deny": {"host-userns": 1000, "managed-plugins": 500}}
    assert summary["ignored"] == 500 and summary["dropped"] == 7 and summary["lines_read"] == len(lines)
    assert summary["examples"]["host-userns"][0]["name"] == "web"


def test_a_failing_commands_status_and_errors_are_returned():
    rc, summary, err = mod.summarize_command(a_module(), ["sh", "-c", "echo Failed to parse timestamp: x >&2; exit 1"], [], 3)
    assert rc == 1 and err == "Failed to parse timestamp: x\n" and summary["lines_read"] == 0


# --- observe mode: would-break, traffic and the window (issue 20) ----------------------------------


OBSERVE_REQUESTS = [
    ("POST", "/v1.41/containers/create?name=proxy", {"Image": "nginx", "HostConfig": {"NetworkMode": "host"}}),
    ("POST", "/v1.41/containers/create?name=app", {"Image": "app", "HostConfig": {"Binds": ["/usr/share:/data"]}}),
    ("POST", "/v1.41/containers/create?name=plain", {"Image": "busybox:local"}),
]


def stats(requests, when="2026-11-29T18:30:00+0000"):
    return json.dumps({"time": when, "event": "stats", "requests": requests, "interval": 60.0})


def test_observe_lines_count_what_would_break_by_rule_and_the_requests_seen(capfd):
    lines = journal(plugin_lines(capfd, OBSERVE_REQUESTS, FakeDaemon(remaps=False), mode="observe"), [stats(250), stats(70)])
    summary = mod.summarize(lines)
    assert summary["counts"]["would-break"] == {"remap-refuses": 1, "bind-ownership": 1}
    assert summary["would_break"] == ["bind-ownership", "remap-refuses"]
    assert summary["rules"] == []  # nothing enforcement would refuse
    assert summary["requests"] == 320
    example = summary["break_examples"]["remap-refuses"][0]
    assert example["name"] == "proxy" and example["image"] == "nginx" and "--network host" in example["reason"]
    summary.update(window_complete=True, window_hours=30.0)
    assert mod.verdict(summary, "", 24, 100) == (False, "NOT ready (would break: bind-ownership, remap-refuses)")
    assert mod.verdict(summary, "", 24, 100, ["bind-ownership", "remap-refuses"]) == (True, "ready")


@pytest.mark.parametrize("window, expected", [
    (dict(window_complete=True, window_hours=30.0, requests=500), "ready"),
    (dict(window_complete=True, window_hours=2.5, requests=500), "NOT ready (a window of 2.5 h, under 24 h)"),
    (dict(window_complete=True, window_hours=30.0, requests=12), "NOT ready (12 requests, under 100)"),
    (dict(window_complete=False, window_hours=30.0, requests=500), "NOT ready (the journal does not reach back to the window's start)"),
])
def test_ready_needs_a_long_enough_busy_enough_complete_window(window, expected):
    summary = dict(mod.summarize([]), **window)
    assert mod.verdict(summary, "", 24, 100)[1] == expected


def test_the_window_of_a_given_since_runs_from_the_oldest_line_read(capsys, monkeypatch, tmp_path):
    journalctl = tmp_path / "journalctl"
    lines = "\n".join([stats(150, "2026-11-29T12:00:00+0000"), stats(10, "2026-11-29T18:00:00+0100")])
    journalctl.write_text("#!/bin/sh\ncase \"$*\" in *--unit=*) printf '%%s\\n' '%s';; *) echo 1795000000.0 host x;; esac\n" % lines.replace("'", "'\\''"))
    journalctl.chmod(0o755)
    monkeypatch.setattr(mod.time, "time", lambda: 1795000000.0 + 0.0)
    monkeypatch.setattr(mod.AnsibleModule, "get_bin_path", lambda self, name, *args, **kwargs: str(journalctl))
    result = run_module(mod, capsys, {"since": "-2d", "min_hours": 1, "min_requests": 100})
    oldest = mod.record_time({"time": "2026-11-29T12:00:00+0000"})
    assert result["requests"] == 160 and result["window_hours"] == round((1795000000.0 - oldest) / 3600.0, 2)
    assert mod.record_time({"time": "2026-11-29T18:00:00+0100"}) == mod.record_time({"time": "2026-11-29T17:00:00+0000"})
