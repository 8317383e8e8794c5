"""A host with containers and images: refused first, converged once accepted, its containers carried."""

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
