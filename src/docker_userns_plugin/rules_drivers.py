"""Rules on drivers and their options: a driver name is a plugin name the daemon looks up (a legacy
plugin's socket path, joined unchecked), a local volume's options are mount(2) arguments the
daemon applies as real root in the host's mount namespace, and some log driver options name host
sockets, addresses and files the daemon opens as real root.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

from .config import normalize_plugin_ref
from .context import Context, Denial, overlaps
from .gojson import decode_body
from .schemas import NETWORK_CREATE_SCHEMA, VOLUME_CREATE_SCHEMA
from .table_types import CONTAINER_CREATE, NETWORK_CREATE, VOLUME_CREATE

# The daemon's built-in drivers that touch nothing of the host beyond what they are for.
DEFAULT_DRIVERS = {
    "network": ("bridge",),
    "ipam": ("default",),
    "volume": ("local",),
    "log": ("json-file", "local", "journald", "none"),
}
# Built-in drivers that reconfigure host interfaces (macvlan, ipvlan) or connect to what their
# options name (the log drivers): an administrator can allow them with allowed_drivers.
OPT_IN_DRIVERS = {
    "network": ("macvlan", "ipvlan"),
    "ipam": ("null",),
    "volume": (),
    "log": ("syslog", "gelf", "fluentd", "awslogs", "splunk", "gcplogs", "logentries"),
}
DRIVER_HELP = ("a name the daemon does not build in is a plugin it looks up by name, a legacy plugin by a socket path "
               "the name is joined into unchecked; an administrator can allow a managed plugin (allowed_plugins), a "
               "legacy plugin by name (allowed_legacy_plugins), or one of the built-in drivers %s (allowed_drivers)")


def driver_problem(kind: str, name: str, config: Dict[str, Any]) -> Optional[str]:
    """Why a driver name of this kind (network, ipam, volume, log) is refused, or None."""
    if not name or name in DEFAULT_DRIVERS[kind] or (name in config["allowed_drivers"] and name in OPT_IN_DRIVERS[kind]):
        return None
    if ".." in name or name.startswith("/") or "\\" in name:
        return "it holds a path, and the daemon would join it into a plugin socket path unchecked"
    if name in config["allowed_legacy_plugins"] and "/" not in name:
        return None
    if normalize_plugin_ref(name) in config["allowed_plugins"]:
        return None
    return DRIVER_HELP % ", ".join(OPT_IN_DRIVERS[kind]) if OPT_IN_DRIVERS[kind] else DRIVER_HELP % "(none for this kind)"


def _drivers(ctx: Context) -> Iterator[Tuple[str, str, str]]:
    """(kind, name, where) of every driver the request names."""
    if ctx.kind == CONTAINER_CREATE and ctx.host_config:
        yield "volume", ctx.host_config.get("VolumeDriver", ""), "--volume-driver"
        for mount in ctx.mounts:
            if mount.kind == "volume":
                yield "volume", mount.driver, mount.spelling
        yield "log", (ctx.host_config.get("LogConfig") or {}).get("Type", ""), "--log-driver"
    elif ctx.kind == NETWORK_CREATE and ctx.request.body:
        network = decode_body(NETWORK_CREATE_SCHEMA, ctx.request.body, "network")
        yield "network", network.get("Driver", ""), "the network's driver"
        yield "ipam", (network.get("IPAM") or {}).get("Driver", ""), "the network's IPAM driver"
    elif ctx.kind == VOLUME_CREATE and ctx.request.body:
        yield "volume", decode_body(VOLUME_CREATE_SCHEMA, ctx.request.body, "volume").get("Driver", ""), "the volume's driver"


def rule_driver_names(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    for kind, name, where in _drivers(ctx):
        problem = driver_problem(kind, name, config)
        if problem:
            return Denial("driver-name", "the %s driver %s (%s) is not allowed: %s" % (kind, name[:100], where[:200], problem))
    return None


# -- local volume options --------------------------------------------------------------------

TMPFS_FLAGS = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "noexec", "nosuid", "nodev", "ro", "rw",
               "noatime", "relatime", "nodiratime", "strictatime", "inode64", "huge")
BIND_FLAGS = ("bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec", "private", "rprivate", "slave", "rslave",
              "noatime", "relatime", "nodiratime", "strictatime")
NETWORK_FILE_SYSTEMS = ("nfs", "nfs4", "cifs", "smb3")
VOLUME_HELP = "plain named volumes, tmpfs and binds of host paths are allowed"


def _flags(options: Dict[str, str]) -> List[str]:
    return [flag.strip().split("=", 1)[0] for flag in options.get("o", "").split(",") if flag.strip()]


def volume_options_problem(options: Dict[str, str], config: Dict[str, Any], data_root: str) -> Optional[str]:
    """Why the local driver must not mount with these options, or None."""
    unknown = sorted(set(options) - {"type", "device", "o", "size"})
    if unknown:
        return "the local driver does not know %s" % ", ".join(unknown)
    kind, device, flags = options.get("type", ""), options.get("device", ""), _flags(options)
    if not (kind or device or flags):
        return None  # a plain volume (a size quota at most)
    if kind == "tmpfs":
        extra = sorted(set(flags) - set(TMPFS_FLAGS))
        return "tmpfs with %s: %s (tmpfs takes %s)" % (", ".join(extra), VOLUME_HELP, ", ".join(TMPFS_FLAGS)) if extra else None
    if kind in NETWORK_FILE_SYSTEMS:
        if config["allow_network_volumes"]:
            return None
        return ("type %s: the daemon would mount it as real root from the host's network namespace; an administrator can "
                "allow network file systems with allow_network_volumes" % kind)
    if kind in ("", "none") and ("bind" in flags or "rbind" in flags):
        extra = sorted(set(flags) - set(BIND_FLAGS))
        if extra:
            return "a bind with %s: shared propagation and other flags are not reviewed (a bind takes %s)" % (", ".join(extra), ", ".join(BIND_FLAGS))
        if not device.startswith("/"):
            return "a bind of %r, which is not an absolute host path" % device[:200]
        if overlaps(device, data_root):
            return "it binds %s, which shows Docker's data directory %s" % (device, data_root)
        for protected in config["deny_bind_mounts"]:
            if overlaps(device, protected):
                return "it binds %s, which exposes %s (CIS Docker 5.6/5.32)" % (device, protected)
        return None
    return ("type %r with device %r: the daemon would mount(2) it as real root in the host's mount namespace, and some file "
            "systems and options write to the host with root's credentials; %s" % (kind, device[:200], VOLUME_HELP))


def _volume_options(ctx: Context) -> Iterator[Tuple[Dict[str, str], str]]:
    """(options, where) of every local volume the request would create with options, or mount
    as it already is (a volume made before enforcement meets the same rules when it is used)."""
    if ctx.kind == CONTAINER_CREATE:
        for mount in ctx.mounts:
            if mount.kind != "volume":
                continue
            if mount.options and mount.driver in ("", "local"):
                yield mount.options, mount.spelling
            existing = ctx.lookup.volume(mount.source, "") if mount.source else None
            if existing is not None and existing.driver == "local" and existing.options:
                yield existing.options, "%s (the existing volume %s)" % (mount.spelling, existing.name)
    elif ctx.kind == VOLUME_CREATE and ctx.request.body:
        volume = decode_body(VOLUME_CREATE_SCHEMA, ctx.request.body, "volume")
        if volume.get("DriverOpts") and volume.get("Driver", "") in ("", "local"):
            yield volume["DriverOpts"], "volume %s" % volume.get("Name", "")


def rule_volume_options(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    for options, where in _volume_options(ctx):
        problem = volume_options_problem(options, config, ctx.lookup.daemon_info().data_root)
        if problem:
            shown = ",".join("%s=%s" % item for item in sorted(options.items()))
            return Denial("volume-options", "%s with options %s is not allowed: %s" % (where[:200], shown[:300], problem))
    return None


# -- log driver options ----------------------------------------------------------------------

# Options of the default log drivers, none of which names anything host-side; an empty driver
# (the daemon's default, which could be any) takes only the ones common to them.
LOG_OPTIONS = {
    "json-file": ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "mode", "max-buffer-size"),
    "local": ("max-size", "max-file", "compress", "mode", "max-buffer-size"),
    "journald": ("tag", "labels", "labels-regex", "env", "env-regex", "mode", "max-buffer-size"),
    "none": (),
    "": ("max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "mode", "max-buffer-size"),
}


def rule_log_options(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    log = ctx.host_config.get("LogConfig") or {}
    driver, options = log.get("Type", ""), log.get("Config") or {}
    if not options or driver in config["allowed_drivers"]:
        return None  # an administrator who allowed a driver accepted what its options name
    known = LOG_OPTIONS.get(driver)
    if known is None:
        return None  # a plugin driver: the driver-name rule decided about it
    unknown = sorted(set(options) - set(known))
    if unknown:
        return Denial("log-driver", "--log-opt %s is not allowed with the %s log driver: only %s are reviewed for it; "
                      "options such as addresses name host sockets and files the daemon opens as real root"
                      % (", ".join(unknown)[:200], driver or "default", ", ".join(known) or "no options"))
    return None
