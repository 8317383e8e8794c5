"""Unit tests of plugins/modules/docker_userns_host_info.py: the parsers, and main() on this machine's own files.

main() against a real daemon (running, and not running) is in tests/integration/test_host_info_module.py;
against real systemd and a Docker started with a conflicting flag, in tests/fleet/test_fleet.py.
"""

from __future__ import annotations

import json

import pytest

from conftest_modules import load_module

mod = load_module("docker_userns_host_info")


def test_flag_names_drop_values_and_keep_short_flags():
    words = ["/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock", "--userns-remap=default"]
    assert mod.flag_names(words) == ["--containerd", "--userns-remap", "-H"]


def test_flag_names_ignore_lone_dashes_and_empty_words():
    assert mod.flag_names(["-", "--", "", "dockerd"]) == []


def test_systemctl_show_splits_on_the_first_equals_sign():
    text = ("MainPID=812\nExecStart={ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// "
            "--authorization-plugin=x ; ignore_errors=no }\n")
    properties = mod.parse_systemctl_show(text)
    assert properties["MainPID"] == "812"
    assert "--authorization-plugin=x" in properties["ExecStart"].split()


def test_docker_info_reads_security_options_and_containers():
    text = json.dumps({"SecurityOptions": ["name=seccomp,profile=default", "name=userns"], "Containers": 3})
    assert mod.parse_docker_info(text) == (["name=seccomp,profile=default", "name=userns"], 3)


def test_docker_info_without_security_options_is_an_empty_list():
    assert mod.parse_docker_info('{"SecurityOptions": null, "Containers": 0}') == ([], 0)


def test_docker_info_that_is_not_json_raises():
    with pytest.raises(ValueError):
        mod.parse_docker_info("Cannot connect to the Docker daemon")


@pytest.mark.parametrize("user, uid", [("root", 0), ("nobody:nogroup", 65534), ("no-such-user-for-this-test", None)])
def test_lookup_uid_uses_the_user_part(user, uid):
    assert mod.lookup_uid(user) == uid


def test_max_user_namespaces_is_the_kernel_value():
    with open("/proc/sys/user/max_user_namespaces") as handle:
        assert mod.read_max_user_namespaces() == int(handle.read())


# --- what runs outside the remapping ----------------------------------------------------------


def described(cid, name, userns="", running=True, **modes):
    host = {"UsernsMode": userns, "PidMode": "", "IpcMode": "", "NetworkMode": "default"}
    host.update(modes)
    return {"Id": cid * 64, "Name": "/" + name, "HostConfig": host, "State": {"Running": running}}


def test_host_userns_containers_and_the_ones_joined_to_them_are_found():
    descriptions = [
        described("a", "rootshell", userns="host"),
        described("b", "sidecar", NetworkMode="container:" + "a" * 64),
        described("c", "chain", PidMode="container:sidecar", running=False),
        described("d", "web"),
        described("e", "joins-web", IpcMode="container:web"),
    ]
    found = mod.unremapped_containers(descriptions)
    assert [(c["name"], c["id"], c["running"]) for c in found] == [("rootshell", "a" * 12, True), ("sidecar", "b" * 12, True), ("chain", "c" * 12, False)]
    assert found[0]["reason"] == "runs in the host's user namespace (--userns=host)"
    assert found[2]["reason"] == ("shares the pid namespace of sidecar, which shares the network namespace of rootshell, "
                                  "which runs in the host's user namespace (--userns=host)")


def test_joins_of_missing_or_self_referencing_containers_are_not_outside():
    descriptions = [described("a", "loop", PidMode="container:" + "a" * 64), described("b", "lost", PidMode="container:gone")]
    assert mod.unremapped_containers(descriptions) == []


def test_enabled_plugins_that_are_not_allowed_are_found():
    lines = [
        json.dumps({"ID": "1" * 64, "Name": "vieux/sshfs:latest", "Enabled": True}),
        json.dumps({"ID": "2" * 64, "Name": "evil/net:latest", "Enabled": True}),
        json.dumps({"ID": "3" * 64, "Name": "evil/off:latest", "Enabled": False}),
    ]
    assert mod.unremapped_plugins(lines, ["docker.io/vieux/sshfs"]) == [{"id": "2" * 12, "name": "evil/net:latest"}]
    assert len(mod.unremapped_plugins(lines, [])) == 2
