"""Docker CE from Docker's official static tarball, on a host built by tools/upstream-engines.sh:
the role in enforce mode; molecule/default's tests, run here unchanged; the bypass probe's every
class; the engine's docker cp routes in audit mode (what the daemon itself does) and enforcing
(what the plugin refuses); everyday work.

What each version should do is written here from moby's source and Docker's advisories,
independently of the plugin's own table (docs/threat-model.md): a disagreement fails here. The
figures go to the JSON file named by UPSTREAM_ENGINE_RESULTS, for the script's table."""

import json
import os
import re

import pytest

from hosttest.fixtures import PLUGIN_CONFIG, PLUGIN_SERVICE, REFUSAL, set_plugin_mode

# molecule/default's tests and fixtures (molecule.yml puts molecule/default/tests on PYTHONPATH):
# pytest runs the imported tests here as this module's own.
# (Their fixtures are imported in conftest.py, beside this file.)
from test_bypasses import (  # noqa: F401  collected by pytest from this module
    test_containers_outside_the_remapping_are_refused_by_the_plugin,
    test_every_bypass_attempt_is_refused_by_the_plugin,
    test_every_case_was_tried,
    test_every_class_of_bypass_was_tried,
    test_every_control_is_accepted_by_the_daemon,
    test_generated_bodies_were_both_refused_and_created,
    test_no_generated_body_gets_a_host_userns_container,
    test_nothing_gets_around_the_remapping,
)
from test_default import (  # noqa: F401  collected by pytest from this module
    test_daemon_json_is_merged_and_keeps_foreign_keys,
    test_docker_uses_the_plugin_and_remapping,
    test_managed_plugin_create_is_refused,
    test_plain_run_works_and_is_remapped,
    test_plugin_is_socket_activated_by_systemd,
    test_plugin_socket_is_root_only,
    test_raw_api_create_with_lowercase_keys_is_refused,
    test_subordinate_id_ranges,
    test_userns_host_is_refused_with_the_plugins_message,
)
from test_forky_buildx_compose import (  # noqa: F401  collected by pytest from this module
    BUILDKIT_IMAGE,
    remapped_uid_map,
    test_buildx_docker_container_driver_is_refused_with_what_to_do,
    test_compose_up_works_and_is_remapped,
    write,
)
from test_root_work import CP_A, XZ

ENGINE = os.environ.get("UPSTREAM_ENGINE_VERSION", "")
WORK = "/var/tmp/upstream-engine"  # not /tmp: a tmpfs private to units on Debian 13 and later
COPY_OUT = "docker cp out of a container"
COPY_IN = "docker cp into a container"

# [first affected, first fixed) upstream versions, from moby's source and Docker's advisories.
COPY_RACES = (("0.0.0", "25.0.17"), ("26.0.0", "29.5.1"))  # CVE-2026-41568, -42306: docker cp's mount set-up
DECOMPRESSES_IN_CONTAINER = (("24.0.0", "25.0.17"), ("26.0.0", "29.5.1"))  # CVE-2026-41567: the container's xz
RUNS_THE_CONTAINERS_GETENT = (("24.0.0", "28.0.0"),)  # docker cp -a looks the user up with the container's getent
COPY_A_KEEPS_HOST_IDS = (("0.0.0", "29.7.0"),)  # docker cp -a gives the files unremapped IDs
BUILDKIT_FLAWED = (("0.0.0", "29.3.1"),)  # CVE-2026-33747, -33748


def version_number(version):
    return tuple(int(part) for part in version.split("+")[0].split("-")[0].split(".")[:3])


def within(version, ranges):
    number = version_number(version)
    return any(version_number(first) <= number < version_number(fixed) for first, fixed in ranges)


def run_and_record(host, record, name, command, *args):
    """Run one everyday command in the host; record ok, the plugin's refusal (what it names), or the error."""
    result = host.run(command, *args)
    output = (result.stderr or result.stdout).strip()
    if result.rc == 0:
        outcome = "ok"
    elif "authorization denied by plugin" in output:
        named = re.search(r"CVE-[0-9]+-[0-9]+|docker-cp-a-user|a BuildKit build|userns=host", output)
        outcome = "refused (%s)" % (named.group(0) if named else "plugin")
    else:
        outcome = "failed: " + (output.splitlines()[-1] if output else "rc %d" % result.rc)[:160]
    record("workload: " + name, outcome)
    return result


# -- the host is what the tarball makes it ---------------------------------------------------------


def test_the_host_runs_the_engine_from_the_tarball(host, engine, record):
    components = json.loads(host.check_output("docker version --format '{{json .Server.Components}}'"))
    record("engine", {c["Name"]: c["Version"] for c in components})
    record("api", host.check_output("docker version --format '{{.Server.APIVersion}}'"))
    assert engine == ENGINE, "the host's dockerd reports %s, the tarball was %s" % (engine, ENGINE)
    # A static install: no package owns the daemon, so no package can claim a fix for it.
    dockerd = host.check_output("command -v dockerd")
    assert dockerd == "/usr/bin/dockerd"
    assert host.run("dpkg-query --search %s", dockerd).rc != 0


def test_the_role_recorded_no_fixes_for_an_engine_no_package_owns(host, engine):
    fixes = json.loads(host.file(PLUGIN_CONFIG).content_string)["engine_fixes"]
    assert fixes == {"version": engine, "fixed": []}


# -- the bypass probe ------------------------------------------------------------------------------


def test_the_controls_on_remapped_containers_work(class_results, engine):
    """molecule/default's test of the same name, for the upstream engine: where docker cp's mount set-up
    races (CVE-2026-41568), the plugin refuses docker cp, the controls included."""
    for result in class_results:
        control = result["control"]
        if control is None:
            continue
        if within(engine, COPY_RACES) and control["status"] == 403 and ("CVE-2026-41568" in control["message"] or result["case"].startswith("HEAD")):
            continue
        assert 200 <= control["status"] < 300 or control["status"] == 101, result


def test_the_daemon_s_root_work_on_host_paths_is_refused_and_the_controls_work(probe, record):
    results = probe("rootwork")
    record("probe rootwork", {"cases": len(results), "refused": sum(r["attempt"]["status"] == 403 for r in results),
                              "escaped": sum(bool(r["escaped"]) for r in results)})
    assert len(results) == 9 and [r for r in results if r["escaped"]] == []
    for result in results:
        assert result["attempt"]["status"] == 403 and "authorization denied by plugin" in result["attempt"]["message"], result
        if result["control"] is not None:
            assert result["control"]["status"] in (201, 204), result


def test_the_probe_s_figures(probe_results, generated_results, class_results, record):
    record("probe bodies", {"cases": len(probe_results), "refused": sum(r["attempt"]["status"] == 403 for r in probe_results),
                            "escaped": sum(bool(r["attempt"]["host_userns_created"]) for r in probe_results)})
    record("probe generated", {"cases": len(generated_results), "refused": sum(bool(r["refused_by_plugin"]) for r in generated_results),
                               "created": sum(r["status"] == 201 for r in generated_results),
                               "escaped": sum(bool(r["host_userns_created"]) for r in generated_results)})
    record("probe existing,mounts,routes", {"cases": len(class_results), "escaped": sum(bool(r["escaped"]) for r in class_results)})
    assert not any(r["attempt"]["host_userns_created"] for r in probe_results)


# -- the engine's docker cp routes: audit mode shows the daemon, enforce mode the plugin -------------


@pytest.fixture(scope="module")
def engine_routes(host, probe, record):
    set_plugin_mode(host, "audit")
    try:
        audit = {r["case"]: r for r in probe("engine")}
    finally:
        set_plugin_mode(host, "enforce")
    enforce = {r["case"]: r for r in probe("engine")}
    record("engine routes", {case: {"audit": {"status": audit[case]["attempt"]["status"], "ran as real root": audit[case]["escaped"]},
                                    "enforce": {"status": enforce[case]["attempt"]["status"], "ran as real root": enforce[case]["escaped"],
                                                "message": enforce[case]["attempt"]["message"][:200]}}
                             for case in audit})
    return audit, enforce


def test_audit_mode_refuses_no_copy(engine_routes):
    # (The daemon itself may fail a copy: the image's getent is a busybox without that applet.)
    audit, _enforce = engine_routes
    assert len(audit) == 4
    for case, result in audit.items():
        assert result["attempt"]["status"] != 403, result
        if case != CP_A:
            assert 200 <= result["attempt"]["status"] < 300, result


def test_in_audit_mode_the_image_s_xz_runs_as_real_root_where_the_engine_decompresses_in_the_container(engine_routes, engine):
    """CVE-2026-41567 (24.0 to 29.5.0, 25.0 before .17): the daemon unpacks an xz archive with the container's own xz."""
    audit, _enforce = engine_routes
    assert audit[XZ]["escaped"] is within(engine, DECOMPRESSES_IN_CONTAINER), audit[XZ]


def test_in_audit_mode_the_image_s_getent_runs_as_real_root_for_cp_a_on_docker_24_to_27(engine_routes, engine):
    audit, _enforce = engine_routes
    assert audit[CP_A]["escaped"] is within(engine, RUNS_THE_CONTAINERS_GETENT), audit[CP_A]


def test_enforcing_docker_cp_is_refused_as_the_engine_s_flaws_call_for(engine_routes, engine):
    _audit, enforce = engine_routes
    races = within(engine, COPY_RACES)
    expected_refusal = {
        COPY_OUT: "CVE-2026-41568" if races else None,
        COPY_IN: "CVE-2026-41568" if races else None,
        XZ: "CVE-2026-41568" if races else "CVE-2026-41567" if within(engine, DECOMPRESSES_IN_CONTAINER) else None,
        CP_A: "CVE-2026-41568" if races else "docker-cp-a-user" if within(engine, COPY_A_KEEPS_HOST_IDS) else None,
    }
    assert set(enforce) == set(expected_refusal)
    for case, refusal in expected_refusal.items():
        result = enforce[case]
        if refusal:
            assert result["attempt"]["status"] == 403 and refusal in result["attempt"]["message"], result
        else:
            assert 200 <= result["attempt"]["status"] < 300, result
        assert not result["escaped"], result


# -- everyday work, enforcing ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def running(host, test_image):
    name = host.check_output("docker run -d --network none %s sleep 600", test_image)
    yield name
    host.run("docker rm -f %s", name)


def test_workload_named_volume(host, test_image, record):
    host.run("docker volume rm upstream-data")
    try:
        written = run_and_record(host, record, "named volume", "docker run --rm --network none -v upstream-data:/data %s sh -c 'echo kept > /data/f'",
                                 test_image)
        assert written.rc == 0, written.stderr
        assert host.check_output("docker run --rm --network none -v upstream-data:/data %s cat /data/f", test_image) == "kept"
    finally:
        host.run("docker volume rm upstream-data")


def test_workload_bind_mount_of_a_directory_only_root_can_change(host, test_image, record):
    host.run_test("mkdir -p %s/bind && chmod 0755 %s %s/bind && echo seen > %s/bind/f", WORK, WORK, WORK, WORK)
    result = run_and_record(host, record, "bind mount", "docker run --rm --network none -v %s/bind:/data:ro %s cat /data/f", WORK, test_image)
    assert result.rc == 0 and result.stdout.strip() == "seen", result.stderr


def test_workload_exec(host, running, record):
    result = run_and_record(host, record, "exec", "docker exec %s cat /proc/self/uid_map", running)
    assert result.rc == 0 and remapped_uid_map(result.stdout), result.stderr


def test_workload_docker_cp_where_the_engine_s_cp_is_fixed(host, running, engine, record):
    host.run_test("echo copied > %s/cp-in", WORK)
    into = run_and_record(host, record, "docker cp into", "docker cp %s/cp-in %s:/cp-in", WORK, running)
    out = run_and_record(host, record, "docker cp out", "docker cp %s:/etc/hostname -", running)
    for result in (into, out):
        if within(engine, COPY_RACES):
            assert result.rc != 0 and "CVE-2026-41568" in result.stderr, result.stderr
        else:
            assert result.rc == 0, result.stderr


def test_workload_copy_with_exec_tar_the_way_the_refusal_names(host, running, record):
    result = run_and_record(host, record, "exec tar copy", "tar -C %s -c cp-in | docker exec -i %s tar -x -C /", WORK, running)
    assert result.rc == 0, result.stderr
    assert host.check_output("docker exec %s cat /cp-in", running) == "copied"


def plugin_decisions_since(host, since):
    """The plugin's decision lines (method, path, rule) in the journal since a `date +%s` of the host."""
    out = host.check_output("journalctl -u %s -o cat --no-pager --since @%s", PLUGIN_SERVICE, since)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [(d.get("method"), d.get("path"), d.get("rule")) for d in lines if d.get("event") == "decision"]


def test_workload_buildx_build_with_the_default_driver(host, test_image, engine, record):
    """Before 29.3.1 the plugin refuses BuildKit builds (CVE-2026-33747, -33748), buildx's probe of
    POST /grpc first: buildx then makes the default builder a docker-container one, whose host user
    namespace the plugin refuses too, so no build runs. From 29.2 the default driver's builds go over
    BuildKit's gRPC, which no authorization plugin sees: they work, and run remapped."""
    write(host, WORK + "/build/Dockerfile", "FROM %s\nRUN cat /proc/self/uid_map > /uid_map\n" % test_image)
    # With BuildKit's image at hand, buildx's docker-container fallback meets the plugin, not a failed pull.
    host.run_test("docker tag %s %s", test_image, BUILDKIT_IMAGE)
    since = host.check_output("date +%s")
    try:
        result = run_and_record(host, record, "buildx build (default builder)",
                                "docker buildx build --builder default --progress plain -t upstream/built:1 %s/build", WORK)
        record("buildx default builder's driver", host.check_output("docker buildx inspect default | sed -n 's/^Driver: *//p' | head -n 1"))
    finally:
        host.run("docker rmi %s", BUILDKIT_IMAGE)
    if within(engine, BUILDKIT_FLAWED):
        assert result.rc != 0 and "authorization denied by plugin" in result.stderr, result.stderr
        if "userns=host is not allowed" in result.stderr:  # buildx's container fallback: the refusal says why it came
            assert "so buildx falls back to such a container by itself" in result.stderr, result.stderr
        decisions = plugin_decisions_since(host, since)
        assert ("POST", "/grpc", "engine-vulnerability") in decisions, decisions
        assert "upstream/built:1" not in host.check_output("docker image ls --format '{{.Repository}}:{{.Tag}}'").split()
    else:
        assert result.rc == 0, result.stderr
        assert remapped_uid_map(host.check_output("docker run --rm --network none upstream/built:1 cat /uid_map"))


def test_workload_classic_build(host, test_image, record):
    write(host, WORK + "/classic/Dockerfile", "FROM %s\nRUN cat /proc/self/uid_map > /uid_map\n" % test_image)
    result = run_and_record(host, record, "classic build", "DOCKER_BUILDKIT=0 docker build -t upstream/classic:1 %s/classic", WORK)
    assert result.rc == 0, result.stderr
    assert remapped_uid_map(host.check_output("docker run --rm --network none upstream/classic:1 cat /uid_map"))


def test_userns_host_is_refused(host, test_image, record):
    result = host.run("docker run --rm --network none --userns=host %s cat /proc/self/uid_map", test_image)
    record("docker run --userns=host", "refused" if result.rc != 0 and REFUSAL in result.stderr else "NOT refused: " + result.stdout.strip())
    assert result.rc != 0 and REFUSAL in result.stderr
