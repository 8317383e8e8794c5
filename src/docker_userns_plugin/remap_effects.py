"""Remap effects: what stops working, or works otherwise, once user-namespace remapping is on, for
a container's HostConfig (a create request's, or an existing container's as the daemon describes
it). Observe mode logs it per request ("would-break"), and --report lists the existing containers
that could not run, so the role can say so before the switch.

Measured on Docker 20.10 and 26.1, read in moby's daemon/daemon_unix.go (verifyPlatformContainerSettings,
v20.10.24 to docker-v29.7.2): the daemon refuses the first three at every create and start with
remapping on; runc cannot mount /dev/mqueue from a remapped user namespace for the fourth. --uts=host
and --cgroupns=host run remapped.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

from .containers import NAMESPACE_MODES, as_text
from .mounts import PlannedMount

CANNOT_RUN: Tuple[Tuple[str, Callable[[Dict[str, Any]], bool], str], ...] = (
    ("remap-refuses", lambda host: host.get("Privileged") is True,
     "runs privileged (--privileged), which the daemon refuses with remapping on"),
    ("remap-refuses", lambda host: as_text(host.get("NetworkMode")) == "host",
     "uses the host's network namespace (--network host), which the daemon refuses with remapping on"),
    ("remap-refuses", lambda host: as_text(host.get("PidMode")) == "host",
     "uses the host's pid namespace (--pid host), which the daemon refuses with remapping on"),
    ("host-ipc", lambda host: as_text(host.get("IpcMode")) == "host",
     "uses the host's ipc namespace (--ipc host): runc cannot mount /dev/mqueue from a remapped user namespace"),
)


def remap_breaks(host: Dict[str, Any], breaking: Dict[str, str]) -> List[Tuple[str, str]]:
    """(rule, why) a container with this HostConfig cannot run once remapping is on: its own
    settings, or joining the pid, ipc or network namespace of a container that cannot run either
    (breaking: the reference as the mode writes it -> that container's label). A container in the
    host user namespace is not remapped, so nothing here stops it (it is outside, reported apart)."""
    if as_text(host.get("UsernsMode")) == "host":
        return []
    found = [(rule, why) for rule, applies, why in CANNOT_RUN if applies(host)]
    for field, namespace in NAMESPACE_MODES:
        mode = as_text(host.get(field))
        joined = breaking.get(mode[len("container:"):]) if mode.startswith("container:") else None
        if joined:
            found.append(("joins-breaking", "shares the %s namespace of container %s, which cannot run remapped" % (namespace, joined)))
    return found


def remap_changes(mounts: List[PlannedMount]) -> List[Tuple[str, str]]:
    """(rule, what) of what works otherwise once remapping is on: host paths the container writes
    into get files owned by the remapped range, and the host's root-owned files there become
    read-only to it."""
    return [("bind-ownership", "%s: files the container writes there will be owned by the remapped range, and root-owned "
             "files there become read-only to it" % m.spelling[:200]) for m in mounts if m.kind == "bind" and m.read_write]
