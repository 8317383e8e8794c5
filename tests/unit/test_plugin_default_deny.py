"""Default deny: the reviewed table refuses what it does not know, and the rules behind its
checks refuse each way past the remapping that research found (docs/reviewed-api.md), while the
everyday spelling of each feature passes. The daemon is the fake of test_plugin_containers;
host paths, devices and the host's network are this machine's own."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import gojson, host_network, review, routes, table_types
from test_plugin_containers import FakeDaemon, authz, verdict

IMAGE = "busybox"
JSON = {"Content-Type": "application/json"}


def create(host_config=None, **top):
    body = dict({"Image": IMAGE}, **top)
    if host_config is not None:
        body["HostConfig"] = host_config
    return authz("POST", "/containers/create", body)


def refused(decision, rule, *words):
    assert (decision.allow, decision.rule) == (False, rule), decision.message
    for word in words:
        assert word in decision.message, (word, decision.message)


# --- the review ----------------------------------------------------------------------------------


@pytest.mark.parametrize("body, label", [
    ({"Image": IMAGE, "Frobnicate": True}, "container-create:Frobnicate"),
    ({"Image": IMAGE, "HostConfig": {"NewField": "x"}}, "container-create:HostConfig.NewField"),
    ({"Image": IMAGE, "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t", "Frob": 1}]}}, "container-create:HostConfig.Mounts.Frob"),
    ({"Image": IMAGE, "HostConfig": {"LogConfig": {"Type": "json-file", "Extra": {"a": 1}}}}, "container-create:HostConfig.LogConfig.Extra"),
    # Go merges an object given twice: the second, folded spelling is reviewed too.
    ({"Image": IMAGE, "HostConfig": {"Memory": 1}, "hostconfig": {"NewField": [1]}}, "container-create:HostConfig.NewField"),
])
def test_a_field_the_table_does_not_know_is_refused_with_its_label(body, label):
    decision = verdict(authz("POST", "/containers/create", body), FakeDaemon())
    refused(decision, "unreviewed", label, "allow_fields", "version")


@pytest.mark.parametrize("value", [None, "", 0, False, [], {}])
def test_a_field_the_table_does_not_know_passes_with_its_zero_value(value):
    # Clients send every field of a struct, most of them empty.
    assert verdict(create({"NewField": value}, Frobnicate=value), FakeDaemon()).allow


def test_allow_fields_lets_an_administrator_accept_a_field():
    body = create({"CgroupParent": "/mine"})
    refused(verdict(body, FakeDaemon()), "refused-field", "container-create:HostConfig.CgroupParent", "host cgroup")
    assert verdict(body, FakeDaemon(), allow_fields=["container-create:HostConfig.CgroupParent"]).allow
    unknown = authz("POST", "/containers/x/kill?force=1")
    refused(verdict(unknown, FakeDaemon()), "unreviewed", "container-kill:?force")
    assert verdict(unknown, FakeDaemon(), allow_fields=["container-kill:?force"]).allow


@pytest.mark.parametrize("host_config, values", [
    ({"RestartPolicy": {"Name": "sometimes"}}, "'no' or 'always'"),
    ({"Mounts": [{"Type": "bind", "Source": "/srv", "Target": "/s", "BindOptions": {"Propagation": "rshared"}}]}, "'rslave'"),
    ({"Mounts": [{"Type": "image", "Source": IMAGE, "Target": "/i"}]}, "'bind' or 'volume' or 'tmpfs'"),
    ({"Isolation": "hyperv"}, "'default'"),
])
def test_a_value_outside_a_fields_reviewed_values_is_refused(host_config, values):
    refused(verdict(create(host_config), FakeDaemon()), "refused-field", values)


def test_known_query_parameters_pass_and_others_are_refused():
    assert verdict(authz("GET", "/containers/json?all=1&limit=3&filters=%7B%7D"), FakeDaemon()).allow
    refused(verdict(authz("GET", "/containers/json?all=1&everything=1"), FakeDaemon()), "unreviewed", "?everything")
    assert verdict(authz("GET", "/containers/json?everything="), FakeDaemon()).allow  # empty: asks nothing


@pytest.mark.parametrize("method, uri, rule", [
    ("POST", "/containers/x/frobnicate", "unreviewed-route"),
    ("GET", "/v1.44/secret/route", "unreviewed-route"),
    ("GET", "/debug/pprof/heap", "refused-route"),
    ("POST", "/debug/pprof/profile?seconds=30", "refused-route"),
])
def test_routes_the_table_does_not_allow_are_refused(method, uri, rule):
    refused(verdict(authz(method, uri), FakeDaemon()), rule)


def test_everyday_routes_pass():
    for method, uri in [("GET", "/_ping"), ("HEAD", "/_ping"), ("GET", "/v1.41/version"), ("GET", "/info"),
                        ("OPTIONS", "/containers/json"), ("GET", "/events?since=1&until=2&filters=%7B%7D"),
                        ("POST", "/images/create?fromImage=busybox&tag=latest"), ("DELETE", "/images/busybox?force=1")]:
        assert verdict(authz(method, uri, headers={"Content-Length": "0"}), FakeDaemon()).allow, (method, uri)


# --- a property over the whole table ----------------------------------------------------------


def concrete(pattern: str) -> str:
    return re.sub(r"\([^)]*\)", "x", pattern)


REVIEWED = [r for r in routes.REVIEWED_ROUTES if r.kind != table_types.REFUSED and r.method != "*"]
UNKNOWN_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyzQWERTY_", min_size=3, max_size=12)
NON_ZERO = st.one_of(st.text(min_size=1, max_size=8), st.integers(min_value=1), st.just(True), st.lists(st.integers(), min_size=1, max_size=2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reviewed=st.sampled_from(REVIEWED), name=UNKNOWN_NAMES, value=st.text(alphabet="abc123", min_size=1, max_size=6))
def test_an_unknown_non_zero_query_parameter_is_refused_on_every_route(reviewed, name, value):
    if name in dict(reviewed.query):
        return
    body = b"{}" if reviewed.body is not None else None
    uri = "%s?%s=%s" % (concrete(reviewed.pattern), name, value)
    decision = verdict(authz(reviewed.method, uri, body, dict(JSON, **{"Content-Length": "2" if body else "0"})), FakeDaemon())
    refused(decision, "unreviewed", "?" + name)


def _structs(verdict_: table_types.Verdict, path: tuple = ()):
    """Every struct of a body verdict, with the keys that lead to it (a list element: index 0)."""
    if verdict_.kind == table_types.STRUCT:
        yield path, verdict_
        for name, field in verdict_.fields:
            yield from _structs(field, path + (name,))
    elif verdict_.kind == table_types.LIST:
        yield from _structs(verdict_.element, path + (0,))
    elif verdict_.kind == table_types.MAP:
        yield from _structs(verdict_.element, path + ("somekey",))


BODY_STRUCTS = [(r, path, s) for r in REVIEWED if r.body is not None for path, s in _structs(r.body)]


def _nest(path: tuple, leaf: dict):
    value: object = leaf
    for key in reversed(path):
        value = [value] if key == 0 else {key: value}
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(BODY_STRUCTS), name=UNKNOWN_NAMES, value=NON_ZERO)
def test_an_unknown_non_zero_body_field_is_refused_at_every_level_of_every_body(where, name, value):
    reviewed, path, struct = where
    if struct.field(name) is not None:
        return
    body = _nest(path, {name: value})
    if reviewed.name == "container-create" and isinstance(body, dict):
        body["Image"] = IMAGE
    raw = json.dumps(body).encode()
    decision = verdict(authz(reviewed.method, concrete(reviewed.pattern), raw, dict(JSON, **{"Content-Length": str(len(raw))})), FakeDaemon())
    assert not decision.allow, (reviewed.name, body)
    assert decision.rule == "unreviewed" and name in decision.message, (reviewed.name, body, decision.message)


def test_the_property_tests_reach_every_route_and_every_body_struct():
    assert len(REVIEWED) > 90 and len(BODY_STRUCTS) > 30
    assert {"HostConfig", "Mounts", "EndpointsConfig", "IPAM"} <= {p for _r, path, _s in BODY_STRUCTS for p in path}


# --- driver names ----------------------------------------------------------------------------


PATH_NAME = "../../../var/lib/docker/volumes/v/_data/evil"


@pytest.mark.parametrize("request_, where", [
    (authz("POST", "/networks/create", {"Name": "n", "Driver": PATH_NAME}), "network driver"),
    (authz("POST", "/networks/create", {"Name": "n", "IPAM": {"Driver": PATH_NAME}}), "ipam driver"),
    (authz("POST", "/volumes/create", {"Name": "v", "Driver": PATH_NAME}), "volume driver"),
    (create({"VolumeDriver": PATH_NAME}), "volume driver"),
    (create({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                         "VolumeOptions": {"DriverConfig": {"Name": PATH_NAME}}}]}), "volume driver"),
    (create({"LogConfig": {"Type": PATH_NAME}}), "log driver"),
])
def test_driver_names_with_a_path_are_refused_everywhere_the_api_takes_one(request_, where):
    refused(verdict(request_, FakeDaemon(), allowed_legacy_plugins=["evil"], allowed_drivers=["syslog"]),
            "driver-name", where, "holds a path")


@pytest.mark.parametrize("request_, opt_in", [
    (authz("POST", "/networks/create", {"Name": "n", "Driver": "weave"}), {"allowed_legacy_plugins": ["weave"]}),
    (authz("POST", "/networks/create", {"Name": "n", "Driver": "macvlan"}), {"allowed_drivers": ["macvlan"]}),
    (authz("POST", "/volumes/create", {"Name": "v", "Driver": "vieux/sshfs"}), {"allowed_plugins": ["vieux/sshfs"]}),
    (create({"LogConfig": {"Type": "syslog"}}), {"allowed_drivers": ["syslog"]}),
    (create({"LogConfig": {"Type": "gelf", "Config": {"gelf-address": "udp://127.0.0.1:12201"}}}), {"allowed_drivers": ["gelf"]}),
])
def test_other_drivers_need_an_administrator(request_, opt_in):
    refused(verdict(request_, FakeDaemon()), "driver-name")
    assert verdict(request_, FakeDaemon(), **opt_in).allow


@pytest.mark.parametrize("request_", [
    authz("POST", "/networks/create", {"Name": "n", "Driver": "bridge", "IPAM": {"Driver": "default"}}),
    authz("POST", "/volumes/create", {"Name": "v", "Driver": "local"}),
    create({"LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}}),
    create({"LogConfig": {"Type": "local"}}), create({"LogConfig": {"Type": "journald", "Config": {"tag": "x"}}}),
    create({"LogConfig": {"Type": "none"}}),
])
def test_built_in_drivers_pass(request_):
    assert verdict(request_, FakeDaemon()).allow


# --- local volume options ----------------------------------------------------------------------


@pytest.mark.parametrize("options, words", [
    ({"type": "overlay", "device": "overlay", "o": "lowerdir=/etc,upperdir=/root/u,workdir=/root/w"}, "type 'overlay'"),
    ({"type": "proc", "device": "proc"}, "type 'proc'"),
    ({"type": "ext4", "device": "/dev/sda1"}, "/dev/sda1"),
    ({"device": "/dev/sda1"}, "mount(2)"),
    ({"type": "none", "o": "bind", "device": "/var/lib/docker/100000.100000"}, "data directory"),
    ({"type": "none", "o": "bind,rshared", "device": "/srv"}, "rshared"),
    ({"type": "none", "o": "bind", "device": "relative"}, "absolute"),
    ({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,dev"}, "dev"),
    ({"type": "nfs", "o": "addr=10.0.0.1", "device": ":/export"}, "allow_network_volumes"),
    ({"typo": "tmpfs"}, "does not know typo"),
])
def test_local_volume_options_that_could_reach_the_host_are_refused_in_both_spellings(options, words):
    for request_ in (authz("POST", "/volumes/create", {"Name": "v", "DriverOpts": options}),
                     create({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v",
                                         "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": options}}}]})):
        refused(verdict(request_, FakeDaemon()), "volume-options", words)


@pytest.mark.parametrize("options", [
    {}, {"size": "10G"}, {"type": "tmpfs", "device": "tmpfs", "o": "size=64m,mode=1777,uid=1000,noexec,nosuid"},
    {"type": "none", "o": "bind", "device": "/srv"}, {"type": "", "o": "rbind,ro,nosuid", "device": "/usr/share"},
])
def test_plain_tmpfs_and_bind_volumes_pass(options):
    assert verdict(authz("POST", "/volumes/create", {"Name": "v", "DriverOpts": options}), FakeDaemon()).allow


def test_network_file_systems_need_an_administrator():
    request_ = authz("POST", "/volumes/create", {"Name": "v", "DriverOpts": {"type": "nfs", "o": "addr=192.0.2.9", "device": ":/x"}})
    assert verdict(request_, FakeDaemon(), allow_network_volumes=True).allow


def test_a_bind_volume_of_a_protected_path_is_refused_like_a_bind():
    request_ = authz("POST", "/volumes/create", {"Name": "v", "DriverOpts": {"o": "bind", "device": "/run"}})
    refused(verdict(request_, FakeDaemon(), deny_bind_mounts=["/run/docker.sock"]), "volume-options", "CIS Docker 5.6")


# --- log options ---------------------------------------------------------------------------


@pytest.mark.parametrize("log_config, words", [
    ({"Type": "json-file", "Config": {"max-size": "1m", "syslog-address": "unix:///run/x"}}, "syslog-address"),
    ({"Config": {"fluentd-address": "unix:///run/docker.sock"}}, "default log driver"),
    ({"Type": "local", "Config": {"labels": "a"}}, "labels"),
])
def test_log_options_that_name_host_things_are_refused(log_config, words):
    refused(verdict(create({"LogConfig": log_config}), FakeDaemon()), "log-driver", words.split()[0])


# --- devices -------------------------------------------------------------------------------


def device(path, inside="", access="rwm"):
    return {"PathOnHost": path, "PathInContainer": inside or path, "CgroupPermissions": access}


@pytest.mark.parametrize("host_config", [
    {"Devices": [device("/dev/fuse")]}, {"Devices": [device("/dev/net/tun", access="rw")]}, {"Devices": [device("/dev/null")]},
    {"DeviceCgroupRules": ["c 10:229 rwm", "c 1:3 r"]}, {"Devices": [{"PathOnHost": "/dev/fuse"}]},
])
def test_devices_no_node_can_turn_into_the_host_pass(host_config):
    assert verdict(create(host_config), FakeDaemon()).allow


@pytest.mark.parametrize("host_config, words", [
    ({"DeviceCgroupRules": ["a *:* rwm"]}, "'a *:* rwm'"),
    ({"DeviceCgroupRules": ["a 7:0 r"]}, "'a 7:0 r'"),  # runc reads a type-a rule as every device
    ({"DeviceCgroupRules": ["b 8:* rwm"]}, "'b 8:* rwm'"),
    ({"DeviceCgroupRules": ["c 1:1 r"]}, "'c 1:1 r'"),  # /dev/mem
    ({"DeviceCgroupRules": ["c *:* rwm"]}, "'c *:* rwm'"),
    ({"Devices": [device("/dev/console")]}, "/dev/console"),
    ({"Devices": [device("/dev/kvm")]}, "/dev/kvm"),
    ({"Devices": [device("/dev")]}, "/dev"),  # a directory: every device below it
    ({"Devices": [device("/dev/null", "/etc/passwd")]}, "host file"),
])
def test_device_grants_beyond_the_harmless_ones_are_refused(host_config, words):
    refused(verdict(create(host_config), FakeDaemon()), "device-grant", words)
    update = authz("POST", "/containers/x/update", host_config)
    assert not verdict(update, FakeDaemon()).allow


def test_an_administrator_can_allow_a_device_by_number_or_path():
    kvm = create({"Devices": [device("/dev/kvm")]})
    assert verdict(kvm, FakeDaemon(), allowed_devices=["c 10:232"]).allow
    assert verdict(kvm, FakeDaemon(), allowed_devices=["/dev/kvm"]).allow
    assert verdict(create({"DeviceCgroupRules": ["c 10:232 rw"]}), FakeDaemon(), allowed_devices=["c 10:*"]).allow


# --- what the runtime runs as real root -------------------------------------------------------


GPU = {"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}


@pytest.mark.parametrize("host_config, words", [
    ({"Runtime": "io.containerd.runsc.v1"}, "allowed_runtimes"),
    ({"Runtime": "nvidia"}, "allowed_runtimes"),
    ({"Annotations": {"run.oci.hooks.stdout": "/etc/cron.d/x"}}, "allowed_annotations"),
    (GPU, "allow_gpus"),
    ({"Devices": [{"PathOnHost": "vendor.com/class=name"}]}, "allowed_cdi_devices"),
    ({"DeviceRequests": [{"Driver": "cdi", "DeviceIDs": ["nvidia.com/gpu=all"]}]}, "allowed_cdi_devices"),
])
def test_runtime_hooks_are_refused_unless_an_administrator_allows_them(host_config, words):
    refused(verdict(create(host_config), FakeDaemon()), "runtime-hooks", words)


def test_runtimes_and_annotations_an_administrator_allows_pass():
    assert verdict(create({"Runtime": "runc"}), FakeDaemon()).allow
    assert verdict(create({"Runtime": "io.containerd.runc.v2"}), FakeDaemon()).allow
    assert verdict(create({"Runtime": "runsc"}), FakeDaemon(), allowed_runtimes=["runsc"]).allow
    annotated = create({"Annotations": {"com.example.team": "a"}})
    assert verdict(annotated, FakeDaemon(), allowed_annotations=["com.example.*"]).allow
    refused(verdict(annotated, FakeDaemon(), allowed_annotations=["com.other.*"]), "runtime-hooks")


@pytest.mark.parametrize("toolkit, allowed, words", [
    ({}, False, "not known"),
    ({"version": "1.16.1"}, False, "CVE-2024-0132"),
    ({"version": "1.17.7"}, False, "CVE-2025-23266"),
    ({"version": "1.17.8"}, True, ""),
    ({"version": "1.18.0"}, True, ""),
])
def test_gpus_on_a_gpu_host_need_a_toolkit_without_known_escapes(toolkit, allowed, words):
    decision = verdict(create(GPU), FakeDaemon(), allow_gpus=True, nvidia_toolkit=toolkit)
    assert decision.allow is allowed, decision.message
    if not allowed:
        refused(decision, "runtime-hooks", words)
    cdi = create({"Devices": [{"PathOnHost": "nvidia.com/gpu=0"}]})
    assert verdict(cdi, FakeDaemon(), allow_gpus=True, nvidia_toolkit=toolkit, allowed_cdi_devices=["nvidia.com/gpu=*"]).allow is allowed


# --- networks ------------------------------------------------------------------------------


HOST_BY_ID = {"bridge": "bridge", "mynet": "bridge", "a1b2c3": "host", "host": "host", "none": "null"}


@pytest.mark.parametrize("request_", [
    create({"NetworkMode": "a1b2c3"}),
    create({}, NetworkingConfig={"EndpointsConfig": {"a1b2c3": {}}}),
    create({}, NetworkingConfig={"EndpointsConfig": {"host": {}}}),
    authz("POST", "/networks/a1b2c3/connect", {"Container": "web"}),
    authz("POST", "/build?networkmode=a1b2c3", headers={"Content-Type": "application/x-tar"}),
    authz("POST", "/build?networkmode=host", headers={"Content-Type": "application/x-tar"}),
])
def test_the_hosts_network_by_any_name_is_refused(request_):
    refused(verdict(request_, FakeDaemon(networks=HOST_BY_ID)), "network-mode", "host's network")


def test_user_networks_pass_and_a_builds_container_network_is_refused():
    daemon = FakeDaemon(networks=HOST_BY_ID)
    assert verdict(create({"NetworkMode": "mynet"}, NetworkingConfig={"EndpointsConfig": {"mynet": {"Aliases": ["db"]}}}), daemon).allow
    assert verdict(authz("POST", "/networks/mynet/connect", {"Container": "web"}), daemon).allow
    assert verdict(authz("POST", "/build?networkmode=mynet", headers={"Content-Type": "application/x-tar"}), daemon).allow
    refused(verdict(authz("POST", "/build?networkmode=container:web", headers={"Content-Type": "application/x-tar"}), daemon),
            "network-mode", "user namespace")


def test_network_options_that_reconfigure_the_host_are_refused():
    host = host_network.read_host_network()
    existing = sorted(host.interfaces)[0]
    take_over = {"Name": "n", "Options": {"com.docker.network.bridge.name": existing}}
    refused(verdict(authz("POST", "/networks/create", take_over), FakeDaemon()), "network-options", "existing host interface")
    assert verdict(authz("POST", "/networks/create", {"Name": "n", "Options": {"com.docker.network.bridge.name": "br-due-new"}}),
                   FakeDaemon()).allow
    refused(verdict(authz("POST", "/networks/create", {"Name": "n", "Options": {"com.docker.network.bridge.default_bridge": "true"}}),
                    FakeDaemon()), "network-options", "not reviewed")
    route = next(r for r in host.routes if r.startswith("127."))
    stolen = {"Name": "n", "IPAM": {"Config": [{"Subnet": route}]}}
    refused(verdict(authz("POST", "/networks/create", stolen), FakeDaemon()), "network-options", "overlaps the host's route")
    free = next(s for s in ("198.18.231.0/24", "100.127.231.0/24", "10.231.77.0/24") if not any(
        __import__("ipaddress").ip_network(s).overlaps(__import__("ipaddress").ip_network(r, strict=False))
        for r in host.routes if ":" not in r))
    assert verdict(authz("POST", "/networks/create", {"Name": "n", "IPAM": {"Config": [{"Subnet": free}]}}), FakeDaemon()).allow
    endpoint = create({}, NetworkingConfig={"EndpointsConfig": {"bridge": {"DriverOpts": {"com.docker.network.endpoint.x": "1"}}}})
    refused(verdict(endpoint, FakeDaemon()), "network-options", "endpoint options")


# --- HostConfig settings that weaken confinement -------------------------------------------------


@pytest.mark.parametrize("options, allowed", [
    (["no-new-privileges"], True), (["no-new-privileges:true"], True), (["apparmor=docker-default"], True),
    (["label=level:s0:c100,c200"], True), (["seccomp=builtin"], True),
    (["seccomp=unconfined"], False), (["apparmor:unconfined"], False), (["label=disable"], False),
    (["label=type:spc_t"], False), (['seccomp={"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}'], False),
    (["writable-cgroups=true"], False), (["systempaths=unconfined"], False),
])
def test_security_options(options, allowed):
    decision = verdict(create({"SecurityOpt": options}), FakeDaemon())
    assert decision.allow is allowed, decision.message
    if not allowed:
        refused(decision, "security-opt", "container-create:HostConfig.SecurityOpt")


def test_unmasked_system_paths_are_refused_and_the_defaults_pass():
    refused(verdict(create({"MaskedPaths": [], "ReadonlyPaths": []}), FakeDaemon()), "masked-paths", "systempaths=unconfined")
    refused(verdict(create({"ReadonlyPaths": ["/proc/sys"]}), FakeDaemon()), "masked-paths")
    assert verdict(create({"MaskedPaths": None, "ReadonlyPaths": None}), FakeDaemon()).allow


@pytest.mark.parametrize("host_config, allowed", [
    ({"Sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"}}, True),
    ({"Sysctls": {"kernel.shmmax": "1"}}, True),
    ({"Sysctls": {"kernel.shmmax": "1"}, "IpcMode": "host"}, False),
    ({"Sysctls": {"net.core.somaxconn": "1"}, "NetworkMode": "container:web"}, False),
    ({"Sysctls": {"kernel.domainname": "x"}}, False),
    ({"Sysctls": {"vm.overcommit_memory": "1"}}, False),
])
def test_sysctls_stay_in_the_containers_own_namespaces(host_config, allowed):
    decision = verdict(create(host_config), FakeDaemon([]))
    assert decision.allow is allowed, decision.message
    if not allowed:
        assert decision.rule == "sysctls"


def test_storage_options_other_than_size_are_refused():
    assert verdict(create({"StorageOpt": {"size": "10G"}}), FakeDaemon()).allow
    refused(verdict(create({"StorageOpt": {"dm.basesize": "1"}}), FakeDaemon()), "storage-opt")


@pytest.mark.parametrize("host_config", [{"Privileged": True}, {"PidMode": "host"}, {"NetworkMode": "host"}])
def test_what_the_daemon_refuses_under_remapping_is_left_to_it_only_when_it_remaps(host_config):
    assert verdict(create(host_config), FakeDaemon(remaps=True)).allow  # the daemon refuses it itself
    refused(verdict(create(host_config), FakeDaemon(remaps=False)), "remap-refuses", "does not remap")


def test_the_review_reports_the_first_problem_only_once_per_request():
    decision = verdict(create({"CgroupParent": "/a", "NewField": 1}), FakeDaemon())
    assert decision.rule in ("refused-field", "unreviewed") and decision.message.count("allow_fields: [") == 1


@pytest.mark.parametrize("text, zero", [
    (b"null", True), (b"false", True), (b'""', True), (b"[]", True), (b"{}", True), (b"0", True), (b"0.0", True), (b"-0", True),
    (b"true", False), (b'"x"', False), (b"[0]", False), (b'{"a": null}', False), (b"1e-9", False), (b"-1", False),
])
def test_what_counts_as_a_zero_value(text, zero):
    assert review.is_zero(gojson.parse_go_json(text)) is zero


def test_an_existing_volume_meets_the_same_rules_when_a_container_mounts_it():
    # Made before enforcement (or in audit mode): its options are mount(2) arguments all the same.
    daemon = FakeDaemon(volumes={"old": ("local", {"type": "none", "o": "bind", "device": "/var/lib/docker/100000.100000"}),
                                 "fine": ("local", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})})
    refused(verdict(create({"Binds": ["old:/o:nocopy"]}), daemon), "volume-options", "the existing volume old", "data directory")
    assert verdict(create({"Binds": ["fine:/f"]}), daemon).allow
