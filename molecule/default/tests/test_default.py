"""The role on a fresh Docker host: refusals, remapping, and what it left behind."""

import json

from hosttest.fixtures import (
    DAEMON_JSON,
    FOREIGN_DAEMON_KEYS,
    MANAGED_PLUGIN_REFUSAL,
    PLUGIN_NAME,
    PLUGIN_SOCKET,
    REFUSAL,
    daemon_json,
    docker_run,
    raw_create,
    snapshot,
    snapshot_differences,
    subid_lines,
)

REMAP_USER = "dockremap"


def remapped_range(host, path):
    lines = subid_lines(host, path, REMAP_USER)
    assert len(lines) == 1, f"{path}: expected one {REMAP_USER} line, found {lines}"
    _, start, count = lines[0].split(":")
    return int(start), int(count)


def test_userns_host_is_refused_with_the_plugins_message(host, test_image):
    result = docker_run(host, "--userns=host", test_image, "cat", "/proc/self/uid_map")
    assert result.rc != 0, f"--userns=host ran: {result.stdout}"
    assert f"authorization denied by plugin {PLUGIN_NAME}" in result.stderr
    assert REFUSAL in result.stderr


def test_plain_run_works_and_is_remapped(host, test_image):
    start, count = remapped_range(host, "/etc/subuid")
    result = docker_run(host, test_image, "cat", "/proc/self/uid_map")
    assert result.rc == 0, result.stderr
    inside, outside, length = result.stdout.split()
    assert (int(inside), int(outside), int(length)) == (0, start, count)
    assert start != 0


def test_raw_api_create_with_lowercase_keys_is_refused(host, test_image):
    status, body = raw_create(host, {"image": test_image, "hostconfig": {"usernsmode": "host"}})
    assert status == 403, body
    assert REFUSAL in body


def test_managed_plugin_create_is_refused(host):
    context = "/var/tmp/molecule-plugin-context"
    host.run_test("mkdir -p %s/rootfs", context)
    config = {"Description": "test", "Entrypoint": ["/bin/true"],
              "Interface": {"Types": ["docker.authz/1.0"], "Socket": "x.sock"}}
    host.run_test("printf '%%s' %s > %s/config.json", json.dumps(config), context)
    result = host.run("docker plugin create molecule/escape %s", context)
    assert result.rc != 0, result.stdout
    assert MANAGED_PLUGIN_REFUSAL in result.stderr
    assert "molecule/escape" not in host.check_output("docker plugin ls --format '{{.Name}}'")


def test_plugin_socket_is_root_only(host):
    sock = host.file(PLUGIN_SOCKET)
    assert sock.is_socket
    assert sock.user == "root"
    assert sock.mode & 0o077 == 0, oct(sock.mode)


def test_plugin_is_socket_activated_by_systemd(host):
    # The listening socket belongs to a systemd socket unit, which started the service.
    units = host.check_output("systemctl list-sockets --all --no-legend --plain")
    line = [u for u in units.splitlines() if u.split()[0] == PLUGIN_SOCKET]
    assert line, f"no systemd socket unit listens on {PLUGIN_SOCKET}:\n{units}"
    socket_unit = line[0].split()[1]
    assert host.service(socket_unit).is_enabled
    assert host.service(socket_unit).is_running
    service = line[0].split()[2]
    assert host.check_output("systemctl show -p TriggeredBy --value %s", service) == socket_unit


def test_docker_uses_the_plugin_and_remapping(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert PLUGIN_NAME in (info["Plugins"]["Authorization"] or [])
    assert any("name=userns" in opt for opt in info["SecurityOptions"])


def test_daemon_json_is_merged_and_keeps_foreign_keys(host):
    config = daemon_json(host)
    assert config["userns-remap"] in (REMAP_USER, "default")
    assert PLUGIN_NAME in config["authorization-plugins"]
    for key, value in FOREIGN_DAEMON_KEYS.items():
        assert config[key] == value, f"{DAEMON_JSON} lost or changed {key}"


def test_subordinate_id_ranges(host):
    for path in ("/etc/subuid", "/etc/subgid"):
        start, count = remapped_range(host, path)
        assert start > 0
        assert count >= 65536


def test_check_mode_run_changed_nothing(host):
    differences = snapshot_differences(snapshot(host, "prepared"), snapshot(host, "before-converge"))
    assert not differences, "the check-mode run changed the host:\n" + "\n".join(differences)
