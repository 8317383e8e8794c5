"""The policy as a pure function: classify, rules, verdict, config (no sockets)."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import audit_log, host_devices, host_network, host_paths, lookups, main, plugin_service, policy, routes
from docker_userns_plugin import config as config_module
from docker_userns_plugin import request as request_module

DEFAULTS = config_module.validate_config({})


def authz(method: str, uri: str, body=None, headers=None, user: str = "") -> dict:
    payload = {"User": user, "RequestMethod": method, "RequestUri": uri, "RequestHeaders": headers or {}}
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        payload["RequestBody"] = base64.b64encode(raw).decode()
    return payload


class NoContainers(lookups.ContainerLookup):
    """A daemon without containers or volumes ("no such container"), of a version with no known
    flaw; host paths are this machine's own."""

    def container(self, ref):
        return None

    def exec_container_id(self, exec_id):
        return None

    def volume(self, name, used_by):
        return None

    def engine_version(self):
        return "29.7.2"

    def daemon_info(self):
        return lookups.DaemonInfo("/var/lib/docker/100000.100000", True, "json-file")

    def network(self, ref):
        return lookups.Network("%064x" % 1, ref, "host" if ref == "host" else "bridge")

    def host_path(self, path):
        return host_paths.inspect_host_path(path)

    def host_devices(self, path):
        return host_devices.host_devices(path)

    def host_network(self):
        return host_network.read_host_network()


def verdict(payload, lookup=NoContainers(), **config):  # noqa: B008 stateless, so one shared default is safe
    decision, _request = policy.decide(payload, config_module.validate_config(config), lookup)
    return decision


HOST = {"Image": "x", "HostConfig": {"UsernsMode": "host"}}


# --- classify -----------------------------------------------------------------------------------


@pytest.mark.parametrize("uri, path, version", [
    ("/containers/create", "/containers/create", None),
    ("/v1.41/containers/create?name=a", "/containers/create", "1.41"),
    ("/containers/%63reate", "/containers/create", None),
    ("/v1.23/containers/abc/start", "/containers/abc/start", "1.23"),
    ("http://docker/v1.41/containers/create", "/containers/create", "1.41"),
    ("/containers/create/", "/containers/create", None),
    ("/containers/./create", "/containers/create", None),
])
def test_split_uri(uri, path, version):
    assert request_module.split_uri(uri)[:2] == (path, version)


@pytest.mark.parametrize("uri", ["containers/create", "/containers/%zzcreate", "*"])
def test_unroutable_uris_raise(uri):
    with pytest.raises(request_module.Unroutable):
        request_module.split_uri(uri)


@pytest.mark.parametrize("version, less", [("1.23", True), ("1.24", False), ("1.9", True), ("1.100", False), (None, False), (".", True)])
def test_version_less_than_1_24(version, less):
    assert request_module.version_less(version, "1.24") is less


@pytest.mark.parametrize("method, uri, kind, name, target", [
    ("POST", "/containers/create", "container-create", "container-create", None),
    ("POST", "/v1.41/containers/my/name/start", "container-start", "container-start", "my/name"),
    ("GET", "/containers/create", "other", None, None),  # no such route: the daemon answers 404
    ("POST", "/plugins/pull?remote=x", "plugin", "plugin-pull", None),
    ("POST", "/plugins/a/b:latest/enable", "plugin", "plugin-enable", "a/b:latest"),
    ("POST", "/plugins/a/push/enable", "plugin", "plugin-enable", "a/push"),
    ("POST", "/plugins/a/set", "plugin", "plugin-set", "a"),
    ("POST", "/plugins/a/upgrade", "plugin", "plugin-upgrade", "a"),
    ("POST", "/plugins/create?name=x", "plugin", "plugin-create", None),
    ("POST", "/plugins/a/disable", "other", "plugin-disable", "a"),
    ("POST", "/plugins/a/push", "other", "plugin-push", "a"),
    ("POST", "/services/create", "service-write", "service-create", None),
    ("POST", "/services/abc/update", "service-write", "service-update", "abc"),
    ("POST", "/containers/abc/exec", "container-enter", "exec-create", "abc"),
    ("POST", "/containers/a/start/exec", "container-enter", "exec-create", "a/start"),
    ("POST", "/exec/e1/start", "exec-start", "exec-start", "e1"),
    ("POST", "/exec/e1/resize", "other", "exec-resize", "e1"),
    ("POST", "/containers/abc/restart", "container-enter", "container-restart", "abc"),
    ("POST", "/containers/abc/unpause", "container-enter", "container-unpause", "abc"),
    ("POST", "/containers/abc/pause", "other", "container-pause", "abc"),
    ("POST", "/containers/abc/kill", "other", "container-kill", "abc"),
    ("POST", "/containers/abc/attach", "container-enter", "container-attach", "abc"),
    ("GET", "/containers/abc/attach/ws", "container-enter", "container-attach-ws", "abc"),
    ("GET", "/v1.41/containers/abc/archive?path=/x", "archive-read", "archive-read", "abc"),
    ("HEAD", "/containers/abc/archive?path=/x", "archive-read", "archive-stat", "abc"),
    ("PUT", "/containers/abc/archive?path=/x", "archive-write", "archive-write", "abc"),
    ("POST", "/v1.23/containers/abc/copy", "archive-read", "container-copy", "abc"),
    ("GET", "/containers/abc/%61rchive", "archive-read", "archive-read", "abc"),
    ("GET", "/containers/abc/export", "other", "container-export", "abc"),
    ("GET", "/containers/abc/json", "other", "container-inspect", "abc"),
    ("DELETE", "/containers/abc", "other", "container-delete", "abc"),
    ("DELETE", "/containers/abc/checkpoints/c1", "checkpoint", "checkpoint-delete", "abc"),
    ("POST", "/containers/abc/update", "container-enter", "container-update", "abc"),
    ("POST", "/containers/abc/rename?name=x", "container-enter", "container-rename", "abc"),
    ("POST", "/containers/abc/frobnicate", "other", None, None),
    ("POST", "/networks/create", "network-create", "network-create", None),
    ("POST", "/networks/n1/connect", "network-connect", "network-connect", "n1"),
    ("GET", "/networks/", "other", "network-list", None),
    ("POST", "/swarm/init", "swarm-join", "swarm-init", None),
    ("POST", "/v1.41/swarm/join", "swarm-join", "swarm-join", None),
    ("POST", "/swarm/update", "swarm", "swarm-update", None),
    ("POST", "/build?version=2", "build", "build", None),
    ("POST", "/grpc", "build", "grpc", None),
    ("POST", "/auth", "other", "auth", None),
    ("OPTIONS", "/anything/at/all", "other", "options", "anything/at/all"),
    ("GET", "/debug/pprof/heap", "refused", "debug", "pprof/heap"),
    ("PUT", "/debug/vars", "refused", "debug", "vars"),
    ("POST", "/containers/abc/checkpoints", "checkpoint", "checkpoint-create", "abc"),
])
def test_classify(method, uri, kind, name, target):
    request = policy.parse_authz_request(authz(method, uri))
    route = routes.classify(request)
    assert (route.kind, route.reviewed.name if route.reviewed else None, route.target) == (kind, name, target)


# --- rules and verdict ---------------------------------------------------------------------------


def test_host_userns_create_is_denied_with_the_known_message():
    decision = verdict(authz("POST", "/v1.41/containers/create", HOST))
    assert not decision.allow and decision.rule == "host-userns"
    assert "userns=host is not allowed" in decision.message


def test_plain_create_and_everyday_requests_are_allowed():
    assert verdict(authz("POST", "/containers/create", {"Image": "x", "HostConfig": {"UsernsMode": ""}})).allow
    for method, uri in [("GET", "/_ping"), ("GET", "/containers/json"), ("POST", "/build"), ("DELETE", "/containers/x")]:
        assert verdict(authz(method, uri)).allow


def test_create_without_visible_body_is_denied_with_what_to_do():
    decision = verdict(authz("POST", "/containers/create"))
    assert not decision.allow and decision.rule == "unseen-body"
    assert "1 MiB" in decision.message


def test_unparseable_create_body_is_denied():
    decision = verdict(authz("POST", "/containers/create", b"{not json"))
    assert not decision.allow and decision.rule == "unreadable-body"


@pytest.mark.parametrize("version", ["v1.23", "v1.23.", "v1.020", "v1.12", "v1.0023", "v1", "v."])
@pytest.mark.parametrize("uri", ["/%s/containers/abc/start", "/%s/containers/create", "/%s/containers/abc/copy", "/%s/_ping"])
def test_api_versions_before_1_24_are_refused_in_every_spelling(version, uri):
    # Before 1.24 a start body replaces a container's HostConfig, and the copy route reads files:
    # the table reviews 1.24 and later, and refuses the rest whatever the request carries.
    decision = verdict(authz("POST" if "_ping" not in uri else "GET", uri % version, b'{"Image": "x"}', {"Content-Length": "14"}))
    assert (decision.allow, decision.rule) == (False, "api-version")
    assert "1.24" in decision.message
    # A host user namespace keeps the message clients know, whatever the version.
    host = verdict(authz("POST", "/%s/containers/create" % version, HOST))
    assert (host.allow, host.rule) == (False, "host-userns")


@pytest.mark.parametrize("version", ["v1.24", "v1.24.0", "v1.41", "v1.0041"])
def test_start_bodies_from_api_1_24_are_not_read(version):
    # The daemon refuses a start body from 1.24 on ("bodyOnStartError"): nothing to check.
    body = json.dumps({"UsernsMode": "host"}).encode()
    assert verdict(authz("POST", "/%s/containers/abc/start" % version, body, {"Content-Length": "30"})).allow


def test_modern_start_without_body_is_allowed():
    assert verdict(authz("POST", "/v1.41/containers/abc/start")).allow
    assert verdict(authz("POST", "/containers/abc/start")).allow


@pytest.mark.parametrize("uri", [
    "/plugins/pull?remote=vieux/sshfs",
    "/plugins/create?name=x",
    "/plugins/x/enable",
    "/plugins/x/set",
    "/plugins/x/upgrade?remote=x",
])
def test_managed_plugins_are_denied_by_default(uri):
    decision = verdict(authz("POST", uri, [], {"Content-Type": "application/json"}))
    assert not decision.allow and "managed plugins are not allowed" in decision.message


def test_allowlisted_plugins_are_allowed_in_any_spelling():
    config = {"allowed_plugins": ["vieux/sshfs"]}
    privileges: list = []  # the body of a pull: the privileges the user granted
    assert verdict(authz("POST", "/plugins/pull?remote=docker.io/vieux/sshfs:latest", privileges), **config).allow
    assert verdict(authz("POST", "/plugins/vieux/sshfs:latest/enable"), **config).allow
    assert not verdict(authz("POST", "/plugins/pull?remote=vieux/sshfs&name=evil", privileges), **config).allow
    assert not verdict(authz("POST", "/plugins/pull?remote=vieux/sshfs:v2", privileges), **config).allow
    assert not verdict(authz("POST", "/plugins/pull?remote=vieux/sshfs;x=1", privileges), **config).allow
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert not verdict(authz("POST", "/plugins/vieux/sshfs:latest/enable", headers=form), **config).allow
    # The privileges body not forwarded (e.g. Content-Type text/plain, which 20.10 decodes anyway).
    unseen = verdict(authz("POST", "/plugins/pull?remote=vieux/sshfs", headers={"Content-Type": "text/plain"}), **config)
    assert not unseen.allow and unseen.rule == "unseen-body"


def test_swarm_plugin_services_are_denied_even_where_swarm_is_allowed():
    spec = {"TaskTemplate": {"Runtime": "plugin", "PluginSpec": {"Name": "x"}}}
    assert verdict(authz("POST", "/services/create", spec), allow_swarm=True).rule == "managed-plugins"
    assert verdict(authz("POST", "/services/create"), allow_swarm=True).rule == "unseen-body"
    assert verdict(authz("POST", "/services/create", {"TaskTemplate": {"ContainerSpec": {"Image": "x"}}}), allow_swarm=True).allow


@pytest.mark.parametrize("uri", ["/swarm/init", "/v1.45/swarm/join", "/services/create", "/services/web/update?version=3"])
def test_swarm_is_refused_unless_allowed(uri):
    body = {"ListenAddr": "127.0.0.1:2377"} if "swarm" in uri else {"TaskTemplate": {"ContainerSpec": {"Image": "x"}}}
    decision = verdict(authz("POST", uri, body))
    assert not decision.allow and decision.rule == "swarm"
    assert "without asking any authorization plugin" in decision.message and "allow_swarm" in decision.message
    assert verdict(authz("POST", uri, body), allow_swarm=True).allow


def test_audit_mode_allows_and_reports_would_deny():
    decision = verdict(authz("POST", "/containers/create", HOST), mode="audit")
    assert decision.allow and decision.decision == "would-deny" and decision.rule == "host-userns"


def test_exempt_users_skip_the_rules():
    assert verdict(authz("POST", "/containers/create", HOST, user="admin"), exempt_users=["admin"]).allow
    assert not verdict(authz("POST", "/containers/create", HOST, user="someone"), exempt_users=["admin"]).allow
    assert not verdict(authz("POST", "/containers/create", HOST, user=""), exempt_users=["admin"]).allow


@pytest.mark.parametrize("payload", [None, [], "x", {}, {"RequestMethod": "POST"},
                                     {"RequestMethod": "POST", "RequestUri": "/containers/create", "RequestBody": "!!"}])
def test_garbage_payloads_are_denied_even_in_audit_mode(payload):
    decision = verdict(payload, mode="audit")
    assert not decision.allow and decision.rule == "unreadable-request"


OPT_IN = {
    "deny_privileged": True,
    "deny_host_namespaces": list(config_module.HOST_NAMESPACES),
    "deny_cap_add": ["sys_admin"],
    "deny_bind_mounts": ["/var/run/docker.sock"],
    "deny_devices": True,
}


@pytest.mark.parametrize("host_config, rule", [
    ({"Privileged": True}, "privileged"),
    ({"PidMode": "host"}, "host-pid"),
    ({"IpcMode": "host"}, "host-ipc"),
    ({"NetworkMode": "host"}, "host-network"),
    ({"UTSMode": "host"}, "host-uts"),
    ({"CgroupnsMode": "host"}, "host-cgroup"),
    ({"CapAdd": ["CAP_SYS_ADMIN"]}, "cap-add"),
    ({"CapAdd": ["ALL"]}, "cap-add"),
    ({"Binds": ["/var/run/docker.sock:/s"]}, "bind-mount"),
    ({"Binds": ["/:/host:ro"]}, "bind-mount"),
    ({"Mounts": [{"Type": "bind", "Source": "/var/run"}]}, "bind-mount"),
    ({"Devices": [{"PathOnHost": "/dev/sda"}]}, "devices"),
    ({"DeviceCgroupRules": ["c 1:3 rwm"]}, "devices"),
])
def test_opt_in_rules(host_config, rule):
    body = {"Image": "x", "HostConfig": host_config}
    assert verdict(authz("POST", "/containers/create", body)).rule != rule  # off by default
    decision = verdict(authz("POST", "/containers/create", body), **OPT_IN)
    assert not decision.allow and decision.rule == rule


@pytest.mark.parametrize("host_config", [
    {"PidMode": "container:abc"},
    {"CapAdd": ["NET_ADMIN"]},
    {"Binds": ["/usr/share:/data", "named:/v"]},
    {"Mounts": [{"Type": "volume", "Source": "vol"}]},
])
def test_opt_in_rules_allow_what_they_do_not_name(host_config):
    assert verdict(authz("POST", "/containers/create", {"Image": "x", "HostConfig": host_config}), **OPT_IN).allow


# --- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, error", [
    ([], "JSON object"),
    ({"mdoe": "audit"}, "unknown key"),
    ({"mode": "permissive"}, "mode must be"),
    ({"deny_privileged": "yes"}, "true or false"),
    ({"allowed_plugins": "x"}, "list of non-empty strings"),
    ({"deny_host_namespaces": ["user"]}, "unknown namespace"),
    ({"deny_bind_mounts": ["relative/path"]}, "absolute"),
])
def test_config_errors_say_what_is_wrong(raw, error):
    with pytest.raises(config_module.ConfigError, match=error):
        config_module.validate_config(raw)


def test_check_config_cli(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"mode": "audit"}')
    bad.write_text('{"mode": "audit",}')
    assert main.main(["--check-config", str(good)]) == 0
    assert "config OK" in capsys.readouterr().out
    assert main.main(["--check-config", str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main.main(["--check-config", str(tmp_path / "missing.json")]) == 2


def test_empty_authz_request_is_refused_with_why():
    # The daemon resends an empty body when it retries after a plugin restart mid-request.
    server = plugin_service.Plugin(DEFAULTS, None, "test")
    answer = json.loads(server.authz_request(b""))
    assert answer["Allow"] is False and "run the command again" in answer["Msg"]


def test_every_request_needs_a_readable_path():
    assert verdict(authz("GET", "/containers/zz%/json/../logs")).rule == "unreadable-request"
    assert verdict(authz("GET", "/containers/../../version")).allow  # cleaned as the daemon cleans it: /version
    assert verdict(authz("GET", "/containers/../../x/json")).rule == "unreviewed-route"
    assert not verdict(authz("POST", "/containers/%zz/create")).allow


def test_a_log_line_stays_one_write_and_valid_json(capfd):
    audit_log.log_event("decision", decision="deny", reason="\u00e9\u4e2d" * 3000, path="/containers/" + "x" * 5000)
    line = capfd.readouterr().err.encode("utf-8")
    assert len(line) <= audit_log.MAX_LOG_LINE + 1 and line.endswith(b"\n")
    record = json.loads(line)
    assert record["decision"] == "deny" and record["reason"].startswith("\u00e9\u4e2d")
