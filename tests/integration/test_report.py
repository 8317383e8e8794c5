"""The plugin's --report mode (what the role's preflight and audit.yml run) against a real dockerd
20.10, and the plugin's decisions about the same containers: one implementation, one answer.

Each test makes its own containers and removes them, so it passes alone or in any order.
"""

from __future__ import annotations

import json
import subprocess
import uuid

from harness import PLUGIN, PLUGIN_PYTHON, TEST_IMAGE


def unique(prefix: str) -> str:
    return "due-%s-%s" % (prefix, uuid.uuid4().hex[:8])


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def run_report(dockerd, **config) -> dict:
    """The plugin file run as the role runs it: python3 -I -S FILE --report --config-json JSON."""
    config = dict({"docker_socket": dockerd.socket}, **config)
    done = subprocess.run([PLUGIN_PYTHON, "-I", "-S", str(PLUGIN), "--report", "--config-json", json.dumps(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_chain_of_six_remapped_containers_is_inside_for_the_plugin_and_the_report(dockerd):
    """Six remapped containers, each joined to the network namespace of the one before."""
    names = [unique("link%d" % n) for n in range(6)]
    try:
        ok(dockerd.docker("run", "-d", "--network", "none", "--name", names[0], TEST_IMAGE, "sleep", "600"))
        for before, name in zip(names, names[1:]):
            ok(dockerd.docker("run", "-d", "--network", "container:" + before, "--name", name, TEST_IMAGE, "sleep", "600"))
        uid_map = ok(dockerd.docker("exec", names[-1], "cat", "/proc/self/uid_map")).split()
        assert uid_map[0] == "0" and uid_map[1] != "0"  # container root is an unprivileged host uid
        ok(dockerd.docker("stop", "-t", "0", names[-1]))
        ok(dockerd.docker("start", names[-1]))
        report = run_report(dockerd)
        assert report["error"] == ""
        assert not set(names) & {c["name"] for c in report["unremapped_containers"]}
    finally:
        dockerd.docker("rm", "-f", *reversed(names))


def test_the_report_names_what_the_plugin_refuses_and_only_that(dockerd, plugin):
    """Made in audit mode, as on a host that rolled out observe-first: a host-userns container,
    one joined to it, and a remapped one. The report lists the first two, with the plugin's words,
    and the plugin refuses exec into exactly those."""
    outside, joined, inside = unique("rep-out"), unique("rep-joined"), unique("rep-in")
    plugin.reconfigure({"mode": "audit"})
    try:
        ok(dockerd.docker("run", "-d", "--userns=host", "--network", "none", "--name", outside, TEST_IMAGE, "sleep", "600"))
        ok(dockerd.docker("create", "--pid", "container:" + outside, "--network", "none", "--name", joined, TEST_IMAGE, "true"))
        ok(dockerd.docker("run", "-d", "--network", "none", "--name", inside, TEST_IMAGE, "sleep", "600"))
    finally:
        plugin.reconfigure({})
    try:
        report = run_report(dockerd)
        listed = {c["name"]: c for c in report["unremapped_containers"]}
        assert report["error"] == "" and report["unremapped_plugins"] == []
        assert listed[outside]["running"] is True and listed[outside]["reason"] == "runs in the host's user namespace (--userns=host)"
        assert listed[joined]["running"] is False
        assert listed[joined]["reason"].startswith("shares the pid namespace of container %s (" % outside)
        assert inside not in listed
        for name in (outside, joined, inside):
            refused = dockerd.docker("exec", name, "true").returncode != 0 if name != joined else \
                dockerd.docker("start", name).returncode != 0
            assert refused == (name in listed), name
    finally:
        dockerd.docker("rm", "-f", joined, outside, inside)


def test_a_report_that_cannot_ask_the_daemon_says_so_instead_of_an_empty_list(tmp_path):
    done = subprocess.run([PLUGIN_PYTHON, "-I", "-S", str(PLUGIN), "--report", "--config-json",
                           json.dumps({"docker_socket": str(tmp_path / "none.sock")})], capture_output=True, text=True)
    report = json.loads(done.stdout)
    assert done.returncode == 0 and "cannot ask the Docker daemon" in report["error"]


def test_a_bad_config_is_refused_before_anything_is_asked():
    done = subprocess.run([PLUGIN_PYTHON, "-I", "-S", str(PLUGIN), "--report", "--config-json", '{"mode": "loud"}'],
                          capture_output=True, text=True)
    assert done.returncode == 2 and 'mode must be "enforce", "audit" or "observe"' in done.stderr
