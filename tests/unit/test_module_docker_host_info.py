"""Unit tests of plugins/modules/docker_userns_host_info.py: the parsers, and main() on this machine's own files.

main() against a real daemon (running, and not running) is in tests/integration/test_host_info_module.py;
against real systemd and a Docker started with a conflicting flag, in tests/fleet/test_fleet.py.
"""

from __future__ import annotations

import json

import pytest

from conftest_modules import load_module, nss_stand_in

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


def test_docker_info_reads_security_options_containers_and_version():
    text = json.dumps({"SecurityOptions": ["name=seccomp,profile=default", "name=userns"], "Containers": 3, "ServerVersion": "26.1.5+dfsg1"})
    assert mod.parse_docker_info(text) == (["name=seccomp,profile=default", "name=userns"], 3, "26.1.5+dfsg1")


def test_docker_info_without_security_options_is_an_empty_list():
    assert mod.parse_docker_info('{"SecurityOptions": null, "Containers": 0}') == ([], 0, "")


def test_docker_info_that_is_not_json_raises():
    with pytest.raises(ValueError):
        mod.parse_docker_info("Cannot connect to the Docker daemon")


@pytest.mark.parametrize("user, uid", [("root", 0), ("nobody:nogroup", 65534), ("no-such-user-for-this-test", None)])
def test_lookup_uid_uses_the_user_part(user, uid):
    assert mod.lookup_uid(user) == uid


def test_max_user_namespaces_is_the_kernel_value():
    with open("/proc/sys/user/max_user_namespaces") as handle:
        assert mod.read_max_user_namespaces() == int(handle.read())


# --- the engine package and the fixes its changelog names ------------------------------------


def test_cve_ids_are_read_once_each_and_sorted():
    changelog = """docker.io (26.1.5+dfsg1-9+deb13u1) trixie-security; urgency=medium

  * Fix CVE-2026-41568 and CVE-2026-42306: races in docker cp (Closes: #1)
  * Fix CVE-2026-34040: authorization bodies of 1 MiB or more
  * Refresh the CVE-2026-41568 patch

 -- Debian Security Team <team@security.debian.org>  Mon, 01 Jun 2026 10:00:00 +0000
"""
    assert mod.cve_ids(changelog) == ["CVE-2026-34040", "CVE-2026-41568", "CVE-2026-42306"]


def test_a_changelog_that_names_no_cve_gives_none():
    assert mod.cve_ids("docker.io (20.10.5) unstable; urgency=low\n  * New upstream release\n") == []


def test_gzip_changelogs_are_read_and_missing_ones_are_none(tmp_path):
    import gzip
    path = tmp_path / "changelog.Debian.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b"  * Fix CVE-2024-41110\n")
    assert mod.cve_ids(mod.read_gzip_text(str(path))) == ["CVE-2024-41110"]
    assert mod.read_gzip_text(str(tmp_path / "missing.gz")) is None
    (tmp_path / "plain").write_text("not gzip")
    assert mod.read_gzip_text(str(tmp_path / "plain")) is None


@pytest.mark.parametrize("package, version, fixed", [
    ("docker.io", "26.1.5+dfsg1-9+deb13u1", True),
    ("docker.io", "26.1.5+dfsg1-9+deb13u1+b1", True),  # a binNMU of the same source
    ("docker.io", "26.1.5+dfsg1-9+deb13u2", True),
    ("docker.io", "26.1.5+dfsg1-9", False),  # before the security update
    ("docker.io", "26.1.5+dfsg1-10", False),  # another branch: nothing known
    ("docker.io", "28.5.2+dfsg4-5", False),  # forky names its fixes itself
    ("docker-ce", "26.1.5+dfsg1-9+deb13u1", False),
])
def test_known_backports_count_only_for_the_security_update_that_carries_them(package, version, fixed):
    assert ("CVE-2026-41567" in mod.known_backports(package, version)) is fixed


# --- the remap user's ranges and the host ids they hold ---------------------------------------


@pytest.fixture
def subid_files(tmp_path, monkeypatch):
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    monkeypatch.setattr(mod, "SUBUID", str(subuid))
    monkeypatch.setattr(mod, "SUBGID", str(subgid))
    return subuid, subgid


def test_remap_ranges_are_read_by_the_users_name_or_uid_in_both_files(subid_files, monkeypatch):
    subuid, subgid = subid_files
    subuid.write_text("alice:165536:65536\ndockremap:100000:65536\n998:300000:10\n")
    subgid.write_text("dockremap:100000:65536\n")  # Docker reads /etc/subgid by the user too, never by its group
    nss_stand_in(monkeypatch, mod)
    facts = mod.remap_ranges("dockremap", 998, True)
    assert facts["remap_ranges"] == [{"file": str(subuid), "start": 100000, "count": 65536}, {"file": str(subuid), "start": 300000, "count": 10},
                                     {"file": str(subgid), "start": 100000, "count": 65536}]
    assert facts["remap_range_ids"] == [] and facts["remap_ranges_error"] == ""


def test_remap_ranges_name_the_accounts_and_groups_they_hold(subid_files, monkeypatch):
    subuid, subgid = subid_files
    subuid.write_text("dockremap:100000:65536\n")
    subgid.write_text("dockremap:100000:65536\n")
    made = nss_stand_in(monkeypatch, mod, listed=[("uid", 1000, "user admin (uid 1000)"), ("gid", 100100, "group staff (gid 100100)")],
                        unlisted=[("uid", 100000, "user alice (uid 100000)")])
    facts = mod.remap_ranges("dockremap", None, True)
    assert facts["remap_range_ids"] == [
        {"file": str(subuid), "kind": "uid", "id": 100000, "container_id": 0, "what": "user alice (uid 100000)"},
        {"file": str(subgid), "kind": "gid", "id": 100100, "container_id": 100, "what": "group staff (gid 100100)"}]
    assert [known.lookups for known in made] == [65536, 65535]  # the listed gid is not looked up again
    # Enumeration alone does not see alice (sssd without enumeration).
    assert [entry["id"] for entry in mod.remap_ranges("dockremap", None, False)["remap_range_ids"]] == [100100]


def test_remap_ranges_report_a_malformed_file_instead_of_failing(subid_files, monkeypatch):
    subuid, _subgid = subid_files
    subuid.write_text("dockremap:100000\n")
    nss_stand_in(monkeypatch, mod)
    facts = mod.remap_ranges("dockremap", None, True)
    assert "line 1 is not name:start:count" in facts["remap_ranges_error"] and facts["remap_ranges"] == []
