"""Mounts: what a new container will mount, read from its HostConfig the way the daemon parses
-v (Binds) and --mount (Mounts).
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple

from .request import clean_path


class PlannedMount(NamedTuple):
    kind: str  # "bind", "volume", or another --mount type
    source: str  # bind: the host path, cleaned as the daemon cleans it; volume: its name, "" if anonymous
    destination: str
    read_write: bool
    copy: bool  # volume: the daemon copies the image's files into it when it is empty
    creates_source: bool  # bind: the daemon creates the source when it is missing
    driver: str  # volume: the driver asked for ("" for the default)
    options: Dict[str, str]  # volume: driver options, used when the volume is new
    spelling: str  # the request's own words, for messages
    subpath: str = ""  # volume: the directory inside it that is mounted (and filled), API 1.45+


_BIND_MODES = frozenset(("ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private", "rprivate",
                         "consistent", "cached", "delegated"))


def planned_mounts(host_config: Dict[str, Any]) -> List[PlannedMount]:
    """The mounts of Binds and Mounts. A Binds entry is DESTINATION, SOURCE:DESTINATION or
    SOURCE:DESTINATION:MODE; an absolute source is a host path, anything else a volume name.
    Entries the daemon refuses to parse are left to it."""
    mounts = []
    volume_driver = host_config.get("VolumeDriver", "")
    for bind in host_config.get("Binds", []):
        parts = bind.split(":", 3)
        if not parts[0] or len(parts) > 3 or (len(parts) == 2 and all(m in _BIND_MODES for m in parts[1].split(","))):
            continue  # the daemon refuses it: "invalid volume specification"
        source, destination = ("", parts[0]) if len(parts) == 1 else (parts[0], parts[1])
        modes = parts[2].split(",") if len(parts) == 3 else []
        if source.startswith("/"):
            mounts.append(PlannedMount("bind", clean_path(source), destination, "ro" not in modes, False, True, "", {}, "-v %s" % bind))
        else:
            mounts.append(PlannedMount("volume", source, destination, "ro" not in modes, "nocopy" not in modes, False,
                                       volume_driver, {}, "-v %s" % bind))
    for mount in host_config.get("Mounts", []):
        kind, source = mount.get("Type", ""), mount.get("Source", "")
        spelling = "--mount type=%s,source=%s,target=%s" % (kind, source, mount.get("Target", ""))
        if kind == "bind":
            creates = bool((mount.get("BindOptions") or {}).get("CreateMountpoint"))
            mounts.append(PlannedMount("bind", clean_path(source) if source.startswith("/") else source, mount.get("Target", ""),
                                       not mount.get("ReadOnly", False), False, creates, "", {}, spelling))
        elif kind == "volume":
            options = mount.get("VolumeOptions") or {}
            driver_config = options.get("DriverConfig") or {}
            mounts.append(PlannedMount("volume", source, mount.get("Target", ""), not mount.get("ReadOnly", False),
                                       not options.get("NoCopy", False), False, driver_config.get("Name", "") or volume_driver,
                                       dict(driver_config.get("Options", {})), spelling, options.get("Subpath", "")))
        else:
            mounts.append(PlannedMount(kind, source, mount.get("Target", ""), not mount.get("ReadOnly", False), False, False, "", {}, spelling))
    return mounts
