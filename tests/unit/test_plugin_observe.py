"""Observe mode (issue 20): on a host that does not remap yet, the plugin allows everything it
would refuse and logs it (would-deny), and logs what remapping itself will refuse or change for
each new container (would-break); --report lists the existing containers that could not run
remapped; stats lines count the traffic the decision report's window saw."""

from __future__ import annotations

import base64
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import config as config_module
from docker_userns_plugin import daemon_api, http_server, plugin_service, report
from standin import StandInDaemon
from test_plugin_containers import FakeDaemon, authz, verdict


def observe_log(capfd, body, **config):
    """One create through Plugin.authz_request in observe mode, on a daemon that does not remap;
    the answer and the lines it logged."""
    payload = {"User": "", "RequestMethod": "POST", "RequestUri": "/containers/create?name=app",
               "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": base64.b64encode(json.dumps(body).encode()).decode()}
    plugin = plugin_service.Plugin(config_module.validate_config(dict(config, mode="observe")), None, "test")
    answer = json.loads(plugin.authz_request(json.dumps(payload).encode(), FakeDaemon(remaps=False)))
    return answer, [json.loads(line) for line in capfd.readouterr().err.splitlines()]


@pytest.mark.parametrize("host_config, rules", [
    ({"Privileged": True}, ["remap-refuses"]),
    ({"NetworkMode": "host", "PidMode": "host"}, ["remap-refuses", "remap-refuses"]),
    ({"IpcMode": "host"}, ["host-ipc"]),
    ({"Binds": ["/usr/share:/data", "/usr/lib:/ro:ro"]}, ["bind-ownership"]),
    ({"Mounts": [{"Type": "bind", "Source": "/usr/share", "Target": "/s"}]}, ["bind-ownership"]),
    ({"Binds": ["named:/v"], "UTSMode": "host", "CgroupnsMode": "host"}, []),
])
def test_observe_logs_what_remapping_will_refuse_or_change_and_allows_it(capfd, host_config, rules):
    answer, lines = observe_log(capfd, {"Image": "busybox", "HostConfig": host_config})
    assert answer["Allow"] is True
    breaks = [line for line in lines if line.get("decision") == "would-break"]
    assert [line["rule"] for line in breaks] == rules
    for line in breaks:
        assert line["name"] == "app" and line["image"] == "busybox" and line["mode"] == "observe"
    assert not [line for line in lines if line.get("decision") == "would-deny"]


def test_observe_also_logs_what_enforcement_will_refuse(capfd):
    answer, lines = observe_log(capfd, {"Image": "busybox", "HostConfig": {"UsernsMode": "host", "Privileged": True}})
    assert answer["Allow"] is True
    assert [(line["decision"], line["rule"]) for line in lines] == [("would-deny", "host-userns")]
    # A host user namespace is not remapped: remapping stops nothing of it; enforcement refuses it.


def test_enforce_and_audit_log_no_would_break(capfd):
    for mode in ("enforce", "audit"):
        decision = verdict(authz("POST", "/containers/create", {"Image": "b", "HostConfig": {"Binds": ["/usr/share:/s"]}}), FakeDaemon(), mode=mode)
        assert decision.allow and not decision.effects


def test_observe_is_a_mode_and_typos_are_not():
    assert config_module.validate_config({"mode": "observe"})["mode"] == "observe"
    with pytest.raises(config_module.ConfigError, match="observe"):
        config_module.validate_config({"mode": "observed"})


def inspected(cid: str, name: str, **host) -> dict:
    return {"Id": cid, "Name": "/" + name, "State": {"Status": "running"}, "HostConfig": dict({"UsernsMode": ""}, **host),
            "Config": {}, "Mounts": []}


def test_the_report_names_the_containers_that_could_not_run_remapped_joins_included():
    ids = [("%x" % (0xa0 + n)) * 32 for n in range(1, 7)]  # distinct 12-character prefixes
    containers = [
        inspected(ids[0], "proxy", NetworkMode="host"),
        inspected(ids[1], "sidecar", NetworkMode="container:proxy"),  # joins one that cannot run
        inspected(ids[2], "chain", PidMode="container:" + ids[1][:12]),  # through sidecar, by ID prefix
        inspected(ids[3], "web"),
        inspected(ids[4], "dind", Privileged=True, UsernsMode="host"),  # outside: reported apart, runs as it is
        inspected(ids[5], "shm", IpcMode="host"),
    ]
    tmp = Path(tempfile.mkdtemp(prefix="due-wb-"))
    try:
        with StandInDaemon(str(tmp / "d.sock"), containers=containers):
            found = report.would_break(daemon_api.DockerAPI(str(tmp / "d.sock")))
    finally:
        shutil.rmtree(tmp)
    by_name = {entry["name"]: entry["reasons"] for entry in found}
    assert set(by_name) == {"proxy", "sidecar", "chain", "shm"}
    assert "--network host" in by_name["proxy"][0]
    assert "proxy (%s)" % ids[0][:12] in by_name["sidecar"][0]
    assert "sidecar" in by_name["chain"][0]
    assert "mqueue" in by_name["shm"][0]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_stats_lines_count_the_requests_at_most_once_a_minute(capfd, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(time, "monotonic", clock)
    server = http_server.Server.__new__(http_server.Server)  # the counters only: no sockets
    server.stats, server.stats_logged, server.stats_due = {"requests": 0}, 0, 0.0
    server.stats["requests"] = 3
    server._log_stats()
    server.stats["requests"] = 5
    server._log_stats()  # within the interval: nothing
    clock.now += http_server.STATS_INTERVAL
    server._log_stats()
    server._log_stats(final=True)  # nothing new
    server.stats["requests"] = 6
    server._log_stats(final=True)
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert [(line["event"], line["requests"]) for line in lines] == [("stats", 3), ("stats", 2), ("stats", 1)]
