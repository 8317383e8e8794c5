"""The default deny on a real Docker 20.10 (Debian 12's docker.io) with the plugin: local volume
options and driver names, then the bypass probe's default-deny classes.

What the daemon does when nothing refuses it (the plugin in audit mode): local volume options are
mount(2) arguments it applies as real root in the host's mount namespace, so through an overlay
volume (made with docker volume create -o, or inline in --mount) a remapped container writes a
file into a root-owned 0755 host directory it cannot write otherwise; a driver name with ../ is a
path it joins into /run/docker/plugins/NAME.sock unchecked, so it talks to a socket that a
container could make in its own volume. Enforcing, the same requests are refused by the rules
volume-options and driver-name, and the built-in drivers and plain, tmpfs and bind volumes work.
Then the probe's classes drivers, volumeopts, devices, hooks and unreviewed: enforcing, every
attempt refused by its rule, nothing escapes, every control works; in audit mode, each attempt
shown doing what it asks.

Driver names in audit mode are tried on a daemon of their own (the audit_daemon fixture): a
legacy plugin the daemon has found stays registered in it, and once its socket is gone every
lookup of a volume name the daemon does not know waits on it (about 30 s of retries), which would
make the plugin's lookups of every later test time out on the shared daemon.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import pytest

import bypass_probe
from harness import TEST_IMAGE, PluginProcess, PrivateDockerd, remove_tree, short_tempdir

DENIED = 403
REFUSAL = b"authorization denied by plugin"
# Cases of the probe per class: what a change to the probe must keep in step with these tests.
PROBE_CASES = {"drivers": 6, "volumeopts": 5, "devices": 4, "hooks": 4, "unreviewed": 4}
UNKNOWN_ROUTE = "an unknown route (GET /v1.41/due-probe/unknown)"


def unique(prefix: str) -> str:
    return "due-%s-%s" % (prefix, uuid.uuid4().hex[:8])


def ok(result: subprocess.CompletedProcess) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def remapped_root() -> int:
    """The host uid of the containers' root: the start of dockremap's range (--userns-remap=default)."""
    for line in Path("/etc/subuid").read_text().splitlines():
        user, start, _count = line.split(":")
        if user == "dockremap":
            return int(start)
    raise AssertionError("no dockremap range in /etc/subuid")


def rule_of(plugin: PluginProcess, message: str) -> Optional[str]:
    """The rule of the plugin's logged refusal whose reason the daemon's message carries."""
    rules = [r["rule"] for r in plugin.log_records() if r.get("decision") == "deny" and r.get("reason")
             and (r["reason"][:60] in message or json.dumps(r["reason"][:60])[1:-1] in message)]
    return rules[-1] if rules else None


def new_records(plugin: PluginProcess, before: int) -> List[dict]:
    return [r for r in plugin.log_records()[before:] if r.get("event") == "decision"]


def refused_by(plugin: PluginProcess, result: subprocess.CompletedProcess, rule: str) -> None:
    assert result.returncode != 0 and REFUSAL in result.stderr, (result.stdout, result.stderr)
    assert rule_of(plugin, result.stderr.decode()) == rule, result.stderr.decode()


def overlay_layers(base: Path, tag: str) -> Tuple[Path, str]:
    """Lower, upper and work directories, root's and 0755, as the host's own; (upper, the o= option)."""
    layers = [base / tag / part for part in ("lower", "upper", "work")]
    for layer in layers:
        layer.mkdir(parents=True)
        layer.chmod(0o755)
    return layers[1], "lowerdir=%s,upperdir=%s,workdir=%s" % tuple(layers)


def untouched(directory: Path) -> bool:
    info = directory.stat()
    return info.st_uid == 0 and info.st_mode & 0o7777 == 0o755 and not any(directory.iterdir())


def overlay_spellings(dockerd: PrivateDockerd, base: Path) -> Iterator[Tuple[str, Path, subprocess.CompletedProcess]]:
    """Both ways to make a remapped container write through an overlay volume onto a host
    directory: docker volume create -o, then -v; and --mount with volume-driver=local and
    volume-opt. The image's /tmp is copied up (which gives the volume its owner), then the
    container writes /tmp/due-written."""
    upper, layers = overlay_layers(base, "create")
    volume = unique("overlay")
    created = dockerd.docker("volume", "create", "--driver", "local", "-o", "type=overlay", "-o", "device=overlay", "-o", "o=" + layers, volume)
    if created.returncode != 0:
        yield "docker volume create -o", upper, created
    else:
        try:
            yield "docker volume create -o", upper, dockerd.docker(
                "run", "--rm", "--network", "none", "-v", "%s:/tmp" % volume, TEST_IMAGE, "touch", "/tmp/due-written")
        finally:
            dockerd.docker("volume", "rm", volume)
    upper, layers = overlay_layers(base, "mount")
    volume = unique("overlay")
    mount = 'type=volume,src=%s,dst=/tmp,volume-driver=local,volume-opt=type=overlay,volume-opt=device=overlay,"volume-opt=o=%s"' % (volume, layers)
    try:
        yield "--mount volume-opt=", upper, dockerd.docker("run", "--rm", "--network", "none", "--mount", mount, TEST_IMAGE, "touch", "/tmp/due-written")
    finally:
        dockerd.docker("volume", "rm", volume)


def test_without_the_plugin_volume_options_let_a_container_write_into_a_root_owned_host_directory(dockerd, plugin, configured):
    """Audit mode: what the daemon does with the options; the plugin logs the would-deny."""
    base = short_tempdir("due-vo-")
    configured({"mode": "audit"})
    try:
        plain = base / "plain"
        plain.mkdir()
        plain.chmod(0o755)
        bound = dockerd.docker("run", "--rm", "--network", "none", "--mount", "type=bind,src=%s,dst=/x" % plain, TEST_IMAGE, "touch", "/x/f")
        assert bound.returncode != 0 and b"Permission denied" in bound.stderr  # root's 0755: the remapped root cannot write it
        before = len(plugin.log_records())
        for spelling, upper, result in overlay_spellings(dockerd, base):
            ok(result)
            written = upper / "due-written"
            assert written.is_file() and written.stat().st_uid == remapped_root(), spelling
        creates = [(r["path"].split("?")[0].rsplit("/", 2)[-2], r["rule"]) for r in new_records(plugin, before)
                   if r["decision"] == "would-deny" and r["path"].split("?")[0].endswith("/create")]
        # The volume create, and the run with --mount (the first run's create: the copy into that volume).
        assert creates[0] == ("volumes", "volume-options") and creates[-1] == ("containers", "volume-options"), creates
    finally:
        remove_tree(base)


def test_volume_options_are_refused_and_plain_tmpfs_and_bind_volumes_work(dockerd, plugin):
    base = short_tempdir("due-vo-")
    volumes: List[str] = []
    try:
        for spelling, upper, result in overlay_spellings(dockerd, base):
            refused_by(plugin, result, "volume-options")
            assert untouched(upper), spelling
        data_root = ok(dockerd.docker("info", "--format", "{{.DockerRootDir}}")).decode().strip()
        refused = dockerd.docker("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=%s" % data_root, unique("dataroot"))
        refused_by(plugin, refused, "volume-options")
        assert b"shows Docker's data directory" in refused.stderr
        shared = base / "shared"
        shared.mkdir()
        shared.chmod(0o755)
        (shared / "hello").write_text("due-bound\n")
        (shared / "hello").chmod(0o644)
        controls = [
            ([], ("sh", "-c", "echo due-plain > /x/f && cat /x/f"), b"due-plain"),
            (["-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m"], ("sh", "-c", "echo due-tmpfs > /x/f && cat /x/f"), b"due-tmpfs"),
            (["-o", "type=none", "-o", "o=bind", "-o", "device=%s" % shared], ("cat", "/x/hello"), b"due-bound"),
        ]
        for options, command, expected in controls:
            volume = unique("control")
            ok(dockerd.docker("volume", "create", *options, volume))
            volumes.append(volume)
            assert ok(dockerd.docker("run", "--rm", "--network", "none", "-v", "%s:/x" % volume, TEST_IMAGE, *command)).strip() == expected
    finally:
        for volume in volumes:
            dockerd.docker("volume", "rm", volume)
        remove_tree(base)


@pytest.fixture
def audit_daemon(workdir):
    """A private dockerd of its own with a plugin in audit mode, for one test (see the docstring)."""
    root = workdir / unique("a")[4:]
    root.mkdir()
    root.chmod(0o711)
    plugin = PluginProcess("due-audit-%d-%s" % (os.getpid(), root.name), workdir, {"mode": "audit"}, docker_socket=str(root / "docker.sock"))
    plugin.start()
    daemon = PrivateDockerd(root, [plugin.name])
    try:
        daemon.start()
        daemon.import_busybox()
        yield daemon, plugin
    finally:
        for container in daemon.docker("ps", "-aq").stdout.decode().split():
            daemon.docker("rm", "-f", container)
        daemon.stop()
        plugin.stop()
        remove_tree(root)


def stand_ins(dockerd: PrivateDockerd, kinds: Tuple[Tuple[str, str], ...]) -> Tuple[str, List[bypass_probe.FakePlugin]]:
    """A volume, and in its directory (where a container that mounts it could make them) a
    stand-in plugin socket for each (name, interface); (the volume, the plugins)."""
    lair = unique("lair")
    ok(dockerd.docker("volume", "create", lair))
    directory = ok(dockerd.docker("volume", "inspect", "--format", "{{.Mountpoint}}", lair)).decode().strip()
    return lair, [bypass_probe.FakePlugin(os.path.join(directory, "%s.sock" % kind), implements) for kind, implements in kinds]


DRIVER_KINDS = (("network", "NetworkDriver"), ("ipam", "IpamDriver"), ("volume", "VolumeDriver"), ("log", "LogDriver"))


def driver_attempts(dockerd: PrivateDockerd, plugins: List[bypass_probe.FakePlugin], made: List[Tuple[str, str]]) -> List[subprocess.CompletedProcess]:
    """docker network create -d, --ipam-driver, docker volume create -d, docker create --log-driver,
    each naming its stand-in by a ../ path; made collects what to remove."""
    network, ipam, volume, log = (bypass_probe.traversal_name(p.path) for p in plugins)
    names = [unique("net"), unique("ipam"), unique("vol")]
    results = [
        dockerd.docker("network", "create", "--driver", network, names[0]),
        dockerd.docker("network", "create", "--ipam-driver", ipam, names[1]),
        dockerd.docker("volume", "create", "--driver", volume, names[2]),
        dockerd.docker("create", "--network", "none", "--log-driver", log, TEST_IMAGE, "true"),
    ]
    made += [("network", names[0]), ("network", names[1]), ("volume", names[2])]
    if results[3].returncode == 0:
        made.append(("container", results[3].stdout.decode().strip()))
    return results


def remove_made(dockerd: PrivateDockerd, made: List[Tuple[str, str]], lair: str, plugins: List[bypass_probe.FakePlugin]) -> None:
    """Remove what the attempts made while the stand-ins still answer (the daemon asks them)."""
    for kind, name in made:
        if kind == "container":
            dockerd.docker("rm", "-f", name)
    for kind, name in made:
        if kind != "container":
            dockerd.docker(kind, "rm", name)
    for stand_in in plugins:
        stand_in.close()
    dockerd.docker("volume", "rm", lair)  # last: its directory holds the stand-ins' sockets


def test_without_the_plugin_a_driver_name_with_dotdot_makes_the_daemon_call_a_socket_in_a_volume(audit_daemon):
    dockerd, plugin = audit_daemon
    lair, plugins = stand_ins(dockerd, DRIVER_KINDS)
    made: List[Tuple[str, str]] = []
    try:
        before = len(plugin.log_records())
        network, ipam, volume, log = driver_attempts(dockerd, plugins, made)
        ok(network)
        assert plugins[0].requests[:1] == ["/Plugin.Activate"] and "/NetworkDriver.CreateNetwork" in plugins[0].requests
        # The stand-in refuses the pool: the daemon fails the create before it makes a bridge on the host.
        assert ipam.returncode != 0 and b"due-probe: asked" in ipam.stderr
        assert plugins[1].requests[:1] == ["/Plugin.Activate"] and "/IpamDriver.RequestPool" in plugins[1].requests
        ok(volume)
        assert plugins[2].requests[:1] == ["/Plugin.Activate"] and "/VolumeDriver.Create" in plugins[2].requests
        ok(log)
        assert plugins[3].requests == ["/Plugin.Activate"]
        rules = [r["rule"] for r in new_records(plugin, before) if r["decision"] == "would-deny"]
        assert rules == ["driver-name"] * 4, rules
    finally:
        remove_made(dockerd, made, lair, plugins)


def test_driver_names_with_dotdot_are_refused_and_the_built_in_drivers_work(dockerd, plugin):
    lair, plugins = stand_ins(dockerd, DRIVER_KINDS)
    made: List[Tuple[str, str]] = []
    try:
        for result in driver_attempts(dockerd, plugins, made):
            refused_by(plugin, result, "driver-name")
            assert b"it holds a path" in result.stderr
        assert [p.requests for p in plugins] == [[], [], [], []]
        # Config-only networks: the daemon stores them and makes nothing on the host's network.
        names = [unique("net"), unique("net"), unique("vol")]
        made += [("network", names[0]), ("network", names[1]), ("volume", names[2])]
        ok(dockerd.docker("network", "create", "--config-only", "--driver", "bridge", names[0]))
        ok(dockerd.docker("network", "create", "--config-only", "--ipam-driver", "default", names[1]))
        ok(dockerd.docker("volume", "create", "--driver", "local", names[2]))
        logged = dockerd.docker("run", "--rm", "--network", "none", "--log-driver", "json-file", "--log-opt", "max-size=1m", TEST_IMAGE, "echo", "due-logged")
        assert ok(logged).strip() == b"due-logged"
    finally:
        remove_made(dockerd, made, lair, plugins)


def control_works(control: Optional[dict]) -> bool:
    return control is None or (control["status"] in (200, 201, 204) and control.get("exit") in (None, 0))


def test_the_default_deny_probe_classes_are_refused_by_their_rules_and_every_control_works(dockerd, plugin):
    results = []
    for name in PROBE_CASES:
        results += bypass_probe.DEFAULT_DENY_CLASSES[name](dockerd.socket, TEST_IMAGE)
    assert {name: sum(r["class"] == name for r in results) for name in PROBE_CASES} == PROBE_CASES
    assert [r for r in results if r["escaped"]] == []
    for result in results:
        attempt = result["attempt"]
        if result["case"] == UNKNOWN_ROUTE:
            # The daemon's router answers a route it does not have before any plugin is asked.
            assert attempt["status"] == 404 and rule_of(plugin, attempt["message"]) is None, result
        else:
            assert attempt["status"] == DENIED and REFUSAL.decode() in attempt["message"], result
            assert rule_of(plugin, attempt["message"]) == result["rule"], result
        assert control_works(result["control"]), result
    assert [r["requests"] for r in results if r["class"] == "drivers"] == [[]] * PROBE_CASES["drivers"]


def test_in_audit_mode_the_probe_shows_each_attempt_doing_what_it_asks(audit_daemon):
    """Nothing refused: "escaped" says what the daemon did. Drivers come last (see the docstring)."""
    dockerd, plugin = audit_daemon
    by_class = {name: bypass_probe.DEFAULT_DENY_CLASSES[name](dockerd.socket, TEST_IMAGE)
                for name in ("volumeopts", "devices", "hooks", "unreviewed", "drivers")}
    for results in by_class.values():
        assert all(control_works(r["control"]) for r in results), results
    # The host directory written, the host's PID 1 seen, another volume's file read through the data root.
    assert all(r["escaped"] and r["effect"] for r in by_class["volumeopts"]), by_class["volumeopts"]
    assert all(r["escaped"] for r in by_class["devices"]), by_class["devices"]
    host_file = [r for r in by_class["devices"] if "a host file under remapping" in r["case"]]
    assert len(host_file) == 1 and host_file[0]["effect"], host_file  # the host's file read and changed
    # Docker 20.10 does none of the hooks: it knows no such runtime, has no GPU or CDI driver, and
    # API 1.41 has no annotations (it drops the field).
    hooks = {r["case"]: r for r in by_class["hooks"]}
    assert not any(r["escaped"] for r in hooks.values()), hooks
    assert "Unknown runtime specified" in hooks["--runtime io.containerd.x.v1"]["attempt"]["message"]
    assert {r["case"]: r["escaped"] for r in by_class["unreviewed"]} == {
        "an unknown HostConfig field with a non-zero value": True, "an unknown query parameter (?dueprobe=1)": True,
        "API version 1.23 (GET /v1.23/containers/json)": True, UNKNOWN_ROUTE: False}
    assert all(r["escaped"] and r["requests"][:1] == ["/Plugin.Activate"] for r in by_class["drivers"]), by_class["drivers"]
    logged = {r["rule"] for r in plugin.log_records() if r.get("decision") == "would-deny"}
    expected = {r["rule"] for results in by_class.values() for r in results if r["case"] != UNKNOWN_ROUTE}
    assert expected <= logged, (expected, logged)
