"""Engine: the known vulnerabilities of the daemon the plugin guards, from the version it reports
(GET /version), less the fixes its package is known to carry (config engine_fixes: the role writes
what the package's changelog names; an operator can add to it). Distributions backport fixes
without changing the version, so without that knowledge the upstream version's vulnerabilities
are assumed; a version the plugin cannot read is assumed to have them all.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional, Tuple


class Vulnerability(NamedTuple):
    id: str  # the CVE, or a name for a flaw that has none
    affected: Tuple[Tuple[str, str], ...]  # [first affected, first fixed) upstream version ranges
    fixed_in: str  # for messages
    summary: str  # what it lets a client do, for messages


DECOMPRESS_IN_CONTAINER = Vulnerability(
    "CVE-2026-41567", (("24.0.0", "25.0.17"), ("26.0.0", "29.5.1")), "Docker 29.5.1 (25.0.17 on 25.0)",
    "to unpack an archive copied into a container, the daemon runs the container's own xz or unpigz as real root on the host")
COPY_MOUNT_RACE = Vulnerability(
    "CVE-2026-41568", (("0", "25.0.17"), ("26.0.0", "29.5.1")), "Docker 29.5.1 (25.0.17 on 25.0)",
    "while docker cp sets up the container's mounts, a process that can change the container's files can make the "
    "daemon create files at any host path, as real root")
COPY_MOUNT_REDIRECT = Vulnerability(
    "CVE-2026-42306", (("0", "25.0.17"), ("26.0.0", "29.5.1")), "Docker 29.5.1 (25.0.17 on 25.0)",
    "while docker cp sets up the container's mounts, a process that can change the container's files can redirect "
    "a bind mount onto any host path, as real root")
COPY_AS_USER = Vulnerability(
    "docker-cp-a-user", (("0", "29.7.0"),), "Docker 29.7.0",
    "docker cp -a (copyUIDGID) into a container that sets a user gives the files that user's IDs on the host, not "
    "remapped ones (uid 0 is host root, setuid bits kept), and Docker 24 to 27 run the container's own getent as "
    "real root to find the user")
HIDDEN_LARGE_BODY = Vulnerability(
    "CVE-2026-34040", (("0", "25.0.16"), ("26.0.0", "29.3.1")), "Docker 29.3.1 (25.0.16 on 25.0)",
    "the daemon does not show authorization plugins request bodies of 1 MiB or more")
HIDDEN_CHUNKED_BODY = Vulnerability(
    "CVE-2024-41110", (("0", "23.0.15"), ("24.0.0", "25.0.6"), ("26.0.0", "26.1.5"), ("27.0.0", "27.1.1")),
    "Docker 27.1.1 (26.1.5, 25.0.6, 23.0.15)",
    "the daemon does not show authorization plugins chunked request bodies, nor bodies of request URIs ending in /auth")
PLUGIN_PRIVILEGES = Vulnerability(
    "CVE-2026-33997", (("0", "25.0.16"), ("26.0.0", "29.3.1")), "Docker 29.3.1 (25.0.16 on 25.0)",
    "the daemon does not compare the first privilege a managed plugin asks for with the ones granted")
BUILDKIT_FRONTEND = Vulnerability(
    "CVE-2026-33747", (("0", "29.3.1"),), "Docker 29.3.1",
    "a BuildKit build with an untrusted frontend (# syntax=) can write files as real root outside BuildKit's state "
    "directory")
BUILDKIT_GIT_SUBDIR = Vulnerability(
    "CVE-2026-33748", (("0", "29.3.1"),), "Docker 29.3.1",
    "a BuildKit build from a git context can read files outside the checkout through a subdirectory symlink")

KNOWN_VULNERABILITIES = (DECOMPRESS_IN_CONTAINER, COPY_MOUNT_RACE, COPY_MOUNT_REDIRECT, COPY_AS_USER, HIDDEN_LARGE_BODY,
                         HIDDEN_CHUNKED_BODY, PLUGIN_PRIVILEGES, BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR)
_ENGINE_VERSION = re.compile(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)")


def engine_version_number(version: str) -> Optional[Tuple[int, int, int]]:
    """(major, minor, patch) of a version the daemon reports: "26.1.5+dfsg1", "29.5.1"."""
    match = _ENGINE_VERSION.match(version)
    return (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else None


def _version_range_holds(number: Tuple[int, int, int], first: str, fixed: str) -> bool:
    return (engine_version_number(first) or (0, 0, 0)) <= number < (engine_version_number(fixed) or (0, 0, 0))


def open_vulnerabilities(version: str, config: Dict[str, Any]) -> List[Vulnerability]:
    """The known vulnerabilities of the engine that reports this version, less the fixes the
    config says its package carries (they count only for the very version they were read for)."""
    number = engine_version_number(version)
    fixes = config["engine_fixes"]
    fixed = set(fixes.get("fixed", ())) if fixes.get("version") == version else set()
    return [v for v in KNOWN_VULNERABILITIES
            if v.id not in fixed and (number is None or any(_version_range_holds(number, a, b) for a, b in v.affected))]
