#!/usr/bin/python
# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Ansible module: read, in one call, what the docker_userns role checks on a Docker host before it changes it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_userns_host_info
short_description: Read what must hold on a Docker host before user namespace enforcement is set up
description:
  - Gathers, in one call, the facts the docker_userns role checks before it changes anything
    (each one used to be its own task, and so its own round trip to the host).
  - The installed C(dockerd) and whether it can validate a configuration file (C(--validate), Docker 23 and later).
  - Whether Docker answers, whether it already remaps user namespaces, and how many containers and images it shows.
  - The flags Docker is started with, from the service's C(ExecStart) and the running daemon's command line.
  - The remap user's uid, the version of the Python that runs the plugin, whether systemd runs the host,
    and the kernel's limit on user namespaces.
  - The remap user's subordinate id ranges, as Docker reads them (the lines of C(/etc/subuid) and C(/etc/subgid)
    under the user's name or uid), and every uid in the first and gid in the second that the host's accounts
    and groups use, as NSS knows them (C(getent passwd), C(getent group), and with O(lookup_each_id) a lookup
    of each id by number, which LDAP, sssd and winbind answer even when they do not enumerate). Such an id
    makes a container's user that host account.
  - The package that installed C(dockerd), its version, and the security fixes (CVE ids) its changelog names;
    distributions backport fixes without changing Docker's version, and the enforcement plugin refuses what
    the engine's known vulnerabilities reach unless it is told that they are fixed.
  - With O(nvidia_toolkit), the version of the NVIDIA Container Toolkit, whose hook runs as real root for GPU containers;
    the enforcement plugin refuses GPU requests unless it knows a version without known container-to-host escapes.
  - What already runs outside the remapping is not read here; the role asks the enforcement plugin
    itself (its C(--report) mode), so that the report and the plugin decide alike.
  - Never fails on what it finds and changes nothing. What it cannot read is reported as missing,
    with the error, for the role to explain.
options:
  docker_service:
    description: The systemd service that runs C(dockerd).
    type: str
    default: docker.service
  remap_user:
    description: User name to look up (C(name) or C(name:group)); O(remap_user) absent skips the lookup.
    type: str
  python:
    description: Path of the Python that will run the plugin.
    type: path
    default: /usr/bin/python3
  count_objects:
    description: Count the containers (from C(docker info)) and the images (C(docker images --all)) Docker shows.
    type: bool
    default: true
  docker_socket:
    description: The daemon's Unix socket, where the enforcement plugin looks containers up; O(docker_socket) absent skips the check.
    type: path
  nvidia_toolkit:
    description:
      - Read the NVIDIA Container Toolkit's version from C(nvidia-ctk --version) and from the installed packages
        (C(nvidia-container-toolkit), C(nvidia-container-toolkit-base), C(libnvidia-container1),
        C(libnvidia-container-tools), through C(dpkg-query) or C(rpm)).
    type: bool
    default: false
  lookup_each_id:
    description:
      - Look up every id of the remap user's ranges by number through NSS, besides the accounts and groups NSS
        enumerates. 65536 lookups per file take about a second with files alone, longer with nss-systemd or a
        directory service (each miss may be a query to it).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  # No GitHub handle: the project has none (validate-modules wants one, or !UNKNOWN).
  - docker-userns-enforcement project !UNKNOWN
"""

EXAMPLES = r"""
- name: Read the Docker host
  docker_hardening.userns.docker_userns_host_info:
    remap_user: dockremap
  register: docker_host

- name: Read a GPU host, with the NVIDIA Container Toolkit's version
  docker_hardening.userns.docker_userns_host_info:
    nvidia_toolkit: true
  register: gpu_host
"""

RETURN = r"""
dockerd_version:
  description: Output of C(dockerd --version); empty when it failed.
  returned: always
  type: str
  sample: Docker version 20.10.24+dfsg1, build 297e128
dockerd_error:
  description: Why C(dockerd --version) failed; empty when it worked.
  returned: always
  type: str
dockerd_validates_config:
  description: Whether C(dockerd) has C(--validate) (Docker 23 and later).
  returned: always
  type: bool
docker_answers:
  description: Whether C(docker info) got an answer from the daemon.
  returned: always
  type: bool
docker_error:
  description: Why C(docker info) failed; empty when it worked.
  returned: always
  type: str
remap_active:
  description: Whether the running daemon remaps user namespaces (C(name=userns) in its security options).
  returned: always
  type: bool
containers:
  description: Number of containers Docker shows, stopped ones included; null when not counted.
  returned: always
  type: int
images:
  description: Number of distinct images Docker shows, intermediate ones included; null when not counted.
  returned: always
  type: int
dockerd_flags:
  description: Flag names (C(--name), without values) on the service's ExecStart and the running daemon's command line.
  returned: always
  type: list
  elements: str
  sample: [--containerd, -H]
remap_user_uid:
  description: The remap user's uid; null when there is no such user (or no O(remap_user)).
  returned: always
  type: int
remap_ranges:
  description: The remap user's ranges, the lines under its name or uid, in file order; empty without O(remap_user).
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/subuid", "start": 100000, "count": 65536}, {"file": "/etc/subgid", "start": 100000, "count": 65536}]
  contains:
    file:
      description: C(/etc/subuid) or C(/etc/subgid).
      type: str
    start:
      description: The range's first id.
      type: int
    count:
      description: How many ids it holds.
      type: int
remap_range_ids:
  description:
    - The uids of accounts in the remap user's C(/etc/subuid) ranges and the gids of groups (or of accounts' primary
      groups) in its C(/etc/subgid) ranges, sorted by id; an id several names share is listed once per name.
  returned: always
  type: list
  elements: dict
  sample: [{"file": "/etc/subuid", "kind": "uid", "id": 100000, "container_id": 0, "what": "user alice (uid 100000)"}]
  contains:
    file:
      description: C(/etc/subuid) or C(/etc/subgid).
      type: str
    kind:
      description: C(uid) (from C(/etc/subuid)) or C(gid) (from C(/etc/subgid)).
      type: str
    id:
      description: The host id.
      type: int
    container_id:
      description: The id a container sees for it (0, container root, for the first id of the first range).
      type: int
    what:
      description: The account or group, in words.
      type: str
remap_ranges_error:
  description: Why C(/etc/subuid) or C(/etc/subgid) could not be read (a line that is not C(name:start:count)); empty when they could.
  returned: always
  type: str
python_executable:
  description: Whether O(python) exists and is executable.
  returned: always
  type: bool
python_version:
  description: The version of O(python) (C(3.11.2)); empty when it cannot be run.
  returned: always
  type: str
  sample: 3.11.2
systemd_booted:
  description: Whether systemd runs the host (C(/run/systemd/system) exists), which the plugin's units need.
  returned: always
  type: bool
max_user_namespaces:
  description: The kernel's C(user.max_user_namespaces); null when it cannot be read.
  returned: always
  type: int
docker_socket_is_socket:
  description: Whether O(docker_socket) is a Unix socket; null without O(docker_socket).
  returned: always
  type: bool
server_version:
  description: The daemon's version as its API reports it (C(ServerVersion) of C(docker info)); empty when it does not answer.
  returned: always
  type: str
  sample: 26.1.5+dfsg1
engine_package:
  description: The package that installed C(dockerd) (C(docker.io), C(docker-ce), C(moby-engine) ...); empty when no package manager knows it.
  returned: always
  type: str
  sample: docker.io
engine_package_version:
  description: That package's version; empty when unknown.
  returned: always
  type: str
  sample: 26.1.5+dfsg1-9+deb13u1
engine_package_fixes:
  description:
    - The CVE ids that the package's changelog names (Debian and Ubuntu C(changelog.Debian.gz), RPM C(--changelog)),
      and those a known Debian security update fixes without naming them (trixie's C(26.1.5+dfsg1-9+deb13u1)
      fixes CVE-2026-41567), sorted.
  returned: always
  type: list
  elements: str
  sample: [CVE-2024-41110, CVE-2026-41568]
nvidia_toolkit_version:
  description:
    - The NVIDIA Container Toolkit's version (C(1.17.8)), the lowest of those in RV(nvidia_toolkit_found)
      (its packages are released together; one left behind keeps its flaws); empty when none was found or without
      O(nvidia_toolkit).
  returned: always
  type: str
  sample: 1.17.8
nvidia_toolkit_found:
  description: Where a toolkit version was read, and which; each entry is the source, a colon and the version it gave.
  returned: always
  type: list
  elements: str
  sample: ["nvidia-ctk --version: 1.17.8", "dpkg libnvidia-container1: 1.17.8-1"]
"""

import gzip
import json
import os
import pwd
import re
import stat
from typing import Any, Dict, Set

from ansible.module_utils.basic import AnsibleModule

# The collection's module_utils, or, in the standalone role, the copy its module_utils/ holds.
try:
    from ansible_collections.docker_hardening.userns.plugins.module_utils.docker_userns_subids import (
        SUBGID,
        SUBUID,
        KnownIds,
        SubidError,
        known_in_ranges,
        parse_subid,
        ranges_of,
    )
except ImportError:
    from ansible.module_utils.docker_userns_subids import SUBGID, SUBUID, KnownIds, SubidError, known_in_ranges, parse_subid, ranges_of

USERNS_SECURITY_OPTION = "name=userns"


def flag_names(words):
    """The flag names among command-line words: '--userns-remap=x' -> '--userns-remap'; values dropped."""
    return sorted({word.split("=", 1)[0] for word in words if word.startswith("-") and word not in ("-", "--")})


def parse_systemctl_show(text):
    """`systemctl show --property=...` output as a dict (the first '=' splits: values may contain more)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def parse_docker_info(text):
    """`docker info --format '{{json .}}'` -> (security options, container count, server version)."""
    info = json.loads(text)
    return list(info.get("SecurityOptions") or []), info.get("Containers"), str(info.get("ServerVersion") or "")


def read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def lookup_uid(user):
    try:
        return pwd.getpwnam(user.split(":", 1)[0]).pw_uid
    except KeyError:
        return None


def remap_ranges(user, uid, lookup_each_id):
    """The remap user's ranges as Docker reads them (its name or uid), and the host ids they hold."""
    names = (user,) if uid is None else (user, str(uid))
    facts: Dict[str, Any] = {"remap_ranges": [], "remap_range_ids": [], "remap_ranges_error": ""}
    for path, kind in ((SUBUID, "uid"), (SUBGID, "gid")):
        try:
            parsed = parse_subid(read_text(path) or "", path)
        except SubidError as err:
            facts["remap_ranges_error"] = str(err)
            continue
        ranges = ranges_of(parsed, names)
        facts["remap_ranges"] += [{"file": path, "start": start, "count": count} for start, count in ranges]
        facts["remap_range_ids"] += [{"file": path, "kind": kind, "id": number, "container_id": inside, "what": what}
                                     for number, inside, what in known_in_ranges(KnownIds(kind, lookup_each_id), ranges)]
    return facts


def read_max_user_namespaces():
    text = read_text("/proc/sys/user/max_user_namespaces")
    try:
        return int(text.strip())
    except (AttributeError, ValueError):
        return None


CVE_ID = re.compile(r"CVE-[0-9]{4}-[0-9]{4,}")

# Debian packages known to carry fixes that their changelog does not name: trixie's security update
# backports the CVE-2026-41567 patch (its CVE-2026-42306 follow-up depends on it) without naming it.
# (package, version pattern whose first group is a revision number, lowest such number, CVE ids);
# a binNMU (+bN) of a listed version is the same source.
KNOWN_BACKPORTS = (
    ("docker.io", re.compile(r"26\.1\.5\+dfsg1-9\+deb13u([0-9]+)(?:\+b[0-9]+)?"), 1,
     ("CVE-2026-33747", "CVE-2026-33748", "CVE-2026-33997", "CVE-2026-34040", "CVE-2026-41567", "CVE-2026-41568", "CVE-2026-42306")),
)


def cve_ids(text):
    """Every CVE id a changelog names, once each, sorted."""
    return sorted(set(CVE_ID.findall(text)))


def known_backports(package, version):
    """The CVE ids KNOWN_BACKPORTS says this package version fixes."""
    fixed: Set[str] = set()
    for name, pattern, lowest, cves in KNOWN_BACKPORTS:
        match = pattern.fullmatch(version) if name == package else None
        if match and int(match.group(1)) >= lowest:
            fixed.update(cves)
    return fixed


def read_gzip_text(path):
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except (OSError, EOFError):
        return None


NVIDIA_TOOLKIT_PACKAGES = ("nvidia-container-toolkit", "nvidia-container-toolkit-base", "libnvidia-container1", "libnvidia-container-tools")
TOOLKIT_VERSION = re.compile(r"([0-9]+)\.([0-9]+)\.([0-9]+)")


def toolkit_version(text):
    """The upstream x.y.z of a toolkit version: "1.17.8-1", "1:1.17.8-1" (a package's) -> "1.17.8"; "" when there is none."""
    text = text.strip()
    text = re.sub(r"^[0-9]+:", "", text).lstrip("v")  # a Debian epoch, a tag's v
    match = TOOLKIT_VERSION.match(text)
    return match.group(0) if match else ""


def parse_nvidia_ctk_version(text):
    """`nvidia-ctk --version` ("NVIDIA Container Toolkit CLI version 1.17.8\\ncommit: ...") -> "1.17.8"."""
    match = re.search(r"\bversion\s+(v?[0-9][^\s]*)", text)
    return toolkit_version(match.group(1)) if match else ""


def parse_dpkg_versions(text):
    """`dpkg-query --show --showformat '${Package}\\t${Status}\\t${Version}\\n'` -> {package: version}, installed ones only."""
    found = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].endswith(" installed") and parts[2]:
            found[parts[0]] = parts[2]
    return found


def parse_rpm_versions(text):
    """`rpm --query --queryformat '%{NAME}\\t%{VERSION}\\n'` -> {package: version} ("package X is not installed" skipped)."""
    return dict(line.split("\t", 1) for line in text.splitlines() if line.count("\t") == 1 and line.split("\t")[1])


def lowest_toolkit_version(versions):
    """The lowest x.y.z among the versions found, or ""."""
    numbers = [v for v in (toolkit_version(v) for v in versions) if v]
    return min(numbers, key=lambda v: tuple(int(p) for p in v.split("."))) if numbers else ""


def run(module, argv):
    """(rc, stdout, stderr); rc 127 when the program is not installed."""
    binary = module.get_bin_path(argv[0])
    if binary is None:
        return 127, "", "%s: command not found" % argv[0]
    return module.run_command([binary] + argv[1:])


def dockerd_info(module):
    rc, out, err = run(module, ["dockerd", "--version"])
    if rc != 0:
        return {"dockerd_version": "", "dockerd_error": (err or out).strip(), "dockerd_validates_config": False}
    _help_rc, help_out, help_err = run(module, ["dockerd", "--help"])
    return {"dockerd_version": out.strip(), "dockerd_error": "",
            "dockerd_validates_config": "--validate" in help_out + help_err}


def daemon_info(module, count_objects):
    facts = {"docker_answers": False, "docker_error": "", "remap_active": False, "containers": None, "images": None,
             "server_version": ""}
    rc, out, err = run(module, ["docker", "info", "--format", "{{json .}}"])
    if rc != 0:
        facts["docker_error"] = (err or out).strip()
        return facts
    try:
        security_options, containers, server_version = parse_docker_info(out)
    except ValueError as error:
        facts["docker_error"] = "cannot read the output of docker info: %s" % error
        return facts
    facts.update(docker_answers=True, remap_active=any(USERNS_SECURITY_OPTION in option for option in security_options),
                 server_version=server_version)
    if count_objects:
        facts["containers"] = containers
        rc, out, err = run(module, ["docker", "images", "--all", "--quiet"])
        facts["images"] = len(set(out.split())) if rc == 0 else None
    return facts


def service_flags(module, service):
    """Flags from the unit's ExecStart (drop-ins included) and from the running daemon's command line."""
    rc, out, _err = run(module, ["systemctl", "show", "--property=ExecStart", "--property=MainPID", service])
    properties = parse_systemctl_show(out) if rc == 0 else {}
    words = properties.get("ExecStart", "").split()
    main_pid = properties.get("MainPID", "0")
    if main_pid.isdigit() and int(main_pid) > 0:
        words += (read_text("/proc/%s/cmdline" % main_pid) or "").split("\0")
    return flag_names(words)


def python_version(module, python):
    """The version of an executable Python, or "" when it cannot say."""
    rc, out, _err = module.run_command([python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"])
    return out.strip() if rc == 0 else ""


def engine_package(module, dockerd):
    """(package, version, CVE ids its changelog names) for the dockerd binary, from dpkg or rpm."""
    if not dockerd:
        return "", "", []
    paths = [dockerd, os.path.realpath(dockerd)]
    if module.get_bin_path("dpkg-query"):
        for path in paths:
            rc, out, _err = run(module, ["dpkg-query", "--search", path])
            if rc == 0 and ":" in out:
                package = out.split(":", 1)[0].strip().split(",")[0].strip()
                rc, version, _err = run(module, ["dpkg-query", "--show", "--showformat", "${Version}", package])
                version = version.strip() if rc == 0 else ""
                changelog = read_gzip_text("/usr/share/doc/%s/changelog.Debian.gz" % package) or ""
                return package, version, sorted(set(cve_ids(changelog)) | known_backports(package, version))
    if module.get_bin_path("rpm"):
        for path in paths:
            rc, out, _err = run(module, ["rpm", "--query", "--file", "--queryformat", "%{NAME}\\n", path])
            if rc == 0 and out.strip():
                package = out.split()[0]
                rc, version, _err = run(module, ["rpm", "--query", "--queryformat", "%{VERSION}-%{RELEASE}", package])
                rc_log, changelog, _err = run(module, ["rpm", "--query", "--changelog", package])
                return package, version.strip() if rc == 0 else "", cve_ids(changelog if rc_log == 0 else "")
    return "", "", []


def nvidia_toolkit_info(module):
    """The NVIDIA Container Toolkit's version: the lowest that its CLI or any of its packages says."""
    found = []
    rc, out, _err = run(module, ["nvidia-ctk", "--version"])
    version = parse_nvidia_ctk_version(out) if rc == 0 else ""
    if version:
        found.append(("nvidia-ctk --version", version))
    packages = {}
    if module.get_bin_path("dpkg-query"):
        # One call for all; it exits 1 when some are not known, and still prints the others.
        _rc, out, _err = run(module, ["dpkg-query", "--show", "--showformat", "${Package}\t${Status}\t${Version}\n"]
                             + list(NVIDIA_TOOLKIT_PACKAGES))
        packages = {"dpkg " + name: v for name, v in parse_dpkg_versions(out).items()}
    if not packages and module.get_bin_path("rpm"):
        _rc, out, _err = run(module, ["rpm", "--query", "--queryformat", "%{NAME}\t%{VERSION}\n"] + list(NVIDIA_TOOLKIT_PACKAGES))
        packages = {"rpm " + name: v for name, v in parse_rpm_versions(out).items()}
    found += sorted(packages.items())
    return {"nvidia_toolkit_version": lowest_toolkit_version(v for _source, v in found),
            "nvidia_toolkit_found": ["%s: %s" % item for item in found]}


def docker_host_info(module):
    params = module.params
    facts = dockerd_info(module)
    facts.update(daemon_info(module, params["count_objects"]))
    package, version, fixes = engine_package(module, module.get_bin_path("dockerd"))
    facts.update(engine_package=package, engine_package_version=version, engine_package_fixes=fixes)
    facts["dockerd_flags"] = service_flags(module, params["docker_service"])
    facts["remap_user_uid"] = lookup_uid(params["remap_user"]) if params["remap_user"] else None
    if params["remap_user"]:
        facts.update(remap_ranges(params["remap_user"].split(":", 1)[0], facts["remap_user_uid"], params["lookup_each_id"]))
    else:
        facts.update(remap_ranges=[], remap_range_ids=[], remap_ranges_error="")
    facts["python_executable"] = os.path.isfile(params["python"]) and os.access(params["python"], os.X_OK)
    facts["python_version"] = python_version(module, params["python"]) if facts["python_executable"] else ""
    facts["systemd_booted"] = os.path.isdir("/run/systemd/system")
    facts["max_user_namespaces"] = read_max_user_namespaces()
    facts["docker_socket_is_socket"] = is_socket(params["docker_socket"]) if params["docker_socket"] else None
    facts.update(nvidia_toolkit_info(module) if params["nvidia_toolkit"] else {"nvidia_toolkit_version": "", "nvidia_toolkit_found": []})
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            docker_service=dict(type="str", default="docker.service"),
            remap_user=dict(type="str"),
            python=dict(type="path", default="/usr/bin/python3"),
            count_objects=dict(type="bool", default=True),
            docker_socket=dict(type="path"),
            nvidia_toolkit=dict(type="bool", default=False),
            lookup_each_id=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **docker_host_info(module))


if __name__ == "__main__":
    main()
