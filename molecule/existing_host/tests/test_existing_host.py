"""A host with containers, images, and accounts in dockremap's range: refused first (the range,
then the data-root switch), converged once the range moved and the switch was accepted, its
containers carried."""

from hosttest.fixtures import REFUSAL, SNAPSHOT_DIR, docker_run


def test_role_refused_with_the_counts_of_what_would_vanish(host):
    refusal = host.file(f"{SNAPSHOT_DIR}/refusal.txt").content_string
    assert "has 2 containers and 1 images" in refusal
    assert "docker_userns_accept_data_root_switch" in refusal


def test_remapping_is_on_after_the_switch_was_accepted(host):
    options = host.check_output("docker info --format '{{json .SecurityOptions}}'")
    assert "name=userns" in options


def test_the_containers_are_carried_into_the_remapped_data_directory_and_the_old_ones_stay(host):
    # Docker now works in /var/lib/docker/<uid>.<gid>, with the containers carried there (docs/adoption.md);
    # the old data directory stays as it was, for the operator to remove.
    old = host.check_output("ls /var/lib/docker/containers").split()
    assert len(old) == 2
    carried = host.check_output("docker ps --all --no-trunc --format '{{.ID}} {{.Names}} {{.State}}'").splitlines()
    assert sorted(line.split()[0] for line in carried) == sorted(old)
    states = {line.split()[1]: line.split()[2] for line in carried}
    assert states == {"molecule-running": "running", "molecule-stopped": "created"}  # what ran runs again, remapped
    uid_map = host.check_output("docker exec molecule-running cat /proc/self/uid_map").split()
    assert uid_map[:2] != ["0", "0"]


def test_userns_host_is_refused(host, test_image):
    result = docker_run(host, "--userns=host", test_image, "true")
    assert result.rc != 0
    assert REFUSAL in result.stderr


def test_plain_run_is_remapped(host, test_image):
    result = docker_run(host, test_image, "cat", "/proc/self/uid_map")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[:2] != ["0", "0"]


def test_role_refused_the_range_that_holds_an_account_naming_it_and_what_to_do(host):
    refusal = host.file(f"{SNAPSHOT_DIR}/range-refusal.txt").content_string
    assert "user olduser (uid 100000), container uid 0 (/etc/subuid)" in refusal
    assert "group olduser (gid 100000), container gid 0 (/etc/subgid)" in refusal
    assert "delete dockremap's lines from /etc/subuid and /etc/subgid" in refusal
    assert "usermod -u" in refusal and "docker_userns_accept_data_root_switch" in refusal


def _range(host, path):
    lines = [line for line in host.file(path).content_string.splitlines() if line.startswith("dockremap:")]
    assert len(lines) == 1, lines
    _name, start, count = lines[0].split(":")
    return int(start), int(count)


def test_the_new_range_holds_no_account_nor_group(host):
    # 131072, the first multiple of 65536 from 100000, holds alignuser and aligngrp: the next one.
    assert _range(host, "/etc/subuid") == (196608, 65536)
    assert _range(host, "/etc/subgid") == (196608, 65536)
    for account, uid in (("olduser", 100000), ("alignuser", 131072)):
        assert host.user(account).uid == uid  # the accounts were left as they were
    for number in (100000, 131072):
        assert not 196608 <= number < 196608 + 65536


def test_docker_remaps_into_the_new_range(host, test_image):
    assert host.check_output("docker info --format '{{.DockerRootDir}}'") == "/var/lib/docker/196608.196608"
    result = docker_run(host, test_image, "cat", "/proc/self/uid_map", "/proc/self/gid_map")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["0", "196608", "65536", "0", "196608", "65536"]
