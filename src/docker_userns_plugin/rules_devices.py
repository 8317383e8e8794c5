"""Rules on devices and on what the runtime runs as real root for a container.

Device grants: the daemon makes device nodes as real root for clients (docker cp of an archive
holding one; image load, import, pull and build of a layer holding one), owned by the container's
remapped root. The kernel keeps a remapped root from making nodes, not from opening one it owns
when the container's device cgroup allows that device. So the device cgroup is what keeps such a
node from becoming the host's disk or memory: only devices that no node can turn into the host
are granted by default (the runtime's own defaults, /dev/fuse and /dev/net/tun); an administrator
adds more (GPUs) with allowed_devices.

Runtime hooks: --gpus (DeviceRequests), runtimes other than runc, CDI device names and OCI
annotations make the runtime or its hooks act as real root on the host, reading the container's
files; NVIDIA's toolkit has had container-to-host escapes that way. They are refused unless an
administrator allows them, and GPU requests also need a toolkit version without known escapes.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from .context import Context, Denial
from .engine import engine_version_number
from .host_devices import DeviceRule, parse_device_rule
from .lookups import HostDevice
from .table_types import CONTAINER_CREATE, CONTAINER_ENTER

# What a request may grant without an administrator: devices that are the same inside any
# container (null, zero, full, random, urandom, the caller's own tty) and two that fleets need and
# that no node turns into the host (FUSE mounts and TUN interfaces live in the container's
# namespaces). Not the console (5:1) or the pseudo-terminals (136:*, 5:2): granted by name they
# are the host's own console and terminal sessions.
DEFAULT_DEVICES = tuple(DeviceRule("c", major, minor, "rwm") for major, minor in (
    (1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0),
    (10, 229), (10, 200),
))
DEVICE_HELP = ("a device node the daemon makes for a client (docker cp, image layers) is owned by the container's root, "
               "and the device cgroup is all that keeps it from being the host's disk or memory; an administrator can "
               "allow a device with allowed_devices (\"c 195:*\", or its path)")


def allowed_device_rules(ctx: Context, config: Dict[str, Any]) -> List[DeviceRule]:
    """The defaults and the administrator's allowed_devices, paths resolved to their device numbers now."""
    rules = list(DEFAULT_DEVICES)
    for entry in config["allowed_devices"]:
        if entry.startswith("/"):
            rules += [DeviceRule(d.kind, d.major, d.minor, "rwm") for d in ctx.lookup.host_devices(entry)]
        else:
            parsed = parse_device_rule(entry if len(entry.split()) == 3 else entry + " rwm")
            if parsed:
                rules.append(parsed)
    return rules


def _grant_problem(wanted: DeviceRule, allowed: List[DeviceRule]) -> bool:
    return not any(rule.covers(wanted) for rule in allowed)


def rule_device_grants(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind not in (CONTAINER_CREATE, CONTAINER_ENTER) or not ctx.host_config:
        return None
    devices = [d for d in ctx.host_config.get("Devices", []) if d.get("PathOnHost", "").startswith("/")]
    rules = ctx.host_config.get("DeviceCgroupRules", [])
    if not devices and not rules:
        return None
    allowed = allowed_device_rules(ctx, config)
    for text in rules:
        wanted = parse_device_rule(text)
        if wanted is None:
            continue  # the daemon refuses a rule it cannot parse
        if wanted.kind == "a" or _grant_problem(wanted, allowed):
            return Denial("device-grant", "--device-cgroup-rule %r is not allowed: it lets the container open devices beyond "
                          "the harmless ones; %s" % (text[:64], DEVICE_HELP))
    for device in devices:
        inside = device.get("PathInContainer", "")
        if inside and inside.rstrip("/") != device["PathOnHost"].rstrip("/"):
            return Denial("device-grant", "--device %s:%s is not allowed: under remapping the runtime binds the device from the "
                          "container path as it is on the host, so another path would show a host file (--device %s keeps "
                          "the host's path, which is allowed)" % (device["PathOnHost"][:200], inside[:200], device["PathOnHost"][:200]))
        found: List[HostDevice] = ctx.lookup.host_devices(device["PathOnHost"])
        access = device.get("CgroupPermissions", "") or "rwm"
        for node in found:
            if _grant_problem(DeviceRule(node.kind, node.major, node.minor, "".join(c for c in access if c in "rwm")), allowed):
                return Denial("device-grant", "--device %s is not allowed: it gives %s; %s" % (device["PathOnHost"][:200], node.label, DEVICE_HELP))
    return None


# -- what the runtime runs as real root ------------------------------------------------------

class ToolkitFlaw(NamedTuple):
    id: str
    fixed_in: str  # the NVIDIA Container Toolkit version that fixes it
    summary: str


NVIDIA_TOOLKIT_FLAWS = (
    ToolkitFlaw("CVE-2024-0132", "1.16.2", "a crafted image's symlinks let the toolkit's hook mount host paths into the container (TOCTOU)"),
    ToolkitFlaw("CVE-2024-0133", "1.16.2", "a crafted image makes the toolkit create empty files on the host"),
    ToolkitFlaw("CVE-2024-0134", "1.17.0", "symlinks the toolkit creates at container start can escape the container's root"),
    ToolkitFlaw("CVE-2024-0135", "1.17.3", "a crafted image can modify a host binary (non-default configurations)"),
    ToolkitFlaw("CVE-2024-0136", "1.17.3", "ldconfig of the container is run for the host (non-default configurations)"),
    ToolkitFlaw("CVE-2025-23359", "1.17.4", "the CVE-2024-0132 fix is bypassed by another race"),
    ToolkitFlaw("CVE-2025-23266", "1.17.8", "the container's environment (LD_PRELOAD) loads its own library into a hook running as real root"),
    ToolkitFlaw("CVE-2025-23267", "1.17.8", "the ldconfig hook follows a container's symlinks onto host paths"),
)
DEFAULT_RUNTIMES = ("", "runc", "io.containerd.runc.v2")
GPU_HELP = ("an administrator can allow GPUs on a GPU host (allow_gpus, docker_userns_allow_gpus); the role then records "
            "the NVIDIA Container Toolkit's version, and versions with known container-to-host escapes stay refused")


def toolkit_problem(config: Dict[str, Any]) -> Optional[str]:
    """Why the host's NVIDIA Container Toolkit must not run for a container, or None."""
    version = config["nvidia_toolkit"].get("version", "")
    number = engine_version_number(version) if version else None
    if number is None:
        return ("the NVIDIA Container Toolkit's version is not known to the plugin (the role records it when "
                "docker_userns_allow_gpus is set; set nvidia_toolkit in the plugin's config)")
    open_flaws = [f for f in NVIDIA_TOOLKIT_FLAWS if number < (engine_version_number(f.fixed_in) or (0, 0, 0))]
    if open_flaws:
        newest = max((f.fixed_in for f in open_flaws), key=lambda v: engine_version_number(v) or (0, 0, 0))
        return ("the host's NVIDIA Container Toolkit %s has known container-to-host escapes: %s. Fixed in %s: upgrade it"
                % (version, "; ".join("%s: %s" % (f.id, f.summary) for f in open_flaws), newest))
    return None


def _matches(value: str, allowed: List[str]) -> bool:
    """An exact entry, or one ending in * that the value starts with."""
    return any(value == entry or (entry.endswith("*") and value.startswith(entry[:-1])) for entry in allowed)


def _hook_uses(ctx: Context) -> List[Tuple[str, bool]]:
    """(what, whether it is NVIDIA's GPU path) of every runtime hook the request asks for."""
    host_config = ctx.host_config or {}
    uses = []
    for request in host_config.get("DeviceRequests", []):
        driver = request.get("Driver", "")
        if driver == "cdi":
            uses += [("the CDI device %s" % name, name.startswith("nvidia.com/")) for name in request.get("DeviceIDs", [])]
        else:
            uses.append(("a device request (--gpus) of the %s driver" % (driver or "default"), driver in ("", "nvidia")))
    for device in host_config.get("Devices", []):
        name = device.get("PathOnHost", "")
        if name and not name.startswith("/"):
            uses.append(("the CDI device %s" % name, name.startswith("nvidia.com/")))
    return uses


def rule_runtime_hooks(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind not in (CONTAINER_CREATE, CONTAINER_ENTER) or not ctx.host_config:
        return None
    host_config = ctx.host_config
    runtime = host_config.get("Runtime", "")
    if runtime not in DEFAULT_RUNTIMES and runtime not in config["allowed_runtimes"]:
        return Denial("runtime-hooks", "--runtime %s is not allowed: a runtime other than runc runs as real root with its own "
                      "hooks, and an unconfigured io.containerd.NAME.vN name makes containerd run a shim binary of that "
                      "name; an administrator can allow a runtime with allowed_runtimes" % runtime[:100])
    for key in host_config.get("Annotations", {}):
        if not _matches(key, config["allowed_annotations"]):
            return Denial("runtime-hooks", "the annotation %s is not allowed: OCI annotations steer the runtime and its hooks, "
                          "which act on them as real root; an administrator can allow annotation keys with "
                          "allowed_annotations" % key[:100])
    for what, nvidia in _hook_uses(ctx):
        if what.startswith("the CDI device") and not _matches(what[len("the CDI device "):], config["allowed_cdi_devices"]):
            return Denial("runtime-hooks", "%s is not allowed: CDI specs add devices, mounts and hooks that run as real root; an "
                          "administrator can allow CDI devices with allowed_cdi_devices" % what[:200])
        if nvidia or not what.startswith("the CDI device"):
            if not config["allow_gpus"]:
                return Denial("runtime-hooks", "%s is not allowed: the NVIDIA Container Toolkit's hook runs as real root on the "
                              "host and reads the container's files; %s" % (what[:200], GPU_HELP))
            problem = toolkit_problem(config)
            if problem:
                return Denial("runtime-hooks", "%s is not allowed: %s" % (what[:200], problem))
    if "nvidia" in runtime and config["allow_gpus"]:
        problem = toolkit_problem(config)
        if problem:
            return Denial("runtime-hooks", "--runtime %s is not allowed: %s" % (runtime[:100], problem))
    return None
