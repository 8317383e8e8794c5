"""Requests about containers that already exist, on a real dockerd 20.10 with the plugin.

Containers outside the remapping are made the way they appear on real hosts: with the plugin in
audit mode (the rollout the README recommends), which lets `--userns=host` through. Back in
enforce mode, nothing may run code in them, attach to them or start them again, while cleaning
up stays possible. Then `docker cp`, which the daemon serves as real root, through host-backed
mounts of remapped containers. Every refusal is checked with the docker CLI and with raw API
requests, every legitimate counterpart is checked to work.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest

import bypass_probe
from harness import TEST_IMAGE, remove_tree, short_tempdir

DENIED = 403
HOST_MAP = b"0          0 4294967295"


def unique(prefix: str) -> str:
    return "due-%s-%s" % (prefix, uuid.uuid4().hex[:8])


def ok(result: subprocess.CompletedProcess) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def refused(result: subprocess.CompletedProcess, *words: bytes) -> None:
    assert result.returncode != 0, result.stdout
    assert b"authorization denied by plugin" in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def refused_quietly(result: subprocess.CompletedProcess, plugin, rule: str, target: str) -> None:
    """The CLI shows no message for some refusals (a hijacked attach: "received 403"; the HEAD
    that `docker cp` sends first has no body): the plugin's log says who refused and why."""
    assert result.returncode != 0, result.stdout
    denials = [r for r in plugin.log_records() if r.get("decision") == "deny" and target in r.get("path", "")]
    assert denials and denials[-1]["rule"] == rule, denials[-3:]


def make_outside(dockerd, plugin) -> dict:
    """Containers made outside the remapping in audit mode, and an exec left pending in one."""
    plugin.reconfigure({"mode": "audit"})
    names = {"running": unique("out-run"), "stopped": unique("out-stop"), "tty": unique("out-tty")}
    try:
        ok(dockerd.docker("run", "-d", "--userns=host", "--network", "none", "--name", names["running"], TEST_IMAGE, "sleep", "3600"))
        ok(dockerd.docker("create", "--userns=host", "--network", "none", "--name", names["stopped"], TEST_IMAGE, "id"))
        ok(dockerd.docker("run", "-di", "--userns=host", "--network", "none", "--name", names["tty"], TEST_IMAGE, "sh"))
        # What the rollout leaves behind: in audit mode this is a root shell on the host.
        assert HOST_MAP in ok(dockerd.docker("exec", names["running"], "cat", "/proc/self/uid_map"))
        status, answer = dockerd.api("POST", "/containers/%s/exec" % names["running"], {"Cmd": ["id"]})
        assert status == 201, answer
        names["pending_exec"] = json.loads(answer)["Id"]
        names["running_id"] = ok(dockerd.docker("inspect", "-f", "{{.Id}}", names["running"])).decode().strip()
    finally:
        plugin.reconfigure({})
    return names


def make_inside(dockerd) -> dict:
    names = {"running": unique("in-run"), "tty": unique("in-tty")}
    ok(dockerd.docker("run", "-d", "--network", "none", "--name", names["running"], TEST_IMAGE, "sleep", "3600"))
    ok(dockerd.docker("run", "-di", "--network", "none", "--name", names["tty"], TEST_IMAGE, "sh"))
    return names


def remove_containers(dockerd, names: dict) -> None:
    dockerd.docker("rm", "-f", *[name for key, name in names.items() if key in ("running", "stopped", "tty")])


# Shared by the tests that leave these containers as they found them (the plugin refuses before
# the daemon acts, or nothing changes). A test that pauses, stops or removes one gets its own
# (own_outside, own_inside), so every test passes or fails the same alone or in any order.
@pytest.fixture(scope="module")
def outside(dockerd, plugin):
    names = make_outside(dockerd, plugin)
    yield names
    remove_containers(dockerd, names)


@pytest.fixture
def own_outside(dockerd, plugin):
    names = make_outside(dockerd, plugin)
    yield names
    remove_containers(dockerd, names)


@pytest.fixture(scope="module")
def inside(dockerd):
    names = make_inside(dockerd)
    yield names
    remove_containers(dockerd, names)


@pytest.fixture
def own_inside(dockerd):
    names = make_inside(dockerd)
    yield names
    remove_containers(dockerd, names)


# --- 1. containers outside the remapping --------------------------------------------------------


def test_cli_exec_into_a_host_userns_container_is_refused(dockerd, outside):
    result = dockerd.docker("exec", outside["running"], "cat", "/proc/self/uid_map")
    refused(result, b"exec into container " + outside["running"].encode(), b"userns=host is not allowed",
            b"docker rm -f " + outside["running"].encode(), b"recreate it without --userns=host")
    assert HOST_MAP not in result.stdout


def test_cli_start_restart_attach_unpause_update_cp_are_refused(dockerd, plugin, own_outside, tmp_path, copy_fixed):
    outside = own_outside  # it pauses the running one
    refused(dockerd.docker("start", outside["stopped"]), b"start container")
    refused(dockerd.docker("restart", "-t", "0", outside["running"]), b"restart container")
    attached = dockerd.docker("attach", outside["tty"], input=b"cat /proc/self/uid_map\n", timeout=30)
    refused_quietly(attached, plugin, "outside-container", outside["tty"])
    assert b"received 403" in attached.stderr and HOST_MAP not in attached.stdout
    ok(dockerd.docker("pause", outside["running"]))
    refused(dockerd.docker("unpause", outside["running"]), b"unpause container")
    refused(dockerd.docker("update", "--restart", "always", outside["running"]), b"update container")
    refused(dockerd.docker("rename", outside["running"], unique("renamed")), b"rename container")
    payload = tmp_path / "ld.so.preload"
    payload.write_text("/evil.so\n")
    refused_quietly(dockerd.docker("cp", str(payload), "%s:/etc/" % outside["stopped"]), plugin, "outside-container", outside["stopped"])
    state = ok(dockerd.docker("inspect", "-f", "{{.State.Running}} {{.State.Paused}} {{.HostConfig.RestartPolicy.Name}}", outside["running"]))
    assert state.split() == [b"true", b"true", b"no"]  # nothing above took effect
    assert ok(dockerd.docker("inspect", "-f", "{{.State.StartedAt}}", outside["stopped"])).startswith(b"0001-01-01")


def test_an_exec_left_pending_in_audit_mode_cannot_be_started(dockerd, outside):
    status, answer = dockerd.api("POST", "/exec/%s/start" % outside["pending_exec"], {"Detach": True})
    assert status == DENIED and b"start an exec in container" in answer, answer
    status, answer = dockerd.api("GET", "/exec/%s/json" % outside["pending_exec"])
    assert status == 200 and json.loads(answer)["Running"] is False and json.loads(answer)["ExitCode"] is None


@pytest.mark.parametrize("ref", ["name", "id", "prefix"])
@pytest.mark.parametrize("method, path, body", [
    ("POST", "/v1.41/containers/{}/exec", {"Cmd": ["id"]}),
    ("POST", "/containers/{}/start", None),
    ("POST", "/containers/{}/restart?t=0", None),
    ("POST", "/containers/{}/unpause", None),
    ("POST", "/containers/{}/attach?stream=1&stdin=1&stdout=1", None),
    ("GET", "/containers/{}/attach/ws?stream=1", None),
    ("POST", "/containers/{}/update", {"RestartPolicy": {"Name": "always"}}),
    ("POST", "/containers/{}/rename?name=x", None),
    ("PUT", "/containers/{}/archive?path=/", b"not even a tar"),
    ("POST", "/containers/{}/%65xec", {"Cmd": ["id"]}),
])
def test_raw_requests_into_a_host_userns_container_are_refused(dockerd, outside, ref, method, path, body):
    target = {"name": outside["running"], "id": outside["running_id"], "prefix": outside["running_id"][:12]}[ref]
    headers = {"Content-Length": "0"} if body == b"" else None
    status, answer = dockerd.api(method, path.format(target), body, headers)
    assert status == DENIED, (path, status, answer)
    assert b"userns=host is not allowed" in answer


@pytest.mark.parametrize("mode", ["--pid", "--network", "--ipc"])
def test_cli_joining_the_namespaces_of_a_host_userns_container_is_refused(dockerd, outside, mode):
    result = dockerd.docker("run", "--rm", mode, "container:%s" % outside["running"], TEST_IMAGE, "cat", "/proc/self/uid_map")
    refused(result, b"namespace of container " + outside["running"].encode())


@pytest.mark.parametrize("body", [
    '{{"Image": "{image}", "HostConfig": {{"PidMode": "container:{ref}"}}}}',
    '{{"image": "{image}", "hostconfig": {{"networkmode": "container:{ref}"}}}}',
    '{{"Image": "{image}", "IpcMode": "container:{ref}"}}',
    '{{"Image": "{image}", "HostConfig": {{"PidMode": "", "PidMode": "container:{ref}"}}}}',
])
def test_raw_creates_joining_a_host_userns_container_are_refused(dockerd, outside, body):
    raw = body.format(image=TEST_IMAGE, ref=outside["running_id"][:10]).encode()
    status, answer = dockerd.api("POST", "/containers/create", raw, {"Content-Type": "application/json"})
    assert status == DENIED and b"namespace of container" in answer, answer


def test_cleaning_up_a_host_userns_container_stays_possible(dockerd, own_outside):
    outside = own_outside  # it removes them
    running = outside["running"]
    for step in (("inspect", running), ("logs", running), ("top", running), ("stats", "--no-stream", running),
                 ("diff", running), ("export", "-o", "/var/tmp/%s.tar" % running, running),
                 ("kill", "-s", "CONT", running), ("port", running)):
        ok(dockerd.docker(*step))
    os.unlink("/var/tmp/%s.tar" % running)
    ok(dockerd.docker("stop", "-t", "0", outside["tty"]))
    ok(dockerd.docker("wait", outside["tty"]))
    ok(dockerd.docker("rm", outside["tty"]))
    ok(dockerd.docker("rm", "-f", outside["stopped"]))


# --- ... and every legitimate counterpart -------------------------------------------------------


def test_remapped_containers_can_be_exec_started_attached_and_copied(dockerd, own_inside, tmp_path, copy_fixed):
    inside = own_inside  # it restarts one and ends the other's shell
    running = inside["running"]
    uid_map = ok(dockerd.docker("exec", running, "cat", "/proc/self/uid_map")).split()
    assert uid_map[0] == b"0" and uid_map[1] != b"0"
    ok(dockerd.docker("restart", "-t", "0", running))
    ok(dockerd.docker("pause", running))
    ok(dockerd.docker("unpause", running))
    ok(dockerd.docker("update", "--restart", "on-failure", running))
    stopped = unique("in-stop")
    ok(dockerd.docker("create", "--network", "none", "--name", stopped, TEST_IMAGE, "true"))
    ok(dockerd.docker("start", "-a", stopped))
    ok(dockerd.docker("attach", "--sig-proxy=false", inside["tty"], input=b"exit 0\n", timeout=30))
    # What was typed reached the container's shell: it exited.
    assert ok(dockerd.docker("inspect", "-f", "{{.State.Running}}", inside["tty"])).strip() == b"false"
    source = tmp_path / "hello.txt"
    source.write_text("hello\n")
    ok(dockerd.docker("cp", str(source), "%s:/tmp/hello.txt" % running))
    ok(dockerd.docker("cp", "%s:/tmp/hello.txt" % running, str(tmp_path / "back.txt")))
    assert (tmp_path / "back.txt").read_text() == "hello\n"
    renamed = unique("in-renamed")
    ok(dockerd.docker("rename", stopped, renamed))
    ok(dockerd.docker("rm", renamed))


def test_cli_run_attached_still_works(dockerd):
    assert ok(dockerd.docker("run", "--rm", "--network", "none", TEST_IMAGE, "echo", "attached")).strip() == b"attached"


def test_joining_a_remapped_container_is_allowed(dockerd, inside):
    result = dockerd.docker("run", "--rm", "--pid", "container:%s" % inside["running"], "--network", "none", TEST_IMAGE, "ps")
    ok(result)
    assert b"sleep 3600" in result.stdout  # it does share the pid namespace


# --- 2. docker cp through host-backed mounts ----------------------------------------------------


@pytest.fixture(scope="module")
def root_only(dockerd):
    """A root-only host directory (0700) with a root-only file (0600), and remapped containers
    that see it through a bind mount and through a local volume with o=bind."""
    base = short_tempdir("due-secret-")
    secret_dir = base / "root-only"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "shadow").write_text("root:secret-hash\n")
    (secret_dir / "shadow").chmod(0o600)
    names = {"dir": secret_dir, "bind": unique("bind"), "volume": unique("vol"), "named": unique("named"), "volname": unique("bindvol")}
    ok(dockerd.docker("volume", "create", "--driver", "local", "--opt", "type=none", "--opt", "o=bind",
                      "--opt", "device=%s" % secret_dir, names["volname"]))
    ok(dockerd.docker("create", "--network", "none", "--name", names["bind"], "-v", "%s:/data" % secret_dir, TEST_IMAGE, "true"))
    ok(dockerd.docker("create", "--network", "none", "--name", names["volume"], "-v", "%s:/data" % names["volname"], TEST_IMAGE, "true"))
    ok(dockerd.docker("create", "--network", "none", "--name", names["named"], "-v", "%s:/data" % unique("plainvol"), TEST_IMAGE, "true"))
    yield names
    for container in ("bind", "volume", "named"):
        dockerd.docker("rm", "-f", "-v", names[container])
    dockerd.docker("volume", "rm", names["volname"])
    remove_tree(base)


@pytest.mark.parametrize("via", ["bind", "volume"])
def test_cli_cp_through_a_host_backed_mount_is_refused(dockerd, plugin, root_only, via, tmp_path, copy_fixed):
    container = root_only[via]
    refused(dockerd.docker("cp", "%s:/data/shadow" % container, str(tmp_path / "stolen")), b"host-backed mounts")
    assert not (tmp_path / "stolen").exists()
    payload = tmp_path / "ld.so.preload"
    payload.write_text("/evil.so\n")
    refused_quietly(dockerd.docker("cp", str(payload), "%s:/data/" % container), plugin, "host-mount-copy", container)
    assert not (root_only["dir"] / "ld.so.preload").exists()
    # Any path, not only the mount's: a symlink in the container could lead there.
    refused(dockerd.docker("cp", "%s:/bin/busybox" % container, str(tmp_path / "bb")), b"host-backed mounts")


@pytest.mark.parametrize("method, path", [
    ("GET", "/containers/{}/archive?path=/data/shadow"),
    ("HEAD", "/containers/{}/archive?path=/data/shadow"),
    ("PUT", "/containers/{}/archive?path=/data"),
    ("POST", "/v1.23/containers/{}/copy"),
    ("GET", "/v1.41/containers/{}/%61rchive?path=/data"),
])
def test_raw_archive_requests_through_a_host_backed_mount_are_refused(dockerd, root_only, method, path, copy_fixed):
    body = {"Resource": "/data/shadow"} if path.endswith("copy") else (b"x" if method == "PUT" else None)
    status, answer = dockerd.api(method, path.format(root_only["bind"]), body)
    assert status == DENIED, (method, path, status, answer)


def test_the_switch_lets_the_copy_through_and_shows_why_it_is_off(dockerd, root_only, configured, tmp_path, copy_fixed):
    configured(dict(copy_fixed, allow_copy_through_host_mounts=True))
    stolen = tmp_path / "stolen"
    ok(dockerd.docker("cp", "%s:/data/shadow" % root_only["bind"], str(stolen)))
    # Remapped root could never read this file; the daemon's copy did, as real root.
    assert stolen.read_text() == "root:secret-hash\n"
    listing = dockerd.docker("run", "--rm", "--network", "none", "-v", "%s:/data" % root_only["dir"], TEST_IMAGE, "cat", "/data/shadow")
    assert listing.returncode != 0 and b"Permission denied" in listing.stderr


def test_cp_with_named_volumes_and_without_mounts_keeps_working(dockerd, root_only, tmp_path, copy_fixed):
    source = tmp_path / "in.txt"
    source.write_text("data\n")
    ok(dockerd.docker("cp", str(source), "%s:/data/in.txt" % root_only["named"]))
    ok(dockerd.docker("cp", "%s:/data/in.txt" % root_only["named"], str(tmp_path / "out.txt")))
    assert (tmp_path / "out.txt").read_text() == "data\n"


# --- races: a name that is also the beginning of another container's ID -----------------------------


def test_a_hex_name_shadowing_a_host_userns_container_s_id_is_refused(dockerd, outside):
    shadow = outside["running_id"][:8]
    ok(dockerd.docker("create", "--network", "none", "--name", shadow, TEST_IMAGE, "sleep", "60"))
    try:
        # Once this name is gone, the daemon would resolve it to the host-userns container.
        refused(dockerd.docker("start", shadow), b"also the beginning of container", outside["running_id"][:12].encode())
    finally:
        ok(dockerd.docker("rm", "-f", shadow))


# --- version spellings and hidden bodies ----------------------------------------------------------


@pytest.mark.parametrize("version", ["v1.23", "v1.23.", "v1.020", "v1.0023"])
def test_legacy_start_with_a_host_config_is_refused_in_every_spelling(dockerd, plugin, version):
    container = unique("legacy")
    ok(dockerd.docker("create", "--network", "none", "--name", container, TEST_IMAGE, "true"))
    for body in ({"UsernsMode": "host"}, {"Binds": ["/:/host"]}):
        status, answer = dockerd.api("POST", "/%s/containers/%s/start" % (version, container), body)
        assert status == DENIED and b"older than 1.24" in answer, answer
    assert ok(dockerd.docker("inspect", "-f", "{{.HostConfig.UsernsMode}}|{{.HostConfig.Binds}}", container)).strip() == b"|[]"


def test_legacy_start_spellings_really_apply_the_host_config(dockerd, configured):
    """Why the spellings matter: on Docker 20.10 the daemon applies a start body for each."""
    configured({"mode": "audit"})
    for version in ("v1.23.", "v1.020"):
        container = unique("legacy-audit")
        ok(dockerd.docker("create", "--network", "none", "--name", container, TEST_IMAGE, "true"))
        status, answer = dockerd.api("POST", "/%s/containers/%s/start" % (version, container), {"UsernsMode": "host"})
        assert status == 204, answer
        assert ok(dockerd.docker("inspect", "-f", "{{.HostConfig.UsernsMode}}", container)).strip() == b"host"
        ok(dockerd.docker("rm", "-f", container))


def test_an_auth_suffix_never_gets_a_body_past_the_plugin(dockerd, plugin, configured):
    """Up to 26.1.4 (and upstream 20.10.24) the daemon forwards no body when the URI, query
    included, ends in /auth, and still creates from it; Debian's 20.10.24 carries the fix and
    forwards it. Audit mode shows which: either the plugin saw no body and says so, or it saw
    the body and judged it. In enforce mode it is refused either way."""
    body = {"Image": TEST_IMAGE, "HostConfig": {"UsernsMode": "host"}}
    status, answer = dockerd.api("POST", "/v1.41/containers/create?x=/auth", body)
    assert status == DENIED, answer
    configured({"mode": "audit"})
    container = unique("auth-suffix")
    status, answer = dockerd.api("POST", "/v1.41/containers/create?name=%s&x=/auth" % container, body)
    assert status == 201, answer
    ok(dockerd.docker("rm", "-f", container))
    records = [r for r in plugin.log_records() if container in r.get("path", "")]
    assert records and records[-1]["rule"] in ("unseen-body", "host-userns"), records


@pytest.mark.parametrize("path, body", [
    ("/containers/{running}/exec", {"Cmd": ["id"]}),
    ("/containers/{running}/update", {"RestartPolicy": {"Name": "always"}}),
    ("/networks/create", {"Name": "due-hidden"}),
    ("/exec/nosuchexec/start", {"Detach": True}),
])
def test_a_json_body_over_one_mib_fails_closed_on_every_json_route(dockerd, inside, path, body):
    # No daemon before 29.3.1 forwards a body of 1 MiB or more (CVE-2026-34040).
    padded = dict(body, Padding="x" * (1024 * 1024))
    status, answer = dockerd.api("POST", path.format(running=inside["running"]), padded)
    assert status == DENIED and b"did not forward the request body" in answer, answer


def test_a_content_type_the_daemon_skips_on_a_json_route_is_refused(dockerd):
    # Docker 20.10 decodes a swarm init body whatever its Content-Type, but forwards only JSON.
    status, answer = dockerd.api("POST", "/swarm/init", json.dumps({"ListenAddr": "127.0.0.1:2377"}).encode(), {"Content-Type": "text/plain"})
    assert status == DENIED and b"did not forward the request body" in answer, answer


def test_the_plugin_s_own_lookup_goes_through_the_daemon_and_the_plugin(dockerd, plugin, inside, configured):
    configured({"log_allowed": True})
    ok(dockerd.docker("exec", inside["running"], "true"))
    # The CLI inspects with a version prefix; the plugin's nested lookup has none.
    lines = [r for r in plugin.log_records() if r.get("method") == "GET" and r.get("path") == "/containers/%s/json" % inside["running"]]
    assert lines, "the nested inspect did not reach the plugin"


def test_lookups_fail_closed_when_the_daemon_cannot_be_asked(dockerd, inside, configured):
    configured({"docker_socket": "/nonexistent/docker.sock"})
    result = dockerd.docker("exec", inside["running"], "true")
    refused(result, b"cannot ask the Docker daemon at /nonexistent/docker.sock")
    assert ok(dockerd.docker("ps", "-q"))  # requests about no existing container need no lookup


# --- the bypass probe's classes, as Molecule runs them on Docker 26.1 and 28.5 ----------------------


def test_the_bypass_probe_finds_no_way_around_the_remapping(dockerd, configured, copy_fixed):
    configured({"mode": "audit"})  # how containers outside the remapping come to exist
    running = ok(dockerd.docker("run", "-d", "--userns=host", "--network", "none", TEST_IMAGE, "sleep", "600")).decode().strip()
    stopped = ok(dockerd.docker("create", "--userns=host", "--network", "none", TEST_IMAGE, "id")).decode().strip()
    status, answer = dockerd.api("POST", "/containers/%s/exec" % running, {"Cmd": ["id"]})
    assert status == 201, answer
    configured(copy_fixed)  # docker cp gets past its engine refusal, to the rules probed here
    try:
        results = (bypass_probe.probe_existing(dockerd.socket, TEST_IMAGE, running, stopped, json.loads(answer)["Id"])
                   + bypass_probe.probe_mounts(dockerd.socket, TEST_IMAGE) + bypass_probe.probe_routes(dockerd.socket, TEST_IMAGE))
    finally:
        dockerd.docker("rm", "-f", running, stopped)
    assert {r["class"] for r in results} == {"existing", "mounts", "routes"} and len(results) == 28
    assert [r for r in results if r["escaped"]] == []
    for result in results:
        assert result["attempt"]["status"] == DENIED, result  # Docker 20.10 routes every one to the plugin
        if result["control"] is not None:
            assert 200 <= result["control"]["status"] < 300 or result["control"]["status"] == 101, result


@pytest.mark.parametrize("content_type", [
    "application/json; charset",  # a parameter without a value: Go's mime.ParseMediaType fails
    "application/json;x",
    "application/json, text/plain",
    "text/plain",
    "",
])
def test_a_content_type_that_hides_the_body_never_lets_a_create_through(dockerd, content_type):
    body = json.dumps({"Image": TEST_IMAGE, "HostConfig": {"UsernsMode": "host"}}).encode()
    status, answer = dockerd.api("POST", "/v1.41/containers/create", body, {"Content-Type": content_type} if content_type else {})
    # The daemon forwards no body for these, and the plugin refuses a create it cannot see.
    assert status == DENIED and b"did not forward the request body" in answer, (content_type, status, answer)
