"""Config: one JSON file, every key optional, unknown keys refused (a typo must not silently
switch a rule off). Also the plugin's version and default name.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional

from .gojson import reject_constant

VERSION = "2.0.0"
DEFAULT_NAME = "deny-userns-mode-host"
DEFAULT_SOCKET = "/run/docker/plugins/%s.sock" % DEFAULT_NAME


HOST_NAMESPACES = ("pid", "ipc", "network", "uts", "cgroup")

# enforce refuses; audit allows and logs what it would refuse; observe does that too on a daemon
# that does not remap yet, and also logs what remapping will refuse or change (would-break).
MODES = ("enforce", "audit", "observe")

DEFAULT_CONFIG: Dict[str, Any] = {
    "mode": "enforce",
    "log_allowed": False,
    "allowed_plugins": [],
    "exempt_users": [],
    "docker_socket": "/var/run/docker.sock",
    "allow_copy_through_host_mounts": False,
    "allow_swarm": False,
    "engine_fixes": {},
    "deny_privileged": False,
    "deny_host_namespaces": [],
    "deny_cap_add": [],
    "deny_bind_mounts": [],
    "deny_devices": False,
    # The reviewed table's opt-ins (docs/reviewed-api.md): what an administrator accepts beyond it.
    "allow_fields": [],
    "allowed_drivers": [],
    "allowed_legacy_plugins": [],
    "allowed_devices": [],
    "allowed_runtimes": [],
    "allowed_annotations": [],
    "allowed_cdi_devices": [],
    "allow_gpus": False,
    "nvidia_toolkit": {},
    "allow_network_volumes": False,
}


class ConfigError(ValueError):
    """The config file is missing, not JSON, or has a wrong key or value."""


def _string_list(value: Any, key: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError("%s must be a list of non-empty strings" % key)
    return list(value)


def validate_config(raw: Any) -> Dict[str, Any]:
    """Return a complete config from a parsed JSON value, or raise ConfigError saying why."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a JSON object")
    unknown = sorted(set(raw) - set(DEFAULT_CONFIG))
    if unknown:
        raise ConfigError("unknown key(s) %s; known keys: %s" % (", ".join(unknown), ", ".join(DEFAULT_CONFIG)))
    config = dict(DEFAULT_CONFIG)
    config.update(raw)
    if config["mode"] not in MODES:
        raise ConfigError('mode must be "enforce", "audit" or "observe", not %r' % (config["mode"],))
    for key in ("log_allowed", "allow_copy_through_host_mounts", "allow_swarm", "deny_privileged", "deny_devices", "allow_gpus",
                "allow_network_volumes"):
        if not isinstance(config[key], bool):
            raise ConfigError("%s must be true or false" % key)
    if not isinstance(config["docker_socket"], str) or not config["docker_socket"].startswith("/"):
        raise ConfigError("docker_socket must be the absolute path of the daemon's Unix socket")
    for key in ("allowed_plugins", "exempt_users", "deny_host_namespaces", "deny_cap_add", "deny_bind_mounts", "allow_fields",
                "allowed_drivers", "allowed_legacy_plugins", "allowed_devices", "allowed_runtimes", "allowed_annotations",
                "allowed_cdi_devices"):
        config[key] = _string_list(config[key], key)
    bad_ns = [n for n in config["deny_host_namespaces"] if n not in HOST_NAMESPACES]
    if bad_ns:
        raise ConfigError("deny_host_namespaces: unknown namespace(s) %s; known: %s" % (", ".join(bad_ns), ", ".join(HOST_NAMESPACES)))
    bad_paths = [p for p in config["deny_bind_mounts"] if not p.startswith("/")]
    if bad_paths:
        raise ConfigError("deny_bind_mounts: paths must be absolute: %s" % ", ".join(bad_paths))
    config["engine_fixes"] = _engine_fixes(config["engine_fixes"])
    config["nvidia_toolkit"] = _nvidia_toolkit(config["nvidia_toolkit"])
    bad_devices = [d for d in config["allowed_devices"] if not d.startswith("/") and not _DEVICE_ENTRY.match(d)]
    if bad_devices:
        raise ConfigError('allowed_devices: each entry is a device\'s path or "TYPE MAJOR:MINOR [ACCESS]" ("c 195:*"), not %s'
                          % ", ".join(bad_devices))
    bad_names = [n for n in config["allowed_legacy_plugins"] if "/" in n or ".." in n]
    if bad_names:
        raise ConfigError("allowed_legacy_plugins: a legacy plugin's name holds no path: %s" % ", ".join(bad_names))
    config["deny_cap_add"] = [normalize_capability(c) for c in config["deny_cap_add"]]
    config["allowed_plugins"] = [normalize_plugin_ref(p) for p in config["allowed_plugins"]]
    return config


def _engine_fixes(value: Any) -> Dict[str, Any]:
    """{"version": what the daemon reports, "fixed": [CVE ids its package carries]}, or {}."""
    if value == {}:
        return {}
    if not isinstance(value, dict) or set(value) != {"version", "fixed"} or not isinstance(value["version"], str) \
            or not value["version"]:
        raise ConfigError('engine_fixes must be {} or {"version": "<the daemon\'s version>", "fixed": ["CVE-...", ...]}')
    return {"version": value["version"], "fixed": _string_list(value["fixed"], "engine_fixes.fixed")}


_DEVICE_ENTRY = re.compile(r"^[cb] ([0-9]+|\*):([0-9]+|\*)( [rwm]{1,3})?$")


def _nvidia_toolkit(value: Any) -> Dict[str, Any]:
    """{"version": the NVIDIA Container Toolkit's version on this host}, or {} when not known."""
    if value == {}:
        return {}
    if not isinstance(value, dict) or set(value) != {"version"} or not isinstance(value["version"], str):
        raise ConfigError('nvidia_toolkit must be {} or {"version": "<the toolkit\'s version, e.g. 1.17.8>"}')
    return {"version": value["version"]}


def load_config(path: Optional[str]) -> Dict[str, Any]:
    """Read and validate the config file; no path means the safe defaults."""
    if not path:
        return validate_config({})
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError("cannot read %s: %s" % (path, err)) from None
    return config_from_text(text, path)


def config_from_text(text: str, where: str) -> Dict[str, Any]:
    try:
        raw = json.loads(text, parse_constant=reject_constant)
    except ValueError as err:
        raise ConfigError("%s is not valid JSON: %s" % (where, err)) from None
    return validate_config(raw)


def normalize_capability(name: str) -> str:
    """SYS_ADMIN, sys_admin and CAP_SYS_ADMIN name one capability, as they do for the daemon."""
    upper = name.upper()
    return upper[4:] if upper.startswith("CAP_") else upper


def normalize_plugin_ref(ref: str) -> str:
    """Reduce a plugin reference to one spelling: docker.io/library/x -> x, no tag -> :latest."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    if ref.startswith("library/"):
        ref = ref[len("library/"):]
    last = ref.rsplit("/", 1)[-1]
    if "@" not in ref and ":" not in last:
        ref += ":latest"
    return ref
