"""state: absent undoes the enforcement and leaves everything else alone."""

from hosttest.fixtures import (
    DAEMON_JSON,
    FOREIGN_DAEMON_KEYS,
    PLUGIN_NAME,
    PLUGIN_SOCKET,
    daemon_json,
    docker_run,
    snapshot,
    snapshot_differences,
)

PLUGIN_UNITS = ("docker-userns-enforcement-plugin.socket", "docker-userns-enforcement-plugin.service")
PLUGIN_FILES = ("/usr/local/bin/docker-userns-enforcement-plugin", "/etc/docker-userns-enforcement")


def test_userns_host_works_again(host, test_image):
    result = docker_run(host, "--userns=host", test_image, "cat", "/proc/self/uid_map")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["0", "0", "4294967295"]


def test_no_plugin_units_left(host):
    for unit in PLUGIN_UNITS:
        assert not host.file(f"/etc/systemd/system/{unit}").exists
        listed = host.run("systemctl list-unit-files --no-legend %s", unit).stdout
        assert unit not in listed
        assert not host.service(unit).is_running


def test_no_plugin_files_or_socket_left(host):
    for path in PLUGIN_FILES + (PLUGIN_SOCKET,):
        assert not host.file(path).exists, path


def test_daemon_json_no_longer_names_the_plugin_and_keeps_foreign_keys(host):
    config = daemon_json(host)
    assert PLUGIN_NAME not in config.get("authorization-plugins", [])
    for key, value in FOREIGN_DAEMON_KEYS.items():
        assert config[key] == value, f"{DAEMON_JSON} lost or changed {key}"


def test_docker_is_healthy_without_the_plugin(host, test_image):
    assert host.service("docker.service").is_running
    info = host.check_output("docker info --format '{{json .Plugins.Authorization}}'")
    assert PLUGIN_NAME not in info
    assert docker_run(host, test_image, "true").rc == 0


def test_second_removal_changed_nothing(host):
    differences = snapshot_differences(snapshot(host, "after-first-removal"),
                                       snapshot(host, "after-second-removal"))
    assert not differences, "the second removal changed the host:\n" + "\n".join(differences)
