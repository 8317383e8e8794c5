"""A host with containers and images: refused first, converged once accepted."""

from hosttest.fixtures import REFUSAL, SNAPSHOT_DIR, docker_run


def test_role_refused_with_the_counts_of_what_would_vanish(host):
    refusal = host.file(f"{SNAPSHOT_DIR}/refusal.txt").content_string
    assert "has 2 containers and 1 images" in refusal
    assert "docker_userns_accept_data_root_switch" in refusal


def test_remapping_is_on_after_the_switch_was_accepted(host):
    options = host.check_output("docker info --format '{{json .SecurityOptions}}'")
    assert "name=userns" in options


def test_old_containers_stay_on_disk_but_out_of_view(host):
    # Docker now works in /var/lib/docker/<uid>.<gid>; the old data stays.
    old = host.check_output("ls /var/lib/docker/containers").split()
    assert len(old) == 2
    assert host.check_output("docker ps --all --quiet") == ""


def test_userns_host_is_refused(host, test_image):
    result = docker_run(host, "--userns=host", test_image, "true")
    assert result.rc != 0
    assert REFUSAL in result.stderr


def test_plain_run_is_remapped(host, test_image):
    result = docker_run(host, test_image, "cat", "/proc/self/uid_map")
    assert result.rc == 0, result.stderr
    assert result.stdout.split()[:2] != ["0", "0"]
