"""Rules on HostConfig settings that weaken the container's confinement or reach the host: what the
daemon refuses only while it remaps (privileged, the host's pid and network namespaces), security
options that switch protections off, /proc and /sys paths unmasked, kernel settings written into
a namespace shared with the host, and storage driver options.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .context import Context, Denial
from .table_types import CONTAINER_CREATE

REMAP_REFUSES = (("Privileged", True, "--privileged"), ("PidMode", "host", "--pid=host"), ("NetworkMode", "host", "--network=host"))


def rule_remap_refuses(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Privileged containers and the host's pid and network namespaces give a container the host;
    the daemon refuses them while it remaps user namespaces. The plugin makes sure it does."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config or config["mode"] == "observe":
        return None  # observe: the daemon does not remap yet; the policy logs these as would-break
    asked = [flag for field, value, flag in REMAP_REFUSES if ctx.host_config.get(field) == value]
    if asked and not ctx.lookup.daemon_info().remaps:
        return Denial("remap-refuses", "%s is not allowed: this daemon does not remap user namespaces (no userns-remap), "
                      "so it would not refuse it, and the container would be real root on the host" % " and ".join(asked))
    return None


SECURITY_OPT_FIELD = "container-create:HostConfig.SecurityOpt"  # the allow_fields label that lifts this rule
SECURITY_OPT_HELP = "an administrator can allow it with allow_fields [\"%s\"]" % SECURITY_OPT_FIELD
# SELinux types that run a container unconfined.
UNCONFINED_LABELS = ("disable", "type:spc_t", "type:unconfined_t")


def security_opt_problem(option: str) -> Optional[str]:
    """Why a --security-opt value is refused, or None. The daemon takes KEY=VALUE, and KEY:VALUE
    when there is no "="."""
    option = option.strip()
    key, _, value = option.partition("=") if "=" in option else option.partition(":")
    if key == "no-new-privileges" and value in ("", "true", "false"):
        return None
    if key == "apparmor" and value and value != "unconfined":
        return None  # a profile loaded on the host by its administrator
    if key == "seccomp" and value == "builtin":
        return None
    if key == "label" and value not in UNCONFINED_LABELS and value.split(":", 1)[0] in ("user", "role", "type", "level", "filetype", "nested"):
        return None
    if key in ("seccomp", "apparmor", "label"):
        return ("it switches a kernel protection of the container off or replaces it (a custom seccomp profile may allow "
                "everything, and its listenerPath makes the runtime connect to a host socket as real root)")
    return "it is not an option this plugin has reviewed"


def rule_security_opt(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config or SECURITY_OPT_FIELD in config["allow_fields"]:
        return None
    for option in ctx.host_config.get("SecurityOpt", []):
        problem = security_opt_problem(option)
        if problem:
            return Denial("security-opt", "--security-opt %s is not allowed: %s; %s" % (option[:100], problem, SECURITY_OPT_HELP))
    return None


def rule_masked_paths(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """A list in MaskedPaths or ReadonlyPaths replaces the daemon's defaults; only null keeps them.
    An administrator lifts this per field with its allow_fields label."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    for field in ("MaskedPaths", "ReadonlyPaths"):
        if field in ctx.host_config and "container-create:HostConfig.%s" % field not in config["allow_fields"]:
            return Denial("masked-paths", "%s is not allowed: a list replaces the paths of /proc and /sys the daemon hides or "
                          "makes read-only (--security-opt systempaths=unconfined sends an empty one), showing the host's "
                          "kernel and processes to the container; an administrator can allow it with allow_fields "
                          "[\"container-create:HostConfig.%s\"]" % (field, field))
    return None


# Kernel settings that are namespaced, by the namespace they belong to (as runc and the daemon
# validate them).
NAMESPACED_SYSCTLS = (("net.", "NetworkMode"), ("kernel.shm", "IpcMode"), ("kernel.msg", "IpcMode"),
                      ("kernel.sem", "IpcMode"), ("fs.mqueue.", "IpcMode"))


def rule_sysctls(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    for name in ctx.host_config.get("Sysctls", {}):
        owner = next((mode for prefix, mode in NAMESPACED_SYSCTLS if name.startswith(prefix)), None)
        if owner is None:
            return Denial("sysctls", "--sysctl %s is not allowed: only settings of the container's own network and IPC "
                          "namespaces are reviewed" % name[:100])
        mode = ctx.host_config.get(owner, "")
        if mode == "host" or mode.startswith("container:"):
            return Denial("sysctls", "--sysctl %s is not allowed with %s %s: the setting would be written into a namespace "
                          "the container shares, the host's or another container's" % (name[:100], owner, mode[:100]))
    return None


def rule_storage_opt(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    unknown = sorted(set(ctx.host_config.get("StorageOpt", {})) - {"size"})
    if unknown:
        return Denial("storage-opt", "--storage-opt %s is not allowed: only size is reviewed" % ", ".join(unknown)[:200])
    return None
