"""Fixtures and helpers for testinfra tests that run inside a test host.

Each test host is a Debian container with systemd and its own Docker engine;
`host` (from testinfra) runs commands in it. Nested Docker cannot pull, so
`test_image` imports a busybox image built from the host's busybox-static.
"""

import json

import pytest

PLUGIN_NAME = "deny-userns-mode-host"
PLUGIN_SOCKET = f"/run/docker/plugins/{PLUGIN_NAME}.sock"
REFUSAL = "userns=host is not allowed"
MANAGED_PLUGIN_REFUSAL = "managed plugins are not allowed"
DAEMON_JSON = "/etc/docker/daemon.json"
TEST_IMAGE = "busybox:local"
SNAPSHOT_DIR = "/var/lib/molecule-snapshots"

# What shared/tasks/seed-daemon-json.yml seeds into daemon.json before the role runs: keys that
# belong to someone else and must survive every merge.
FOREIGN_DAEMON_KEYS = {"log-opts": {"max-size": "10m", "max-file": "2"}}

# A raw Engine API call, as a client that bypasses the docker CLI would make
# it: Go's JSON decoding matches keys case-insensitively, so lowercase keys
# still ask for the host user namespace.
_RAW_CREATE = r'''
import http.client, json, socket, sys
class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect("/var/run/docker.sock")
body = sys.argv[1]
c = Conn("localhost")
c.request("POST", "/v1.41/containers/create", body, {"Content-Type": "application/json"})
r = c.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode("utf-8", "replace")}))
'''


def raw_create(host, body):
    """POST body to /containers/create on the host's Docker; returns (status, text)."""
    out = host.check_output("python3 -c %s %s", _RAW_CREATE, json.dumps(body))
    answer = json.loads(out)
    return answer["status"], answer["body"]


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
