"""Containers: what an existing container is, from the daemon's own description of it
(GET /containers/{id}/json): whether it runs outside the remapping, and which of its mounts show
host files.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

from .lookups import Container, ContainerLookup, LookupFailed, Volume
from .request import clean_path

NAMESPACE_MODES = (("PidMode", "pid"), ("IpcMode", "ipc"), ("NetworkMode", "network"))
FULL_ID = re.compile(r"[0-9a-f]{64}")


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def container_from_inspect(data: Any) -> Container:
    """The facts the rules need from the daemon's inspect answer; raise LookupFailed."""
    if not isinstance(data, dict) or not isinstance(data.get("Id"), str) or not isinstance(data.get("HostConfig"), dict):
        raise LookupFailed("the daemon's description of the container has no Id or HostConfig")
    host = data["HostConfig"]
    joins = []
    for field, namespace in NAMESPACE_MODES:
        mode = as_text(host.get(field))
        if mode.startswith("container:"):  # Go: SplitN(mode, ":", 2), first part "container"
            joins.append((namespace, mode[len("container:"):]))
    mounts: List[Tuple[str, str, str, str, str]] = []
    for mount in data.get("Mounts") or []:
        if isinstance(mount, dict):
            mounts.append((as_text(mount.get("Type")), as_text(mount.get("Name")), as_text(mount.get("Source")),
                           as_text(mount.get("Destination")), as_text(mount.get("Driver"))))
    # HostConfig as well: a bind the daemon did not list is still a bind (fail closed).
    listed = {(kind, source, destination) for kind, _name, source, destination, _driver in mounts}
    for bind in host.get("Binds") or []:
        parts = as_text(bind).split(":")
        if parts[0].startswith("/") and ("bind", parts[0], parts[1] if len(parts) > 1 else "") not in listed:
            mounts.append(("bind", "", parts[0], parts[1] if len(parts) > 1 else "", ""))
    never_created = set()
    for mount in host.get("Mounts") or []:
        if isinstance(mount, dict) and as_text(mount.get("Type")) == "bind":
            entry = ("bind", as_text(mount.get("Source")), as_text(mount.get("Target")))
            if entry not in listed:
                mounts.append(("bind", "", entry[1], entry[2], ""))
            options = mount.get("BindOptions")
            if not (isinstance(options, dict) and options.get("CreateMountpoint") is True):
                never_created.add((clean_path(entry[1] or "/"), clean_path(entry[2] or "/")))
    # The daemon creates a missing bind source at start and for docker cp: -v sources, --mount
    # binds with CreateMountpoint, and binds taken over with --volumes-from (which lose the
    # "never create" flag). Only --mount binds without CreateMountpoint never create one.
    creating = [source for kind, _name, source, destination, _driver in mounts
                if kind == "bind" and (clean_path(source or "/"), clean_path(destination or "/")) not in never_created]
    config = data.get("Config")
    return Container(
        id=data["Id"],
        name=as_text(data.get("Name")).lstrip("/"),
        host_userns=as_text(host.get("UsernsMode")) == "host",
        joins=tuple(joins),
        mounts=tuple(mounts),
        user=as_text(config.get("User")) if isinstance(config, dict) else "",
        creating_binds=tuple(dict.fromkeys(creating)),
    )


HOST_USERNS_REASON = "runs in the host's user namespace (--userns=host)"


def outside_reason(container: Container, lookup: ContainerLookup) -> Optional[str]:
    """Why this container runs outside the remapping, or None when it runs inside.

    A container that joins the pid, ipc or network namespace of another joins its user namespace
    too, so it is outside when the one it joins is. Chains of any length are followed, each
    container decided once. A link to a container that no longer exists, or a chain that comes
    back to itself, leaves its user namespace unknown: that counts as outside (fail closed).
    """
    inside: Set[str] = set()  # IDs of containers found to join only containers inside
    # The chain being followed: each container, its joins not looked at yet, and the namespace by
    # which the one before it joins it.
    path: List[Tuple[Container, Iterator[Tuple[str, str]], str]] = []
    reason = HOST_USERNS_REASON if container.host_userns else None
    if reason is None:
        path.append((container, iter(container.joins), ""))
    while path and reason is None:
        current, joins, _via = path[-1]
        step = next(joins, None)
        if step is None:  # every join inside: so is this one
            path.pop()
            inside.add(current.id)
            continue
        namespace, ref = step
        joined = lookup.container(ref)
        if joined is None:
            reason = _shares(namespace, ref, "which no longer exists, so its user namespace is unknown")
        elif any(joined.id == on_path.id for on_path, _joins, _via in path):
            reason = _shares(namespace, joined.label, "in a chain of joins that leads back to itself")
        elif joined.host_userns:
            reason = _shares(namespace, joined.label, "which " + HOST_USERNS_REASON)
        elif joined.id not in inside:
            path.append((joined, iter(joined.joins), namespace))
    # Unwind: every container still on the path reaches the outside through the one after it.
    while len(path) > 1:
        inner, _joins, via = path.pop()
        reason = _shares(via, inner.label, "which %s" % reason)
    return reason


def _shares(namespace: str, label: str, why: str) -> str:
    return "shares the %s namespace of container %s, %s" % (namespace, label, why)


def local_volume_binds(options: Dict[str, str]) -> bool:
    """A local volume whose mount options bind its device, a host path (o=bind or rbind)."""
    flags = [flag.strip() for flag in options.get("o", "").split(",")]
    return "bind" in flags or "rbind" in flags


def volume_host_path(volume: Volume) -> Optional[str]:
    """What a volume shows of the host, or None for a plain volume the daemon keeps itself."""
    if volume.driver != "local":
        return "its driver %s keeps it where the plugin cannot see" % volume.driver
    options = volume.options
    device, kind = options.get("device", ""), options.get("type", "")
    if local_volume_binds(options):
        return "it binds %s" % (device or "a host path")
    if device and kind != "tmpfs":
        return "it mounts %s%s" % (device, " (type %s)" % kind if kind else "")
    return None


def host_backed_mounts(container: Container, lookup: ContainerLookup) -> List[str]:
    """The container's mounts that show host files (binds, volumes that bind or mount a host
    path, volumes of other drivers, types the plugin does not know), described for a message."""
    found: List[str] = []
    for kind, name, source, destination, driver in dict.fromkeys(container.mounts):  # listed twice: binds
        where = " at %s" % destination if destination else ""
        if kind == "bind":
            found.append("bind mount of %s%s" % (source, where))
        elif kind == "volume":
            if driver and driver != "local":
                found.append("volume %s%s: its driver %s keeps it where the plugin cannot see" % (name, where, driver))
                continue
            volume = lookup.volume(name, container.id)
            if volume is None:
                found.append("volume %s%s, which the daemon does not know" % (name, where))
                continue
            shows = volume_host_path(volume)
            if shows:
                found.append("volume %s%s: %s" % (name, where, shows))
        elif kind not in ("tmpfs", "npipe", "image"):
            found.append("mount of type %r%s" % (kind, where))
    return found
