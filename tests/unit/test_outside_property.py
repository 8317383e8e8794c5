"""One answer to "what runs outside the remapping", whoever asks.

The role's preflight and audit.yml run the plugin file with --report; the plugin decides exec,
start and attach requests. Both ask a daemon over its socket. Here both are fed the same generated
container sets through a stand-in daemon (chains of any length, joins by name, ID and ID prefix,
links to containers that are gone, cycles), and must name exactly the same containers.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module
from docker_userns_plugin import config as config_module
from docker_userns_plugin import daemon_api, daemon_lookup, policy
from docker_userns_plugin import report as report_module
from standin import StandInDaemon

MODES = ("PidMode", "IpcMode", "NetworkMode")


def container_id(n: int) -> str:
    return ("%02x" % n) * 32


@st.composite
def container_sets(draw):
    """Up to 12 containers; each may run in the host user namespace and may join up to three
    others (earlier or later ones: cycles happen), by name, full ID or ID prefix, or a container
    that does not exist."""
    count = draw(st.integers(1, 12))
    containers = []
    for n in range(count):
        host = {"UsernsMode": "host" if draw(st.integers(0, 9)) == 0 else "", "NetworkMode": "none"}
        for mode in MODES:
            kind = draw(st.sampled_from(["none", "none", "join", "join", "missing"]))
            if kind == "join":
                target = draw(st.integers(0, count - 1))
                spelling = draw(st.sampled_from(["name", "id", "prefix"]))
                host[mode] = "container:" + {"name": "c%d" % target, "id": container_id(target + 1),
                                             "prefix": container_id(target + 1)[:12]}[spelling]
            elif kind == "missing":
                host[mode] = "container:gone%d" % n
        running = draw(st.booleans())
        containers.append({"Id": container_id(n + 1), "Name": "/c%d" % n, "HostConfig": host,
                           "State": {"Running": running, "Status": "running" if running else "exited"}, "Mounts": []})
    return containers


def exec_request(name: str) -> dict:
    body = base64.b64encode(json.dumps({"Cmd": ["true"]}).encode()).decode()
    return {"User": "", "RequestMethod": "POST", "RequestUri": "/v1.41/containers/%s/exec" % name,
            "RequestHeaders": {"Content-Type": "application/json"}, "RequestBody": body}


def refused_by_the_plugin(socket_path: str, names) -> set:
    config = config_module.validate_config({"docker_socket": socket_path})
    lookup = daemon_lookup.DaemonLookup(daemon_api.DockerAPI(socket_path))
    refused = set()
    for name in names:
        decision, _request = policy.decide(exec_request(name), config, lookup)
        assert decision.rule in ("", "outside-container"), decision
        if not decision.allow:
            refused.add(name)
    return refused


@pytest.fixture(scope="module")
def daemon():
    with tempfile.TemporaryDirectory(prefix="due-prop-") as tmp, StandInDaemon(str(Path(tmp) / "docker.sock")) as standin:
        yield standin


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(containers=container_sets())
def test_the_report_and_the_plugin_name_the_same_containers(daemon, containers):
    daemon.containers = containers
    names = [c["Name"][1:] for c in containers]
    socket_path = daemon.socket_path
    reported = report_module.report(daemon_api.DockerAPI(socket_path), config_module.validate_config({"docker_socket": socket_path}))
    refused = refused_by_the_plugin(socket_path, names)
    assert {c["name"] for c in reported["unremapped_containers"]} == refused
    for entry in reported["unremapped_containers"]:
        description = next(c for c in containers if c["Name"] == "/" + entry["name"])
        assert entry["running"] == description["State"]["Running"]


def test_the_report_as_the_role_runs_it_agrees_too():
    """The same, once through the command line the role runs (python3 -I -S FILE --report)."""
    containers: list = [
        {"Id": container_id(1), "Name": "/root", "HostConfig": {"UsernsMode": "host"}, "State": {"Status": "running"}},
        {"Id": container_id(2), "Name": "/mid", "HostConfig": {"NetworkMode": "container:root"}, "State": {"Status": "exited"}},
        {"Id": container_id(3), "Name": "/tail", "HostConfig": {"PidMode": "container:" + container_id(2)[:6]}, "State": {}},
        {"Id": container_id(4), "Name": "/plain", "HostConfig": {}, "State": {}},
        {"Id": container_id(5), "Name": "/loop", "HostConfig": {"IpcMode": "container:loop"}, "State": {}},
    ]
    with tempfile.TemporaryDirectory(prefix="due-prop-") as tmp:
        socket_path = str(Path(tmp) / "docker.sock")
        with StandInDaemon(socket_path, containers=containers,
                           plugins=[{"Id": "9" * 64, "Name": "vieux/sshfs:latest", "Enabled": True},
                                    {"Id": "8" * 64, "Name": "off/plugin:latest", "Enabled": False}]):
            done = subprocess.run(["/usr/bin/python3", "-I", "-S", str(plugin_module.PLUGIN_PATH), "--report", "--config-json",
                                   json.dumps({"docker_socket": socket_path})], capture_output=True, text=True, timeout=60)
            refused = refused_by_the_plugin(socket_path, [c["Name"][1:] for c in containers])
    report = json.loads(done.stdout)
    assert report["error"] == ""
    assert [c["name"] for c in report["unremapped_containers"]] == ["root", "mid", "tail", "loop"]
    assert set(c["name"] for c in report["unremapped_containers"]) == refused
    assert report["unremapped_plugins"] == [{"id": "9" * 12, "name": "vieux/sshfs:latest"}]
