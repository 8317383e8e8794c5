"""What real Docker clients send, decided by the plugin: every request the docker CLI (and compose
and buildx on forky) sent to Debian 12's Docker 20.10, Debian 13's 26.1 and forky's 28.5 in
everyday use is allowed in enforce mode, except those the plugin refuses on purpose on that
engine, which the fixtures' index marks with the rule and the reason.

The requests are the AuthZReq payloads the daemon forwarded, byte for byte, recorded by
tools/record_cli_fixtures.py into tests/fixtures/cli/SUITE/ (docs/testing.md says how to record
them again). The plugin's lookups are answered as that daemon and host answered them: the
containers, volumes, networks and execs the daemon had when the request came, the host's network
at that moment, its version and GET /info, and the host paths and devices as the plugin's own
functions saw them in the host. The engine's package fixes are those the role records
(docker_userns_host_info: the CVE ids its changelog names, and the known backports). Requests
and responses are replayed in the order the daemon sent them, so the volume holds a create
places end when the daemon answered it, as in the plugin's transport.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from conftest_modules import load_module
from docker_userns_plugin import config as config_module
from docker_userns_plugin import containers as containers_module
from docker_userns_plugin import daemon_lookup, lookups, policy
from standin import resolve_reference

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "cli"
SUITES = ("bookworm", "trixie", "forky")
host_info = load_module("docker_userns_host_info")


class NotRecorded(Exception):
    """The plugin asked something the recording has no answer for."""


def read_json(path: Path) -> Any:
    assert path.is_file(), "%s is missing" % path.relative_to(FIXTURES)
    try:
        return json.loads(path.read_bytes())
    except ValueError as err:
        raise AssertionError("%s is not readable JSON: %s" % (path.relative_to(FIXTURES), err)) from None


def suite_files(suite: str):
    return read_json(FIXTURES / suite / "index.json"), read_json(FIXTURES / suite / "daemon.json")


def engine_fixes(index: dict) -> dict:
    """engine_fixes as the role writes it: the daemon's version, and the fixes docker_userns_host_info reads
    from the engine's package (the CVE ids its changelog names, and the known backports)."""
    engine = index["engine"]
    fixed = set(host_info.cve_ids(" ".join(engine["changelog_cves"]))) | host_info.known_backports(engine["package"], engine["package_version"])
    return {"version": engine["version"], "fixed": sorted(fixed)}


class RecordedDaemon(lookups.ContainerLookup):
    """Answers the plugin's lookups as the recording daemon did when the request came."""

    def __init__(self, index: dict, daemon: dict, view: dict, holds: Any):
        self.index = index
        self.daemon = daemon
        self.view = view
        self.holds = holds
        self.missing: List[str] = []  # containers the request names that the daemon did not have

    def _view(self, what: str) -> dict:
        if "error" in self.view:
            raise NotRecorded("the recorder could not ask the daemon about %s: %s" % (what, self.view["error"]))
        return self.view

    def _containers(self, what: str) -> List[tuple]:
        return [(self.daemon["containers"][key], state) for key, state in self._view(what)["containers"]]

    def container(self, ref: str) -> Optional[Any]:
        status, answer = resolve_reference([data for data, _state in self._containers("container %s" % ref)], ref)
        if status == 400:
            raise lookups.LookupFailed("the Docker daemon answered with 400: %s" % answer["message"])
        if status == 404:
            self.missing.append(ref)
            return None
        return containers_module.container_from_inspect(answer)

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        if exec_id not in self.daemon["execs"]:
            raise NotRecorded("exec %s" % exec_id)
        container_id: Optional[str] = self.daemon["execs"][exec_id]
        return container_id

    def volume(self, name: str, used_by: str) -> Optional[Any]:
        for key in self._view("volume %s" % name)["volumes"]:
            data = self.daemon["volumes"][key]
            if data["Name"] == name:
                options = data.get("Options") or {}
                return lookups.Volume(name, data.get("Driver") or "local", {str(k): str(v) for k, v in options.items()})
        return None

    def volume_users(self, name: str) -> List[Any]:
        """GET /containers/json?all=1&filters={"volume": [name]}: the daemon matches a mount's name (or a
        bind's source) or its destination; the plugin reads the mounts named so."""
        users = []
        for data, state in self._containers("the users of volume %s" % name):
            mounts = data.get("Mounts") or []
            if not any(name in ((m.get("Name") or m.get("Source")), m.get("Destination")) for m in mounts):
                continue
            named = [m for m in mounts if m.get("Name") == name]
            users.append(lookups.VolumeUser(data["Name"].lstrip("/"), state, not named or any(m.get("RW") is not False for m in named)))
        return users

    def volume_held(self, name: str) -> bool:
        held: bool = self.holds.held(name)
        return held

    def engine_version(self) -> str:
        version: str = self.index["engine"]["version"]
        return version

    def daemon_info(self) -> Any:
        """GET /info, recorded at the end (the daemon's configuration does not change while it runs)."""
        info = self.daemon["info"]
        remaps = any(str(option).split(",")[0] == "name=userns" for option in info.get("SecurityOptions") or [])
        return lookups.DaemonInfo(info["DockerRootDir"], remaps, info.get("LoggingDriver", ""))

    def network(self, ref: str) -> Optional[Any]:
        """GET /networks/{ref}: the daemon takes a full ID, then a name, then a unique ID prefix."""
        networks = [self.daemon["networks"][key] for key in self._view("network %s" % ref)["networks"]]
        for match in (lambda n: n["Id"] == ref, lambda n: n["Name"] == ref, lambda n: n["Id"].startswith(ref)):
            found = [n for n in networks if match(n)]
            if len(found) == 1:
                return lookups.Network(found[0]["Id"], found[0]["Name"], found[0]["Driver"])
            if found:
                raise lookups.LookupFailed("network %s is ambiguous" % ref)
        return None

    def host_devices(self, path: str) -> List[Any]:
        answer = self.daemon["host_devices"].get(path)
        if answer is None:
            raise NotRecorded("host devices at %s" % path)
        if "error" in answer:
            raise lookups.LookupFailed(answer["error"])
        return [lookups.HostDevice(**device) for device in answer]

    def host_network(self) -> Any:
        found = self.daemon["host_networks"][self._view("the host's network")["host_network"]]
        if "error" in found:
            raise lookups.LookupFailed(found["error"])
        return lookups.HostNetwork(tuple(found["routes"]), frozenset(found["interfaces"]))

    def host_path(self, path: str) -> Any:
        answer = self.daemon["host_paths"].get(path)
        if answer is None:
            raise NotRecorded("host path %s" % path)
        if "error" in answer:
            raise lookups.LookupFailed(answer["error"])
        return lookups.HostPath(**answer)


def describe(entry: dict) -> str:
    return "%s (request %d of command %s: %s %s)" % (entry["file"], entry["seq"], entry["command"], entry["method"], entry["uri"][:120])


def replay(suite: str) -> List[str]:
    """Decide every recorded request in the order the daemon sent it; what differs from the index."""
    index, daemon = suite_files(suite)
    config = config_module.validate_config({"engine_fixes": engine_fixes(index)})
    holds = daemon_lookup.Holds()
    entries = {entry["seq"]: entry for entry in index["fixtures"]}
    problems = []
    for event in daemon["events"]:
        if event[0] == "response":
            holds.release(str(event[1]).upper(), event[2])
            continue
        entry = entries[event[1]]
        payload = read_json(FIXTURES / suite / entry["file"])
        lookup = RecordedDaemon(index, daemon, daemon["views"][entry["view"]], holds)
        try:
            decision, request = policy.decide(payload, config, lookup)
        except NotRecorded as err:
            problems.append("%s: the recording has no answer for what the plugin asked: %s" % (describe(entry), err))
            continue
        if decision.holds and request is not None:
            holds.place(request.method, request.uri, decision.holds)
        expected = entry["expected"]
        if expected == "allow" and not decision.allow:
            problems.append("%s: refused by rule %s: %s" % (describe(entry), decision.rule, decision.message))
        elif expected != "allow" and (decision.allow or expected != "deny (%s)" % decision.rule):
            problems.append("%s: expected %s (%s), got %s" % (describe(entry), expected, entry.get("reason", "no reason given"),
                                                              "allow" if decision.allow else "deny (%s): %s" % (decision.rule, decision.message)))
        if lookup.missing and entry["status"] in (200, 201, 204):
            problems.append("%s: the daemon answered %s, but its recorded containers have no %s" % (
                describe(entry), entry["status"], ", ".join(lookup.missing)))
    return problems


@pytest.mark.parametrize("suite", SUITES)
def test_the_recording_is_complete_and_readable(suite):
    index, daemon = suite_files(suite)
    assert index["suite"] == suite and index["engine"]["version"] and daemon["info"]["DockerRootDir"].startswith("/")
    assert index["fixtures"], "%s: no requests recorded" % suite
    files = {entry["file"] for entry in index["fixtures"]}
    for name in sorted(files):
        payload = read_json(FIXTURES / suite / name)
        assert isinstance(payload, dict) and payload.get("RequestMethod") and payload.get("RequestUri"), name
    on_disk = {path.name for path in (FIXTURES / suite).glob("*.json")} - {"index.json", "daemon.json"}
    assert on_disk == files, "files the index does not name: %s" % sorted(on_disk - files)
    recorded = {event[1] for event in daemon["events"] if event[0] == "request"}
    assert recorded == {entry["seq"] for entry in index["fixtures"]}
    for command in index["commands"]:
        assert set(command["fixtures"]) <= files, command["name"]
    for entry in index["fixtures"]:
        assert entry["expected"] == "allow" or (entry["expected"].startswith("deny (") and entry.get("reason")), describe(entry)


@pytest.mark.parametrize("suite", SUITES)
def test_what_real_clients_send_is_allowed_unless_refused_on_purpose(suite):
    problems = replay(suite)
    assert not problems, "%d of the requests recorded on %s are not decided as the index expects:\n%s" % (
        len(problems), suite, "\n".join(problems))
