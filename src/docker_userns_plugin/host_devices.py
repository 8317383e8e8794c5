"""Host devices: what the daemon will give a container for --device PATH, found the way it finds
it (symlinks resolved; a directory walked, every device node below it taken), and the device
cgroup rules a request adds, parsed as the daemon parses them.
"""

from __future__ import annotations

import os
import re
import stat
from typing import List, NamedTuple, Optional

from .lookups import HostDevice, LookupFailed

MAX_DEVICES = 4096  # a directory with more device nodes below it is refused, not walked further


class DeviceRule(NamedTuple):
    """A device cgroup rule: type a, b or c; major and minor numbers, None for *."""
    kind: str
    major: Optional[int]
    minor: Optional[int]
    access: str = "rwm"

    def covers(self, other: DeviceRule) -> bool:
        """Whether every device and access the other rule grants, this one grants too."""
        if self.kind != "a" and self.kind != other.kind:
            return False
        for mine, theirs in ((self.major, other.major), (self.minor, other.minor)):
            if mine is not None and mine != theirs:
                return False
        return set(other.access) <= set(self.access)


_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def parse_device_rule(text: str) -> Optional[DeviceRule]:
    """A rule as --device-cgroup-rule takes it ("c 10:200 rwm"), or None when the daemon would
    refuse it."""
    match = _RULE.match(text.strip())
    if not match:
        return None
    kind, major, minor, access = match.groups()
    return DeviceRule(kind, None if major == "*" else int(major), None if minor == "*" else int(minor), access)


def _device(path: str, st: os.stat_result) -> Optional[HostDevice]:
    if stat.S_ISCHR(st.st_mode):
        return HostDevice("c", os.major(st.st_rdev), os.minor(st.st_rdev), path)
    if stat.S_ISBLK(st.st_mode):
        return HostDevice("b", os.major(st.st_rdev), os.minor(st.st_rdev), path)
    return None


def host_devices(path: str) -> List[HostDevice]:
    """The device nodes the daemon would give a container for this host path: the node itself, or
    every node below a directory (symlinks resolved, as the daemon resolves them). Empty when
    there is none: the daemon then refuses the request itself."""
    try:
        real = os.path.realpath(path)
        st = os.stat(real)
    except OSError:
        return []
    if not stat.S_ISDIR(st.st_mode):
        found = _device(path, st)
        return [found] if found else []
    devices: List[HostDevice] = []
    for directory, _dirs, files in os.walk(real):
        for name in files:
            entry = os.path.join(directory, name)
            try:
                found = _device(entry, os.lstat(entry))  # the daemon takes no link below the directory
            except OSError:
                continue
            if found:
                devices.append(found)
                if len(devices) > MAX_DEVICES:
                    raise LookupFailed("%s holds more than %d devices" % (path[:200], MAX_DEVICES))
    return devices
