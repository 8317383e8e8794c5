"""Opt-in rules of the CIS Docker Benchmark beyond the user namespace: privileged containers,
host namespaces, added capabilities, sensitive bind mounts, host devices.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any, Dict, List, Optional

from .config import normalize_capability
from .context import Context, Denial, overlaps


def rule_privileged(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.5: privileged containers are not used."""
    if config["deny_privileged"] and ctx.host_config and ctx.host_config.get("Privileged") is True:
        return Denial("privileged", "privileged containers are not allowed (CIS Docker 5.5); remove --privileged")
    return None


# namespace -> (HostConfig field, docker run flag, CIS Docker Benchmark item)
NAMESPACE_FIELDS = {
    "pid": ("PidMode", "--pid=host", "CIS Docker 5.16"),
    "ipc": ("IpcMode", "--ipc=host", "CIS Docker 5.17"),
    "network": ("NetworkMode", "--network=host", "CIS Docker 5.10"),
    "uts": ("UTSMode", "--uts=host", "CIS Docker 5.21"),
    "cgroup": ("CgroupnsMode", "--cgroupns=host", "hardening, no CIS item"),
}


def rule_host_namespaces(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if not ctx.host_config:
        return None
    for namespace in config["deny_host_namespaces"]:
        field, flag, reference = NAMESPACE_FIELDS[namespace]
        if ctx.host_config.get(field) == "host":
            return Denial("host-%s" % namespace, "the host's %s namespace is not allowed (%s); remove %s" % (namespace, reference, flag))
    return None


def rule_cap_add(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.4: Linux kernel capabilities are restricted."""
    denied = config["deny_cap_add"]
    if not denied or not ctx.host_config:
        return None
    for cap in ctx.host_config.get("CapAdd", []):
        cap = normalize_capability(cap)
        if cap in denied or "ALL" in denied or cap == "ALL":
            return Denial("cap-add", "adding capability %s is not allowed (CIS Docker 5.4); remove --cap-add %s" % (cap, cap))
    return None


def _host_paths(host_config: Dict[str, Any]) -> List[str]:
    sources = [bind.split(":", 1)[0] for bind in host_config.get("Binds", [])]
    sources += [mount.get("Source", "") for mount in host_config.get("Mounts", [])]
    return [s for s in sources if s.startswith("/")]  # others are named volumes


def rule_bind_mounts(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.6 (sensitive host directories) and 5.32 (the Docker socket)."""
    protected = config["deny_bind_mounts"]
    if not protected or not ctx.host_config:
        return None
    for source in _host_paths(ctx.host_config):
        # Compare both the path as written and as resolved here: /var/run is a link to /run.
        candidates = {posixpath.normpath(source), os.path.realpath(source)}
        for path in protected:
            if any(overlaps(c, path) or overlaps(c, os.path.realpath(path)) for c in candidates):
                return Denial("bind-mount", "bind-mounting %s is not allowed: it exposes %s (CIS Docker 5.6/5.32)" % (source, path))
    return None


def rule_devices(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.18: host devices are not directly exposed to containers."""
    if config["deny_devices"] and ctx.host_config and (ctx.host_config.get("Devices") or ctx.host_config.get("DeviceCgroupRules")):
        return Denial("devices", "host devices are not allowed in containers (CIS Docker 5.18); remove --device / --device-cgroup-rule")
    return None
