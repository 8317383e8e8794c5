"""The plugin in front of a real dockerd (userns-remap on): refusals and non-refusals, through
the docker CLI and through raw API requests, for every class of request the plugin knows."""

from __future__ import annotations

import json
import os
import signal
import uuid

import pytest

import bypass_probe
from harness import TEST_IMAGE, wait_for

DENIED = 403


def create_body(**host_config) -> dict:
    return {"Image": TEST_IMAGE, "Cmd": ["true"], "HostConfig": host_config}


def created(status: int, body: bytes) -> bool:
    return status == 201 and b'"Id"' in body


def name() -> str:
    return "due-%s" % uuid.uuid4().hex[:10]


def host_userns_of(dockerd, container: str) -> str:
    status, body = dockerd.api("GET", "/containers/%s/json" % container)
    assert status == 200, body
    return json.loads(body)["HostConfig"]["UsernsMode"]


# --- the escape itself, through the CLI ----------------------------------------------------


def test_cli_run_userns_host_is_refused(dockerd):
    result = dockerd.docker("run", "--rm", "--network", "none", "--userns=host", TEST_IMAGE, "cat", "/proc/self/uid_map")
    assert result.returncode != 0
    assert b"userns=host is not allowed" in result.stderr
    assert b"0          0 4294967295" not in result.stdout


def test_cli_create_userns_host_is_refused(dockerd):
    result = dockerd.docker("create", "--userns=host", TEST_IMAGE, "true")
    assert result.returncode != 0 and b"userns=host is not allowed" in result.stderr


def test_cli_plain_run_works_and_is_remapped(dockerd):
    result = dockerd.docker("run", "--rm", "--network", "none", TEST_IMAGE, "cat", "/proc/self/uid_map")
    assert result.returncode == 0, result.stderr
    inside, outside, count = result.stdout.split()
    assert inside == b"0" and outside != b"0" and int(count) == 65536


# --- everything legitimate still works -------------------------------------------------------


def test_cli_everyday_commands_are_allowed(dockerd, tmp_path):
    tmp_path.chmod(0o755)  # remapped root is an unprivileged uid on the host
    container = name()
    steps = [
        ("run", "-d", "--name", container, "--network", "none", TEST_IMAGE, "sleep", "60"),
        ("exec", container, "echo", "hello"),
        ("logs", container),
        ("ps", "-a"),
        ("images",),
        ("inspect", container),
        ("stop", "-t", "0", container),
        ("start", container),
        ("rm", "-f", container),
        ("volume", "create", container),
        ("volume", "rm", container),
        ("network", "create", "--internal", container),
        ("network", "rm", container),
        ("run", "--rm", "--network", "none", "-v", "%s:/data" % tmp_path, TEST_IMAGE, "ls", "/data"),
        ("run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", TEST_IMAGE, "true"),
    ]
    for step in steps:
        result = dockerd.docker(*step)
        assert result.returncode == 0, (step, result.stderr)
        if step[0] == "exec":
            assert result.stdout.strip() == b"hello"


def test_cli_build_is_allowed(dockerd, tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM %s\nRUN echo built > /built\n" % TEST_IMAGE)
    result = dockerd.docker("build", "--network", "none", "-t", "due-built:test", str(tmp_path))
    assert result.returncode == 0, result.stderr
    run = dockerd.docker("run", "--rm", "--network", "none", "due-built:test", "cat", "/built")
    assert run.stdout.strip() == b"built"


def test_large_but_visible_body_is_allowed(dockerd):
    body = create_body()
    body["Labels"] = {"padding": "x" * 900_000}
    status, answer = dockerd.api("POST", "/containers/create?name=%s" % name(), body)
    assert created(status, answer), answer


def test_json_content_type_with_charset_is_allowed(dockerd):
    status, answer = dockerd.api("POST", "/containers/create", json.dumps(create_body()).encode(), {"Content-Type": "application/json; charset=utf-8"})
    assert created(status, answer), answer


# --- the ways a naive plugin is bypassed ----------------------------------------------------

@pytest.mark.parametrize("path", bypass_probe.PATHS)
@pytest.mark.parametrize("case", sorted(bypass_probe.CASES))
def test_raw_create_bypass_attempts_are_refused(dockerd, case, path):
    attempt = bypass_probe.try_create(dockerd.socket, path, bypass_probe.body_of(case, TEST_IMAGE, "host"))
    assert attempt["status"] == DENIED and "userns=host is not allowed" in attempt["message"], attempt
    assert not attempt["host_userns_created"]
    # The same body without the host namespace is valid: the refusal is the plugin's.
    control = bypass_probe.try_create(dockerd.socket, path, bypass_probe.body_of(case, TEST_IMAGE, ""))
    assert control["status"] == 201, control


def test_only_the_first_json_value_counts(dockerd):
    body = b'{"Image": "%s", "HostConfig": {"UsernsMode": "host"}} trailing garbage' % TEST_IMAGE.encode()
    status, answer = dockerd.api("POST", "/containers/create", body, {"Content-Type": "application/json"})
    assert status == DENIED and b"userns=host is not allowed" in answer


@pytest.mark.parametrize("path", [
    "/containers/create",
    "/v1.41/containers/create",
    "/v1.12/containers/create",
    "/v1.41/containers/create?name=x/auth",
    "/containers/%63reate",
    "/v1.41/containers/create/",
])
def test_every_path_form_is_refused(dockerd, path):
    status, answer = dockerd.api("POST", path, create_body(UsernsMode="host"))
    assert status != 201, (path, answer)
    if status != 404:  # the daemon routes it: then the plugin must have refused it
        assert b"userns=host is not allowed" in answer, (path, answer)


def test_later_keys_that_turn_host_off_are_allowed(dockerd):
    container = name()
    body = b'{"Image": "%s", "HostConfig": {"UsernsMode": "host", "UsernsMode": ""}}' % TEST_IMAGE.encode()
    status, answer = dockerd.api("POST", "/containers/create?name=%s" % container, body, {"Content-Type": "application/json"})
    assert created(status, answer), answer
    assert host_userns_of(dockerd, container) == ""


def test_chunked_create_is_refused(dockerd):
    # Daemons with the CVE-2024-41110 fix forward chunked bodies; older ones do not, and then
    # the plugin refuses the body it cannot see. Either way: refused.
    chunks = iter([json.dumps(create_body(UsernsMode="host")).encode()])
    status, answer = dockerd.api("POST", "/containers/create", chunks, {"Content-Type": "application/json"})
    assert status == DENIED, answer
    assert b"userns=host is not allowed" in answer or b"did not forward the request body" in answer


def test_create_body_over_one_mib_is_refused_with_what_to_do(dockerd):
    body = create_body(UsernsMode="host")
    body["Labels"] = {"padding": "x" * (1024 * 1024)}
    status, answer = dockerd.api("POST", "/containers/create", body)
    assert status == DENIED, answer
    assert b"under 1 MiB" in answer


def test_create_with_non_json_content_type_creates_nothing(dockerd):
    status, answer = dockerd.api("POST", "/containers/create", json.dumps(create_body(UsernsMode="host")).encode(), {"Content-Type": "text/plain"})
    assert status != 201, answer


def test_api_versions_before_1_24_are_refused_and_1_24_works(dockerd):
    # Docker 20.10 serves API 1.12 to 1.23, where a start body replaces the container's
    # HostConfig: the plugin reviews 1.24 and later only, and refuses the rest as a whole.
    status, answer = dockerd.api("POST", "/v1.23/containers/create", create_body())
    assert status == DENIED and b"older than 1.24" in answer, answer
    container = name()
    status, answer = dockerd.api("POST", "/v1.24/containers/create?name=%s" % container, create_body())
    assert created(status, answer), answer
    for body, headers in ((b'{"UsernsMode": "host"}', None), (iter([b'{"UsernsMode": "host"}']), {"Content-Type": "application/json"}),
                          (b"", {"Content-Length": "0"})):
        status, answer = dockerd.api("POST", "/v1.23/containers/%s/start" % container, body, headers)
        assert status == DENIED and b"older than 1.24" in answer, answer
    assert host_userns_of(dockerd, container) == ""
    status, answer = dockerd.api("POST", "/v1.24/containers/%s/start" % container, b"", {"Content-Length": "0"})
    assert status == 204, answer


# --- managed plugins ----------------------------------------------------------------------------


def test_cli_plugin_create_is_refused(dockerd, tmp_path):
    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({
        "description": "test", "entrypoint": ["/bin/true"], "interface": {"types": ["docker.authz/1.0"], "socket": "x.sock"},
        "network": {"type": "host"}, "linux": {"capabilities": ["CAP_SYS_ADMIN"]},
    }))
    result = dockerd.docker("plugin", "create", "due-evil", str(tmp_path))
    assert result.returncode != 0
    assert b"managed plugins are not allowed" in result.stderr


@pytest.mark.parametrize("path", [
    "/plugins/pull?remote=evil/plugin",
    "/v1.41/plugins/pull?remote=evil/plugin&name=x",
    "/plugins/evil/plugin:latest/enable",
    "/plugins/evil/set",
    "/plugins/evil/upgrade?remote=evil/plugin:v2",
    "/plugins/create?name=evil",
])
def test_raw_plugin_operations_are_refused(dockerd, path):
    status, answer = dockerd.api("POST", path, [])
    assert status == DENIED, (path, answer)
    assert b"managed plugins are not allowed" in answer


def test_allowlisted_plugin_is_not_refused_once_its_privileges_are_checked_right(dockerd, configured):
    """Docker 20.10 checks a plugin's privileges wrongly (CVE-2026-33997, unfixed in Debian 12):
    allowed plugins install only once the fix is recorded for this very engine."""
    version = dockerd.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()
    configured({"allowed_plugins": ["example/allowed"]})
    status, answer = dockerd.api("POST", "/plugins/pull?remote=example/allowed:latest", [])
    assert status == DENIED and b"CVE-2026-33997" in answer and version.encode() in answer
    configured({"allowed_plugins": ["example/allowed"], "engine_fixes": {"version": version, "fixed": ["CVE-2026-33997"]}})
    status, answer = dockerd.api("POST", "/plugins/pull?remote=example/allowed:latest", [])
    assert b"authorization denied" not in answer, answer  # fails later: nothing can be pulled here
    status, answer = dockerd.api("POST", "/plugins/pull?remote=example/other", [])
    assert status == DENIED


# --- operation: audit mode, reload --------------------------------------------------------------


def test_audit_mode_allows_and_logs_the_would_deny(dockerd, plugin, configured):
    configured({"mode": "audit"})
    container = name()
    result = dockerd.docker("create", "--name", container, "--userns=host", TEST_IMAGE, "true")
    assert result.returncode == 0, result.stderr
    assert host_userns_of(dockerd, container) == "host"
    records = [r for r in plugin.log_records() if r.get("decision") == "would-deny" and container in r.get("path", "")]
    assert records and records[-1]["rule"] == "host-userns" and records[-1]["mode"] == "audit"


def test_bad_reload_keeps_the_last_good_config(dockerd, plugin, configured):
    configured({"mode": "enforce"})
    # Count, not look for, the line: an earlier failed reload in this session must not stand in for this one.
    before = plugin.log_path.read_text().count("reload-failed")
    plugin.write_config({"mode": "permissive"})
    os.kill(plugin.proc.pid, signal.SIGHUP)
    wait_for(lambda: plugin.log_path.read_text().count("reload-failed") > before, 10, "reload-failed log line")
    result = dockerd.docker("create", "--userns=host", TEST_IMAGE, "true")
    assert b"userns=host is not allowed" in result.stderr


# --- opt-in rules --------------------------------------------------------------------------------

OPT_IN = {
    "deny_privileged": True,
    "deny_host_namespaces": ["pid", "ipc", "network", "uts", "cgroup"],
    "deny_cap_add": ["SYS_ADMIN", "SYS_MODULE"],
    "deny_bind_mounts": ["/var/run/docker.sock", "/etc/shadow"],
    "deny_devices": True,
}


@pytest.mark.parametrize("flags, message", [
    (["--privileged"], b"privileged containers are not allowed"),
    (["--pid", "host"], b"pid namespace is not allowed"),
    (["--ipc", "host"], b"ipc namespace is not allowed"),
    (["--network", "host"], b"network namespace is not allowed"),
    (["--uts", "host"], b"uts namespace is not allowed"),
    (["--cgroupns", "host"], b"cgroup namespace is not allowed"),
    (["--cap-add", "sys_admin"], b"capability SYS_ADMIN is not allowed"),
    (["--cap-add", "CAP_SYS_MODULE"], b"capability SYS_MODULE is not allowed"),
    (["-v", "/var/run/docker.sock:/s"], b"bind-mounting /var/run/docker.sock is not allowed"),
    (["-v", "/run:/r"], b"bind-mounting /run is not allowed"),
    (["--mount", "type=bind,source=/etc,target=/e"], b"bind-mounting /etc is not allowed"),
    (["--device", "/dev/null"], b"host devices are not allowed"),
])
def test_opt_in_rules_refuse_when_on(dockerd, configured, flags, message):
    configured(OPT_IN)
    result = dockerd.docker("create", *flags, TEST_IMAGE, "true")
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_opt_in_rules_allow_what_they_do_not_name(dockerd, configured, tmp_path):
    tmp_path.chmod(0o755)
    configured(OPT_IN)
    result = dockerd.docker("run", "--rm", "--network", "none", "--cap-add", "NET_ADMIN", "-v", "%s:/d" % tmp_path, TEST_IMAGE, "true")
    assert result.returncode == 0, result.stderr


def test_opt_in_rules_read_bodies_the_go_way(dockerd, configured):
    configured(OPT_IN)
    body = b'{"image": "%s", "hostconfig": {"priviLeged": true}}' % TEST_IMAGE.encode()
    status, answer = dockerd.api("POST", "/containers/create", body, {"Content-Type": "application/json"})
    assert status == DENIED and b"privileged" in answer


def test_generated_bodies_never_get_a_host_userns_container(dockerd):
    results = bypass_probe.probe_generated(dockerd.socket, TEST_IMAGE, 100, seed=7)
    assert not [r for r in results if r["host_userns_created"]]
    refused = sum(r["refused_by_plugin"] for r in results)
    created = sum(r["status"] == 201 for r in results)
    assert refused >= 15 and created >= 15, (refused, created)
