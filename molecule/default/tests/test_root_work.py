"""The daemon's own root work on this host's real Docker (20.10 on Debian 12, 26.1 on Debian 13,
28.5 on Debian forky), through the bypass probe's rootwork and engine classes.

rootwork is refused on every version. What the engine class gets depends on the engine's known
vulnerabilities less the fixes its package carries, which the role read from the package and
recorded in the plugin's config: Debian 12 fixes none of docker cp's, Debian 13 and forky carry
them, but Debian 13's Docker still runs the container's own getent for docker cp -a, which the
probe shows in audit mode (nothing refused) and the plugin refuses when enforcing.
"""

import json

from hosttest.fixtures import PLUGIN_CONFIG, set_plugin_mode

COPY_RACES = {"CVE-2026-41568", "CVE-2026-42306"}
CP_A = "docker cp -a into a container that sets a user and ships a getent"
XZ = "docker cp of an xz archive into a container whose image ships an xz"


def test_the_role_recorded_the_fixes_the_engine_package_carries(host, suite):
    fixes = json.loads(host.file(PLUGIN_CONFIG).content_string)["engine_fixes"]
    assert fixes["version"] == host.check_output("docker version --format '{{.Server.Version}}'")
    listed = set(host.check_output("zcat /usr/share/doc/docker.io/changelog.Debian.gz | grep -o 'CVE-[0-9]*-[0-9]*' | sort -u").split())
    assert listed <= set(fixes["fixed"])
    if suite == "bookworm":
        assert not COPY_RACES & set(fixes["fixed"])
    else:
        assert COPY_RACES | {"CVE-2026-41567"} <= set(fixes["fixed"])
    if suite == "trixie":
        assert "CVE-2026-41567" not in listed  # fixed by Debian's security update, not named: the role knows it


def test_the_daemon_s_root_work_on_host_paths_is_refused_and_the_controls_work(probe):
    results = probe("rootwork")
    assert len(results) == 9 and [r for r in results if r["escaped"]] == []
    for result in results:
        assert result["attempt"]["status"] == 403 and "authorization denied by plugin" in result["attempt"]["message"], result
        if result["control"] is not None:
            assert result["control"]["status"] in (201, 204), result


def test_docker_cp_as_this_engine_s_vulnerabilities_and_fixes_call_for(probe, suite):
    by_case = {r["case"]: r for r in probe("engine")}
    assert len(by_case) == 4 and [r for r in by_case.values() if r["escaped"]] == []
    for case, result in by_case.items():
        status, message = result["attempt"]["status"], result["attempt"]["message"]
        if suite == "bookworm":
            assert status == 403 and "CVE-2026-41568" in message, result
        elif case == CP_A:  # user IDs not remapped before Docker 29.7; trixie also runs getent
            assert status == 403 and "docker-cp-a-user" in message, result
        elif case == XZ:  # the fix decompresses on the host: allowed, and the image's xz never runs
            assert status != 403, result
        else:
            assert 200 <= status < 300, result


def test_without_the_plugin_debian_13_s_docker_runs_the_image_s_getent_as_root(host, probe, suite):
    """What the cp -a refusal is for, measured: in audit mode nothing is refused."""
    set_plugin_mode(host, "audit")
    try:
        by_case = {r["case"]: r for r in probe("engine")}
    finally:
        set_plugin_mode(host, "enforce")
    assert by_case[CP_A]["escaped"] is (suite == "trixie"), by_case[CP_A]  # 20.10 asks the host's, 28 reads files
    assert not by_case[XZ]["escaped"]  # every engine here decompresses on the host
