"""Requests about containers that already exist, decided from container descriptions.

The policy gets its lookup as a parameter; here a small fake daemon resolves references the way
the real one does (full ID, then name, then unique ID prefix) and answers with inspect-shaped
descriptions. The real lookup, against a real dockerd, is in tests/integration.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import config as config_module
from docker_userns_plugin import containers as containers_module
from docker_userns_plugin import daemon_lookup, host_devices, host_network, host_paths, lookups, plugin_service, policy
from standin import resolve_reference


def container_id(n: int) -> str:
    return ("%02x" % n) * 32


def inspect(n: int, name: str, userns: str = "", pid: str = "", ipc: str = "", network: str = "default",
            mounts=(), binds=()) -> dict:
    """A container description as GET /containers/{id}/json gives it (the keys the plugin reads)."""
    return {
        "Id": container_id(n), "Name": "/" + name,
        "HostConfig": {"UsernsMode": userns, "PidMode": pid, "IpcMode": ipc, "NetworkMode": network, "Binds": list(binds)},
        "Mounts": [dict(m) for m in mounts],
    }


class FakeDaemon(lookups.ContainerLookup):
    """Answers lookups as the daemon would, and counts them. Host paths are the real ones."""

    def __init__(self, containers=(), execs=None, volumes=None, failing=False, version="29.7.2",
                 data_root="/var/lib/docker/100000.100000", volume_users=None, held=(), remaps=True, networks=None):
        self.descriptions = list(containers)
        self.execs = execs or {}
        self.volumes = volumes or {}
        self.failing = failing
        self.version = version
        self.root = data_root
        self.users = volume_users or {}
        self.held = set(held)
        self.remaps = remaps
        self.networks = networks or {"bridge": "bridge", "host": "host", "none": "null"}  # name -> driver
        self.lookups = []
        self.questions = []  # version, data root, volume users

    def engine_version(self):
        self.questions.append("version")
        return self.version

    def daemon_info(self):
        self.questions.append("data-root")
        return lookups.DaemonInfo(self.root, self.remaps, "json-file")

    def network(self, ref):
        self.lookups.append(("network", ref))
        driver = self.networks.get(ref)
        return None if driver is None else lookups.Network("%064x" % len(ref), ref, driver)

    def host_path(self, path):
        return host_paths.inspect_host_path(path)

    def host_devices(self, path):
        return host_devices.host_devices(path)

    def host_network(self):
        return host_network.read_host_network()

    def volume_users(self, name):
        self.questions.append("volume-users")
        return [lookups.VolumeUser(*user) for user in self.users.get(name, [])]

    def volume_held(self, name):
        return name in self.held

    def container(self, ref):
        self.lookups.append(("container", ref))
        if self.failing:
            raise lookups.LookupFailed("cannot ask the Docker daemon (test)")
        status, answer = resolve_reference(self.descriptions, ref)
        if status == 400:
            raise lookups.LookupFailed("the Docker daemon answered with 400: %s" % answer["message"])
        return containers_module.container_from_inspect(answer) if status == 200 else None

    def exec_container_id(self, exec_id):
        self.lookups.append(("exec", exec_id))
        return self.execs.get(exec_id)

    def volume(self, name, used_by):
        self.lookups.append(("volume", name))
        driver, options = self.volumes.get(name, (None, None))
        return None if driver is None else lookups.Volume(name, driver, options)


OUTSIDE = inspect(1, "rootshell", userns="host")
INSIDE = inspect(2, "web")
JOINED = inspect(3, "sidecar", network="container:" + container_id(1))  # shares rootshell's network
PAUSED_JOIN = inspect(4, "chain", pid="container:sidecar")  # through sidecar to rootshell
DAEMON = [OUTSIDE, INSIDE, JOINED, PAUSED_JOIN]


def authz(method, uri, body=None, headers=None, user=""):
    payload = {"User": user, "RequestMethod": method, "RequestUri": uri,
               "RequestHeaders": headers if headers is not None else {"Content-Type": "application/json"}}
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        payload["RequestBody"] = base64.b64encode(raw).decode()
    return payload


def verdict(payload, daemon, **config):
    decision, _request = policy.decide(payload, config_module.validate_config(config), daemon)
    return decision


# Every request that runs code in, attaches to, revives, changes or writes into a container.
ENTERING = [
    ("POST", "/v1.41/containers/{}/exec", {"Cmd": ["sh"]}),
    ("POST", "/v1.41/containers/{}/start", None),
    ("POST", "/containers/{}/restart", None),
    ("POST", "/containers/{}/unpause", None),
    ("POST", "/containers/{}/attach?stream=1&stdin=1", None),
    ("GET", "/v1.41/containers/{}/attach/ws?stdin=1", None),
    ("POST", "/containers/{}/update", {"RestartPolicy": {"Name": "always"}}),
    ("POST", "/containers/{}/rename?name=web2", None),
    ("PUT", "/containers/{}/archive?path=/etc", b"tar"),
]
# Cleaning up stays possible, and costs no lookup.
CLEANUP = [
    ("POST", "/containers/{}/stop"), ("POST", "/containers/{}/kill?signal=KILL"), ("DELETE", "/containers/{}?force=1"),
    ("GET", "/containers/{}/json"), ("GET", "/containers/{}/logs?stdout=1"), ("GET", "/containers/{}/stats?stream=0"),
    ("GET", "/containers/{}/top"), ("POST", "/containers/{}/wait"), ("GET", "/containers/{}/export"),
    ("POST", "/containers/{}/pause"), ("GET", "/containers/{}/changes"), ("POST", "/containers/{}/resize?h=1&w=1"),
    ("POST", "/containers/prune"),
]


@pytest.mark.parametrize("method, uri, body", ENTERING)
@pytest.mark.parametrize("ref", ["rootshell", container_id(1), container_id(1)[:10], "sidecar", "chain"])
def test_entering_a_container_outside_the_remapping_is_refused(method, uri, body, ref):
    daemon = FakeDaemon(DAEMON)
    decision = verdict(authz(method, uri.format(ref), body, {"Content-Type": "application/json", "Content-Length": "10"}), daemon)
    assert not decision.allow and decision.rule == "outside-container"
    assert "rootshell" in decision.message and "userns=host is not allowed" in decision.message
    assert "docker rm -f" in decision.message and "recreate it without --userns=host" in decision.message


@pytest.mark.parametrize("method, uri, body", ENTERING)
def test_entering_a_remapped_container_is_allowed_with_one_lookup(method, uri, body):
    daemon = FakeDaemon(DAEMON)
    assert verdict(authz(method, uri.format("web"), body, {"Content-Type": "application/json", "Content-Length": "10"}), daemon).allow
    assert daemon.lookups == [("container", "web")]


@pytest.mark.parametrize("method, uri", CLEANUP)
def test_cleaning_up_a_container_outside_the_remapping_is_allowed_without_lookup(method, uri):
    daemon = FakeDaemon(DAEMON)
    assert verdict(authz(method, uri.format("rootshell"), headers={"Content-Length": "0"}), daemon).allow
    assert daemon.lookups == []


def test_the_denial_names_the_chain_that_leads_outside():
    decision = verdict(authz("POST", "/containers/chain/exec", {"Cmd": ["sh"]}), FakeDaemon(DAEMON))
    assert "chain" in decision.message and "sidecar" in decision.message and "rootshell" in decision.message
    assert "shares the pid namespace of container sidecar" in decision.message


def chain(length: int, first: dict) -> list:
    """`first` and `length` containers after it, each joining the one before by its name, in
    turn through the network, pid and ipc namespace."""
    containers = [first]
    for n in range(1, length + 1):
        field = ("network", "pid", "ipc")[n % 3]
        containers.append(inspect(0x40 + n, "link%d" % n, **{field: "container:" + containers[-1]["Name"][1:]}))
    return containers


@pytest.mark.parametrize("length", [1, 5, 40])
def test_a_chain_of_remapped_containers_of_any_length_is_inside(length):
    daemon = FakeDaemon(chain(length, inspect(0x40, "base")))
    last = "link%d" % length
    assert verdict(authz("POST", "/containers/%s/exec" % last, {"Cmd": ["sh"]}), daemon).allow
    assert verdict(authz("POST", "/containers/%s/start" % last), daemon).allow
    assert len([ref for kind, ref in daemon.lookups if kind == "container"]) == 2 * (length + 1)


@pytest.mark.parametrize("length", [1, 5, 40])
def test_a_chain_of_any_length_that_ends_in_the_host_user_namespace_is_outside(length):
    daemon = FakeDaemon(chain(length, inspect(0x40, "base", userns="host")))
    decision = verdict(authz("POST", "/containers/link%d/exec" % length, {"Cmd": ["sh"]}), daemon)
    assert not decision.allow and decision.rule == "outside-container"
    assert decision.message.count("shares the") == length and "base" in decision.message


def test_a_link_to_a_container_that_no_longer_exists_fails_closed():
    daemon = FakeDaemon([inspect(5, "orphan", network="container:gone")])
    decision = verdict(authz("POST", "/containers/orphan/exec", {"Cmd": ["sh"]}), daemon)
    assert not decision.allow and decision.rule == "outside-container"
    assert "container gone, which no longer exists" in decision.message


def test_a_chain_that_leads_back_to_itself_fails_closed():
    daemon = FakeDaemon([inspect(6, "left", pid="container:right"), inspect(7, "right", network="container:left")])
    for name in ("left", "right"):
        decision = verdict(authz("POST", "/containers/%s/exec" % name, {"Cmd": ["sh"]}), daemon)
        assert not decision.allow and "leads back to itself" in decision.message


def test_containers_joined_twice_to_the_same_one_are_decided_once():
    shared = inspect(8, "shared")
    both = inspect(9, "both", pid="container:shared", network="container:" + container_id(8))
    daemon = FakeDaemon([shared, both])
    assert verdict(authz("POST", "/containers/both/exec", {"Cmd": ["sh"]}), daemon).allow
    assert daemon.lookups == [("container", "both"), ("container", "shared"), ("container", container_id(8))]


def test_exec_start_is_decided_by_the_exec_s_container():
    daemon = FakeDaemon(DAEMON, execs={"e-out": container_id(1), "e-in": container_id(2)})
    refused = verdict(authz("POST", "/v1.41/exec/e-out/start", {"Detach": False}), daemon)
    assert not refused.allow and refused.rule == "outside-container" and "start an exec in container rootshell" in refused.message
    assert verdict(authz("POST", "/exec/e-in/start", {"Detach": True}), daemon).allow
    assert verdict(authz("POST", "/exec/unknown/start", {"Detach": True}), daemon).allow  # 404 from the daemon
    assert verdict(authz("POST", "/exec/e-out/resize?h=1&w=1"), daemon).allow
    assert verdict(authz("GET", "/exec/e-out/json"), daemon).allow


def test_a_container_that_does_not_exist_is_left_to_the_daemon():
    daemon = FakeDaemon(DAEMON)
    assert verdict(authz("POST", "/containers/nosuch/exec", {"Cmd": ["sh"]}), daemon).allow


def test_a_failed_lookup_denies_and_audit_mode_reports_it():
    payload = authz("POST", "/containers/web/exec", {"Cmd": ["sh"]})
    decision = verdict(payload, FakeDaemon(failing=True))
    assert not decision.allow and decision.rule == "lookup-failed" and "cannot ask the Docker daemon" in decision.message
    audit = verdict(payload, FakeDaemon(failing=True), mode="audit")
    assert audit.allow and audit.decision == "would-deny" and audit.rule == "lookup-failed"


def test_an_ambiguous_prefix_denies():
    twins = [inspect(0xAB, "a"), dict(inspect(0xAB, "b"), Id="ab" + "00" * 31)]
    decision = verdict(authz("POST", "/containers/ab/exec", {"Cmd": ["sh"]}), FakeDaemon(twins))
    assert not decision.allow and "multiple IDs" in decision.message


def test_audit_mode_and_exempt_users():
    payload = authz("POST", "/containers/rootshell/exec", {"Cmd": ["sh"]})
    audit = verdict(payload, FakeDaemon(DAEMON), mode="audit")
    assert audit.allow and audit.decision == "would-deny" and audit.rule == "outside-container"
    daemon = FakeDaemon(DAEMON)
    exempt = authz("POST", "/containers/rootshell/exec", {"Cmd": ["sh"]}, user="admin")
    assert verdict(exempt, daemon, exempt_users=["admin"]).allow and daemon.lookups == []


# --- new containers joining the namespaces of one outside the remapping -----------------------


@pytest.mark.parametrize("host_config", [
    {"HostConfig": {"PidMode": "container:rootshell"}},
    {"HostConfig": {"IpcMode": "container:" + container_id(1)}},
    {"HostConfig": {"NetworkMode": "container:rootshell"}},
    {"HostConfig": {"NetworkMode": "container:sidecar"}},  # joined to rootshell itself
    {"hostconfig": {"pidmode": "container:rootshell"}},  # Go matches keys case-insensitively
    '{"HostConfig": {"NetworkMode": "default", "NetworkMode": "container:rootshell"}}',  # JSON: the last one wins
    {"PidMode": "container:rootshell"},  # top-level HostConfig fields (Docker 20.10 to 26.1)
])
def test_joining_the_namespaces_of_a_container_outside_the_remapping_is_refused(host_config):
    if isinstance(host_config, str):
        body = ('{"Image": "busybox", %s' % host_config[1:]).encode()
    else:
        body = json.dumps(dict({"Image": "busybox"}, **host_config)).encode()
    decision = verdict(authz("POST", "/v1.41/containers/create", body), FakeDaemon(DAEMON))
    assert not decision.allow and decision.rule == "outside-container"
    assert "namespace of container" in decision.message and "rootshell" in decision.message


def test_repeated_keys_are_decoded_the_go_way():
    body = b'{"Image": "busybox", "HostConfig": {"PidMode": "container:rootshell", "pidmode": "container:web"}}'
    assert verdict(authz("POST", "/containers/create", body), FakeDaemon(DAEMON)).allow  # the last one wins


@pytest.mark.parametrize("mode", ["container:web", "container:" + container_id(2), "container:nosuch", "host", ""])
def test_joining_a_remapped_container_or_none_is_allowed(mode):
    body = {"Image": "busybox", "HostConfig": {"PidMode": mode, "IpcMode": mode}}
    assert verdict(authz("POST", "/containers/create", body), FakeDaemon(DAEMON)).allow


def test_plain_creates_cost_no_lookup():
    daemon = FakeDaemon(DAEMON)
    assert verdict(authz("POST", "/containers/create?name=x", {"Image": "busybox", "HostConfig": {"NetworkMode": "none"}}), daemon).allow
    assert daemon.lookups == []


# --- docker cp through host-backed mounts -------------------------------------------------------

BIND = {"Type": "bind", "Source": "/usr/share", "Destination": "/data"}  # exists; only root can change it
VOLUME = {"Type": "volume", "Name": "plain", "Source": "/var/lib/docker/100000.100000/volumes/plain/_data", "Destination": "/v", "Driver": "local"}
VOLUMES = {
    "plain": ("local", {}),
    "bound": ("local", {"type": "none", "o": "bind", "device": "/etc"}),
    "rbound": ("local", {"type": "none", "o": "ro,rbind", "device": "/root"}),
    "disk": ("local", {"type": "ext4", "device": "/dev/sdb1"}),
    "ram": ("local", {"type": "tmpfs", "device": "tmpfs", "o": "size=10m"}),
    "sized": ("local", {"size": "10G"}),
    "remote": ("sshfs", {}),
}


def with_mounts(*mounts, binds=()):
    return FakeDaemon([inspect(9, "box", mounts=mounts, binds=binds)], volumes=VOLUMES)


def volume(name, driver="local"):
    return dict(VOLUME, Name=name, Driver=driver)


ARCHIVE = [
    ("GET", "/v1.41/containers/box/archive?path=/data/shadow", None),
    ("HEAD", "/containers/box/archive?path=/data", None),
    ("PUT", "/containers/box/archive?path=/", b"tar"),
]  # the copy route of API versions before 1.24 is refused for its version (test_plugin_policy.py)


@pytest.mark.parametrize("method, uri, body", ARCHIVE)
@pytest.mark.parametrize("daemon, shows", [
    (lambda: with_mounts(BIND), "bind mount of /usr/share at /data"),
    (lambda: with_mounts(binds=["/srv/data:/data:ro"]), "bind mount of /srv/data"),
    (lambda: with_mounts(volume("bound")), "volume bound at /v: it binds /etc"),
    (lambda: with_mounts(volume("rbound")), "it binds /root"),
    (lambda: with_mounts(volume("disk")), "it mounts /dev/sdb1 (type ext4)"),
    (lambda: with_mounts(volume("remote", "sshfs")), "its driver sshfs"),
    (lambda: with_mounts(volume("gone")), "which the daemon does not know"),
    (lambda: with_mounts({"Type": "cluster", "Destination": "/c"}), "mount of type 'cluster'"),
])
def test_copies_through_host_backed_mounts_are_refused(method, uri, body, daemon, shows):
    decision = verdict(authz(method, uri, body, {"Content-Type": "application/json", "Content-Length": "10"}), daemon())
    assert not decision.allow and decision.rule == "host-mount-copy"
    assert shows in decision.message and "container box" in decision.message
    assert "allow_copy_through_host_mounts" in decision.message


@pytest.mark.parametrize("method, uri, body", ARCHIVE)
@pytest.mark.parametrize("mounts", [(), (volume("plain"),), (volume("ram"),), (volume("sized"),),
                                    ({"Type": "tmpfs", "Destination": "/t"},), ({"Type": "image", "Destination": "/i"},)])
def test_copies_without_host_backed_mounts_are_allowed(method, uri, body, mounts):
    decision = verdict(authz(method, uri, body, {"Content-Type": "application/json", "Content-Length": "10"}), with_mounts(*mounts))
    assert decision.allow, decision.message


def test_the_switch_allows_copies_through_host_mounts_but_never_into_a_container_outside():
    daemon = with_mounts(BIND)
    assert verdict(authz("GET", "/containers/box/archive?path=/data"), daemon, allow_copy_through_host_mounts=True).allow
    outside = FakeDaemon([inspect(1, "rootshell", userns="host")])
    decision = verdict(authz("PUT", "/containers/rootshell/archive?path=/", b"tar"), outside, allow_copy_through_host_mounts=True)
    assert not decision.allow and decision.rule == "outside-container"
    assert verdict(authz("GET", "/containers/rootshell/archive?path=/etc"), outside).allow  # reading its own files


def test_a_copy_costs_one_container_lookup_and_one_per_local_volume():
    daemon = with_mounts(volume("plain"), {"Type": "tmpfs", "Destination": "/t"})
    assert verdict(authz("GET", "/containers/box/archive?path=/v"), daemon).allow
    assert daemon.lookups == [("container", "box"), ("volume", "plain")]


# --- bodies the daemon hides from the plugin -----------------------------------------------------


@pytest.mark.parametrize("uri", [
    "/v1.41/containers/create?x=/auth",  # 20.10 up to 26.1.4 forward no body when the URI ends in /auth
    "/v1.41/containers/web/exec?/auth",
    "/v1.41/containers/web/update?a=/auth",
    "/exec/e1/start?x=/auth",
    "/networks/create?x=/auth",
    "/services/create",
    "/swarm/init",
    "/plugins/x/set",
    "/containers/web/checkpoints",
])
@pytest.mark.parametrize("headers", [
    {"Content-Type": "application/json", "Content-Length": "25"},
    {"Content-Type": "application/json;x", "Content-Length": "25"},  # the parameter makes the daemon skip the body
    {"Content-Type": "text/plain", "Content-Length": "25"},  # 20.10 decodes some routes whatever the type
    {"Content-Type": "application/json"},  # chunked: no Content-Length at all
])
def test_a_json_body_the_plugin_did_not_see_is_refused(uri, headers):
    decision = verdict(authz("POST", uri, headers=headers), FakeDaemon(DAEMON))
    assert not decision.allow and decision.rule == "unseen-body"
    assert "application/json body under 1 MiB" in decision.message


def test_an_empty_body_is_not_a_hidden_one():
    assert verdict(authz("POST", "/containers/web/exec", headers={"Content-Length": "0"}), FakeDaemon(DAEMON)).allow
    assert verdict(authz("POST", "/auth", headers={"Content-Type": "application/json", "Content-Length": "50"}), FakeDaemon(DAEMON)).allow


# --- checkpoints in any host directory (experimental daemons) -----------------------------------


@pytest.mark.parametrize("method, uri, body", [
    ("POST", "/containers/web/checkpoints", {"CheckpointID": "c1", "CheckpointDir": "/etc"}),
    ("POST", "/containers/web/checkpoints", {"CheckpointID": "c1", "checkpointdir": "/etc"}),
    ("GET", "/containers/web/checkpoints?dir=/etc/cron.d", None),
    ("DELETE", "/containers/web/checkpoints/etc?dir=/", None),
    ("POST", "/containers/web/start?checkpoint=c1&checkpoint-dir=/tmp/evil", None),
])
def test_checkpoints_in_a_directory_of_the_client_s_choosing_are_refused(method, uri, body):
    decision = verdict(authz(method, uri, body, {"Content-Type": "application/json", "Content-Length": "10"}), FakeDaemon(DAEMON))
    assert not decision.allow and decision.rule == "checkpoint-dir"


def test_checkpoints_in_the_container_s_own_directory_are_allowed():
    daemon = FakeDaemon(DAEMON)
    assert verdict(authz("POST", "/containers/web/checkpoints", {"CheckpointID": "c1"}), daemon).allow
    assert verdict(authz("GET", "/containers/web/checkpoints"), daemon).allow
    assert verdict(authz("POST", "/containers/web/start?checkpoint=c1"), daemon).allow


def test_start_parameters_in_a_form_body_are_refused():
    form = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "30"}
    decision = verdict(authz("POST", "/containers/web/start", headers=form), FakeDaemon(DAEMON))
    assert not decision.allow and decision.rule == "unseen-body"


# --- buildx ---------------------------------------------------------------------------------------


def test_buildx_docker_container_driver_gets_a_hint():
    body = {"Image": "moby/buildkit:buildx-stable-1", "HostConfig": {"Privileged": True, "UsernsMode": "host"}}
    decision = verdict(authz("POST", "/v1.41/containers/create?name=buildx_buildkit_builder0", body), FakeDaemon())
    assert not decision.allow and "userns=host is not allowed" in decision.message
    assert "docker buildx use default" in decision.message
    plain = verdict(authz("POST", "/v1.41/containers/create?name=other", body), FakeDaemon())
    assert "buildx" not in plain.message


# --- the transport's non-blocking first pass -------------------------------------------------------


def test_requests_needing_a_lookup_are_deferred_and_others_are_not():
    server = plugin_service.Plugin(config_module.validate_config({}), None, "test")
    needs = json.dumps(authz("POST", "/containers/web/exec", {"Cmd": ["sh"]})).encode()
    with pytest.raises(daemon_lookup.LookupDeferred):
        server.authz_request(needs, daemon_lookup.DEFER)
    refused = json.dumps(authz("POST", "/containers/create", {"Image": "x", "HostConfig": {"UsernsMode": "host"}})).encode()
    assert json.loads(server.authz_request(refused, daemon_lookup.DEFER))["Allow"] is False
    assert server.authz_request(json.dumps(authz("GET", "/_ping")).encode(), daemon_lookup.DEFER) == plugin_service.ALLOW_ANSWER
