"""Fixtures and helpers for testinfra tests that run inside a test host.

Each test host is a Debian container with systemd and its own Docker engine;
`host` (from testinfra) runs commands in it. Nested Docker cannot pull, so
`test_image` imports a busybox image built from the host's busybox-static.
"""

import base64
import json
import time
from pathlib import Path

import pytest

PLUGIN_NAME = "deny-userns-mode-host"
PLUGIN_SOCKET = f"/run/docker/plugins/{PLUGIN_NAME}.sock"
REFUSAL = "userns=host is not allowed"
MANAGED_PLUGIN_REFUSAL = "managed plugins are not allowed"
DAEMON_JSON = "/etc/docker/daemon.json"
TEST_IMAGE = "busybox:local"
SNAPSHOT_DIR = "/var/lib/molecule-snapshots"
BYPASS_PROBE = Path(__file__).resolve().parents[3] / "tests" / "bypass_probe.py"
REMOTE_PROBE = "/var/tmp/bypass_probe.py"  # /tmp is a tmpfs private to units on Debian 13

# What shared/tasks/seed-daemon-json.yml seeds into daemon.json before the role runs: keys that
# belong to someone else and must survive every merge.
FOREIGN_DAEMON_KEYS = {"log-opts": {"max-size": "10m", "max-file": "2"}}

# A raw Engine API call, as a client that bypasses the docker CLI would make it: Go's JSON
# decoding matches keys case-insensitively, so lowercase keys still ask for the host user namespace.
_RAW_API = r'''
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/var/run/docker.sock")
method, path, body = sys.argv[1], sys.argv[2], sys.argv[3] or None
c = Conn("localhost")
c.request(method, path, body, {"Content-Type": "application/json"} if body else {})
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode("utf-8", "replace")}))
'''


def raw_api(host, method, path, body=None):
    """One request to the host's Docker API; returns (status, text)."""
    out = host.check_output("python3 -c %s %s %s %s", _RAW_API, method, path, json.dumps(body) if body is not None else "")
    answer = json.loads(out)
    return answer["status"], answer["body"]


def raw_create(host, body):
    """POST body to /containers/create on the host's Docker; returns (status, text)."""
    return raw_api(host, "POST", "/v1.41/containers/create", body)


def docker_run(host, *args):
    """`docker run --rm --network none ARGS...` in the host; returns the CommandResult."""
    return host.run("docker run --rm --network none " + " ".join(["%s"] * len(args)), *args)


def daemon_json(host):
    return json.loads(host.file(DAEMON_JSON).content_string)


def subid_lines(host, path, user):
    return [line for line in host.file(path).content_string.splitlines()
            if line.split(":")[0] == user]


def snapshot(host, name):
    return json.loads(host.file(f"{SNAPSHOT_DIR}/{name}.json").content_string)


@pytest.fixture(scope="module")
def test_image(host):
    """A tiny image inside the host's (remapped) Docker, imported once per module."""
    result = host.run("import-busybox-image %s", TEST_IMAGE)
    assert result.rc == 0, f"importing {TEST_IMAGE} failed: {result.stderr}"
    return TEST_IMAGE


@pytest.fixture(scope="module")
def suite(host):
    """The host's Debian codename (bookworm, trixie, forky)."""
    return host.check_output(". /etc/os-release && echo $VERSION_CODENAME")


def copy_probe(host):
    """Copy tests/bypass_probe.py into the host; returns its path there."""
    host.run_test("echo %s | base64 -d > %s", base64.b64encode(BYPASS_PROBE.read_bytes()).decode(), REMOTE_PROBE)
    return REMOTE_PROBE


@pytest.fixture(scope="module")
def probe(host, test_image):
    """probe(classes): run the bypass probe's comma-separated classes in the host; its JSON results."""
    remote = copy_probe(host)

    def run(classes):
        return json.loads(host.check_output("python3 %s --image %s --classes %s", remote, test_image, classes))
    return run


def snapshot_differences(before, after):
    """Human-readable list of what differs between two host snapshots."""
    differences = []
    for key in ("docker_main_pid", "plugin_sockets"):
        if before[key] != after[key]:
            differences.append(f"{key}: {before[key]!r} -> {after[key]!r}")
    old, new = before["files"], after["files"]
    for path in sorted(set(old) | set(new)):
        if old.get(path) != new.get(path):
            differences.append(f"{path}: {old.get(path, 'absent')} -> {new.get(path, 'absent')}")
    return differences


PLUGIN_CONFIG = "/etc/docker-userns-enforcement/config.json"
PLUGIN_SERVICE = "docker-userns-enforcement-plugin.service"


def set_plugin_mode(host, mode):
    """Switch the running plugin to audit or enforce by hand (test set-up: how containers outside
    the remapping come to exist on real hosts), and wait until the daemon sees the new mode."""
    edit = "import json; p = %r; c = json.load(open(p)); c['mode'] = %r; json.dump(c, open(p, 'w'), indent=2)" % (PLUGIN_CONFIG, mode)
    host.run_test("python3 -c %s", edit)
    host.run_test("systemctl reload %s", PLUGIN_SERVICE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        probe = host.run("docker create --pull=never --userns=host docker-userns-mode-probe:none true")
        if (REFUSAL in probe.stderr) == (mode == "enforce"):
            return
        time.sleep(0.2)
    raise AssertionError(f"the plugin did not switch to {mode}")


@pytest.fixture(scope="module")
def outside_containers(host, test_image):
    """A running and a stopped container in the host's user namespace, and an exec left pending
    in the running one, all made in audit mode; removed at the end."""
    set_plugin_mode(host, "audit")
    try:
        running = host.check_output("docker run -d --userns=host --network none %s sleep 600", test_image)
        stopped = host.check_output("docker create --userns=host --network none %s id", test_image)
        status, answer = raw_api(host, "POST", "/containers/%s/exec" % running, {"Cmd": ["id"]})
        assert status == 201, answer
        pending = json.loads(answer)["Id"]
    finally:
        set_plugin_mode(host, "enforce")
    yield {"running": running, "stopped": stopped, "pending_exec": pending}
    host.run("docker rm -f %s %s", running, stopped)
