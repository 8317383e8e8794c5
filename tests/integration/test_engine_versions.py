"""The version guard end to end: the plugin, as its own process on its socket, guards a stand-in
daemon that reports the Docker CE versions Debian does not ship (24.0, 28.x, 29.5.0, 29.5.1 and
later). For each, the AuthZ requests `docker cp` and `docker cp -a`, an allowed plugin install
and a BuildKit build make are answered as that engine's known vulnerabilities say: the plugin
asks the daemon its version (GET /version) for each, and a fix recorded in engine_fixes counts
for that very version only. Real engines (20.10, 26.1, 28.5) are in test_root_work.py and Molecule.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Dict

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import PluginProcess, api, remove_tree, short_tempdir
from standin import StandInDaemon

BOX = {"Id": "b" * 64, "Name": "/box", "HostConfig": {"NetworkMode": "none"}, "Config": {"User": ""}, "Mounts": []}
USER_BOX = {"Id": "c" * 64, "Name": "/userbox", "HostConfig": {"NetworkMode": "none"}, "Config": {"User": "1000"}, "Mounts": []}
COPY_OUT = ("GET", "/v1.41/containers/box/archive?path=/etc/hostname", None)
COPY_IN = ("PUT", "/v1.41/containers/box/archive?path=/tmp", None)
COPY_IN_AS_USER = ("PUT", "/v1.41/containers/userbox/archive?path=/tmp&copyUIDGID=1", None)
PLUGIN_INSTALL = ("POST", "/v1.41/plugins/pull?remote=vieux/sshfs", ())  # an empty list of privileges
BUILDKIT = ("POST", "/v1.41/build?version=2&t=x", None)

# version -> the requests refused there, by the CVE each refusal must name
REFUSED: Dict[str, Dict[tuple, str]] = {
    "24.0.9": {COPY_OUT: "CVE-2026-41568", COPY_IN: "CVE-2026-41568", COPY_IN_AS_USER: "CVE-2026-41568",
               PLUGIN_INSTALL: "CVE-2026-33997", BUILDKIT: "CVE-2026-33747"},
    "28.5.2": {COPY_OUT: "CVE-2026-41568", COPY_IN: "CVE-2026-41568", COPY_IN_AS_USER: "CVE-2026-41568",
               PLUGIN_INSTALL: "CVE-2026-33997", BUILDKIT: "CVE-2026-33747"},
    "29.3.1": {COPY_OUT: "CVE-2026-41568", COPY_IN: "CVE-2026-41568", COPY_IN_AS_USER: "CVE-2026-41568"},
    "29.5.0": {COPY_OUT: "CVE-2026-41568", COPY_IN: "CVE-2026-41568", COPY_IN_AS_USER: "CVE-2026-41568"},
    "29.5.1": {COPY_IN_AS_USER: "docker-cp-a-user"},
    "29.7.2": {},
}


def authz(method, uri, body):
    payload = {"User": "", "RequestMethod": method, "RequestUri": uri,
               "RequestHeaders": {"Content-Type": "application/json" if body is not None else "application/x-tar",
                                  "Content-Length": "2" if body is not None else "10240"}}
    if body is not None:
        payload["RequestBody"] = base64.b64encode(json.dumps(list(body)).encode()).decode()
    return payload


@pytest.fixture(scope="module")
def guarded():
    """A stand-in daemon and the plugin process guarding it; yields (daemon, plugin)."""
    workdir = short_tempdir("due-ver-")
    daemon = StandInDaemon(str(workdir / "docker.sock"), containers=[BOX, USER_BOX]).start()
    plugin = PluginProcess("due-ver-%d" % id(workdir), workdir, {"allowed_plugins": ["vieux/sshfs"]},
                           docker_socket=daemon.socket_path).start()
    yield daemon, plugin
    plugin.stop()
    daemon.stop()
    remove_tree(workdir)


def ask(plugin, request) -> dict:
    status, body = api(str(plugin.socket), "POST", "/AuthZPlugin.AuthZReq", authz(*request), timeout=15)
    assert status == 200, body
    return json.loads(body)


@pytest.mark.parametrize("version", sorted(REFUSED))
def test_each_upstream_version_gets_the_refusals_its_vulnerabilities_call_for(guarded, version):
    daemon, plugin = guarded
    daemon.version = version
    before = len(daemon.requests)
    for request in (COPY_OUT, COPY_IN, COPY_IN_AS_USER, PLUGIN_INSTALL, BUILDKIT):
        answer = ask(plugin, request)
        cve = REFUSED[version].get(request)
        if cve is None:
            assert answer == {"Allow": True}, (version, request, answer)
        else:
            assert answer["Allow"] is False and cve in answer["Msg"] and version in answer["Msg"], (version, request, answer)
            assert "upgrade Docker" in answer["Msg"]
    asked = [path for path in daemon.requests[before:] if path == "/version"]
    assert len(asked) == 5  # the version is asked each time: a daemon can be replaced under the plugin


def test_a_recorded_fix_counts_for_its_own_version_only(guarded):
    daemon, plugin = guarded
    plugin.reconfigure({"allowed_plugins": ["vieux/sshfs"],
                        "engine_fixes": {"version": "29.5.0", "fixed": ["CVE-2026-41567", "CVE-2026-41568", "CVE-2026-42306"]}})
    try:
        daemon.version = "29.5.0"
        assert ask(plugin, COPY_IN) == {"Allow": True}
        daemon.version = "29.4.3"  # downgraded under the running plugin: the record says nothing of it
        answer = ask(plugin, COPY_IN)
        assert answer["Allow"] is False and "CVE-2026-41568" in answer["Msg"]
    finally:
        plugin.reconfigure({"allowed_plugins": ["vieux/sshfs"]})


def test_a_daemon_that_does_not_say_its_version_is_refused_copies(guarded):
    daemon, plugin = guarded
    daemon.version = "unknown"
    answer = ask(plugin, COPY_OUT)
    assert answer["Allow"] is False and "CVE-2026-41568" in answer["Msg"] and "(unknown)" in answer["Msg"]
