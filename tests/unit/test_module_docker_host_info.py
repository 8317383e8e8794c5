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


# --- the NVIDIA Container Toolkit's version (GPU hosts) ------------------------------------------


@pytest.mark.parametrize("text, version", [
    ("NVIDIA Container Toolkit CLI version 1.17.8\ncommit: f202b80a9b9d0db00d9b1d73c0128c8962c55f4d\n", "1.17.8"),
    ("NVIDIA Container Toolkit CLI version 1.19.0\n", "1.19.0"),
    ("NVIDIA Container Toolkit CLI version v1.18.0-rc.1\n", "1.18.0"),
    ("NVIDIA Container Toolkit CLI\n", ""),  # no version at all
    ("", ""),
])
def test_nvidia_ctk_version_is_the_upstream_number(text, version):
    assert mod.parse_nvidia_ctk_version(text) == version


@pytest.mark.parametrize("text, version", [("1.17.8-1", "1.17.8"), ("1:1.17.8-1", "1.17.8"), ("1.18.0~rc.1-1", "1.18.0"),
                                           ("1.17.8", "1.17.8"), ("unknown", ""), ("1.17", "")])
def test_a_package_version_gives_the_upstream_number(text, version):
    assert mod.toolkit_version(text) == version


def test_dpkg_versions_count_only_installed_packages():
    text = ("nvidia-container-toolkit\tinstall ok installed\t1.17.8-1\n"
            "nvidia-container-toolkit-base\thold ok installed\t1.17.8-1\n"
            "libnvidia-container1\tdeinstall ok config-files\t1.14.0-1\n"  # removed: its files are gone
            "libnvidia-container-tools\tinstall ok unpacked\t1.16.1-1\n")  # not configured
    assert mod.parse_dpkg_versions(text) == {"nvidia-container-toolkit": "1.17.8-1", "nvidia-container-toolkit-base": "1.17.8-1"}


def test_rpm_versions_skip_packages_that_are_not_installed():
    text = "nvidia-container-toolkit\t1.17.8\npackage nvidia-container-toolkit-base is not installed\nlibnvidia-container1\t1.17.7\n"
    assert mod.parse_rpm_versions(text) == {"nvidia-container-toolkit": "1.17.8", "libnvidia-container1": "1.17.7"}


def test_the_lowest_version_counts():
    assert mod.lowest_toolkit_version(["1.17.8", "1.16.1-1", "1.17.10"]) == "1.16.1"
    assert mod.lowest_toolkit_version(["1.17.10", "1.17.9"]) == "1.17.9"  # by number, not as text
    assert mod.lowest_toolkit_version(["garbage", ""]) == ""


class FakeModule:
    """What nvidia_toolkit_info asks of AnsibleModule: the programs on PATH and their output."""

    def __init__(self, outputs):
        self.outputs = outputs  # program -> (rc, stdout)
        self.calls = []

    def get_bin_path(self, name):
        return "/usr/bin/" + name if name in self.outputs else None

    def run_command(self, argv):
        self.calls.append(argv)
        rc, out = self.outputs[argv[0].rsplit("/", 1)[1]]
        return rc, out, ""


DPKG_SAME = ("nvidia-container-toolkit\tinstall ok installed\t1.17.8-1\n"
             "nvidia-container-toolkit-base\tinstall ok installed\t1.17.8-1\n"
             "libnvidia-container1\tinstall ok installed\t1.17.8-1\n"
             "libnvidia-container-tools\tinstall ok installed\t1.17.8-1\n")


def test_toolkit_from_its_cli_and_its_debian_packages():
    module = FakeModule({"nvidia-ctk": (0, "NVIDIA Container Toolkit CLI version 1.17.8\ncommit: f202b80\n"), "dpkg-query": (0, DPKG_SAME)})
    info = mod.nvidia_toolkit_info(module)
    assert info["nvidia_toolkit_version"] == "1.17.8"
    assert info["nvidia_toolkit_found"][0] == "nvidia-ctk --version: 1.17.8"
    assert "dpkg libnvidia-container1: 1.17.8-1" in info["nvidia_toolkit_found"] and len(info["nvidia_toolkit_found"]) == 5
    assert module.calls[1][:4] == ["/usr/bin/dpkg-query", "--show", "--showformat", "${Package}\t${Status}\t${Version}\n"]
    assert module.calls[1][4:] == list(mod.NVIDIA_TOOLKIT_PACKAGES)


def test_a_package_left_behind_sets_the_version():
    # The CLI was upgraded, the library its hook uses was not: the library's flaws remain.
    dpkg = DPKG_SAME.replace("libnvidia-container1\tinstall ok installed\t1.17.8-1", "libnvidia-container1\tinstall ok installed\t1.16.1-1")
    module = FakeModule({"nvidia-ctk": (0, "NVIDIA Container Toolkit CLI version 1.17.8\n"), "dpkg-query": (1, dpkg)})
    assert mod.nvidia_toolkit_info(module)["nvidia_toolkit_version"] == "1.16.1"


def test_toolkit_from_rpm_without_its_cli():
    module = FakeModule({"rpm": (1, "nvidia-container-toolkit\t1.17.7\npackage libnvidia-container-tools is not installed\n")})
    info = mod.nvidia_toolkit_info(module)
    assert info == {"nvidia_toolkit_version": "1.17.7", "nvidia_toolkit_found": ["rpm nvidia-container-toolkit: 1.17.7"]}


def test_no_toolkit_is_an_empty_version():
    module = FakeModule({"nvidia-ctk": (1, "Error: no such thing\n"), "dpkg-query": (1, "")})
    assert mod.nvidia_toolkit_info(module) == {"nvidia_toolkit_version": "", "nvidia_toolkit_found": []}
    assert mod.nvidia_toolkit_info(FakeModule({})) == {"nvidia_toolkit_version": "", "nvidia_toolkit_found": []}


def test_main_reads_the_toolkit_only_when_asked(tmp_path, monkeypatch, capsys):
    from conftest_modules import run_module
    bindir = tmp_path / "bin"
    bindir.mkdir()
    stub = bindir / "nvidia-ctk"
    stub.write_text("#!/bin/sh\n[ \"$1\" = --version ] && printf 'NVIDIA Container Toolkit CLI version 1.17.4\\ncommit: 0\\n'\n")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, __import__("os").environ["PATH"]))
    monkeypatch.setenv("DOCKER_HOST", "unix://%s" % (tmp_path / "no-daemon.sock"))
    asked = run_module(mod, capsys, {"nvidia_toolkit": True, "count_objects": False}, check_mode=True)
    assert asked["nvidia_toolkit_version"] == "1.17.4" and asked["nvidia_toolkit_found"][0] == "nvidia-ctk --version: 1.17.4"
    not_asked = run_module(mod, capsys, {"count_objects": False}, check_mode=True)
    assert (not_asked["nvidia_toolkit_version"], not_asked["nvidia_toolkit_found"]) == ("", [])
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
