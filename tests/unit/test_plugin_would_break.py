"""What cannot run once remapping is on (the plugin's --report key would_break), one classification for the
role's preflight and the reports that reuse it.

remap_breaks decides one container from its inspect answer; would_break asks a daemon (here a stand-in that
resolves references as dockerd does) and follows joined namespaces. What each setting does on a real daemon
was measured on Docker 20.10 and 26.1 (tests/integration/test_data_root_carry.py starts the carried ones).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module
from docker_userns_plugin import daemon_api, remap_effects, report
from standin import StandInDaemon


def remap_breaks(inspected: dict, breaking: dict) -> list:
    """The reasons (without their rules) a container, as the daemon describes it, cannot run remapped."""
    host = inspected.get("HostConfig")
    return [why for _rule, why in remap_effects.remap_breaks(host, breaking)] if isinstance(host, dict) else []


def cid(n: int) -> str:
    return ("%02x" % n) * 32


def described(n: int, name: str, running: bool = False, **host) -> dict:
    return {"Id": cid(n), "Name": "/" + name, "HostConfig": dict({"NetworkMode": "bridge"}, **host),
            "State": {"Running": running, "Status": "running" if running else "exited"}, "Mounts": []}


@pytest.mark.parametrize(("host", "words"), [
    ({"Privileged": True}, "runs privileged (--privileged)"),
    ({"NetworkMode": "host"}, "host's network namespace (--network host)"),
    ({"PidMode": "host"}, "host's pid namespace (--pid host)"),
    ({"IpcMode": "host"}, "runc cannot mount /dev/mqueue"),
])
def test_each_setting_the_daemon_or_runc_refuses_remapped_is_named(host, words):
    reasons = remap_breaks({"HostConfig": host}, {})
    assert len(reasons) == 1 and words in reasons[0]


@pytest.mark.parametrize("host", [
    {},  # a plain container
    {"UTSMode": "host"},  # measured: runs remapped
    {"CgroupnsMode": "host"},  # measured: runs remapped
    {"IpcMode": "shareable", "PidMode": "", "NetworkMode": "none", "Privileged": False},
    {"UsernsMode": "host", "Privileged": True, "NetworkMode": "host"},  # not remapped: the outside report names it
])
def test_what_runs_remapped_is_not_named(host):
    assert remap_breaks({"HostConfig": host}, {}) == []


def test_several_reasons_are_all_named():
    reasons = remap_breaks({"HostConfig": {"Privileged": True, "NetworkMode": "host", "PidMode": "host"}}, {})
    assert len(reasons) == 3


def test_an_answer_without_hostconfig_breaks_nothing():
    assert remap_breaks({}, {}) == []
    assert remap_breaks({"HostConfig": None}, {}) == []


@pytest.fixture
def daemon():
    with tempfile.TemporaryDirectory(prefix="due-wb-") as tmp, StandInDaemon(str(Path(tmp) / "docker.sock")) as standin:
        yield standin


def test_joins_of_a_container_that_breaks_break_too_by_name_id_and_prefix_through_a_chain(daemon):
    daemon.containers = [
        described(1, "hostnet", running=True, NetworkMode="host"),
        described(2, "by-name", NetworkMode="container:hostnet"),
        described(3, "by-id", PidMode="container:" + cid(1)),
        described(4, "by-prefix", IpcMode="container:" + cid(1)[:10]),
        described(5, "second-hop", NetworkMode="container:by-name"),
        described(6, "fine", NetworkMode="none"),
        described(7, "joins-fine", NetworkMode="container:fine"),
        described(8, "joins-missing", NetworkMode="container:gone"),
    ]
    found = {entry["name"]: entry for entry in report.would_break(daemon_api.DockerAPI(daemon.socket_path))}
    assert sorted(found) == ["by-id", "by-name", "by-prefix", "hostnet", "second-hop"]
    assert found["hostnet"]["running"] is True and found["by-name"]["running"] is False
    assert found["hostnet"]["id"] == cid(1)[:12]
    assert found["by-name"]["reasons"] == ["shares the network namespace of container hostnet (%s), which cannot run remapped" % cid(1)[:12]]
    assert "pid namespace of container hostnet" in found["by-id"]["reasons"][0]
    assert "ipc namespace of container hostnet" in found["by-prefix"]["reasons"][0]
    assert found["second-hop"]["reasons"] == ["shares the network namespace of container by-name (%s), which cannot run remapped" % cid(2)[:12]]


def test_a_cycle_of_joins_ends(daemon):
    daemon.containers = [described(1, "a", NetworkMode="container:b"), described(2, "b", PidMode="container:a", Privileged=True)]
    found = {entry["name"]: entry["reasons"] for entry in report.would_break(daemon_api.DockerAPI(daemon.socket_path))}
    assert sorted(found) == ["a", "b"]
    assert len(found["b"]) == 2  # privileged, and joining a, which joins b


def test_an_ambiguous_prefix_names_no_container(daemon):
    daemon.containers = [described(0x11, "one", NetworkMode="host"), {**described(0x12, "two"), "Id": "11" + cid(0x12)[2:]},
                         described(3, "joiner", NetworkMode="container:11")]
    found = [entry["name"] for entry in report.would_break(daemon_api.DockerAPI(daemon.socket_path))]
    assert found == ["one"]


def test_the_report_carries_the_list_and_an_unreachable_daemon_is_an_error_not_an_empty_list(daemon, tmp_path):
    daemon.containers = [described(1, "hostnet", NetworkMode="host"), described(2, "plain")]
    done = subprocess.run(["/usr/bin/python3", "-I", "-S", str(plugin_module.PLUGIN_PATH), "--report", "--config-json",
                           json.dumps({"docker_socket": daemon.socket_path})], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stdout)
    assert report["error"] == ""
    assert [entry["name"] for entry in report["would_break"]] == ["hostnet"]
    done = subprocess.run(["/usr/bin/python3", "-I", "-S", str(plugin_module.PLUGIN_PATH), "--report", "--config-json",
                           json.dumps({"docker_socket": str(tmp_path / "none.sock")})], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stdout)
    assert report["error"] and report["would_break"] == []
