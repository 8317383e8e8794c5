"""Debian forky (Docker 28.5, buildx, compose): everyday build and compose work still works with
enforcement on, and buildx's docker-container driver, which asks Docker for the host user
namespace, is refused with a message that says what to do instead. Nothing can be pulled in the
host: the images are the host's busybox (`import-busybox-image`)."""

import pytest
import testinfra

from hosttest.fixtures import REFUSAL, TEST_IMAGE

WORK = "/var/tmp/molecule-forky"  # not /tmp: a tmpfs private to units on Debian 13 and later
# buildx's default BuildKit image (docker-container driver). Pulling it fails without a network;
# buildx then uses a local image of that name, so the refusal below is the plugin's, not the pull's.
BUILDKIT_IMAGE = "moby/buildkit:buildx-stable-1"
BUILDER = "molecule-container"


@pytest.fixture(scope="module")
def host(request):
    """The forky host only (group debian14 in molecule/default/molecule.yml), not one run per host:
    Molecule's --hosts=all would override a module's testinfra_hosts."""
    option = request.config.option
    hosts = testinfra.get_hosts(["ansible://debian14"], ansible_inventory=option.ansible_inventory, connection="ansible")
    assert len(hosts) == 1, "expected one host in the group debian14, found %s" % hosts
    return hosts[0]


@pytest.fixture(scope="module")
def test_image(host):
    host.run_test("import-busybox-image %s", TEST_IMAGE)
    return TEST_IMAGE


def write(host, path, text):
    host.run_test("mkdir -p $(dirname %s) && printf '%%s' %s > %s", path, text, path)


def remapped_uid_map(text):
    inside, outside, _length = text.split()
    return inside == "0" and outside != "0"


def test_versions(host):
    # Read at run time (forky is Debian testing and moves): only that they answer.
    assert int(host.check_output("docker version --format '{{.Server.Version}}'").split(".")[0]) >= 28
    assert host.run("docker compose version").rc == 0
    assert host.run("docker buildx version").rc == 0


def test_compose_up_works_and_is_remapped(host, test_image):
    write(host, WORK + "/compose/compose.yaml",
          "services:\n  hello:\n    image: %s\n    command: [cat, /proc/self/uid_map]\n" % test_image)
    try:
        result = host.run("cd %s/compose && docker compose -p molecule up --abort-on-container-exit --exit-code-from hello",
                          WORK)
        assert result.rc == 0, result.stdout + result.stderr
        uid_map = [line.split("|", 1)[1] for line in result.stdout.splitlines() if line.startswith("hello-1") and "|" in line]
        assert uid_map and remapped_uid_map(uid_map[0]), result.stdout
    finally:
        host.run("cd %s/compose && docker compose -p molecule down", WORK)


def test_buildx_build_with_the_default_docker_driver_works_and_runs_remapped(host, test_image):
    write(host, WORK + "/build/Dockerfile", "FROM %s\nRUN cat /proc/self/uid_map > /uid_map\n" % test_image)
    result = host.run("docker buildx build --builder default --progress plain -t molecule/built:1 %s/build", WORK)
    assert result.rc == 0, result.stderr
    # The RUN step ran in the remapped user namespace.
    assert remapped_uid_map(host.check_output("docker run --rm --network none molecule/built:1 cat /uid_map"))


@pytest.fixture
def container_builder(host, test_image):
    host.run_test("docker tag %s %s", test_image, BUILDKIT_IMAGE)
    yield BUILDER
    host.run("docker buildx rm --force %s", BUILDER)
    host.run("docker rmi %s", BUILDKIT_IMAGE)


def test_buildx_docker_container_driver_is_refused_with_what_to_do(host, container_builder):
    result = host.run("docker buildx create --name %s --driver docker-container --bootstrap", container_builder)
    output = result.stdout + result.stderr
    assert result.rc != 0, output
    assert REFUSAL in output, output
    # The plugin's hint for buildx's builder containers (buildx_buildkit_*): use the default driver.
    assert "docker buildx use default" in output, output
    names = host.check_output("docker ps --all --format '{{.Names}}'").split()
    assert "buildx_buildkit_%s0" % container_builder not in names
