#!/usr/bin/env python3
"""Docker authorization plugin that keeps every container inside the user-namespace remapping.

The Docker daemon consults this plugin on every API request (AuthZPlugin.AuthZReq). It refuses
host user namespaces (`docker run --userns=host`) however the request spells them, refuses to
run code in, attach to or start again containers that are already outside the remapping, refuses
the daemon's own file copies (`docker cp`) through host-backed mounts, refuses managed Docker
plugins (they run as real root outside the remapping) unless allowlisted, and fails closed when
it cannot see, parse or check a request that could matter.

One file, Python 3.8+ standard library only: it is copied onto hosts as it is.

    python3 docker_userns_enforcement_plugin.py --socket PATH [--config FILE]
    python3 docker_userns_enforcement_plugin.py --check-config FILE

The source is this package, one module per concern (docs/contributing.md lists them);
tools/build_plugin.py joins the modules, in dependency order, into that one file, each section
headed by the module it came from. Everything below the transport is pure and testable without
sockets: the policy receives its lookups (the daemon, the host's paths) as a parameter.
"""

# Built by tools/build_plugin.py from src/docker_userns_plugin/ (38 modules). Edit those, then run
# `make plugin`; `make test` fails when this file is not what the build makes of them.

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import errno
import json
import os
import posixpath
import queue
import re
import select
import signal
import socket
import stat
import sys
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Set, Tuple, TypeVar

# ---------------------------------------------------------------------------------------------
# gojson.py: Go's JSON: read a request body the way the Go daemon's encoding/json does.
#
# Go matches object keys to struct fields case-insensitively with Unicode simple folding
# (U+017F folds to s, U+212A KELVIN SIGN to k), lets the last of repeated keys win, merges an
# object given twice into the first, ignores unknown keys and data after the first value, and
# reads invalid UTF-8 inside strings as U+FFFD. Python's json keeps every key in order
# (object_pairs_hook) and stops after one value (raw_decode); the Go rules are applied on top.
# ---------------------------------------------------------------------------------------------


class Undecodable(Exception):
    """The body cannot be read as the daemon would read it; the reason is for the client."""


class Pairs(List[Tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicates kept."""


class Number(str):
    """A JSON number, kept as its text: no field the rules read is a number, and huge
    integers must not cost time (or hit Python's int-size limit)."""


def reject_constant(name: str) -> Any:
    raise ValueError("%s is not JSON" % name)


_DECODER = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=reject_constant, parse_int=Number, parse_float=Number)
_WHITESPACE = " \t\n\r"


def parse_go_json(body: bytes) -> Any:
    """Return the first JSON value of body, objects as Pairs; raise Undecodable."""
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, _end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError) as err:
        # RecursionError: nesting deeper than Python's stack; Go allows 10000 levels.
        raise Undecodable("the body is not JSON the plugin can read (%s)" % (str(err)[:120] or type(err).__name__)) from None
    return value


def go_fold(key: str) -> str:
    """The fold key Go's encoding/json compares: ASCII upper-cased, and the two non-ASCII
    letters whose simple-fold orbit holds an ASCII letter mapped onto it."""
    if key.isascii():
        return key.upper()
    return key.replace("\u017f", "S").replace("\u212a", "K").upper()


class Field(NamedTuple):
    name: str
    kind: str  # "string", "bool", "strings", "stringmap", "struct", "ptr", "structs", "structmap"
    schema: Optional[Schema] = None


class Schema:
    """The subset of a Go struct's JSON fields that the rules read; the rest are skipped as Go
    skips unknown keys."""

    def __init__(self, fields: List[Field]):
        self.by_fold = {go_fold(f.name): f for f in fields}

    def field(self, key: str) -> Optional[Field]:
        return self.by_fold.get(go_fold(key))


class TypeMismatch(Exception):
    """A value of the wrong JSON type for its Go field: the daemon refuses such a request."""


def go_decode_struct(schema: Schema, obj: Any, into: Dict[str, Any]) -> Dict[str, Any]:
    """Decode obj into the dict `into` as Go decodes a JSON object into an existing struct.

    Scalars: last value wins, null leaves the old value. Pointer to struct: null sets it to
    None, an object is merged into the existing struct (or a new one). Slices are kept as the
    union of every element ever given: Go reuses a slice's backing array when a key repeats,
    so the exact outcome depends on capacities; the union is the safe over-approximation.
    """
    if not isinstance(obj, Pairs):
        raise TypeMismatch("expected a JSON object")
    for key, value in obj:
        field = schema.field(key)
        if field is None:
            continue
        _decode_field(field, value, into)
    return into


def _struct_schema(field: Field) -> Schema:
    if field.schema is None:  # a mistake in the tables below (a unit test looks for one); any error denies
        raise TypeError("the %s field %s has no schema" % (field.kind, field.name))
    return field.schema


def _decode_field(field: Field, value: Any, into: Dict[str, Any]) -> None:
    name, kind = field.name, field.kind
    if kind == "string":
        if isinstance(value, str) and not isinstance(value, Number):
            into[name] = value
        elif value is not None:
            raise TypeMismatch("%s must be a string" % name)
    elif kind == "bool":
        if isinstance(value, bool):
            into[name] = value
        elif value is not None:
            raise TypeMismatch("%s must be true or false" % name)
    elif kind in ("ptr", "struct"):
        if value is None:
            if kind == "ptr":
                into[name] = None
            return
        target = into.get(name)
        if target is None:
            target = into[name] = {}
        go_decode_struct(_struct_schema(field), value, target)
    elif kind == "stringmap":  # map[string]string: keys exact (no folding), merged, last one wins
        if value is None:
            return
        if not isinstance(value, Pairs):
            raise TypeMismatch("%s must be an object" % name)
        mapping = into.setdefault(name, {})
        for key, element in value:
            if element is not None and (not isinstance(element, str) or isinstance(element, Number)):
                raise TypeMismatch("%s values must be strings" % name)
            mapping[key] = element or ""
    elif kind == "structmap":  # map[string]*struct: keys exact, each value decoded anew, last one wins
        if value is None:
            return
        if not isinstance(value, Pairs):
            raise TypeMismatch("%s must be an object" % name)
        structs = into.setdefault(name, {})
        for key, element in value:
            structs[key] = None if element is None else go_decode_struct(_struct_schema(field), element, {})
    elif kind in ("strings", "structs"):
        if value is None:
            return
        if not isinstance(value, list):
            raise TypeMismatch("%s must be a list" % name)
        seen = into.setdefault(name, [])
        for element in value:
            if element is None:
                continue
            if kind == "strings":
                if not isinstance(element, str) or isinstance(element, Number):
                    raise TypeMismatch("%s must be a list of strings" % name)
                seen.append(element)
            else:
                seen.append(go_decode_struct(_struct_schema(field), element, {}))


def decode_body(schema: Schema, body: bytes, what: str) -> Dict[str, Any]:
    """Decode a body into the fields of schema; raise Undecodable."""
    try:
        return go_decode_struct(schema, parse_go_json(body), {})
    except TypeMismatch as err:
        raise Undecodable("the %s does not match the Docker API types: %s" % (what, err)) from None


# ---------------------------------------------------------------------------------------------
# config.py: Config: one JSON file, every key optional, unknown keys refused (a typo must not silently
# switch a rule off). Also the plugin's version and default name.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# schemas.py: Schemas: the Docker API types the rules read, as Go structs (field names and JSON kinds), and
# the HostConfig the daemon applies for a create body.
# ---------------------------------------------------------------------------------------------


MOUNT_SCHEMA = Schema([
    Field("Type", "string"),
    Field("Source", "string"),
    Field("Target", "string"),
    Field("ReadOnly", "bool"),
    Field("BindOptions", "ptr", Schema([Field("CreateMountpoint", "bool")])),
    Field("VolumeOptions", "ptr", Schema([
        Field("NoCopy", "bool"),
        Field("Subpath", "string"),
        Field("DriverConfig", "ptr", Schema([Field("Name", "string"), Field("Options", "stringmap")])),
    ])),
])
DEVICE_SCHEMA = Schema([Field("PathOnHost", "string"), Field("PathInContainer", "string"), Field("CgroupPermissions", "string")])
DEVICE_REQUEST_SCHEMA = Schema([Field("Driver", "string"), Field("DeviceIDs", "strings")])
ENDPOINT_SCHEMA = Schema([Field("DriverOpts", "stringmap")])

# HostConfig fields the rules read (Resources is embedded in HostConfig, so Devices and
# DeviceCgroupRules sit at its top level).
HOST_CONFIG_SCHEMA_FIELDS = [
    Field("UsernsMode", "string"),
    Field("Privileged", "bool"),
    Field("PidMode", "string"),
    Field("IpcMode", "string"),
    Field("NetworkMode", "string"),
    Field("UTSMode", "string"),
    Field("CgroupnsMode", "string"),
    Field("CapAdd", "strings"),
    Field("Binds", "strings"),
    Field("Mounts", "structs", MOUNT_SCHEMA),
    Field("Devices", "structs", DEVICE_SCHEMA),
    Field("DeviceCgroupRules", "strings"),
    Field("VolumeDriver", "string"),
    Field("VolumesFrom", "strings"),
    Field("LogConfig", "struct", Schema([Field("Type", "string"), Field("Config", "stringmap")])),
    Field("Sysctls", "stringmap"),
    Field("SecurityOpt", "strings"),
    Field("StorageOpt", "stringmap"),
    Field("Runtime", "string"),
    Field("Annotations", "stringmap"),
    Field("DeviceRequests", "structs", DEVICE_REQUEST_SCHEMA),
    Field("MaskedPaths", "strings"),
    Field("ReadonlyPaths", "strings"),
]
HOST_CONFIG_SCHEMA = Schema(HOST_CONFIG_SCHEMA_FIELDS)

# Docker 20.10 to 26.1 decode create bodies into a wrapper that embeds *HostConfig: HostConfig
# fields given at the top level count when no "HostConfig" key is (27.0 and later ignore them).
CREATE_WRAPPER_SCHEMA = Schema(HOST_CONFIG_SCHEMA_FIELDS + [Field("HostConfig", "ptr", HOST_CONFIG_SCHEMA)])
CREATE_NETWORKS_SCHEMA = Schema([Field("NetworkingConfig", "ptr", Schema([Field("EndpointsConfig", "structmap", ENDPOINT_SCHEMA)]))])

NETWORK_CREATE_SCHEMA = Schema([
    Field("Name", "string"), Field("Driver", "string"), Field("Options", "stringmap"),
    Field("IPAM", "ptr", Schema([
        Field("Driver", "string"), Field("Options", "stringmap"),
        Field("Config", "structs", Schema([Field("Subnet", "string"), Field("Gateway", "string")])),
    ])),
])
NETWORK_CONNECT_SCHEMA = Schema([Field("Container", "string"), Field("EndpointConfig", "ptr", ENDPOINT_SCHEMA)])
VOLUME_CREATE_SCHEMA = Schema([Field("Name", "string"), Field("Driver", "string"), Field("DriverOpts", "stringmap")])

SERVICE_SPEC_SCHEMA = Schema([
    Field("TaskTemplate", "struct", Schema([Field("Runtime", "string"), Field("PluginSpec", "ptr", Schema([]))])),
])

CHECKPOINT_CREATE_SCHEMA = Schema([Field("CheckpointDir", "string")])


def effective_host_config(body: bytes) -> Dict[str, Any]:
    """The HostConfig the daemon will apply for a create body."""
    value = parse_go_json(body)
    try:
        wrapper = go_decode_struct(CREATE_WRAPPER_SCHEMA, value, {})
    except TypeMismatch as err:
        raise Undecodable("the body does not match the Docker API types: %s" % err) from None
    inner: Optional[Dict[str, Any]] = wrapper.get("HostConfig")
    if inner is not None:
        return inner
    wrapper.pop("HostConfig", None)
    return wrapper


CREATE_IMAGE_SCHEMA = Schema([Field("Image", "string")])  # the create body's Config is embedded: Image is at the top


# ---------------------------------------------------------------------------------------------
# request.py: Request: the daemon's RequestURI read as its router reads it (percent-escapes, path cleaning,
# the /vX.Y prefix, the query string as Go parses it).
# ---------------------------------------------------------------------------------------------


class Request(NamedTuple):
    user: str
    method: str  # upper-cased
    uri: str
    path: str  # percent-decoded, cleaned, without the /vX.Y prefix
    version: Optional[str]
    raw_query: str
    headers: Dict[str, str]  # keys lower-cased
    body: Optional[bytes]  # None when the daemon did not forward one


class Unroutable(Exception):
    """The RequestURI cannot be read the way the daemon's router reads it."""


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_VERSIONED = re.compile(r"^/v([0-9.]+)(/.*)$")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")


def percent_decode(text: str) -> str:
    """Go's strict unescape: a stray % is an error, escapes decode to UTF-8 bytes."""
    if _BAD_ESCAPE.search(text):
        raise Unroutable("invalid percent-escape in %r" % text[:200])
    return _ESCAPE.sub(lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", errors="replace"), text)


def clean_path(path: str) -> str:
    """path.Clean, keeping a trailing slash as the daemon's router does."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def split_uri(uri: str) -> Tuple[str, Optional[str], str]:
    """Return (route path, API version or None, raw query) from a RequestURI."""
    absolute = _ABSOLUTE.match(uri)
    if absolute:  # absolute-form request target: the router uses only its path
        uri = uri[absolute.end():] or "/"
    if not uri.startswith("/"):
        raise Unroutable("the request target %r is not a path" % uri[:200])
    raw_path, _, raw_query = uri.partition("?")
    path = clean_path(percent_decode(raw_path))
    version = None
    match = _VERSIONED.match(path)
    if match:
        version, path = match.group(1), match.group(2)
    return path.rstrip("/") or "/", version, raw_query


def parse_query(raw: str) -> Dict[str, str]:
    """Go's url.ParseQuery keeping the first value; a ';' makes Go refuse the whole query."""
    if ";" in raw:
        raise Unroutable("a ';' in the query string")
    query: Dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = percent_decode(key.replace("+", " "))
        query.setdefault(key, percent_decode(value.replace("+", " ")))
    return query


def version_less(version: Optional[str], other: str) -> bool:
    """Docker's versions.LessThan: numeric parts, missing or non-numeric parts count as 0."""
    if version is None:
        return False  # no prefix: the daemon's current API version

    def parts(v: str) -> List[int]:
        return [int(p) if p.isdigit() else 0 for p in v.split(".")]

    mine, theirs = parts(version), parts(other)
    width = max(len(mine), len(theirs))
    mine += [0] * (width - len(mine))
    theirs += [0] * (width - len(theirs))
    return mine < theirs


# ---------------------------------------------------------------------------------------------
# table_types.py: The reviewed table's vocabulary: how the table says what the plugin knows of a route, of each
# query parameter and of each body field, and its verdict on a non-zero value.
#
# - allow: any value; the reason says why nothing host-side follows from it.
# - check: a named rule judges the value (the rule's name, as its refusals carry it).
# - one_of: only these values (or the zero value) pass; the reason says why the others do not.
# - refuse: only the zero value passes; the reason says what a non-zero one would make the daemon
#   do. An administrator can accept it, field by field, with the config's allow_fields.
# - struct, list_of, map_of: the value is a JSON object with these fields, a list or an object of
#   such values; each field is judged by its own verdict.
#
# What the table does not name is refused when non-zero (review.py). The table is data: the
# threat model's reviewed-API document is rendered from it (tools/gen_threat_model.py).
# ---------------------------------------------------------------------------------------------


ALLOWED, CHECK, ONE_OF, REFUSE, STRUCT, LIST, MAP = "allow", "check", "one of", "refuse", "struct", "list", "map"

# What the rules know a route as.
CONTAINER_CREATE = "container-create"
CONTAINER_START = "container-start"  # runs the container's command
CONTAINER_ENTER = "container-enter"  # runs code in, attaches to, or revives an existing container
EXEC_START = "exec-start"
ARCHIVE_READ = "archive-read"  # the daemon reads the container's files, as real root
ARCHIVE_WRITE = "archive-write"  # the daemon writes into the container's files, as real root
CHECKPOINT = "checkpoint"  # experimental daemons: CRIU images, optionally in any host directory
PLUGIN_OP = "plugin"
SERVICE_WRITE = "service-write"
SWARM_JOIN = "swarm-join"  # makes this host a swarm node: tasks start without asking any plugin
SWARM = "swarm"  # changes a swarm's state
BUILD = "build"  # the builders run steps in containers the daemon makes itself
NETWORK_CREATE = "network-create"
NETWORK_CONNECT = "network-connect"
VOLUME_CREATE = "volume-create"
REFUSED = "refused"  # reviewed, and refused as a whole
OTHER = "other"  # no rule reads anything beyond the review


class Verdict(NamedTuple):
    kind: str
    reason: str
    rule: str = ""  # check: the rule that judges a non-zero value (map: the one that judges its keys)
    values: Tuple[str, ...] = ()  # one_of: the values that pass
    fields: Tuple[Tuple[str, Verdict], ...] = ()  # struct: its fields; list and map: ("", element)
    since: str = ""  # the API version that added it, for the documentation
    by_fold: Optional[Dict[str, Tuple[str, Verdict]]] = None  # struct: fields by Go's fold key

    def field(self, key: str) -> Optional[Tuple[str, Verdict]]:
        """The (name, verdict) of a struct's field as Go matches a JSON key to it, or None."""
        return self.by_fold.get(go_fold(key)) if self.by_fold is not None else None

    @property
    def element(self) -> Verdict:
        return self.fields[0][1]


def allow(reason: str, since: str = "") -> Verdict:
    return Verdict(ALLOWED, reason, since=since)


def check(rule: str, reason: str, since: str = "") -> Verdict:
    return Verdict(CHECK, reason, rule=rule, since=since)


def one_of(values: Tuple[str, ...], reason: str, since: str = "") -> Verdict:
    return Verdict(ONE_OF, reason, values=values, since=since)


def refuse(reason: str, since: str = "") -> Verdict:
    return Verdict(REFUSE, reason, since=since)


def struct(reason: str, fields: Dict[str, Verdict], since: str = "") -> Verdict:
    pairs = tuple(fields.items())
    return Verdict(STRUCT, reason, fields=pairs, since=since, by_fold={go_fold(name): (name, v) for name, v in pairs})


def list_of(element: Verdict, reason: str = "", since: str = "") -> Verdict:
    return Verdict(LIST, reason or element.reason, fields=(("", element),), since=since)


def map_of(element: Verdict, reason: str = "", since: str = "", rule: str = "") -> Verdict:
    return Verdict(MAP, reason or element.reason, rule=rule, fields=(("", element),), since=since)


def merged(reason: str, *parts: Verdict) -> Verdict:
    """One struct of the fields of several (Go's embedded structs: their fields are promoted)."""
    fields: Dict[str, Verdict] = {}
    for part in parts:
        for name, verdict in part.fields:
            if name in fields:
                raise ValueError("%s is in two embedded structs: Go would promote neither" % name)
            fields[name] = verdict
    return struct(reason, fields)


class RouteReview(NamedTuple):
    """One route of the daemon's API as the plugin reviewed it."""
    name: str  # short and unique: messages and allow_fields name fields by it ("container-create:HostConfig.Runtime")
    method: str  # "*" for every method
    pattern: str  # a regular expression over the cleaned path, without /vX.Y; its first group is the target
    kind: str  # what the rules know the route as (routes.py)
    action: str  # what the request does to its target, for messages
    reason: str  # what the daemon does here, and why the verdicts below are enough
    query: Tuple[Tuple[str, Verdict], ...] = ()
    body: Optional[Verdict] = None  # the JSON body the daemon decodes, or None when it decodes none
    body_unseen_ok: str = ""  # why a JSON body the daemon does not forward cannot matter ("": refuse then)
    since: str = ""  # the API version that added the route, or the engines that have it


def route(name: str, method: str, pattern: str, kind: str, action: str, reason: str,
          query: Optional[Dict[str, Verdict]] = None, body: Optional[Verdict] = None, body_unseen_ok: str = "",
          since: str = "") -> RouteReview:
    return RouteReview(name, method, pattern, kind, action, reason, tuple((query or {}).items()), body, body_unseen_ok, since)


# ---------------------------------------------------------------------------------------------
# table_container_types.py: Reviewed table, container types: every field of the bodies that make or change a container
# (Config, HostConfig with its Resources, NetworkingConfig, mounts, exec and update bodies), as
# Go's encoding/json reads them in Docker 20.10 to 29.x, with the verdict on a non-zero value.
#
# Read from moby's api/types and the daemon code that acts on each field, at v20.10.24, v24.0.9,
# v25.0.17, v26.1.5, v27.5.1, v28.5.2 and docker-v29.7.2. "since" is the API version that added a
# field, where one did; fields without it are in every version from 1.24.
# ---------------------------------------------------------------------------------------------


# Reasons that recur.
INSIDE = "applies inside the container only"
CGROUP = "a limit the runtime writes into the container's own cgroup"
SHOWN = "metadata the daemon stores and shows; it acts on nothing host-side"
IGNORED_ON_LINUX = "ignored by a Linux daemon"
HOST_DEVICE_STAT = ("the daemon stat(2)s this host path to find its device numbers and throttles that device for "
                    "the container's cgroup; nothing is opened or made")

HEALTHCHECK = struct("the health check, run inside the container", {
    "Test": allow(INSIDE), "Interval": allow(INSIDE), "Timeout": allow(INSIDE), "StartPeriod": allow(INSIDE),
    "Retries": allow(INSIDE), "StartInterval": allow(INSIDE, since="1.44"),
})

# container.Config: the image's settings, all applied inside the container's own namespaces.
CONFIG_FIELDS = {
    "Hostname": allow(INSIDE), "Domainname": allow(INSIDE),
    "User": allow("the user inside the container; under remapping its ids are shifted into the range"),
    "AttachStdin": allow(INSIDE), "AttachStdout": allow(INSIDE), "AttachStderr": allow(INSIDE),
    "ExposedPorts": allow("documentation of ports; only PublishAllPorts publishes them (reviewed there)"),
    "Tty": allow(INSIDE), "OpenStdin": allow(INSIDE), "StdinOnce": allow(INSIDE), "Env": allow(INSIDE),
    "Cmd": allow(INSIDE), "Healthcheck": HEALTHCHECK, "ArgsEscaped": allow(IGNORED_ON_LINUX),
    "Image": allow("the image to run; its files are the container's, remapped"),
    "Volumes": check("volume-copy", "anonymous volumes: the daemon creates them with the default or VolumeDriver "
                     "driver and copies the image's files into them as real root"),
    "WorkingDir": allow("created inside the container's own root file system"),
    "Entrypoint": allow(INSIDE), "NetworkDisabled": allow(INSIDE),
    "MacAddress": allow("the container's MAC address on its own interface"),
    "OnBuild": allow("instructions stored in a committed image"), "Labels": allow(SHOWN),
    "StopSignal": allow(INSIDE), "StopTimeout": allow(INSIDE), "Shell": allow(INSIDE),
}
CONFIG = struct("the container's configuration", CONFIG_FIELDS)

LOG_CONFIG = struct("the logging driver and its options", {
    "Type": check("driver-name", "the daemon looks a name that is not a built-in driver up as a plugin, joining it into a "
                  "socket path unchecked"),
    "Config": check("log-driver", "the driver's options; some name host sockets, addresses and files the daemon opens as "
                    "real root"),
})
DEVICE_MAPPING = struct("a host device given to the container", {
    "PathOnHost": check("device-grant", "the daemon resolves it on the host (a directory: every device below it) and has "
                        "the runtime make the node and allow the device in the container's device cgroup"),
    "PathInContainer": check("device-grant", "where the device appears; under remapping the runtime binds it from this "
                             "path as the host has it, so it must be the device's own path"),
    "CgroupPermissions": check("device-grant", "the device cgroup's r, w and m for that device"),
})
DEVICE_REQUEST = struct("a device request (--gpus): the driver's host-side hook runs as real root", {
    "Driver": check("runtime-hooks", "nvidia: the NVIDIA toolkit's prestart hook runs as real root on the host; cdi: "
                    "the administrator's CDI specs add devices, mounts and hooks"),
    "Count": check("runtime-hooks", "part of the device request"), "DeviceIDs": check("runtime-hooks", "part of the device request"),
    "Capabilities": check("runtime-hooks", "part of the device request"),
    "Options": check("runtime-hooks", "part of the device request"),
})
WEIGHT_DEVICE = struct("a block device weight", {"Path": allow(HOST_DEVICE_STAT), "Weight": allow(CGROUP)})
THROTTLE_DEVICE = struct("a block device throttle", {"Path": allow(HOST_DEVICE_STAT), "Rate": allow(CGROUP)})
ULIMIT = struct("a resource limit", {
    "Name": allow("set by the runtime for the container's processes (it may raise hard limits: a resource matter)"),
    "Hard": allow("as Name"), "Soft": allow("as Name"),
})

# container.Resources, embedded in HostConfig (its fields sit at HostConfig's top level) and the
# body of an update.
RESOURCES_FIELDS = {
    "CpuShares": allow(CGROUP), "Memory": allow(CGROUP), "NanoCpus": allow(CGROUP),
    "CgroupParent": refuse("the runtime would create the container's cgroup under this host cgroup, outside the "
                           "daemon's own, and on cgroup v1 the daemon creates its parents and writes their real-time "
                           "limits as real root"),
    "BlkioWeight": allow(CGROUP), "BlkioWeightDevice": list_of(WEIGHT_DEVICE),
    "BlkioDeviceReadBps": list_of(THROTTLE_DEVICE), "BlkioDeviceWriteBps": list_of(THROTTLE_DEVICE),
    "BlkioDeviceReadIOps": list_of(THROTTLE_DEVICE), "BlkioDeviceWriteIOps": list_of(THROTTLE_DEVICE),
    "CpuPeriod": allow(CGROUP), "CpuQuota": allow(CGROUP), "CpuRealtimePeriod": allow(CGROUP),
    "CpuRealtimeRuntime": allow(CGROUP), "CpusetCpus": allow(CGROUP), "CpusetMems": allow(CGROUP),
    "Devices": list_of(DEVICE_MAPPING),
    "DeviceCgroupRules": check("device-grant", "rules added to the container's device cgroup: which device numbers its "
                               "processes may open or make"),
    "DeviceRequests": list_of(DEVICE_REQUEST),
    "KernelMemory": allow(CGROUP + " (cgroup v1; ignored from API 1.42)"), "KernelMemoryTCP": allow(CGROUP + " (cgroup v1)"),
    "MemoryReservation": allow(CGROUP), "MemorySwap": allow(CGROUP), "MemorySwappiness": allow(CGROUP),
    "OomKillDisable": allow(CGROUP), "PidsLimit": allow(CGROUP), "Ulimits": list_of(ULIMIT),
    "CpuCount": allow(IGNORED_ON_LINUX), "CpuPercent": allow(IGNORED_ON_LINUX),
    "IOMaximumIOps": allow("refused by a Linux daemon"), "IOMaximumBandwidth": allow("refused by a Linux daemon"),
}

BIND_OPTIONS = struct("options of a bind mount", {
    "Propagation": one_of(("", "private", "rprivate", "slave", "rslave"),
                          "shared and rshared propagate mounts made inside the container back into the host's mount "
                          "tree: the container's root could mount over host paths below the bind"),
    "NonRecursive": allow("leaves mounts below the source out"),
    "CreateMountpoint": check("bind-source", "the daemon would create a missing source as real root", since="1.42"),
    "ReadOnlyNonRecursive": allow("read-only only at the top", since="1.44"),
    "ReadOnlyForceRecursive": allow("read-only all the way down", since="1.44"),
})
VOLUME_DRIVER_CONFIG = struct("the driver of a volume the mount creates", {
    "Name": check("driver-name", "the daemon looks a name that is not a built-in driver up as a plugin"),
    "Options": check("volume-options", "options of the local driver are mount(2) arguments the daemon applies as real "
                     "root in the host's mount namespace"),
})
VOLUME_OPTIONS = struct("options of a volume mount", {
    "NoCopy": allow("leaves the volume as it is (no copy of the image's files)"),
    "Labels": allow(SHOWN), "DriverConfig": VOLUME_DRIVER_CONFIG,
    "Subpath": check("volume-copy", "the directory inside the volume that is mounted (and filled)", since="1.45"),
})
TMPFS_OPTIONS = struct("options of a tmpfs mount", {
    "SizeBytes": allow(INSIDE), "Mode": allow(INSIDE),
    "Options": allow("tmpfs flags for a file system that lives in memory, inside the container", since="1.46"),
})
MOUNT = struct("a mount (--mount)", {
    "Type": one_of(("bind", "volume", "tmpfs"), "npipe is Windows only, cluster volumes need swarm, and image "
                   "mounts (API 1.48) make the daemon mount an image's layers: not reviewed"),
    "Source": check("bind-source", "a bind's host path (checked like every bind) or a volume's name (checked for copy-up)"),
    "Target": allow("the path inside the container"), "ReadOnly": allow("read-only"),
    "Consistency": allow(IGNORED_ON_LINUX), "BindOptions": BIND_OPTIONS, "VolumeOptions": VOLUME_OPTIONS,
    "TmpfsOptions": TMPFS_OPTIONS,
    "ClusterOptions": refuse("cluster volumes are swarm's (CSI plugins publish them on the nodes)", since="1.42"),
    "ImageOptions": refuse("image mounts (API 1.48) are not reviewed by this plugin", since="1.48"),
})

HOST_CONFIG_FIELDS = {
    "Binds": check("bind-source", "-v: host paths the daemon creates (missing ones), re-owns and mounts as real root, "
                   "and named volumes it fills with the image's files"),
    "ContainerIDFile": allow("used by the client only; the daemon ignores it"),
    "LogConfig": LOG_CONFIG,
    "NetworkMode": check("network-mode", "bridge, none, a user-defined network or container:NAME; the host's network "
                         "(by name or ID) is refused under remapping"),
    "PortBindings": map_of(list_of(struct("a published port", {
        "HostIp": allow("the host address the published port listens on"),
        "HostPort": allow("the host port; Docker publishes it for the container, as it is meant to"),
    }))),
    "RestartPolicy": struct("the restart policy", {
        "Name": one_of(("no", "always", "on-failure", "unless-stopped"), "the daemon knows only these"),
        "MaximumRetryCount": allow("how often on-failure restarts"),
    }),
    "AutoRemove": allow("removes the container when it exits"),
    "VolumeDriver": check("driver-name", "the driver of the container's new volumes: a plugin name the daemon looks up"),
    "VolumesFrom": check("bind-source", "takes over another container's mounts, its host binds among them"),
    "ConsoleSize": allow(INSIDE, since="1.42"),
    "Annotations": check("runtime-hooks", "OCI annotations: the runtime and its hooks act on them as real root", since="1.43"),
    "CapAdd": check("cap-add", "capabilities inside the remapped user namespace (the opt-in CIS rule may refuse them)"),
    "CapDrop": allow("fewer capabilities"),
    "CgroupnsMode": one_of(("", "host", "private"), "the cgroup namespace: private, or the host's view of the cgroup "
                           "tree (the opt-in CIS rule may refuse host)", since="1.41"),
    "Dns": allow("written into the container's resolv.conf"), "DnsOptions": allow("as Dns"), "DnsSearch": allow("as Dns"),
    "ExtraHosts": allow("written into the container's /etc/hosts"),
    "GroupAdd": allow("supplementary groups inside the container, remapped"),
    "IpcMode": check("outside-container", "private, shareable, none, host (the host's IPC objects, with their own "
                     "permission bits; the opt-in CIS rule may refuse it) or container:NAME, " + "which must be inside the remapping"),
    "Cgroup": allow(IGNORED_ON_LINUX),
    "Links": allow("legacy links: names and addresses in the container's /etc/hosts"),
    "OomScoreAdj": allow("the OOM killer's preference for the container's processes: a resource matter"),
    "PidMode": check("outside-container", "private, host (refused by the daemon under remapping) or container:NAME, "
                     "which must be inside the remapping"),
    "Privileged": check("remap-refuses", "every capability and every device: the daemon refuses it under remapping, and "
                        "the plugin checks that the daemon remaps"),
    "PublishAllPorts": allow("publishes the exposed ports on host ports Docker picks"),
    "ReadonlyRootfs": allow("a read-only root file system"),
    "SecurityOpt": check("security-opt", "seccomp, AppArmor and SELinux settings and no-new-privileges: profiles "
                         "loaded on the host are applied by name"),
    "StorageOpt": check("storage-opt", "options of the storage driver for the container's layer"),
    "Tmpfs": allow("tmpfs file systems inside the container, which live in memory"),
    "UTSMode": one_of(("", "host"), "the host's UTS namespace shows the host's name; the opt-in CIS rule may refuse it"),
    "UsernsMode": check("host-userns", "host runs the container as real root on the host (CIS Docker 5.31)"),
    "ShmSize": allow("the size of the container's /dev/shm"),
    "Sysctls": check("sysctls", "kernel settings written in the container's namespaces; with a namespace shared with "
                     "the host they would be the host's"),
    "Runtime": check("runtime-hooks", "the OCI runtime; an unconfigured io.containerd.NAME.vN makes containerd run the "
                     "shim binary of that name as real root"),
    "Isolation": one_of(("", "default"), "the only isolation a Linux daemon knows"),
    "Mounts": list_of(MOUNT),
    "MaskedPaths": check("masked-paths", "paths of /proc and /sys hidden from the container; an empty list unmasks "
                         "them all (--security-opt systempaths=unconfined)"),
    "ReadonlyPaths": check("masked-paths", "paths of /proc and /sys made read-only; an empty list makes them writable"),
    "Init": allow("the daemon's own init binary, read-only, as the container's first process"),
    "Capabilities": refuse("a field of API 1.40 that the daemon refuses, and no client sends"),
}
RESOURCES = struct("resources", RESOURCES_FIELDS)
HOST_CONFIG = merged("the host configuration: everything the daemon sets up around the container",
                     struct("", HOST_CONFIG_FIELDS), RESOURCES)

ENDPOINT_IPAM = struct("fixed addresses of the container on that network", {
    "IPv4Address": allow("an address of the network's subnet"), "IPv6Address": allow("as IPv4Address"),
    "LinkLocalIPs": allow("link-local addresses of the container's interface"),
})
ENDPOINT_SETTINGS = struct("the container's endpoint on a network", {
    "IPAMConfig": ENDPOINT_IPAM, "Links": allow("names in the container's /etc/hosts"),
    "Aliases": allow("names other containers resolve"), "NetworkID": allow("ignored on input"),
    "EndpointID": allow("ignored on input"), "Gateway": allow("ignored on input"), "IPAddress": allow("ignored on input"),
    "IPPrefixLen": allow("ignored on input"), "IPv6Gateway": allow("ignored on input"),
    "GlobalIPv6Address": allow("ignored on input"), "GlobalIPv6PrefixLen": allow("ignored on input"),
    "MacAddress": allow("the MAC address of the container's interface", since="1.44"),
    "DriverOpts": check("network-options", "options of the network driver for this endpoint; the daemon writes the "
                        "sysctls among them"),
    "DNSNames": allow("names the network's DNS answers for the container", since="1.44"),
    "GwPriority": allow("which network is the container's default gateway", since="1.48"),
})
NETWORKING = struct("the networks the container joins", {
    "EndpointsConfig": map_of(ENDPOINT_SETTINGS, "networks by name or ID, each with the container's endpoint on it; "
                              "the host's network is refused under remapping", rule="network-mode"),
})

# The create body: Config's fields at the top level, HostConfig and NetworkingConfig beside them.
# Docker 20.10 to 26.1 also take HostConfig's fields at the top level (an embedded *HostConfig):
# with no "HostConfig" key those are the HostConfig, so they are reviewed the same way.
CREATE_BODY = merged("a new container: Config, HostConfig and NetworkingConfig", CONFIG,
                     struct("", {"HostConfig": HOST_CONFIG, "NetworkingConfig": NETWORKING,
                                 "Cpuset": allow(CGROUP + " (20.10 to 26.1: fills CpusetCpus)")}),
                     HOST_CONFIG)

UPDATE_BODY = merged("new limits and restart policy of a container", RESOURCES,
                     struct("", {"RestartPolicy": HOST_CONFIG_FIELDS["RestartPolicy"]}))

EXEC_CREATE_BODY = struct("a process to run in a container", {
    "User": allow("the user inside the container, remapped"),
    "Privileged": allow("every capability inside the container's user namespace: the outside-container rule refuses "
                        "execs into containers outside the remapping"),
    "Tty": allow(INSIDE), "AttachStdin": allow(INSIDE), "AttachStderr": allow(INSIDE), "AttachStdout": allow(INSIDE),
    "Detach": allow("ignored"), "DetachKeys": allow(INSIDE), "Env": allow(INSIDE), "WorkingDir": allow(INSIDE),
    "Cmd": allow(INSIDE), "ConsoleSize": allow(INSIDE, since="1.42"),
})
EXEC_START_BODY = struct("how to start an exec", {
    "Detach": allow("whether the client stays attached"), "Tty": allow(INSIDE), "ConsoleSize": allow(INSIDE, since="1.42"),
})
CHECKPOINT_CREATE_BODY = struct("a checkpoint (experimental daemons)", {
    "CheckpointID": allow("the checkpoint's name"),
    "CheckpointDir": check("checkpoint-dir", "a host directory the daemon creates, writes (CRIU dump) and removes as "
                           "real root"),
    "Exit": allow("stops the container after the checkpoint"),
})
# POST /commit: the new image's Config. Docker 28.5 and older decode the body like a create body,
# then validate its HostConfig and drop it; no container is made.
COMMIT_BODY = merged("the committed image's Config", CONFIG, struct("", {
    "HostConfig": allow("decoded and dropped by Docker 28.5 and older; nothing is made from it"),
    "NetworkingConfig": allow("decoded and dropped by Docker 28.5 and older; nothing is made from it"),
}))


# ---------------------------------------------------------------------------------------------
# table_container_routes.py: Reviewed table, container routes: the container, exec, commit and checkpoint routes of the
# daemon's API, each with its query parameters and body, in the order the daemon's router tries them
# (the checkpoint router before the container router).
#
# Patterns are matched against the whole cleaned path without its /vX.Y prefix; "(.*)" stands for
# {name:.*}, which may hold slashes (a legacy link name "web/db" names a container).
# ---------------------------------------------------------------------------------------------


FILTERS = allow("narrows a listing or a prune; the daemon refuses keys it does not know")
READS = "reads the daemon's own state; nothing host-side is done for the client"
STREAMS = {name: allow("which of the container's streams") for name in ("stdin", "stdout", "stderr", "logs", "stream")}
STREAMS["detachKeys"] = allow("the key sequence that detaches the client")
SIGNAL = allow("a signal for the container's processes")
TTY_SIZE = {"h": allow("the terminal's height"), "w": allow("the terminal's width")}
CHECKPOINT_DIR = check("checkpoint-dir", "a host directory the daemon lists, creates or removes as real root")

CONTAINER_ROUTES = [
    # The checkpoint router (experimental daemons; the others answer 501) comes first.
    route("checkpoint-list", "GET", "/containers/(.*)/checkpoints", CHECKPOINT, "list checkpoints of",
          "lists the container's checkpoints", {"dir": CHECKPOINT_DIR}),
    route("checkpoint-create", "POST", "/containers/(.*)/checkpoints", CHECKPOINT, "checkpoint",
          "CRIU dumps the container's processes", body=CHECKPOINT_CREATE_BODY),
    route("checkpoint-delete", "DELETE", "/containers/([^/]+)/checkpoints/([^/]+)", CHECKPOINT, "delete a checkpoint of",
          "removes a checkpoint", {"dir": CHECKPOINT_DIR}),
    # The container router.
    route("container-inspect", "GET", "/containers/(.*)/json", OTHER, "inspect", READS, {"size": allow("adds sizes")}),
    route("container-list", "GET", "/containers/json", OTHER, "list containers", READS, {
        "all": allow("includes stopped containers"), "size": allow("adds sizes"), "limit": allow("at most this many"),
        "since": allow("narrows the listing"), "before": allow("narrows the listing"), "filters": FILTERS}),
    route("container-top", "GET", "/containers/(.*)/top", OTHER, "list processes of",
          "runs the host's ps as real root and keeps the rows of the container's processes", {
              "ps_args": allow("options of ps, which only reads /proc and prints: nothing is written or run")}),
    route("container-logs", "GET", "/containers/(.*)/logs", OTHER, "read logs of", READS, {
        name: allow("which log lines and how") for name in
        ("stdout", "stderr", "follow", "timestamps", "since", "until", "tail", "details", "format")}),
    route("container-changes", "GET", "/containers/(.*)/changes", OTHER, "list changes of", READS),
    route("container-export", "GET", "/containers/(.*)/export", OTHER, "export",
          "reads the container's file system from the daemon's storage, not through its mounts"),
    route("container-stats", "GET", "/containers/(.*)/stats", OTHER, "read statistics of", READS, {
        "stream": allow("streams the statistics"), "one-shot": allow("one sample")}),
    route("container-attach-ws", "GET", "/containers/(.*)/attach/ws", CONTAINER_ENTER, "attach to",
          "attaches a websocket to the container's streams", STREAMS),
    route("archive-read", "GET", "/containers/(.*)/archive", ARCHIVE_READ, "copy files out of",
          "the daemon copies the container's files as real root, through its mounts (docker cp)",
          {"path": allow("the path inside the container")}),
    route("archive-stat", "HEAD", "/containers/(.*)/archive", ARCHIVE_READ, "read file details in",
          "the daemon sets up the container's mounts as real root to stat a path", {"path": allow("the path inside the container")}),
    route("container-create", "POST", "/containers/create", CONTAINER_CREATE, "create",
          "creates a container: every field of the body is reviewed", {
              "name": allow("the container's name"), "platform": allow("which variant of the image", since="1.41")},
          body=CREATE_BODY),
    route("container-kill", "POST", "/containers/(.*)/kill", OTHER, "kill", "sends a signal", {"signal": SIGNAL}),
    route("container-pause", "POST", "/containers/(.*)/pause", OTHER, "pause", "freezes the container's processes"),
    route("container-unpause", "POST", "/containers/(.*)/unpause", CONTAINER_ENTER, "unpause",
          "lets the container's processes run again"),
    route("container-restart", "POST", "/containers/(.*)/restart", CONTAINER_ENTER, "restart",
          "stops and starts the container again, setting up its mounts as real root",
          {"t": allow("seconds before the kill"), "signal": SIGNAL}),
    route("container-start", "POST", "/containers/(.*)/start", CONTAINER_START, "start",
          "starts the container's command, setting up its mounts as real root", {
              "checkpoint": allow("restores a checkpoint from the container's own directory (experimental daemons)"),
              "checkpoint-dir": CHECKPOINT_DIR}),
    route("container-stop", "POST", "/containers/(.*)/stop", OTHER, "stop", "stops the container",
          {"t": allow("seconds before the kill"), "signal": SIGNAL}),
    route("container-wait", "POST", "/containers/(.*)/wait", OTHER, "wait for", READS,
          {"condition": one_of(("not-running", "next-exit", "removed"), "the daemon knows only these")}),
    route("container-resize", "POST", "/containers/(.*)/resize", OTHER, "resize", "resizes the container's terminal", TTY_SIZE),
    route("container-attach", "POST", "/containers/(.*)/attach", CONTAINER_ENTER, "attach to",
          "attaches the client to the container's streams", STREAMS),
    route("container-copy", "POST", "/containers/(.*)/copy", ARCHIVE_READ, "copy files out of",
          "before API 1.24 (which the plugin refuses) copies a path out; newer versions answer 404",
          body=refuse("a body of API versions before 1.24")),
    route("exec-create", "POST", "/containers/(.*)/exec", CONTAINER_ENTER, "exec into",
          "prepares a process to run in the container", body=EXEC_CREATE_BODY),
    route("container-rename", "POST", "/containers/(.*)/rename", CONTAINER_ENTER, "rename",
          "renames the container", {"name": allow("the new name")}),
    route("container-update", "POST", "/containers/(.*)/update", CONTAINER_ENTER, "update",
          "changes the container's limits and restart policy", body=UPDATE_BODY),
    route("container-prune", "POST", "/containers/prune", OTHER, "remove stopped containers",
          "removes stopped containers", {"filters": FILTERS}),
    route("archive-write", "PUT", "/containers/(.*)/archive", ARCHIVE_WRITE, "copy files into",
          "the daemon unpacks the client's tar into the container as real root, through its mounts (docker cp)", {
              "path": allow("the directory inside the container"),
              "noOverwriteDirNonDir": allow("refuses to replace a directory by a file"),
              "copyUIDGID": check("engine-vulnerability", "gives the files the container user's ids")}),
    route("container-delete", "DELETE", "/containers/(.*)", OTHER, "remove", "removes the container", {
        "force": allow("kills it first"), "v": allow("removes its anonymous volumes"), "link": allow("removes a legacy link")}),
    route("exec-start", "POST", "/exec/(.*)/start", EXEC_START, "start an exec in",
          "runs the prepared process in its container", body=EXEC_START_BODY),
    route("exec-resize", "POST", "/exec/(.*)/resize", OTHER, "resize", "resizes the exec's terminal", TTY_SIZE),
    route("exec-inspect", "GET", "/exec/(.*)/json", OTHER, "inspect", READS),
    route("commit", "POST", "/commit", OTHER, "commit", "makes an image of a container's files and a new Config", {
        "container": allow("the container"), "repo": allow("the image's name"), "tag": allow("the image's tag"),
        "author": allow("metadata"), "comment": allow("metadata"), "pause": allow("pauses it meanwhile"),
        "changes": allow("Dockerfile instructions for the image's Config (CMD, ENV ...)")}, body=COMMIT_BODY),
]


# ---------------------------------------------------------------------------------------------
# table_api_routes.py: Reviewed table, the other routes: images and builds, the system routes, volumes, networks,
# managed plugins, swarm, BuildKit's session and gRPC, distribution and the debug routes, each with
# its query parameters and body, in the order the daemon's router tries them.
#
# Swarm's routes are refused as a whole unless the administrator allows swarm (allow_swarm): its
# tasks start containers without asking any authorization plugin, so a field-by-field review of
# its specs would protect nothing.
# ---------------------------------------------------------------------------------------------


PLATFORM = allow("which platform's variant of an image")
REGISTRY = ("talks to the registry named in the image's reference (TLS unless the daemon's configuration makes it "
            "insecure), and stores what it gets as image layers")
BUILD_CGROUP = allow("a limit of the classic builder's RUN containers, in their own cgroup")
SWARM_BODY = allow("swarm: refused unless allow_swarm; once allowed, swarm's tasks bypass every authorization "
                   "plugin anyway, so the spec is not reviewed field by field")

NETWORK_CREATE_BODY = struct("a new network", {
    "Name": allow("the network's name"), "CheckDuplicate": allow("refuses a duplicate name"),
    "Driver": check("driver-name", "the daemon looks a name that is not a built-in driver up as a plugin, joining it "
                    "into a socket path unchecked; macvlan and ipvlan make links on the host's interfaces"),
    "Scope": one_of(("local",), "swarm and global scopes are swarm's"),
    "EnableIPv6": allow("IPv6 on the network's bridge"), "EnableIPv4": allow("IPv4 on the network", since="1.48"),
    "IPAM": struct("addresses of the network", {
        "Driver": check("driver-name", "the address manager: default, null, or a plugin by name"),
        "Options": check("network-options", "options of the address manager"),
        "Config": list_of(struct("a subnet of the network", {
            "Subnet": check("network-options", "the daemon routes this subnet to the network's bridge on the host: one "
                            "that overlaps the host's own routes or addresses would take the host's traffic"),
            "IPRange": allow("the part of the subnet containers get addresses from"),
            "Gateway": check("network-options", "the address the daemon gives the bridge on the host"),
            "AuxiliaryAddresses": allow("addresses of the subnet kept out of use"),
        })),
    }),
    "Internal": allow("no route out of the network"), "Attachable": allow("swarm: manual containers may join"),
    "Ingress": refuse("swarm's routing-mesh network"), "ConfigOnly": allow("a configuration other networks take"),
    "ConfigFrom": struct("the configuration network", {"Network": allow("its name")}),
    "Options": check("network-options", "options of the driver; some name or reconfigure host interfaces"),
    "Labels": allow("metadata the daemon stores and shows"),
})
VOLUME_CREATE_BODY = struct("a new volume", {
    "Name": allow("the volume's name"),
    "Driver": check("driver-name", "the daemon looks a name that is not local up as a plugin, joining it into a socket "
                    "path unchecked"),
    "DriverOpts": check("volume-options", "options of the local driver are mount(2) arguments the daemon applies as real "
                        "root in the host's mount namespace whenever the volume is mounted"),
    "Labels": allow("metadata the daemon stores and shows"),
    "ClusterVolumeSpec": refuse("cluster volumes are swarm's (CSI plugins publish them on the nodes)", since="1.42"),
})
PLUGIN_PRIVILEGES_BODY = list_of(struct("a privilege the plugin asks for", {
    "Name": check("managed-plugins", "granted to a managed plugin, which runs as real root outside the remapping"),
    "Description": allow("text"), "Value": check("managed-plugins", "what is granted: mounts, devices, capabilities")}))

API_ROUTES = [
    # The image router.
    route("image-list", "GET", "/images/json", OTHER, "list images", READS, {
        "all": allow("includes intermediate images"), "filters": FILTERS, "filter": allow("a legacy name filter"),
        "shared-size": allow("adds sizes", since="1.42"), "manifests": allow("adds manifests", since="1.47"),
        "identity": allow("adds provenance", since="1.54")}),
    route("image-search", "GET", "/images/search", OTHER, "search images", "asks a registry's index",
          {"term": allow("what to search for, maybe on a named registry"), "limit": allow("at most this many"), "filters": FILTERS}),
    route("image-save-many", "GET", "/images/get", OTHER, "export images", "writes images as a tar to the client",
          {"names": allow("the images"), "platform": PLATFORM}),
    route("image-save", "GET", "/images/(.*)/get", OTHER, "export an image", "writes an image as a tar to the client",
          {"platform": PLATFORM}),
    route("image-history", "GET", "/images/(.*)/history", OTHER, "read image history", READS, {"platform": PLATFORM}),
    route("image-inspect", "GET", "/images/(.*)/json", OTHER, "inspect an image", READS,
          {"manifests": allow("adds manifests"), "platform": PLATFORM}),
    route("image-attestations", "GET", "/images/(.*)/attestations", OTHER, "read image attestations", READS,
          {"platform": PLATFORM, "type": allow("which attestations"), "statement": allow("adds the statements")}, since="1.55"),
    route("image-load", "POST", "/images/load", OTHER, "load images",
          "unpacks the client's image tar into the daemon's storage (owners shifted into the remapped range; device "
          "nodes in layers are usable only where the device cgroup allows the device, which the devices rule keeps "
          "to harmless ones)", {"quiet": allow("less output"), "platform": PLATFORM}),
    route("image-create", "POST", "/images/create", OTHER, "pull or import an image", REGISTRY, {
        "fromImage": allow("the image to pull: " + REGISTRY), "tag": allow("the tag"),
        "fromSrc": one_of(("-",), "'-' imports the layer from the request's body; a URL would make the daemon download "
                          "it from the host's network namespace, where the host's loopback-only services are reachable"),
        "repo": allow("the imported image's name"), "message": allow("metadata"),
        "changes": allow("Dockerfile instructions for the image's Config"), "platform": PLATFORM}),
    route("image-push", "POST", "/images/(.*)/push", OTHER, "push an image", "uploads an image to a registry",
          {"tag": allow("which tag"), "platform": PLATFORM},
          body=allow("registry credentials (before 28.0, when no X-Registry-Auth header carries them)"),
          body_unseen_ok="the body holds only registry credentials"),
    route("image-tag", "POST", "/images/(.*)/tag", OTHER, "tag an image", "names an image",
          {"repo": allow("the new name"), "tag": allow("the new tag")}),
    route("image-prune", "POST", "/images/prune", OTHER, "remove unused images", "removes unused images", {"filters": FILTERS}),
    route("image-delete", "DELETE", "/images/(.*)", OTHER, "remove an image", "removes an image", {
        "force": allow("removes it though it is in use"), "noprune": allow("keeps untagged parents"),
        "platforms": allow("only these variants", since="1.50")}),
    # The system router.
    route("options", "OPTIONS", "/(.*)", OTHER, "ask about", "answers CORS preflights; nothing is done"),
    route("ping", "GET", "/_ping", OTHER, "ping", "answers OK"),
    route("ping-head", "HEAD", "/_ping", OTHER, "ping", "answers OK"),
    route("events", "GET", "/events", OTHER, "read events", READS,
          {"since": allow("from when"), "until": allow("until when"), "filters": FILTERS}),
    route("info", "GET", "/info", OTHER, "read system information", READS),
    route("version", "GET", "/version", OTHER, "read the version", READS),
    route("system-df", "GET", "/system/df", OTHER, "read disk usage", READS,
          {"type": allow("which kinds of object", since="1.42"), "verbose": allow("per object", since="1.52")}),
    route("auth", "POST", "/auth", OTHER, "log in", "checks registry credentials against a registry",
          body=allow("registry credentials"), body_unseen_ok="the daemon never forwards /auth bodies; they hold only "
          "registry credentials, which the daemon checks against the registry"),
    # The volume router.
    route("volume-list", "GET", "/volumes", OTHER, "list volumes", READS, {"filters": FILTERS}),
    route("volume-inspect", "GET", "/volumes/(.*)", OTHER, "inspect a volume", READS),
    route("volume-create", "POST", "/volumes/create", VOLUME_CREATE, "create a volume",
          "creates a volume; the local driver mounts it as its options say whenever a container uses it", body=VOLUME_CREATE_BODY),
    route("volume-prune", "POST", "/volumes/prune", OTHER, "remove unused volumes", "removes unused volumes", {"filters": FILTERS}),
    route("volume-update", "PUT", "/volumes/(.*)", SWARM, "update a cluster volume", "changes a swarm cluster volume",
          {"version": allow("swarm")}, body=SWARM_BODY, since="1.42"),
    route("volume-delete", "DELETE", "/volumes/(.*)", OTHER, "remove a volume", "removes a volume",
          {"force": allow("forgets it though its driver fails")}),
    # The build router.
    route("build", "POST", "/build", BUILD, "build an image",
          "builds from the client's context: the classic builder runs each RUN in a container it makes itself (no "
          "authorization plugin is asked), with the settings of these parameters; BuildKit (version=2) runs its steps "
          "remapped", {
              "dockerfile": allow("the Dockerfile's path in the context"), "t": allow("the image's names"),
              "extrahosts": allow("written into the RUN containers' /etc/hosts"),
              "remote": one_of(("client-session",), "client-session is BuildKit's context from the client's own session; "
                               "a git URL makes the daemon run git as real root on the host, on a repository the client "
                               "chose (clone, fetch, submodules), and an HTTP URL makes it download from the host's network "
                               "namespace, where loopback-only services are reachable; send the context instead"),
              "q": allow("less output"), "nocache": allow("no cache"), "cachefrom": allow("images to take cache from"),
              "pull": allow("pulls base images again"), "rm": allow("removes intermediate containers"),
              "forcerm": allow("as rm"), "memory": BUILD_CGROUP, "memswap": BUILD_CGROUP, "cpushares": BUILD_CGROUP, "cpusetcpus": BUILD_CGROUP,
              "cpusetmems": BUILD_CGROUP, "cpuperiod": BUILD_CGROUP, "cpuquota": BUILD_CGROUP,
              "cgroupparent": refuse("the runtime would create the RUN containers' cgroups under this host cgroup"),
              "buildargs": allow("ARG values; a BUILDKIT_SYNTAX frontend is checked against the engine's BuildKit flaws"),
              "shmsize": allow("the RUN containers' /dev/shm"), "labels": allow("the image's labels"),
              "networkmode": check("network-mode", "the RUN containers' network: the host's shares its namespace (BuildKit "
                                   "grants that even under remapping), container:NAME another container's"),
              "ulimits": allow("limits of the RUN processes"), "squash": allow("squashes the layers (experimental)"),
              "isolation": one_of(("", "default"), "the only isolation a Linux daemon knows"),
              "target": allow("the stage to build"),
              "securityopt": allow("Windows only: a Linux daemon refuses the build"), "platform": PLATFORM,
              "outputs": allow("BuildKit's exporter: into the daemon's images, or streamed to the client"),
              "session": allow("the BuildKit session that serves the client's files"),
              "buildid": allow("a name to cancel the build by"),
              "version": one_of(("1", "2"), "1 is the classic builder, 2 BuildKit")}),
    route("build-prune", "POST", "/build/prune", OTHER, "remove build cache", "removes build cache", {
        "all": allow("all of it"), "filters": FILTERS, "keep-storage": allow("how much to keep"),
        "reserved-space": allow("how much to keep"), "max-used-space": allow("at most this much"),
        "min-free-space": allow("leave this much free")}),
    route("build-cancel", "POST", "/build/cancel", OTHER, "cancel a build", "cancels a BuildKit build", {"id": allow("the build")}),
    # The session router.
    route("session", "POST", "/session", OTHER, "open a BuildKit session",
          "the daemon becomes a client of the caller's own files, secrets and SSH agent for a build"),
    # The swarm routes.
    route("swarm-init", "POST", "/swarm/init", SWARM_JOIN, "make this host a swarm node", "creates a swarm", body=SWARM_BODY),
    route("swarm-join", "POST", "/swarm/join", SWARM_JOIN, "make this host a swarm node", "joins a swarm", body=SWARM_BODY),
    route("swarm-leave", "POST", "/swarm/leave", OTHER, "leave the swarm", "leaves a swarm", {"force": allow("even a manager")}),
    route("swarm-inspect", "GET", "/swarm", OTHER, "inspect the swarm", READS),
    route("swarm-unlockkey", "GET", "/swarm/unlockkey", OTHER, "read the unlock key", READS),
    route("swarm-update", "POST", "/swarm/update", SWARM, "configure swarm", "changes the swarm's settings", {
        name: allow("swarm") for name in ("version", "rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey")},
        body=SWARM_BODY),
    route("swarm-unlock", "POST", "/swarm/unlock", SWARM, "unlock the swarm", "unlocks a swarm manager", body=SWARM_BODY),
    route("service-list", "GET", "/services", OTHER, "list services", READS, {"filters": FILTERS, "status": allow("adds status")}),
    route("service-inspect", "GET", "/services/([^/]+)", OTHER, "inspect a service", READS, {"insertDefaults": allow("adds defaults")}),
    route("service-create", "POST", "/services/create", SERVICE_WRITE, "create a service", "creates a service", body=SWARM_BODY),
    route("service-update", "POST", "/services/([^/]+)/update", SERVICE_WRITE, "update a service", "changes a service",
          {name: allow("swarm") for name in ("version", "registryAuthFrom", "rollback")}, body=SWARM_BODY),
    route("service-delete", "DELETE", "/services/([^/]+)", OTHER, "remove a service", "removes a service"),
    route("service-logs", "GET", "/services/([^/]+)/logs", OTHER, "read service logs", READS, {
        name: allow("which log lines") for name in ("details", "follow", "stdout", "stderr", "since", "timestamps", "tail")}),
    route("node-list", "GET", "/nodes", OTHER, "list nodes", READS, {"filters": FILTERS}),
    route("node-inspect", "GET", "/nodes/([^/]+)", OTHER, "inspect a node", READS),
    route("node-delete", "DELETE", "/nodes/([^/]+)", OTHER, "remove a node", "removes a node", {"force": allow("even if up")}),
    route("node-update", "POST", "/nodes/([^/]+)/update", SWARM, "update a node", "changes a node", {"version": allow("swarm")},
          body=SWARM_BODY),
    route("task-list", "GET", "/tasks", OTHER, "list tasks", READS, {"filters": FILTERS}),
    route("task-inspect", "GET", "/tasks/([^/]+)", OTHER, "inspect a task", READS),
    route("task-logs", "GET", "/tasks/([^/]+)/logs", OTHER, "read task logs", READS, {
        name: allow("which log lines") for name in ("details", "follow", "stdout", "stderr", "since", "timestamps", "tail")}),
    route("secret-list", "GET", "/secrets", OTHER, "list secrets", READS, {"filters": FILTERS}),
    route("secret-create", "POST", "/secrets/create", SWARM, "create a secret", "stores a secret in the swarm", body=SWARM_BODY),
    route("secret-delete", "DELETE", "/secrets/([^/]+)", OTHER, "remove a secret", "removes a secret"),
    route("secret-inspect", "GET", "/secrets/([^/]+)", OTHER, "inspect a secret", READS),
    route("secret-update", "POST", "/secrets/([^/]+)/update", SWARM, "update a secret", "changes a secret",
          {"version": allow("swarm")}, body=SWARM_BODY),
    route("config-list", "GET", "/configs", OTHER, "list configs", READS, {"filters": FILTERS}),
    route("config-create", "POST", "/configs/create", SWARM, "create a config", "stores a config in the swarm", body=SWARM_BODY),
    route("config-delete", "DELETE", "/configs/([^/]+)", OTHER, "remove a config", "removes a config"),
    route("config-inspect", "GET", "/configs/([^/]+)", OTHER, "inspect a config", READS),
    route("config-update", "POST", "/configs/([^/]+)/update", SWARM, "update a config", "changes a config",
          {"version": allow("swarm")}, body=SWARM_BODY),
    # The plugin router.
    route("plugin-list", "GET", "/plugins", OTHER, "list plugins", READS, {"filters": FILTERS}),
    route("plugin-inspect", "GET", "/plugins/(.*)/json", OTHER, "inspect a plugin", READS),
    route("plugin-privileges", "GET", "/plugins/privileges", OTHER, "read a plugin's privileges",
          "asks a registry what a plugin would need", {"remote": allow("the plugin's image")}),
    route("plugin-delete", "DELETE", "/plugins/(.*)", OTHER, "remove a plugin", "removes a managed plugin",
          {"force": allow("even if enabled")}),
    route("plugin-enable", "POST", "/plugins/(.*)/enable", PLUGIN_OP, "enable",
          "starts a managed plugin: it runs as real root, outside the remapping", {"timeout": allow("seconds to wait")}),
    route("plugin-disable", "POST", "/plugins/(.*)/disable", OTHER, "disable", "stops a managed plugin",
          {"force": allow("even if in use")}),
    route("plugin-pull", "POST", "/plugins/pull", PLUGIN_OP, "install", "installs a managed plugin",
          {"remote": check("managed-plugins", "the plugin's image"), "name": check("managed-plugins", "its local name")},
          body=PLUGIN_PRIVILEGES_BODY),
    route("plugin-push", "POST", "/plugins/(.*)/push", OTHER, "push", "uploads a managed plugin to a registry"),
    route("plugin-upgrade", "POST", "/plugins/(.*)/upgrade", PLUGIN_OP, "upgrade", "replaces a managed plugin's image",
          {"remote": check("managed-plugins", "the new image")}, body=PLUGIN_PRIVILEGES_BODY),
    route("plugin-set", "POST", "/plugins/(.*)/set", PLUGIN_OP, "set", "changes a managed plugin's mounts, devices and settings",
          body=list_of(check("managed-plugins", "KEY=VALUE settings; mount sources and device paths of a plugin that runs "
                                                "as real root"))),
    route("plugin-create", "POST", "/plugins/create", PLUGIN_OP, "create", "makes a managed plugin from the client's tar",
          {"name": check("managed-plugins", "the plugin's name")}),
    # The distribution router.
    route("distribution", "GET", "/distribution/(.*)/json", OTHER, "read an image's manifest", "asks a registry"),
    # The network router.
    route("network-list", "GET", "/networks", OTHER, "list networks", READS + " (also GET /networks/: the plugin reads paths "
          "without their trailing slash)", {"filters": FILTERS}),
    route("network-inspect", "GET", "/networks/(.+)", OTHER, "inspect a network", READS,
          {"verbose": allow("adds swarm details"), "scope": allow("where to look")}),
    route("network-create", "POST", "/networks/create", NETWORK_CREATE, "create a network",
          "creates a network: the bridge driver makes a bridge on the host, its address and routes, and firewall rules",
          body=NETWORK_CREATE_BODY),
    route("network-connect", "POST", "/networks/(.*)/connect", NETWORK_CONNECT, "connect a container to",
          "puts a container on a network", body=struct("the container and its endpoint", {
              "Container": allow("the container"), "EndpointConfig": ENDPOINT_SETTINGS})),
    route("network-disconnect", "POST", "/networks/(.*)/disconnect", OTHER, "disconnect a container from",
          "takes a container off a network", body=struct("the container", {
              "Container": allow("the container"), "Force": allow("even if it is gone")})),
    route("network-prune", "POST", "/networks/prune", OTHER, "remove unused networks", "removes unused networks",
          {"filters": FILTERS}),
    route("network-delete", "DELETE", "/networks/(.*)", OTHER, "remove a network", "removes a network"),
    # The debug routes (every method before 28.0), then BuildKit's gRPC.
    route("debug", "*", "/debug/(.*)", REFUSED, "read the daemon's debug data",
          "Go's pprof and expvar: the daemon's command line, memory and goroutines, and CPU profiles; clients need none "
          "of it"),
    route("grpc", "POST", "/grpc", BUILD, "open a BuildKit session",
          "BuildKit's whole API over the hijacked connection: the plugin sees none of the calls inside (builds run "
          "remapped; see the threat model for what BuildKit grants)"),
]


# ---------------------------------------------------------------------------------------------
# routes.py: Routes: what the daemon will route a request to, from its method and path, found in the
# reviewed table (table_container_routes, table_api_routes) as the daemon's router (gorilla/mux)
# matches: the pattern must match the whole decoded, cleaned path, and where two patterns could
# match the one the daemon registered first wins (the tables keep the daemon's order).
# ---------------------------------------------------------------------------------------------


REVIEWED_ROUTES = CONTAINER_ROUTES + API_ROUTES
_WILD = "*"  # a pattern whose first segment is not a fixed word


class Route(NamedTuple):
    kind: str
    action: str  # what the request does to its target, for messages
    target: Optional[str]  # the container reference, exec ID, plugin or network name in the path
    json_body: bool  # the daemon decodes a JSON request body here that the plugin must see
    reviewed: Optional[RouteReview]  # None: a route this plugin has not reviewed


UNKNOWN_ROUTE = Route(OTHER, "", None, False, None)


def _index(routes: List[RouteReview]) -> Dict[str, Dict[str, List[Tuple[re.Pattern[str], RouteReview]]]]:
    """By method, then by the path's first segment: few patterns to try for a request."""
    index: Dict[str, Dict[str, List[Tuple[re.Pattern[str], RouteReview]]]] = {}
    for reviewed in routes:
        first = reviewed.pattern.split("/")[1]
        segment = first if re.fullmatch(r"[A-Za-z0-9_.-]*", first) else _WILD
        index.setdefault(reviewed.method, {}).setdefault(segment, []).append((re.compile(reviewed.pattern), reviewed))
    return index


_ROUTES = _index(REVIEWED_ROUTES)
_NO_ROUTES: Dict[str, List[Tuple[re.Pattern[str], RouteReview]]] = {}


def classify(request: Request) -> Route:
    """The reviewed route the daemon will take for this request, and the target in its path."""
    segment = request.path.split("/", 2)[1] if request.path.startswith("/") else ""
    by_method = _ROUTES.get(request.method, _NO_ROUTES)
    any_method = _ROUTES.get("*", _NO_ROUTES)
    for candidates in (by_method.get(segment, ()), any_method.get(segment, ()), by_method.get(_WILD, ())):
        for pattern, reviewed in candidates:
            match = pattern.fullmatch(request.path)
            if match:
                json_body = reviewed.body is not None and not reviewed.body_unseen_ok
                return Route(reviewed.kind, reviewed.action, match.group(1) if match.groups() else None, json_body, reviewed)
    return UNKNOWN_ROUTE


# ---------------------------------------------------------------------------------------------
# lookups.py: Lookups: what the policy may ask about existing things (containers, execs, volumes, networks,
# the daemon and its engine, host paths, devices and network), as an interface the transport fills with real answers and tests with fakes,
# and the facts those answers carry. Facts of a container never change for its ID: the user
# namespace, the namespaces it joins and its mounts are fixed at create (a pre-1.24 start could
# replace them, and the rules refuse that), and a volume cannot be removed while a container uses it.
# ---------------------------------------------------------------------------------------------


class LookupFailed(Exception):
    """The daemon could not tell the plugin what a container is; the reason is for the client."""


class Container(NamedTuple):
    id: str
    name: str  # without the leading "/"
    host_userns: bool
    joins: Tuple[Tuple[str, str], ...]  # (namespace, reference) of each container:REF mode
    mounts: Tuple[Tuple[str, str, str, str, str], ...]  # (type, name, source, destination, driver)
    user: str = ""  # Config.User: whom docker cp -a gives the files to
    creating_binds: Tuple[str, ...] = ()  # bind sources the daemon creates when they are missing

    @property
    def label(self) -> str:
        return "%s (%s)" % (self.name, self.id[:12]) if self.name else self.id[:12]


class Volume(NamedTuple):
    name: str
    driver: str
    options: Dict[str, str]


class VolumeUser(NamedTuple):
    """A container that mounts a volume, as the daemon lists it now."""
    name: str
    state: str  # "running", "paused", "restarting", "exited", "created" ...
    read_write: bool


class HostPath(NamedTuple):
    """What is at a host path, and who besides root could remove or replace it (or a directory
    on the way to it) later."""
    exists: bool
    is_dir: bool = False
    empty: bool = False  # a directory without entries
    root_only: bool = False  # owned by root, writable by nobody else
    changeable_by: str = ""  # "" when only root can; else who, for messages


class DaemonInfo(NamedTuple):
    """What the daemon says of itself (GET /info)."""
    data_root: str
    remaps: bool  # user namespace remapping is on ("name=userns" among its security options)
    logging_driver: str  # the default log driver


class Network(NamedTuple):
    id: str
    name: str
    driver: str


class HostDevice(NamedTuple):
    kind: str  # "c" or "b"
    major: int
    minor: int
    path: str

    @property
    def label(self) -> str:
        return "%s (%s %d:%d)" % (self.path, self.kind, self.major, self.minor)


class HostNetwork(NamedTuple):
    routes: Tuple[str, ...]  # "ADDRESS/PREFIX" of every route and address of the host, default routes left out
    interfaces: FrozenSet[str]


class ContainerLookup:
    """What the policy may ask about existing things. The transport passes one that asks the
    daemon; tests pass one that knows a few containers. Each method raises LookupFailed when it
    cannot tell, and returns None when the thing does not exist (the daemon answers 404 then)."""

    def container(self, ref: str) -> Optional[Container]:
        raise LookupFailed("this plugin was started without a way to look up containers")

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        raise LookupFailed("this plugin was started without a way to look up execs")

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        raise LookupFailed("this plugin was started without a way to look up volumes")

    def volume_users(self, name: str) -> List[VolumeUser]:
        raise LookupFailed("this plugin was started without a way to look up volumes")

    def volume_held(self, name: str) -> bool:
        """Whether the daemon may be copying an image's files into this volume right now, for a
        create this plugin allowed and the daemon has not answered yet (see Holds)."""
        return False

    def engine_version(self) -> str:
        raise LookupFailed("this plugin was started without a way to ask the daemon its version")

    def daemon_info(self) -> DaemonInfo:
        raise LookupFailed("this plugin was started without a way to ask the daemon about itself")

    def network(self, ref: str) -> Optional[Network]:
        raise LookupFailed("this plugin was started without a way to look up networks")

    def host_path(self, path: str) -> HostPath:
        raise LookupFailed("this plugin was started without a way to look at host paths")

    def host_devices(self, path: str) -> List[HostDevice]:
        raise LookupFailed("this plugin was started without a way to look at host devices")

    def host_network(self) -> HostNetwork:
        raise LookupFailed("this plugin was started without a way to look at the host's network")


NO_LOOKUP = ContainerLookup()


_T = TypeVar("_T")


class OncePerRequest(ContainerLookup):
    """Asks the lookup at most once per reference within one request (a name could point to
    another container between two lookups; within a request every rule sees the same one)."""

    def __init__(self, lookup: ContainerLookup):
        self.lookup = lookup
        self.answers: Dict[Tuple[str, ...], Any] = {}

    def _ask(self, key: Tuple[str, ...], ask: Callable[[], _T]) -> _T:
        if key not in self.answers:
            self.answers[key] = ask()
        answer: _T = self.answers[key]  # the key names the question, so the answer is ask's type
        return answer

    def container(self, ref: str) -> Optional[Container]:
        return self._ask(("container", ref), lambda: self.lookup.container(ref))

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        return self._ask(("exec", exec_id), lambda: self.lookup.exec_container_id(exec_id))

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        return self._ask(("volume", name, used_by), lambda: self.lookup.volume(name, used_by))

    def volume_users(self, name: str) -> List[VolumeUser]:
        return self._ask(("volume-users", name), lambda: self.lookup.volume_users(name))

    def volume_held(self, name: str) -> bool:
        return self._ask(("volume-held", name), lambda: self.lookup.volume_held(name))

    def engine_version(self) -> str:
        return self._ask(("engine",), self.lookup.engine_version)

    def daemon_info(self) -> DaemonInfo:
        return self._ask(("info",), self.lookup.daemon_info)

    def network(self, ref: str) -> Optional[Network]:
        return self._ask(("network", ref), lambda: self.lookup.network(ref))

    def host_path(self, path: str) -> HostPath:
        return self._ask(("host-path", path), lambda: self.lookup.host_path(path))

    def host_devices(self, path: str) -> List[HostDevice]:
        return self._ask(("host-devices", path), lambda: self.lookup.host_devices(path))

    def host_network(self) -> HostNetwork:
        return self._ask(("host-network",), self.lookup.host_network)


# ---------------------------------------------------------------------------------------------
# containers.py: Containers: what an existing container is, from the daemon's own description of it
# (GET /containers/{id}/json): whether it runs outside the remapping, and which of its mounts show
# host files.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# host_paths.py: Host paths: what the daemon will find at a path it creates, re-owns or copies into as real
# root. The plugin runs on the host, so it looks itself, as the kernel resolves the path, and notes
# who besides root could remove or replace the path, or a directory on the way to it, later.
# ---------------------------------------------------------------------------------------------


MAX_SYMLINKS = 40  # the kernel's limit when it resolves a path


def _who_can_change(directory: str, st: os.stat_result, entry: Optional[os.stat_result]) -> str:
    """Who besides root can rename or remove entries of this directory ("" for nobody): its owner,
    its group and everyone, by its mode; in a sticky directory only the owners of the entry and
    of the directory."""
    mode, owner = st.st_mode, st.st_uid
    writers = []
    if owner != 0:
        writers.append("user %s (who owns %s)" % (_user_name(owner), directory))
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        if mode & stat.S_ISVTX:
            if entry is not None and entry.st_uid != 0:
                writers.append("user %s (who owns the entry in the sticky directory %s)" % (_user_name(entry.st_uid), directory))
        elif mode & stat.S_IWOTH:
            writers.append("every user (%s is writable by all)" % directory)
        else:
            writers.append("group %s (which may write %s)" % (_group_name(st.st_gid), directory))
    return " and ".join(writers)


def _user_name(uid: int) -> str:
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        import grp
        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def inspect_host_path(path: str) -> HostPath:
    """Resolve path as the kernel does (symlinks followed, ".." after them) and report what is
    there, and who could remove or replace any entry the resolution went through; raise
    LookupFailed for what cannot be read (the plugin then refuses)."""
    pending = [part for part in path.split("/") if part]
    current, current_st = "/", None
    changeable, links = "", 0
    try:
        current_st = os.stat("/")
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                current = posixpath.dirname(current)
                current_st = os.stat(current)
                continue
            entry = posixpath.join(current, part)
            try:
                entry_st = os.lstat(entry)
            except (FileNotFoundError, NotADirectoryError):
                return HostPath(exists=False, changeable_by=changeable)
            changeable = changeable or _who_can_change(current, current_st, entry_st)
            if stat.S_ISLNK(entry_st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise LookupFailed("%s: too many symbolic links" % path[:200])
                target = os.readlink(entry)
                pending = [p for p in target.split("/") if p] + pending
                if target.startswith("/"):
                    current, current_st = "/", os.stat("/")
                continue
            if pending and not stat.S_ISDIR(entry_st.st_mode):
                return HostPath(exists=False, changeable_by=changeable)
            current, current_st = entry, entry_st
        is_dir = stat.S_ISDIR(current_st.st_mode)
        empty = False
        if is_dir:
            with os.scandir(current) as entries:
                empty = next(entries, None) is None
        root_only = current_st.st_uid == 0 and not current_st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        return HostPath(exists=True, is_dir=is_dir, empty=empty, root_only=root_only, changeable_by=changeable)
    except OSError as err:
        raise LookupFailed("cannot look at %s on the host: %s" % (path[:200], err.strerror or err)) from None


# ---------------------------------------------------------------------------------------------
# host_devices.py: Host devices: what the daemon will give a container for --device PATH, found the way it finds
# it (symlinks resolved; a directory walked, every device node below it taken), and the device
# cgroup rules a request adds, parsed as the daemon parses them.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# host_network.py: Host network: the host's routes, addresses and interface names, read from /proc/1/net (the
# network namespace of PID 1, the host's: the plugin's own service has a private one), for the
# rules on networks a client creates: a subnet that overlaps what the host routes would take the
# host's traffic, and a bridge name that is an existing host interface would put that interface
# under the daemon's control.
# ---------------------------------------------------------------------------------------------


PROC_NET = "/proc/1/net"


def _hex_ipv4(text: str) -> str:
    """An address of /proc/net/route: four bytes in hex, little-endian."""
    value = int(text, 16)
    return ".".join(str((value >> shift) & 0xFF) for shift in (0, 8, 16, 24))


def _hex_ipv6(text: str) -> str:
    return ":".join(text[i:i + 4] for i in range(0, 32, 4))


def _ipv4_routes(lines: List[str]) -> List[str]:
    routes = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 8:
            mask = bin(int(fields[7], 16)).count("1")
            if mask:
                routes.append("%s/%d" % (_hex_ipv4(fields[1]), mask))
    return routes


def _ipv6_routes(lines: List[str]) -> List[str]:
    routes = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and int(fields[1], 16):
            routes.append("%s/%d" % (_hex_ipv6(fields[0]), int(fields[1], 16)))
    return routes


def _ipv6_addresses(lines: List[str]) -> List[str]:
    return ["%s/128" % _hex_ipv6(line.split()[0]) for line in lines if line.split()]


def _ipv4_addresses(lines: List[str]) -> List[str]:
    """The host's own IPv4 addresses: /32 LOCAL entries of /proc/net/fib_trie."""
    found = []
    for before, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            found.append("%s/32" % before.split()[-1])
    return found


def _read_lines(name: str) -> List[str]:
    try:
        with open("%s/%s" % (PROC_NET, name), encoding="ascii", errors="replace") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []  # no IPv6 in this kernel
    except OSError as err:
        raise LookupFailed("cannot read the host's %s: %s" % (name, err.strerror or err)) from None


def read_host_network() -> HostNetwork:
    routes = (["127.0.0.0/8"] + _ipv4_routes(_read_lines("route")) + _ipv4_addresses(_read_lines("fib_trie"))
              + _ipv6_routes(_read_lines("ipv6_route")) + _ipv6_addresses(_read_lines("if_inet6")))
    interfaces = frozenset(line.split(":", 1)[0].strip() for line in _read_lines("dev")[2:] if ":" in line)
    if not interfaces:
        raise LookupFailed("cannot list the host's network interfaces (%s/dev is empty)" % PROC_NET)
    return HostNetwork(tuple(dict.fromkeys(routes)), interfaces)


# ---------------------------------------------------------------------------------------------
# mounts.py: Mounts: what a new container will mount, read from its HostConfig the way the daemon parses
# -v (Binds) and --mount (Mounts).
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# remap_effects.py: Remap effects: what stops working, or works otherwise, once user-namespace remapping is on, for
# a container's HostConfig (a create request's, or an existing container's as the daemon describes
# it). Observe mode logs it per request ("would-break"), and --report lists the existing containers
# that could not run, so the role can say so before the switch.
#
# Measured on Docker 20.10 and 26.1, read in moby's daemon/daemon_unix.go (verifyPlatformContainerSettings,
# v20.10.24 to docker-v29.7.2): the daemon refuses the first three at every create and start with
# remapping on; runc cannot mount /dev/mqueue from a remapped user namespace for the fourth. --uts=host
# and --cgroupns=host run remapped.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# engine.py: Engine: the known vulnerabilities of the daemon the plugin guards, from the version it reports
# (GET /version), less the fixes its package is known to carry (config engine_fixes: the role writes
# what the package's changelog names; an operator can add to it). Distributions backport fixes
# without changing the version, so without that knowledge the upstream version's vulnerabilities
# are assumed; a version the plugin cannot read is assumed to have them all.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# context.py: Rule context: what every rule receives (the request, its route, the lookups, the decoded
# HostConfig and mounts), what a rule returns (a Denial), and the few helpers several rules share.
#
# Rules are small pure functions, each returning None or a Denial. A rule may raise Undecodable
# when the body it needs cannot be read, or LookupFailed when the daemon cannot say what a container
# is; the verdict turns either into a fail-closed denial.
# ---------------------------------------------------------------------------------------------


class Denial(NamedTuple):
    rule: str
    message: str


class Context(NamedTuple):
    request: Request
    route: Route
    lookup: ContainerLookup
    host_config: Optional[Dict[str, Any]]  # what the daemon will apply to a new container
    task_template: Optional[Dict[str, Any]]  # a swarm service's TaskTemplate
    mounts: List[PlannedMount]  # what a new container will mount (Binds and Mounts)
    holds: List[str]  # volumes to hold while the daemon handles this request, if it is allowed

    @property
    def kind(self) -> str:
        return self.route.kind


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def form_body(request: Request) -> bool:
    """A form body: Go's ParseForm reads its fields before the query string's."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES


def create_name(request: Request) -> str:
    try:
        return parse_query(request.raw_query).get("name", "")
    except Unroutable:
        return ""


def overlaps(source: str, protected: str) -> bool:
    """A bind of the path itself, of a directory above it, or of anything below it."""
    source, protected = source.rstrip("/") or "/", protected.rstrip("/") or "/"
    return source == protected or protected.startswith(source.rstrip("/") + "/") or source.startswith(protected + "/")


def engine_flaws(ctx: Context, config: Dict[str, Any], *among: Vulnerability) -> Tuple[str, List[Vulnerability]]:
    """The engine's version (asked now), and which of these known vulnerabilities it has open."""
    version = ctx.lookup.engine_version()
    return version, [v for v in open_vulnerabilities(version, config) if v in among]


# ---------------------------------------------------------------------------------------------
# review.py: Review: the default deny. Every request is held against the reviewed table before any rule
# runs: a route the table does not name, a query parameter or body field it does not know with a
# non-zero value, and a field the table refuses are refused here, naming the field, the plugin's
# version and what to do. Fields the table allows after a check are left to that check's rule.
#
# Zero values pass (null, false, 0, "", [], {}): clients send every field of a struct, most of
# them empty, and an empty value asks the daemon for nothing. Every occurrence of a key counts:
# Go merges an object given twice, so each one is reviewed.
# ---------------------------------------------------------------------------------------------


HOW_TO_ALLOW = ("an administrator who has reviewed it can allow it with allow_fields: [%s] in the plugin's config "
                "(docker_userns_allow_fields)")


def is_zero(value: Any) -> bool:
    """Whether a JSON value asks for nothing: null, false, 0, "", [] or {}."""
    if value is None or value is False:
        return True
    if isinstance(value, Number):
        try:
            return float(value) == 0.0
        except ValueError:
            return False
    return value in ("", []) if isinstance(value, (str, list)) else False


def query_pairs(raw: str) -> Iterator[Tuple[str, str]]:
    """Every key and value of a query string, repeats included, decoded as Go decodes them."""
    if ";" in raw:
        raise Unroutable("a ';' in the query string")
    for part in raw.split("&"):
        if part:
            key, _, value = part.partition("=")
            yield percent_decode(key.replace("+", " ")), percent_decode(value.replace("+", " "))


def review_request(request: Request, reviewed: RouteReview, config_allowed: List[str]) -> Optional[Denial]:
    """The first query parameter or body field of this request that the table does not let
    through, as a Denial; None when everything is known and allowed (or left to a check)."""
    known = dict(reviewed.query)
    for key, value in query_pairs(request.raw_query):
        verdict = known.get(key)
        if value and (verdict is None or verdict.kind == REFUSE or (verdict.kind == ONE_OF and value not in verdict.values)):
            denial = _refusal(reviewed, "?" + key, "?" + key, verdict, config_allowed)
            if denial:
                return denial
    if reviewed.body is not None and request.body:
        return _review_value(reviewed, reviewed.body, parse_go_json(request.body), "", "", config_allowed)
    return None


def _review_value(reviewed: RouteReview, verdict: Verdict, value: Any, path: str, label: str,
                  config_allowed: List[str]) -> Optional[Denial]:
    if is_zero(value):
        return None
    kind = verdict.kind
    if kind == REFUSE or (kind == ONE_OF and value not in verdict.values):
        return _refusal(reviewed, path, label, verdict, config_allowed)
    if kind == STRUCT:
        if not isinstance(value, Pairs):
            return None  # the daemon refuses a struct that is not an object; nothing is asked of it
        for key, element in value:
            found = verdict.field(key)
            name = found[0] if found else key
            where, what = (path + "." if path else "") + name, (label + "." if label else "") + name
            if found is None:
                if not is_zero(element):
                    denial = _refusal(reviewed, where, what, None, config_allowed)
                    if denial:
                        return denial
                continue
            denial = _review_value(reviewed, found[1], element, where, what, config_allowed)
            if denial:
                return denial
    elif kind == LIST and isinstance(value, list):
        for index, element in enumerate(value):
            denial = _review_value(reviewed, verdict.element, element, "%s[%d]" % (path, index), label, config_allowed)
            if denial:
                return denial
    elif kind == MAP and isinstance(value, Pairs):
        for key, element in value:
            denial = _review_value(reviewed, verdict.element, element, "%s[%s]" % (path, key[:64]), label, config_allowed)
            if denial:
                return denial
    return None  # allow, check (the named rule judges it), or a shape the daemon refuses itself


def field_label(reviewed: RouteReview, label: str) -> str:
    """How allow_fields names a field: the route's name, then the field's path without indices."""
    return "%s:%s" % (reviewed.name, label)


def _refusal(reviewed: RouteReview, path: str, label: str, verdict: Optional[Verdict], config_allowed: List[str]) -> Optional[Denial]:
    name = field_label(reviewed, label)
    if name in config_allowed:
        return None
    where = "%s %s" % (reviewed.action, path) if path.startswith("?") else "%s: %s" % (reviewed.action, path)
    if verdict is not None and verdict.kind == ONE_OF:
        return Denial("refused-field", "%s may only be %s: %s. %s" % (where, " or ".join(repr(v) for v in verdict.values if v),
                      verdict.reason, "Change it; or " + HOW_TO_ALLOW % '"%s"' % name))
    if verdict is None:
        return Denial("unreviewed", "%s is not a parameter or field that this plugin (version %s) has reviewed, and it refuses "
                      "what it has not reviewed: the daemon may act on it as real root. Leave it out, or upgrade the plugin if "
                      "the client is newer; %s" % (where, VERSION, HOW_TO_ALLOW % '"%s"' % name))
    return Denial("refused-field", "%s is not allowed: %s. Leave it out; or %s" % (where, verdict.reason, HOW_TO_ALLOW % '"%s"' % name))


# ---------------------------------------------------------------------------------------------
# rules_request.py: Rules on the request as a whole, before any rule reads what it asks: an API version older than
# the table covers, a JSON body the daemon did not forward, a form body that could set query
# parameters, and the review (default deny) of every query parameter and body field.
# ---------------------------------------------------------------------------------------------


OLDEST_API = "1.24"
UNSEEN_BODY_HELP = (
    "the daemon did not forward the request body to the authorization plugin (it does not for "
    "bodies of 1 MiB or more, chunked transfer encoding, a Content-Type other than "
    "application/json, or a request URI ending in /auth, query string included), so the plugin "
    "cannot check it; send the request with an application/json body under 1 MiB and a Content-Length"
)


def _may_have_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return length is None or length != "0"  # no Content-Length: maybe chunked


def rule_api_version(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Docker 20.10 and 24.0 still serve API versions before 1.24, where a start body replaces a
    container's HostConfig and other routes behave otherwise; the table reviews 1.24 and later."""
    if version_less(ctx.request.version, OLDEST_API):
        return Denial("api-version", "API version %s is older than %s, the oldest this plugin has reviewed; use a client "
                      "that speaks %s or later (every Docker client since 1.12 does), or leave the /v%s prefix out"
                      % (ctx.request.version, OLDEST_API, OLDEST_API, ctx.request.version))
    return None


def rule_unseen_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Fail closed on every route that decodes a JSON body the plugin did not see."""
    request = ctx.request
    if not request.body and ctx.route.json_body and _may_have_body(request):
        return Denial("unseen-body", "%s %s: %s%s" % (request.method, request.path, UNSEEN_BODY_HELP, _hidden_body_flaws(ctx, config)))
    return None


def _hidden_body_flaws(ctx: Context, config: Dict[str, Any]) -> str:
    """The engine's known flaws that hide bodies from plugins, for the message (best effort)."""
    try:
        version, found = engine_flaws(ctx, config, HIDDEN_LARGE_BODY, HIDDEN_CHUNKED_BODY)
    except LookupFailed:
        return ""
    if not found:
        return ""
    return "; this Docker (%s) hides such bodies: %s (fixed in %s)" % (version, "; ".join("%s: %s" % (v.id, v.summary) for v in found), found[0].fixed_in)


def rule_form_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Go's ParseForm reads a form body's fields before the query string's, on every route that
    reads parameters, and the daemon does not forward such a body: the plugin could not review them."""
    if form_body(ctx.request) and (ctx.request.body or _may_have_body(ctx.request)):
        return Denial("unseen-body", "%s %s: a form body can set parameters that the plugin reads from the query "
                      "string, and the daemon does not forward it; send the parameters in the query string" % (ctx.request.method, ctx.request.path))
    return None


def rule_review(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """The reviewed table: what it does not know, or refuses, is refused (review.py)."""
    if ctx.route.reviewed is None:
        return None  # the policy refuses unknown routes before any rule runs
    return review_request(ctx.request, ctx.route.reviewed, config["allow_fields"])


# ---------------------------------------------------------------------------------------------
# rules_userns.py: Rules on the user namespace itself (CIS Docker 5.31): no host user namespace for a new
# container, no joining the namespaces of a container outside the remapping, and nothing run in,
# attached to or started again in such a container.
# ---------------------------------------------------------------------------------------------


BUILDX_HINT = (
    "; buildx's docker-container driver asks for the host user namespace: use the default "
    "docker driver instead (docker buildx use default)"
)
# buildx also falls back to that driver, on its own, when the daemon refuses its BuildKit session.
BUILDX_FALLBACK_HINT = (
    "; and this Docker (%s) refuses BuildKit builds (%s, fixed in %s), so buildx falls back to such a container by "
    "itself: build with the classic builder (DOCKER_BUILDKIT=0 docker build ...), or upgrade Docker"
)

USERNS_HOST_MESSAGE = (
    "userns=host is not allowed: containers must run in the remapped user namespace "
    "(CIS Docker 5.31); remove --userns=host (HostConfig.UsernsMode)"
)


def rule_host_userns(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.31: the host's user namespace is not shared."""
    if ctx.kind == CONTAINER_CREATE and ctx.host_config is not None and ctx.host_config.get("UsernsMode") == "host":
        hint = ""
        if create_name(ctx.request).startswith("buildx_buildkit_"):
            hint = _buildx_hint(ctx, config)
        return Denial("host-userns", USERNS_HOST_MESSAGE + hint)
    return None


def _buildx_hint(ctx: Context, config: Dict[str, Any]) -> str:
    try:
        version, found = engine_flaws(ctx, config, BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR)
    except LookupFailed:
        return BUILDX_HINT  # the refusal stands; only the hint is less precise
    if found:
        return BUILDX_HINT + BUILDX_FALLBACK_HINT % (version, ", ".join(v.id for v in found), found[0].fixed_in)
    return BUILDX_HINT


OUTSIDE_HELP = (
    "so anything run in it runs as real root on the host (userns=host is not allowed); remove it "
    "(docker rm -f %s) or recreate it without --userns=host"
)


def rule_joined_namespaces(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """A new container that shares the pid, ipc or network namespace of a container outside
    the remapping shares its user namespace as well (CIS Docker 5.31)."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    for field, namespace in NAMESPACE_MODES:
        mode = ctx.host_config.get(field, "")
        if not mode.startswith("container:"):
            continue
        joined = ctx.lookup.container(mode[len("container:"):])
        if joined is None:
            continue  # the daemon refuses to join a container that does not exist
        reason = outside_reason(joined, ctx.lookup)
        if reason:
            return Denial("outside-container", "sharing the %s namespace of container %s is not allowed: it %s, %s"
                          % (namespace, joined.label, reason, OUTSIDE_HELP % joined.name))
    return None


def _target_container(ctx: Context) -> Optional[Container]:
    if ctx.kind == EXEC_START:
        container_id = ctx.lookup.exec_container_id(ctx.route.target or "")
        return None if container_id is None else ctx.lookup.container(container_id)
    return ctx.lookup.container(ctx.route.target or "")


def rule_outside_container(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Nothing may run code in, attach to, start again, change or write into a container that
    is outside the remapping (created with --userns=host before enforcement, in audit mode, or
    joined to one). Stop, kill, remove, inspect, logs and export stay allowed."""
    if ctx.kind not in (CONTAINER_START, CONTAINER_ENTER, EXEC_START, ARCHIVE_WRITE):
        return None
    container = _target_container(ctx)
    if container is None:
        return None  # no such container or exec: the daemon answers 404 itself
    reason = outside_reason(container, ctx.lookup)
    if reason:
        return Denial("outside-container", "%s container %s is not allowed: it %s, %s"
                      % (ctx.route.action, container.label, reason, OUTSIDE_HELP % container.name))
    return None


# ---------------------------------------------------------------------------------------------
# rules_features.py: Rules on daemon features that act outside the remapping: swarm (tasks start without asking any
# plugin), managed plugins (they run as real root), checkpoints in a directory of the client's choosing.
# ---------------------------------------------------------------------------------------------


def _plugin_names(ctx: Context) -> List[str]:
    query = parse_query(ctx.request.raw_query)
    operation = ctx.route.action
    if operation == "install":
        return [query.get("remote", "")] + ([query["name"]] if query.get("name") else [])
    if operation == "create":
        return [query.get("name", "")]
    if operation == "upgrade":
        return [ctx.route.target or "", query.get("remote", "")]
    return [ctx.route.target or ""]


def rule_managed_plugins(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Managed plugins run as real root with the mounts and capabilities they ask for."""
    if ctx.kind == SERVICE_WRITE:
        template = ctx.task_template or {}
        if template.get("Runtime", "").lower() == "plugin" or template.get("PluginSpec") is not None:
            return Denial("managed-plugins",
                          "managed plugins are not allowed: swarm services with the plugin runtime install them outside the user namespace remapping")
        return None
    if ctx.kind != PLUGIN_OP:
        return None
    names = _plugin_names(ctx)
    allowed = config["allowed_plugins"]
    if allowed and not form_body(ctx.request) and all(name and normalize_plugin_ref(name) in allowed for name in names):
        return None
    shown = ", ".join(n or "(none)" for n in names)
    return Denial(
        "managed-plugins",
        "managed plugins are not allowed: they run as real root outside the user namespace "
        "remapping (plugin %s: %s); ask an administrator to add it to allowed_plugins" % (ctx.route.action, shown),
    )


def rule_checkpoint_dir(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Checkpoints (experimental daemons) in a directory of the client's choosing: the daemon
    creates, lists, writes (CRIU dump), restores from and removes it as real root on the host."""
    directory = ""
    if ctx.kind == CHECKPOINT and ctx.request.method == "POST":
        if ctx.request.body:
            directory = decode_body(CHECKPOINT_CREATE_SCHEMA, ctx.request.body, "checkpoint options").get("CheckpointDir", "")
    elif ctx.kind == CHECKPOINT:
        directory = parse_query(ctx.request.raw_query).get("dir", "")
    elif ctx.kind == CONTAINER_START:
        directory = parse_query(ctx.request.raw_query).get("checkpoint-dir", "")
    if directory:
        return Denial("checkpoint-dir", "checkpoints in a directory of your choosing (%s) are not allowed: the daemon "
                      "creates, reads, writes and removes it as real root on the host; use the container's own checkpoint "
                      "directory" % directory[:200])
    return None


SWARM_HELP = ("swarm services start containers on this host without asking any authorization plugin, so the plugin could "
              "not keep them inside the remapping; if this host must be a swarm node, an administrator can set allow_swarm "
              "(docker_userns_allow_swarm) and accept that")


def rule_swarm(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if config["allow_swarm"] or ctx.kind not in (SWARM_JOIN, SERVICE_WRITE, SWARM):
        return None
    what = {SWARM_JOIN: "making this host a swarm node", SERVICE_WRITE: "swarm services"}.get(ctx.kind, "changing swarm (%s)" % ctx.route.action)
    return Denial("swarm", "%s is not allowed: %s" % (what, SWARM_HELP))


# ---------------------------------------------------------------------------------------------
# rules_cis.py: Opt-in rules of the CIS Docker Benchmark beyond the user namespace: privileged containers,
# host namespaces, added capabilities, sensitive bind mounts, host devices.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# rules_host_config.py: Rules on HostConfig settings that weaken the container's confinement or reach the host: what the
# daemon refuses only while it remaps (privileged, the host's pid and network namespaces), security
# options that switch protections off, /proc and /sys paths unmasked, kernel settings written into
# a namespace shared with the host, and storage driver options.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# rules_drivers.py: Rules on drivers and their options: a driver name is a plugin name the daemon looks up (a legacy
# plugin's socket path, joined unchecked), a local volume's options are mount(2) arguments the
# daemon applies as real root in the host's mount namespace, and some log driver options name host
# sockets, addresses and files the daemon opens as real root.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# rules_devices.py: Rules on devices and on what the runtime runs as real root for a container.
#
# Device grants: the daemon makes device nodes as real root for clients (docker cp of an archive
# holding one; image load, import, pull and build of a layer holding one), owned by the container's
# remapped root. The kernel keeps a remapped root from making nodes, not from opening one it owns
# when the container's device cgroup allows that device. So the device cgroup is what keeps such a
# node from becoming the host's disk or memory: only devices that no node can turn into the host
# are granted by default (the runtime's own defaults, /dev/fuse and /dev/net/tun); an administrator
# adds more (GPUs) with allowed_devices.
#
# Runtime hooks: --gpus (DeviceRequests), runtimes other than runc, CDI device names and OCI
# annotations make the runtime or its hooks act as real root on the host, reading the container's
# files; NVIDIA's toolkit has had container-to-host escapes that way. They are refused unless an
# administrator allows them, and GPU requests also need a toolkit version without known escapes.
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# rules_network.py: Rules on networks: which network a container (or a build's RUN step) joins, and the options of
# networks and endpoints a client creates. The daemon refuses the host's network under remapping
# only when it is named "host", so a reference to it by ID is refused here; a bridge named after an
# existing host interface would put that interface under the daemon's control, and a subnet that
# overlaps the host's routes or addresses would take the host's traffic.
# ---------------------------------------------------------------------------------------------


BUILTIN_MODES = ("", "default", "bridge", "none")  # "host" is looked up like any other name
HOST_NETWORK_HELP = ("it is the host's network: under remapping the daemon refuses --network=host, and the plugin refuses "
                     "the same network by any other name")
BUILD_HOST = "; a build's RUN steps would share the host's network namespace (BuildKit grants it even under remapping)"


def _network_refs(ctx: Context) -> Iterator[Tuple[str, str]]:
    """(reference, where) of every network the request puts a container or build step on."""
    if ctx.kind == CONTAINER_CREATE and ctx.request.body:
        mode = (ctx.host_config or {}).get("NetworkMode", "")
        if mode not in BUILTIN_MODES + ("host",) and not mode.startswith("container:"):  # host: the remap-refuses rule
            yield mode, "--network %s" % mode
        networking = decode_body(CREATE_NETWORKS_SCHEMA, ctx.request.body, "create body").get("NetworkingConfig") or {}
        for name in (networking.get("EndpointsConfig") or {}):
            if name not in BUILTIN_MODES:
                yield name, "NetworkingConfig.EndpointsConfig %s" % name
    elif ctx.kind == NETWORK_CONNECT and ctx.route.target and ctx.route.target not in BUILTIN_MODES:
        yield ctx.route.target, "network connect %s" % ctx.route.target
    elif ctx.kind == BUILD and ctx.request.path == "/build":
        mode = parse_query(ctx.request.raw_query).get("networkmode", "")
        if mode not in BUILTIN_MODES:
            yield mode, "build --network %s" % mode


def rule_network_mode(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    for ref, where in _network_refs(ctx):
        if ref.startswith("container:"):
            return Denial("network-mode", "%s is not allowed: a build step that joins a container's network namespace joins "
                          "its user namespace too, and the plugin cannot tell which container a build will find" % where[:200])
        network = ctx.lookup.network(ref)
        if network is not None and network.driver == "host":
            return Denial("network-mode", "%s is not allowed: %s%s" % (where[:200], HOST_NETWORK_HELP, BUILD_HOST if ctx.kind == BUILD else ""))
    return None


# -- network and endpoint options ------------------------------------------------------------

BRIDGE_OPTIONS = (
    "com.docker.network.bridge.enable_icc", "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.bridge.host_binding_ipv4", "com.docker.network.driver.mtu",
    "com.docker.network.container_iface_prefix", "com.docker.network.bridge.inhibit_ipv4",
    "com.docker.network.bridge.name",
)
ENDPOINT_OPTIONS = ("com.docker.network.endpoint.ifname", "com.docker.network.endpoint.sysctls")
INTERFACE_NAME = "com.docker.network.bridge.name"


def _overlapping_route(value: str, routes: Tuple[str, ...]) -> Optional[str]:
    import ipaddress  # only here: few requests create networks, and every plugin process would pay for it

    try:
        wanted = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None  # the daemon refuses what is not a subnet or address
    for route in routes:
        network = ipaddress.ip_network(route, strict=False)
        if network.version == wanted.version and network.overlaps(wanted):
            return route
    return None


def network_options_problem(ctx: Context, network: Dict[str, Any], config: Dict[str, Any]) -> Optional[str]:
    driver = network.get("Driver", "") or "bridge"
    options = network.get("Options") or {}
    if driver == "bridge":
        unknown = sorted(set(options) - set(BRIDGE_OPTIONS))
        if unknown:
            return "the bridge options %s are not reviewed (reviewed: %s)" % (", ".join(unknown)[:300], ", ".join(BRIDGE_OPTIONS))
        name = options.get(INTERFACE_NAME, "")
        if name and name in ctx.lookup.host_network().interfaces:
            return ("%s=%s names an existing host interface: the daemon would take it over (its addresses, firewall rules "
                    "and sysctls)" % (INTERFACE_NAME, name[:64]))
    ipam = network.get("IPAM") or {}
    if ipam.get("Options"):
        return "IPAM options are not reviewed"
    for subnet in ipam.get("Config", []):
        for key in ("Subnet", "Gateway"):
            if subnet.get(key):
                route = _overlapping_route(subnet[key], ctx.lookup.host_network().routes)
                if route:
                    return ("the %s %s overlaps the host's route or address %s: the daemon would route it to the network's "
                            "bridge and take the host's traffic for it" % (key.lower(), subnet[key][:64], route))
    return None


def rule_network_options(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind == NETWORK_CREATE and ctx.request.body:
        network = decode_body(NETWORK_CREATE_SCHEMA, ctx.request.body, "network")
        if network.get("Driver", "") in config["allowed_drivers"]:
            return None  # macvlan or ipvlan, which an administrator allowed with its options
        problem = network_options_problem(ctx, network, config)
        if problem:
            return Denial("network-options", "network %s is not allowed: %s" % (network.get("Name", "")[:100], problem))
    endpoints = []
    if ctx.kind == CONTAINER_CREATE and ctx.request.body:
        networking = decode_body(CREATE_NETWORKS_SCHEMA, ctx.request.body, "create body").get("NetworkingConfig") or {}
        endpoints = [(name, e or {}) for name, e in (networking.get("EndpointsConfig") or {}).items()]
    elif ctx.kind == NETWORK_CONNECT and ctx.request.body:
        endpoints = [(ctx.route.target or "", decode_body(NETWORK_CONNECT_SCHEMA, ctx.request.body, "connect body").get("EndpointConfig") or {})]
    for name, endpoint in endpoints:
        unknown = sorted(set(endpoint.get("DriverOpts") or {}) - set(ENDPOINT_OPTIONS))
        if unknown:
            return Denial("network-options", "the endpoint options %s on network %s are not reviewed (reviewed: %s)"
                          % (", ".join(unknown)[:300], name[:100], ", ".join(ENDPOINT_OPTIONS)))
    return None


# ---------------------------------------------------------------------------------------------
# rules_root_work.py: Rules on the daemon's own work as real root on host paths: docker cp through host-backed
# mounts, bind sources it creates or shows, and the copy of an image's files into volumes.
# ---------------------------------------------------------------------------------------------


def rule_host_mount_copy(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """The daemon copies files (docker cp) as real root, whatever the remapping: through a
    host-backed mount that reaches host files root alone may read or write. The container
    controls its own files (a symlink can change at any moment), so any path may lead there."""
    if ctx.kind not in (ARCHIVE_READ, ARCHIVE_WRITE) or config["allow_copy_through_host_mounts"]:
        return None
    container = ctx.lookup.container(ctx.route.target or "")
    if container is None:
        return None
    mounts = host_backed_mounts(container, ctx.lookup)
    if mounts:
        return Denial("host-mount-copy", "docker cp (%s) container %s is not allowed: it has host-backed mounts (%s), and the "
                      "daemon copies as real root on the host, whatever the remapping; copy through a container without "
                      "host mounts, or ask an administrator to set allow_copy_through_host_mounts"
                      % (ctx.route.action, container.label, "; ".join(mounts)[:600]))
    return None


# -- the daemon's own work as real root: host paths it creates and re-owns ---------------------

def _bind_source_problem(ctx: Context, source: str, creates: bool) -> Optional[str]:
    """Why the daemon must not get this bind source, or None. Every bind: not a path that shows
    Docker's data directory (the remapped root owns every container's files and volumes there).
    A bind the daemon creates when it is missing: it must exist, and nobody but root may be able
    to remove or replace it, or a directory on the way to it (the daemon would then create the
    path again, following symlinks, at a start nobody asks about: a restart policy's, the
    daemon's own)."""
    if not source.startswith("/") or "\\" in source:
        return "the daemon reads %r as a path relative to its own working directory" % source[:200]
    data_root = ctx.lookup.daemon_info().data_root
    if overlaps(source, data_root):
        return ("it shows Docker's data directory %s, where the remapped root owns the files and volumes of every "
                "container" % data_root)
    if not creates:
        return None
    where = ctx.lookup.host_path(source)
    if not where.exists:
        return ("it does not exist, and the daemon would create it as real root (following symlinks), owned by the "
                "remapped root; create it first, or mount it with --mount type=bind (which never creates it)")
    if where.changeable_by:
        return ("%s could remove or replace it, and the daemon would then create it again as real root (following "
                "symlinks) at the next start, even one nobody asks about (a restart policy's); mount it with "
                "--mount type=bind,source=%s,target=... (which never creates it), or keep it where only root can "
                "change it" % (where.changeable_by, source))
    return None


def rule_bind_sources(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Bind sources the daemon creates (or shows) as real root, for a new container, at start and
    restart, and for docker cp (which sets up the container's mounts too)."""
    binds: List[Tuple[str, str, bool]] = []  # (source, how the request or container has it, created when missing)
    if ctx.kind == CONTAINER_CREATE and ctx.host_config:
        binds = [(m.source, m.spelling, m.creates_source) for m in ctx.mounts if m.kind == "bind"]
        for spec in ctx.host_config.get("VolumesFrom", []):
            other = ctx.lookup.container(spec.split(":", 1)[0])
            if other is not None:  # none: the daemon refuses the create
                binds += [(source, "--volumes-from %s (its bind mount of %s)" % (other.label, source), True)
                          for kind, _name, source, _dest, _driver in other.mounts if kind == "bind"]
    elif ctx.kind in (CONTAINER_START, ARCHIVE_READ, ARCHIVE_WRITE) or (ctx.kind == CONTAINER_ENTER and ctx.route.action == "restart"):
        container = ctx.lookup.container(ctx.route.target or "")
        if container is not None:
            binds = [(source, "container %s's bind mount of %s" % (container.label, source), source in container.creating_binds)
                     for kind, _name, source, _dest, _driver in dict.fromkeys(container.mounts) if kind == "bind"]
    for source, spelling, creates in binds:
        problem = _bind_source_problem(ctx, source, creates)
        if problem:
            return Denial("bind-source", "%s (%s) is not allowed: %s" % (spelling[:300], ctx.route.action, problem))
    return None


_RUNNING_STATES = ("running", "paused", "restarting")


def _copy_up_problem(ctx: Context, mount: PlannedMount) -> Optional[str]:
    """Why the daemon must not copy the image's files into this volume, or None. It copies as
    real root, following symlinks, when the volume is empty, and gives the volume's directory the
    owner and mode of the image's; that directory is on the host for a local volume that binds
    one (o=bind, device=...) and wherever its driver says for other drivers."""
    existing = ctx.lookup.volume(mount.source, "") if mount.source else None
    driver = existing.driver if existing else (mount.driver or "local")
    options = existing.options if existing else mount.options
    if driver != "local":
        return "its driver %s keeps it where the plugin cannot look, and the daemon would copy into it as real root" % driver
    if local_volume_binds(options):
        # With a subpath the daemon fills that directory inside the bound one (it cannot leave it).
        device = options.get("device", "")
        if mount.subpath and device.startswith("/"):
            device = clean_path(device + "/" + mount.subpath)
        where = ctx.lookup.host_path(device) if device.startswith("/") else HostPath(exists=False)
        if not (where.exists and where.is_dir and not where.empty):
            return ("it binds the host directory %s, which is %s: the daemon would copy the image's files into it and give "
                    "it the image directory's owner (the remapped root)" % (device, "empty" if where.exists else "missing"))
        if not where.root_only or where.changeable_by:
            return ("it binds the host directory %s, which %s could empty or replace while the daemon checks it and copies "
                    "into it" % (device, where.changeable_by or "someone besides root"))
        return None
    shows = volume_host_path(Volume(mount.source, driver, options))
    if shows:
        return "%s, and the daemon would copy into it as real root without the plugin seeing whether it is empty" % shows
    if existing is not None:
        writers = [u.name for u in ctx.lookup.volume_users(mount.source) if u.read_write and u.state in _RUNNING_STATES]
        if writers:
            return ("container %s can write into it right now, and could lead the daemon's copy (as real root) anywhere on "
                    "the host through symlinks; it already has its content: mount it with nocopy, or stop %s first"
                    % (writers[0], writers[0]))
    if mount.source:
        ctx.holds.append(mount.source)  # nothing else may mount it until the daemon has copied
    return None


def rule_volumes(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """The daemon fills a new container's empty volumes with the image's files, as real root."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    driver = ctx.host_config.get("VolumeDriver", "")
    if driver and driver != "local":
        return Denial("volume-copy", "--volume-driver %s is not allowed: the daemon would copy the image's files, as real root, "
                      "into volumes of that driver (the image's own volumes included), where the plugin cannot look; create the "
                      "volumes with docker volume create --driver %s and mount them with nocopy" % (driver, driver))
    for mount in ctx.mounts:
        if mount.kind != "volume":
            continue
        if mount.source and ctx.lookup.volume_held(mount.source):
            return Denial("volume-copy", "volume %s (%s) is not allowed right now: the daemon is copying an image's files into "
                          "it for another container; try again when that create has finished" % (mount.source, mount.spelling))
        problem = _copy_up_problem(ctx, mount) if mount.copy else None
        if problem:
            return Denial("volume-copy", "%s is not allowed: %s. Mount it with nocopy (-v NAME:/path:nocopy, or --mount "
                          "...,volume-nocopy)" % (mount.spelling[:300], problem))
    return None


def rule_held_volumes(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """While the daemon fills a volume for a create, no container that mounts it may start, and
    no docker cp may write through it (either could plant symlinks the copy follows)."""
    if ctx.kind not in (CONTAINER_START, ARCHIVE_WRITE) and not (ctx.kind == CONTAINER_ENTER and ctx.route.action in ("restart", "unpause")):
        return None
    container = ctx.lookup.container(ctx.route.target or "")
    if container is None:
        return None
    for kind, name, _source, _dest, _driver in container.mounts:
        if kind == "volume" and ctx.lookup.volume_held(name):
            return Denial("volume-copy", "%s container %s is not allowed right now: the daemon is copying an image's files into "
                          "its volume %s for another container; try again when that create has finished" % (ctx.route.action, container.label, name))
    return None


# ---------------------------------------------------------------------------------------------
# rules_engine.py: Rules on the engine's known vulnerabilities: docker cp, managed plugin installs and BuildKit
# builds on engines with open flaws in them (checked with the daemon's version, asked each time).
# ---------------------------------------------------------------------------------------------


COPY_INSTEAD = ("Meanwhile copy through the container itself, inside the remapping: docker exec CONTAINER tar -c -C DIR . > "
                "files.tar, or docker exec -i CONTAINER tar -x -C DIR < files.tar")


def vulnerability_denial(refused: str, version: str, found: List[Vulnerability], instead: str) -> Denial:
    return Denial(
        "engine-vulnerability",
        "%s is not allowed on this Docker (%s): %s. Fixed in %s: upgrade Docker; if its package carries the fix, let the role "
        "record it (it reads the package's changelog, or set docker_userns_engine_fixes) or add it to the plugin's "
        "engine_fixes.%s" % (refused, version or "its version unknown", "; ".join("%s: %s" % (v.id, v.summary) for v in found),
                             found[0].fixed_in, " " + instead if instead else ""))


def _bool_value(request: Request, key: str) -> bool:
    """The daemon's httputils.BoolValue on the query string: false only when empty, 0, no, false or none."""
    return parse_query(request.raw_query).get(key, "").strip().lower() not in ("", "0", "no", "false", "none")


def rule_engine_copy(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """docker cp on engines with known flaws in it (checked here with the daemon's version)."""
    if ctx.kind not in (ARCHIVE_READ, ARCHIVE_WRITE):
        return None
    version, found = engine_flaws(ctx, config, COPY_MOUNT_RACE, COPY_MOUNT_REDIRECT, DECOMPRESS_IN_CONTAINER, COPY_AS_USER)
    what = "docker cp (%s container %s)" % (ctx.route.action, (ctx.route.target or "")[:100])
    races = [v for v in found if v in (COPY_MOUNT_RACE, COPY_MOUNT_REDIRECT)]
    if races:
        return vulnerability_denial(what, version, races, COPY_INSTEAD)
    if ctx.kind == ARCHIVE_WRITE and DECOMPRESS_IN_CONTAINER in found:
        return vulnerability_denial(what, version, [DECOMPRESS_IN_CONTAINER], COPY_INSTEAD)
    if ctx.kind == ARCHIVE_WRITE and COPY_AS_USER in found and _bool_value(ctx.request, "copyUIDGID"):
        container = ctx.lookup.container(ctx.route.target or "")
        if container is not None and container.user:
            return vulnerability_denial("docker cp -a (copyUIDGID) into container %s, which runs as user %s" % (container.label, container.user[:64]),
                                        version, [COPY_AS_USER], "Copy without -a, then set the owner inside the container: "
                                        "docker exec CONTAINER chown USER PATH")
    return None


def rule_engine_plugins(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Installing or upgrading an allowed managed plugin, on engines that check its privileges wrongly."""
    if ctx.kind != PLUGIN_OP or ctx.route.action not in ("install", "upgrade"):
        return None
    version, found = engine_flaws(ctx, config, PLUGIN_PRIVILEGES)
    if found:
        return vulnerability_denial("plugin %s" % ctx.route.action, version, found, "")
    return None


def rule_engine_buildkit(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """BuildKit builds, on engines whose BuildKit lets a build reach outside its state directory."""
    if ctx.kind != BUILD or (ctx.request.path == "/build" and parse_query(ctx.request.raw_query).get("version") != "2"):
        return None
    version, found = engine_flaws(ctx, config, BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR)
    if found:
        return vulnerability_denial("a BuildKit build", version, found, "Meanwhile build with the classic builder: DOCKER_BUILDKIT=0 docker build ...")
    return None


# ---------------------------------------------------------------------------------------------
# policy.py: Policy: from the daemon's AuthZReq to a decision. A route the reviewed table does not know, or
# refuses, is refused first; then the rules run in order, the review of every parameter and field
# among the first, and the first denial wins. Audit mode allows and logs it; exempt users skip the
# rules; anything unreadable or unknowable is denied.
# ---------------------------------------------------------------------------------------------


Rule = Callable[[Context, Dict[str, Any]], Optional[Denial]]

# Every request: what the plugin can see of it, its API version, and the review of its parameters
# and fields. For the routes no rule reads beyond that (kind "other": listings, inspects, pings),
# these are all; the rest below look at their own kinds only.
REQUEST_RULES: List[Rule] = [
    rule_unseen_body,
    rule_form_body,
    rule_host_userns,  # before the rest: a host user namespace is refused with the message clients know
    rule_api_version,
    rule_review,
]
RULES: List[Rule] = REQUEST_RULES + [
    rule_swarm,
    rule_managed_plugins,
    rule_checkpoint_dir,
    rule_privileged,
    rule_host_namespaces,
    rule_cap_add,
    rule_bind_mounts,
    rule_devices,
    rule_security_opt,
    rule_masked_paths,
    rule_sysctls,
    rule_storage_opt,
    rule_log_options,
    # Asking the daemon or looking at host paths from here on.
    rule_remap_refuses,
    rule_driver_names,
    rule_volume_options,
    rule_device_grants,
    rule_runtime_hooks,
    rule_network_mode,
    rule_network_options,
    rule_joined_namespaces,
    rule_outside_container,
    rule_engine_plugins,
    rule_engine_buildkit,
    rule_engine_copy,
    rule_host_mount_copy,
    rule_bind_sources,
    rule_volumes,
    rule_held_volumes,
]


class Decision(NamedTuple):
    allow: bool
    decision: str  # "allow", "deny" or "would-deny"
    rule: str
    message: str
    holds: Tuple[str, ...] = ()  # volumes nothing else may mount until the daemon answers (Holds)
    effects: Tuple[Tuple[str, str], ...] = ()  # observe mode: (rule, why) of what remapping will refuse or change


class Outcome(NamedTuple):
    denial: Optional[Denial]
    holds: Tuple[str, ...] = ()
    effects: Tuple[Tuple[str, str], ...] = ()


ALLOW = Decision(True, "allow", "", "")


def parse_authz_request(payload: Any) -> Request:
    """Turn the daemon's AuthZReq JSON into a Request; raise Unroutable/Undecodable."""
    if not isinstance(payload, dict):
        raise Undecodable("the AuthZReq payload is not a JSON object")
    # The daemon sends "RequestUri"; read keys case-insensitively as its Go peers would.
    payload = {str(key).lower(): value for key, value in payload.items()}
    method, uri = payload.get("requestmethod"), payload.get("requesturi")
    if not isinstance(method, str) or not isinstance(uri, str) or not method or not uri:
        raise Undecodable("the AuthZReq payload has no RequestMethod or RequestURI")
    user = payload.get("user") or ""
    headers = payload.get("requestheaders") or {}
    if not isinstance(user, str) or not isinstance(headers, dict):
        raise Undecodable("the AuthZReq payload has a malformed User or RequestHeaders")
    raw_body = payload.get("requestbody")
    body = None
    if raw_body is not None:
        if not isinstance(raw_body, str):
            raise Undecodable("RequestBody is not base64 text")
        try:
            body = base64.b64decode(raw_body, validate=True)
        except (binascii.Error, ValueError):
            raise Undecodable("RequestBody is not valid base64") from None
    method = method.upper()
    path, version, raw_query = split_uri(uri)
    return Request(user, method, uri, path, version, raw_query, {str(k).lower(): str(v) for k, v in headers.items()}, body)


def _host_config(request: Request, route: Route) -> Optional[Dict[str, Any]]:
    """The HostConfig a container request body carries (an update's body is Resources, whose
    fields sit at HostConfig's top level), or None when it carries none."""
    if route.kind == CONTAINER_CREATE and request.body:
        return effective_host_config(request.body)
    if route.reviewed is not None and route.reviewed.name == "container-update" and request.body:
        return decode_body(HOST_CONFIG_SCHEMA, request.body, "update body")
    return None


def _task_template(request: Request, route: Route) -> Optional[Dict[str, Any]]:
    if route.kind != SERVICE_WRITE or not request.body:
        return None
    template: Optional[Dict[str, Any]] = decode_body(SERVICE_SPEC_SCHEMA, request.body, "service spec").get("TaskTemplate", {})
    return template


def evaluate(request: Request, config: Dict[str, Any], lookup: ContainerLookup = NO_LOOKUP) -> Outcome:
    """Run the rules: the first denial wins, or the volumes to hold if all allow; in observe mode,
    also what remapping will refuse or change for a new container. Never raises for bad input: it
    denies."""
    route = classify(request)
    if route.reviewed is None:
        return Outcome(Denial("unreviewed-route", "%s %s is not a route this plugin (version %s) has reviewed, and it refuses "
                              "what it has not reviewed; upgrade the plugin if the daemon or client is newer than it"
                              % (request.method, request.path[:200], VERSION)))
    if route.kind == REFUSED:
        return Outcome(Denial("refused-route", "%s %s is not allowed: %s" % (request.method, request.path[:200], route.reviewed.reason)))
    effects: Tuple[Tuple[str, str], ...] = ()
    try:
        host_config = _host_config(request, route)
        mounts = planned_mounts(host_config) if route.kind == CONTAINER_CREATE and host_config else []
        if config["mode"] == "observe" and route.kind == CONTAINER_CREATE and host_config:
            effects = tuple(remap_breaks(host_config, {}) + remap_changes(mounts))
        ctx = Context(request, route, OncePerRequest(lookup), host_config, _task_template(request, route), mounts, [])
        for rule in REQUEST_RULES if route.kind == OTHER else RULES:
            denial = rule(ctx, config)
            if denial:
                return Outcome(denial, (), effects)
    except (Undecodable, Unroutable) as err:
        return Outcome(Denial("unreadable-body", "%s %s: %s; the plugin refuses what it cannot check" % (request.method, request.path, err)),
                       (), effects)
    except LookupFailed as err:
        return Outcome(Denial("lookup-failed", "%s %s: %s; the plugin refuses what it cannot check" % (request.method, request.path, err)),
                       (), effects)
    return Outcome(None, tuple(dict.fromkeys(ctx.holds)), effects)


def decide(payload: Any, config: Dict[str, Any], lookup: ContainerLookup = NO_LOOKUP) -> Tuple[Decision, Optional[Request]]:
    """The policy as a pure function of the daemon's AuthZReq payload, the config and what the
    lookup says about existing containers."""
    try:
        request = parse_authz_request(payload)
    except (Unroutable, Undecodable) as err:
        # Protocol-level garbage: denied even in audit mode, it never comes from a sane daemon.
        return Decision(False, "deny", "unreadable-request", "the plugin cannot read this request: %s" % err), None
    if request.user and request.user in config["exempt_users"]:
        return Decision(True, "allow", "exempt-user", ""), request
    denial, holds, effects = evaluate(request, config, lookup)
    if denial is None:
        return (Decision(True, "allow", "", "", holds, effects) if holds or effects else ALLOW), request
    if config["mode"] in ("audit", "observe"):
        return Decision(True, "would-deny", denial.rule, denial.message, (), effects), request
    return Decision(False, "deny", denial.rule, denial.message), request


# ---------------------------------------------------------------------------------------------
# audit_log.py: Audit log: one JSON object per line on stderr, which journald keeps.
# ---------------------------------------------------------------------------------------------


MAX_LOG_LINE = 4000  # below PIPE_BUF: one write, never interleaved with another line


def log_event(event: str, **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event}
    record.update(fields)
    line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", errors="replace")
    if len(line) > MAX_LOG_LINE:
        record["reason"] = str(record.get("reason", ""))[:600]  # up to 4 bytes a character
        record["path"] = str(record.get("path", ""))[:200]
        line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", errors="replace")[:MAX_LOG_LINE]
    try:
        os.write(2, line + b"\n")
    except OSError:
        pass  # a closed stderr must not take the plugin down


def log_decision(decision: Decision, request: Optional[Request], payload: Any, config: Dict[str, Any]) -> None:
    """One decision line (allowed requests only with log_allowed), and in observe mode one
    would-break line for each thing remapping will refuse or change for the request."""
    if decision.decision == "allow" and not config["log_allowed"] and not decision.effects:
        return
    source = payload if isinstance(payload, dict) else {}
    who = {
        "user": request.user if request else str(source.get("User", "")),
        "method": request.method if request else str(source.get("RequestMethod", "")),
        "path": (request.uri if request else str(source.get("RequestUri", "")))[:512],
    }
    # What the request was about, for the decision report: the container, exec or plugin in the
    # route and, for a create, the image and name. Best effort: the decision is already made.
    route = classify(request) if request else UNKNOWN_ROUTE
    if route.target is not None:
        who["target"] = route.target[:100]
    if request is not None and route.kind == CONTAINER_CREATE:
        who["name"] = create_name(request)[:100]
        if (decision.decision != "allow" or decision.effects) and request.body:
            try:
                who["image"] = str(decode_body(CREATE_IMAGE_SCHEMA, request.body, "create body").get("Image", ""))[:200]
            except Exception:  # an unreadable body is the decision's reason already; logging must not fail
                who["image"] = ""
    if decision.decision != "allow" or config["log_allowed"]:
        log_event("decision", decision=decision.decision, rule=decision.rule, reason=decision.message, mode=config["mode"], **who)
    for rule, why in decision.effects:
        log_event("decision", decision="would-break", rule=rule, reason=why, mode=config["mode"], **who)


# ---------------------------------------------------------------------------------------------
# daemon_api.py: Daemon API: a small blocking HTTP/1.1 client of the daemon's own socket, for the lookups.
# ---------------------------------------------------------------------------------------------


LOOKUP_TIMEOUT = 10.0
MAX_LOOKUP_BYTES = 16 * 1024 * 1024


USER_AGENT = "docker-userns-enforcement-plugin/%s (container lookup)" % VERSION


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str) -> str:
    """Percent-encode everything but unreserved characters (a "/" in a link name included)."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in text.encode("utf-8", errors="replace"))


class _Broken(Exception):
    """The daemon's answer was cut short or is not HTTP."""


def read_response(reader: Any) -> Tuple[int, bytes, bool]:
    """(status, body, connection closes) of one HTTP/1.1 response; chunked or not, bounded."""
    status_line = reader.readline(MAX_HEADER_BYTES)
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _Broken("no HTTP status line" if status_line else "the connection closed")
    status, length, chunked, close = int(parts[1]), None, False, parts[0] == b"HTTP/1.0"
    while True:
        line = reader.readline(MAX_HEADER_BYTES)
        if not line.endswith(b"\n"):
            raise _Broken("headers cut short")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        chunks, size = [], 0
        while True:
            line = reader.readline(1024)
            try:
                chunk_size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _Broken("a malformed chunk") from None
            if chunk_size == 0:
                while reader.readline(MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            size += chunk_size
            if size > MAX_LOOKUP_BYTES:
                raise LookupFailed("the daemon's answer is larger than %d bytes" % MAX_LOOKUP_BYTES)
            chunks.append(reader.read(chunk_size))
            reader.readline(2)
        return status, b"".join(chunks), close
    if length is None:
        body = reader.read(MAX_LOOKUP_BYTES + 1)  # until the daemon closes
        close = True
    elif length > MAX_LOOKUP_BYTES:
        raise LookupFailed("the daemon's answer is larger than %d bytes" % MAX_LOOKUP_BYTES)
    else:
        body = reader.read(length)
        if len(body) < length:
            raise _Broken("the body was cut short")
    if len(body) > MAX_LOOKUP_BYTES:
        raise LookupFailed("the daemon's answer is larger than %d bytes" % MAX_LOOKUP_BYTES)
    return status, body, close


class DockerAPI:
    """A small blocking client of the daemon's API over its Unix socket, one keep-alive
    connection per thread (lookups run on the transport's worker threads). The standard
    library's http.client would do, but imports the email package: 6 MB more resident."""

    def __init__(self, socket_path: str, timeout: float = LOOKUP_TIMEOUT):
        self.socket_path = socket_path
        self.timeout = timeout
        self.local = threading.local()

    def _connect(self) -> Tuple[socket.socket, Any]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock, sock.makefile("rb")

    def get(self, path: str) -> Tuple[int, Any]:
        """(status, decoded JSON or None); raise LookupFailed when the daemon cannot be asked."""
        request = b"GET %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: %s\r\n\r\n" % (path.encode("ascii"), USER_AGENT.encode())
        for attempt in (1, 2):
            connection = getattr(self.local, "connection", None)
            reused = connection is not None
            try:
                if connection is None:
                    connection = self.local.connection = self._connect()
                connection[0].sendall(request)
                status, data, close = read_response(connection[1])
            except (OSError, _Broken) as err:
                self._drop()
                if reused and attempt == 1:
                    continue  # the daemon closed a kept-alive connection: a GET can be sent again
                raise LookupFailed("cannot ask the Docker daemon at %s (GET %s: %s); check that dockerd listens on "
                                   "that socket, or set docker_socket in the plugin's config"
                                   % (self.socket_path, path[:200], err or type(err).__name__)) from None
            except LookupFailed:
                self._drop()
                raise
            if close:
                self._drop()
            if status == 404:
                return 404, None
            try:
                value = json.loads(data)
            except ValueError:
                value = None
            if status != 200 or value is None:
                message = value.get("message", "") if isinstance(value, dict) else data[:200].decode("utf-8", "replace")
                raise LookupFailed("the Docker daemon answered GET %s with %d: %s" % (path[:200], status, str(message)[:300]))
            return 200, value
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        connection = getattr(self.local, "connection", None)
        self.local.connection = None
        if connection is not None:
            connection[1].close()
            connection[0].close()


MAX_HEADER_BYTES = 64 * 1024


# ---------------------------------------------------------------------------------------------
# daemon_lookup.py: Daemon lookups: the plugin asks the daemon what a container is (GET /containers/{ref}/json)
# while it decides. The daemon holds no lock while it consults authorization plugins, and that
# nested GET passes through this plugin too (it is allowed without a lookup). Facts are cached by
# full container ID only: a name or an ID prefix can point to another container at any time, an ID
# never does, and the facts of an ID never change (see lookups), so the cache gives the same answer
# as a new lookup and can never turn a denial into an allow.
# ---------------------------------------------------------------------------------------------


_K = TypeVar("_K")
_V = TypeVar("_V")


CACHE_SIZE = 1024


_HEX = re.compile(r"[0-9a-f]+")


HOLD_TIMEOUT = 600.0


class Holds:
    """Volumes the daemon may be filling with an image's files right now, for creates this plugin
    allowed and the daemon has not answered yet. Until it answers, nothing else may mount them: a
    process that writes into a volume while the daemon copies into it as real root can lead the
    copy anywhere on the host through symlinks. A hold ends with the create's AuthZRes (the daemon
    repeats the request's method and URI there), or after HOLD_TIMEOUT if none comes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_request: Dict[Tuple[str, str], List[Tuple[float, Tuple[str, ...]]]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_request)

    def place(self, method: str, uri: str, volumes: Tuple[str, ...]) -> None:
        with self.lock:
            self.by_request.setdefault((method, uri), []).append((time.monotonic() + HOLD_TIMEOUT, volumes))

    def release(self, method: str, uri: str) -> None:
        with self.lock:
            placed = self.by_request.get((method, uri))
            if placed:
                placed.pop(0)
                if not placed:
                    del self.by_request[(method, uri)]

    def held(self, volume: str) -> bool:
        now = time.monotonic()
        with self.lock:
            for key in list(self.by_request):
                self.by_request[key] = [hold for hold in self.by_request[key] if hold[0] > now]
                if not self.by_request[key]:
                    del self.by_request[key]
            return any(volume in volumes for placed in self.by_request.values() for _expiry, volumes in placed)


class DaemonLookup(ContainerLookup):
    """Asks the daemon, and keeps what never changes for an ID."""

    def __init__(self, api: DockerAPI, cache: bool = True, holds: Optional[Holds] = None):
        self.api = api
        self.use_cache = cache
        self.holds = holds or Holds()
        self.lock = threading.Lock()
        self.containers: collections.OrderedDict[str, Container] = collections.OrderedDict()
        self.exec_containers: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.volumes: collections.OrderedDict[Tuple[str, str], Volume] = collections.OrderedDict()
        self.lookups = 0

    def _cached(self, table: collections.OrderedDict[_K, _V], key: _K) -> Optional[_V]:
        if not self.use_cache:
            return None
        with self.lock:
            value = table.get(key)
            if value is not None:
                table.move_to_end(key)
            return value

    def _keep(self, table: collections.OrderedDict[_K, _V], key: _K, value: _V) -> None:
        if not self.use_cache:
            return
        with self.lock:
            table[key] = value
            if len(table) > CACHE_SIZE:
                table.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.containers.clear()
            self.exec_containers.clear()
            self.volumes.clear()

    def container(self, ref: str) -> Optional[Container]:
        if FULL_ID.fullmatch(ref):
            cached = self._cached(self.containers, ref)
            if cached is not None:
                return cached
        self.lookups += 1
        status, data = self.api.get("/containers/%s/json" % quote(ref))
        if status == 404:
            return None
        container = container_from_inspect(data)
        self._check_unambiguous(ref, container)
        self._keep(self.containers, container.id, container)
        return container

    def _check_unambiguous(self, ref: str, container: Container) -> None:
        """The daemon resolves a reference as a full ID, else as a name, else as a unique ID
        prefix. When a name that is also hex resolved here, another container whose ID starts
        with it would take the reference over once the name is gone."""
        if ref == container.id or container.id.startswith(ref) or not _HEX.fullmatch(ref):
            return
        filters = quote(json.dumps({"id": [ref]}))
        _status, listed = self.api.get("/containers/json?all=1&filters=%s" % filters)
        others = [c.get("Id", "") for c in listed or [] if isinstance(c, dict) and str(c.get("Id", "")).startswith(ref) and c.get("Id") != container.id]
        if others:
            raise LookupFailed("the name %s is also the beginning of container %s's ID; refer to the container by its full ID" % (ref, others[0][:12]))

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        cached = self._cached(self.exec_containers, exec_id)
        if cached is not None:
            return cached
        self.lookups += 1
        status, data = self.api.get("/exec/%s/json" % quote(exec_id))
        if status == 404:
            return None
        container_id = data.get("ContainerID") if isinstance(data, dict) else None
        if not isinstance(container_id, str) or not container_id:
            raise LookupFailed("the daemon's description of exec %s names no container" % exec_id[:64])
        if isinstance(data, dict) and data.get("ID") == exec_id:
            self._keep(self.exec_containers, exec_id, container_id)
        return container_id

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        # A volume cannot be removed (and made again differently) while a container uses it.
        cached = self._cached(self.volumes, (used_by, name))
        if cached is not None:
            return cached
        self.lookups += 1
        status, data = self.api.get("/volumes/%s" % quote(name))
        if status == 404:
            return None
        if not isinstance(data, dict):
            raise LookupFailed("the daemon's description of volume %s is not an object" % name[:64])
        options = data.get("Options") or {}
        options = {str(k): as_text(v) for k, v in options.items()} if isinstance(options, dict) else {"?": "?"}
        volume = Volume(name, as_text(data.get("Driver")) or "local", options)
        if used_by:  # no container holds an unused volume: it can be removed and made anew
            self._keep(self.volumes, (used_by, name), volume)
        return volume

    def volume_users(self, name: str) -> List[VolumeUser]:
        self.lookups += 1
        _status, listed = self.api.get("/containers/json?all=1&filters=%s" % quote(json.dumps({"volume": [name]})))
        users = []
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict):
                continue
            mounts = [m for m in entry.get("Mounts") or [] if isinstance(m, dict) and m.get("Name") == name]
            names = entry.get("Names") or [""]
            users.append(VolumeUser(as_text(names[0]).lstrip("/") or as_text(entry.get("Id"))[:12], as_text(entry.get("State")),
                                    not mounts or any(m.get("RW") is not False for m in mounts)))
        return users

    def volume_held(self, name: str) -> bool:
        return self.holds.held(name)

    def engine_version(self) -> str:
        """Asked every time: a daemon can be upgraded (or downgraded) under a running plugin."""
        self.lookups += 1
        _status, data = self.api.get("/version")
        version = data.get("Version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise LookupFailed("the daemon's answer to GET /version has no Version")
        return version

    def daemon_info(self) -> DaemonInfo:
        """Asked every time: the daemon's configuration changes with a restart the plugin outlives."""
        self.lookups += 1
        _status, data = self.api.get("/info")
        root = data.get("DockerRootDir") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(root, str) or not root.startswith("/"):
            raise LookupFailed("the daemon's answer to GET /info has no DockerRootDir")
        options = data.get("SecurityOptions")
        remaps = isinstance(options, list) and any(as_text(o).split(",")[0] == "name=userns" for o in options)
        return DaemonInfo(root, remaps, as_text(data.get("LoggingDriver")))

    def network(self, ref: str) -> Optional[Network]:
        """The network a reference names, as the daemon resolves it (name, ID or ID prefix); not
        cached: a name can be given to another network at any time."""
        self.lookups += 1
        status, data = self.api.get("/networks/%s" % quote(ref))
        if status == 404:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("Id"), str):
            raise LookupFailed("the daemon's description of network %s has no Id" % ref[:64])
        return Network(data["Id"], as_text(data.get("Name")), as_text(data.get("Driver")))

    def host_path(self, path: str) -> HostPath:
        return inspect_host_path(path)

    def host_devices(self, path: str) -> List[HostDevice]:
        return host_devices(path)

    def host_network(self) -> HostNetwork:
        return read_host_network()


class LookupDeferred(BaseException):
    """Raised by the transport's first, non-blocking pass when a decision needs the daemon:
    the request then goes to a worker thread. A BaseException, so no `except Exception` in the
    policy can swallow it."""


class _DeferringLookup(ContainerLookup):
    def container(self, ref: str) -> Optional[Container]:
        raise LookupDeferred()

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        raise LookupDeferred()

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        raise LookupDeferred()

    def volume_users(self, name: str) -> List[VolumeUser]:
        raise LookupDeferred()

    def volume_held(self, name: str) -> bool:
        raise LookupDeferred()

    def engine_version(self) -> str:
        raise LookupDeferred()

    def daemon_info(self) -> DaemonInfo:
        raise LookupDeferred()

    def network(self, ref: str) -> Optional[Network]:
        raise LookupDeferred()

    def host_path(self, path: str) -> HostPath:
        raise LookupDeferred()  # a stat can block (a hung network mount): never in the loop

    def host_devices(self, path: str) -> List[HostDevice]:
        raise LookupDeferred()

    def host_network(self) -> HostNetwork:
        raise LookupDeferred()


DEFER = _DeferringLookup()


# ---------------------------------------------------------------------------------------------
# plugin_service.py: Plugin service: the three endpoints of Docker's plugin protocol (Plugin.Activate,
# AuthZPlugin.AuthZReq, AuthZPlugin.AuthZRes) over the policy, with the current config, its reload,
# and the volume holds that outlive a request.
# ---------------------------------------------------------------------------------------------


EMPTY_REQUEST_HELP = (
    "the daemon sent an empty authorization request, as it does when it retries after the plugin "
    "was killed in the middle of a request; refused to be safe: run the command again"
)


ALLOW_ANSWER = b'{"Allow":true}'


class Plugin:
    """Holds the current config and lookup, and answers the three plugin endpoints."""

    def __init__(self, config: Dict[str, Any], config_path: Optional[str], name: str):
        self.config_path = config_path
        self.name = name
        self.holds = Holds()  # outlive a reload: the daemon may still be copying
        self.apply(config)

    def apply(self, config: Dict[str, Any]) -> None:
        # Exempt users could change what a container is (a pre-1.24 start with a HostConfig)
        # while another request looks it up: no cache then.
        self.lookup = DaemonLookup(DockerAPI(config["docker_socket"]), cache=not config["exempt_users"], holds=self.holds)
        self.config = config

    def reload(self) -> None:
        try:
            config = load_config(self.config_path)
        except ConfigError as err:
            log_event("reload-failed", reason=str(err), kept_mode=self.config["mode"])
            return
        self.apply(config)  # a new, empty cache
        log_event("reload", mode=config["mode"], config=self.config_path)

    def handle(self, path: str, body: bytes) -> Tuple[int, bytes]:
        if path == "/AuthZPlugin.AuthZReq":
            return 200, self.authz_request(body)
        if path == "/AuthZPlugin.AuthZRes":
            # Response phase: nothing in a response can undo a refused request; answer fast.
            self.authz_response(body)
            return 200, ALLOW_ANSWER
        if path == "/Plugin.Activate":
            return 200, b'{"Implements":["authz"]}'
        return 404, json.dumps({"Err": "unknown endpoint %s" % path[:200]}).encode()

    def authz_request(self, body: bytes, lookup: Optional[ContainerLookup] = None) -> bytes:
        """Decide one AuthZReq. With lookup=DEFER it raises LookupDeferred instead of waiting."""
        config, real_lookup = self.config, self.lookup  # one consistent config per request
        lookup = real_lookup if lookup is None else lookup
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        try:
            if not body.strip():
                decision, request = Decision(False, "deny", "empty-request", EMPTY_REQUEST_HELP), None
            else:
                decision, request = decide(payload, config, lookup)
        except Exception as err:  # a bug must deny, never allow
            decision, request = Decision(False, "deny", "internal-error", "the plugin failed to check this request: %s" % err), None
        log_decision(decision, request, payload, config)
        if decision.holds and request is not None:
            self.holds.place(request.method, request.uri, decision.holds)
        if decision.allow:
            return ALLOW_ANSWER
        return json.dumps({"Allow": False, "Msg": decision.message, "Err": ""}).encode()

    def authz_response(self, body: bytes) -> None:
        """The daemon has handled a request: end the holds it placed. Read only while holds exist."""
        if not self.holds:
            return
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return
        if isinstance(payload, dict):
            payload = {str(key).lower(): value for key, value in payload.items()}
            method, uri = payload.get("requestmethod"), payload.get("requesturi")
            if isinstance(method, str) and isinstance(uri, str):
                self.holds.release(method.upper(), uri)


# ---------------------------------------------------------------------------------------------
# http_server.py: Transport: HTTP/1.1 over a Unix socket. One thread runs an epoll loop over every connection
# (dockerd opens a new one for most calls when it is busy, so no thread per connection); a few
# worker threads run the decisions that wait for a lookup, while the loop keeps answering the
# daemon, including the nested request each lookup makes. Bounded reads, keep-alive, a time limit
# once a request has started. SIGTERM drains: no request is refused by a planned restart. Knows
# nothing of Docker semantics.
# ---------------------------------------------------------------------------------------------


MAX_BODY_BYTES = 8 * 1024 * 1024  # the daemon forwards at most 1 MiB of body, base64 in JSON
REQUEST_TIMEOUT = 10.0  # once a request has started, all of it must arrive within this
DRAIN_TIMEOUT = LOOKUP_TIMEOUT + REQUEST_TIMEOUT + 2.0


MAX_CONNECTIONS = 128
LOOKUP_WORKERS = 8
MAX_PENDING_LOOKUPS = 256
STATS_INTERVAL = 60.0  # seconds between two stats lines, while requests come
CONTENT_TYPE = b"application/vnd.docker.plugins.v1+json"


class BadRequest(Exception):
    """The peer did not speak HTTP/1.1 as expected."""


def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, reason, CONTENT_TYPE, len(body))
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


ALLOW_RESPONSE = _response(200, ALLOW_ANSWER, False)


def parse_head(head: bytes) -> Tuple[str, str, int, bool]:
    """(method, target, body length, close) from a request head; raise BadRequest."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest("malformed request line")
    length, close = 0, False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest("malformed header line")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise BadRequest("malformed Content-Length")
            length = int(value)
            if length > MAX_BODY_BYTES:
                raise BadRequest("request body too large")
        elif name == b"transfer-encoding":
            raise BadRequest("chunked request bodies are not supported")
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    return parts[0].decode("latin-1"), parts[1].decode("latin-1"), length, close


class Connection:
    __slots__ = ("buffer", "close_after", "closing", "deadline", "fd", "out", "sock", "waiting")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.fd = sock.fileno()
        self.buffer = b""
        self.out = b""
        self.waiting = False  # a decision for this connection is with a worker thread
        self.close_after = False  # the next answer says Connection: close
        self.closing = False  # the answer being sent said Connection: close
        self.deadline = 0.0  # when a started request must be complete; 0: none started


class Server:
    """The epoll loop. run() returns after stop() or after a drain (SIGTERM) has finished."""

    def __init__(self, plugin: Plugin, listener: socket.socket):
        self.plugin = plugin
        self.listener = listener
        listener.setblocking(False)
        self.epoll = select.epoll()
        self.connections: Dict[int, Connection] = {}
        self.started: Set[Connection] = set()  # the connections with a request started, not yet complete
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self.wake_writer.setblocking(False)
        self.jobs: queue.SimpleQueue[Optional[Tuple[Connection, bytes]]] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[Tuple[Connection, bytes]] = queue.SimpleQueue()
        self.workers: List[threading.Thread] = []
        self.pending = 0
        self.accepting = False
        self.draining = False
        self.stopped = False
        self.drain_deadline = 0.0
        self.stats = {"connections": 0, "requests": 0, "deferred": 0}
        self.stats_logged = 0  # requests counted by the last stats line
        self.stats_due = 0.0  # when the next stats line may be written

    # -- control, from signal handlers or other threads ------------------------------------

    def wake(self) -> None:
        try:
            self.wake_writer.send(b"\0")
        except OSError:
            pass  # full: the loop is awake anyway

    def drain(self) -> None:
        """Finish what was asked, take nothing new, then return from run()."""
        self.draining = True
        self.wake()

    def stop(self) -> None:
        self.stopped = True
        self.wake()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        self.epoll.register(self.wake_reader.fileno(), select.EPOLLIN)
        self._set_accepting(True)
        listener_fd, wake_fd = self.listener.fileno(), self.wake_reader.fileno()
        connections = self.connections
        try:
            while not self.stopped:
                if self.draining and not self.drain_deadline:
                    self._start_drain()
                if self.draining and ((not connections and not self.accepting) or time.monotonic() > self.drain_deadline):
                    return
                for fd, events in self.epoll.poll(self._poll_timeout()):
                    if fd == listener_fd:
                        self._accept()
                    elif fd == wake_fd:
                        self._on_wake()
                    else:
                        conn = connections.get(fd)
                        if conn is None:
                            continue
                        if events & select.EPOLLOUT:
                            self._flush(conn)
                        if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR) and conn.fd in connections:
                            self._read(conn)
                self._expire_stalled()
                self._log_stats()
        finally:
            self._log_stats(final=True)
            for _ in self.workers:
                self.jobs.put(None)
            for conn in list(connections.values()):
                self._close(conn)
            self.epoll.close()
            self.wake_reader.close()
            self.wake_writer.close()

    def _log_stats(self, final: bool = False) -> None:
        """A stats line with the requests decided since the last one, at most every STATS_INTERVAL:
        the decision report counts them to know how much traffic a window saw."""
        now = time.monotonic()
        fresh = self.stats["requests"] - self.stats_logged
        if fresh and (final or now >= self.stats_due):
            log_event("stats", requests=fresh, interval=STATS_INTERVAL)
            self.stats_logged = self.stats["requests"]
            self.stats_due = now + STATS_INTERVAL

    def _poll_timeout(self) -> float:
        deadlines = [c.deadline for c in self.started]
        if self.draining:
            deadlines.append(self.drain_deadline)
        if self.stats["requests"] != self.stats_logged:
            deadlines.append(self.stats_due)
        if not deadlines:
            return -1
        return max(0.0, min(deadlines) - time.monotonic()) + 0.01

    def _set_accepting(self, accepting: bool) -> None:
        if accepting == self.accepting:
            return
        if accepting:
            self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        else:
            self.epoll.unregister(self.listener.fileno())
        self.accepting = accepting

    def _accept(self) -> None:
        while len(self.connections) < MAX_CONNECTIONS:
            try:
                sock, _address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                log_event("accept-failed", reason=str(err))
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM) and self.connections:
                    self._set_accepting(False)  # until a connection closes
                return
            sock.setblocking(False)
            conn = Connection(sock)
            self.connections[conn.fd] = conn
            self.epoll.register(conn.fd, select.EPOLLIN)
            self.stats["connections"] += 1
            if self.draining:
                conn.close_after = True
        self._set_accepting(False)  # full: accept again when a connection closes

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            if conn.buffer and not conn.waiting:  # the peer may have closed only its sending side
                self._refuse(conn, BadRequest("connection closed inside a request"))
            else:
                self._close(conn)  # the peer is gone; an answer still being decided is dropped
            return
        conn.buffer = conn.buffer + data if conn.buffer else data
        self._process(conn)

    def _process(self, conn: Connection) -> None:
        """Answer every complete request in the buffer, in order, until one waits for a lookup."""
        while conn.buffer and not conn.waiting and conn.fd in self.connections:
            buffer = conn.buffer
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
            try:
                if end < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise BadRequest("headers too large")
                    self._started(conn)
                    return
                method, target, length, close = parse_head(buffer[:end])
            except BadRequest as err:
                self._refuse(conn, err)
                return
            if len(buffer) < end + 4 + length:
                self._started(conn)
                return
            body = buffer[end + 4:end + 4 + length]
            conn.buffer = buffer[end + 4 + length:]
            self._complete(conn)
            if close:
                conn.close_after = True
            self._answer(conn, method, target, body)

    def _started(self, conn: Connection) -> None:
        if not conn.deadline:
            conn.deadline = time.monotonic() + REQUEST_TIMEOUT
            self.started.add(conn)

    def _complete(self, conn: Connection) -> None:
        conn.deadline = 0.0
        self.started.discard(conn)

    def _answer(self, conn: Connection, method: str, target: str, body: bytes) -> None:
        path = target.split("?", 1)[0]
        keep_alive = not (conn.close_after or self.draining)
        if method != "POST":
            self._reply(conn, 404, b'{"Err":"use POST"}')
            return
        if path == "/AuthZPlugin.AuthZReq":
            self.stats["requests"] += 1
            try:
                answer = self.plugin.authz_request(body, DEFER)
            except LookupDeferred:
                self._defer(conn, body)
                return
            if answer is ALLOW_ANSWER and keep_alive:
                self._send(conn, ALLOW_RESPONSE)
                return
            self._reply(conn, 200, answer)
        elif path == "/AuthZPlugin.AuthZRes" and keep_alive:
            self.plugin.authz_response(body)
            self._send(conn, ALLOW_RESPONSE)
        else:
            self._reply(conn, *self.plugin.handle(path, body))

    def _reply(self, conn: Connection, status: int, body: bytes) -> None:
        """Send an answer that says Connection: close when the connection is to be closed."""
        conn.closing = conn.close_after or self.draining
        self._send(conn, _response(status, body, conn.closing))

    def _defer(self, conn: Connection, body: bytes) -> None:
        if self.pending >= MAX_PENDING_LOOKUPS:
            message = {"Allow": False, "Msg": "the plugin has too many requests waiting for container lookups; try again", "Err": ""}
            self._reply(conn, 200, json.dumps(message).encode())
            return
        if not self.workers:
            for number in range(LOOKUP_WORKERS):
                worker = threading.Thread(target=self._work, name="lookup-%d" % number, daemon=True)
                worker.start()
                self.workers.append(worker)
        self.stats["deferred"] += 1
        self.pending += 1
        conn.waiting = True
        self.jobs.put((conn, body))

    def _work(self) -> None:
        """A worker thread: decide with real lookups, hand the answer back to the loop."""
        while True:
            job = self.jobs.get()
            if job is None:
                return
            conn, body = job
            self.done.put((conn, self.plugin.authz_request(body)))
            self.wake()

    def _on_wake(self) -> None:
        try:
            while self.wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                conn, answer = self.done.get_nowait()
            except queue.Empty:
                break
            self.pending -= 1
            if conn.fd not in self.connections or self.connections[conn.fd] is not conn:
                continue  # the daemon closed the connection meanwhile
            conn.waiting = False
            self._reply(conn, 200, answer)
            self._process(conn)
        if self.draining and not self.pending:
            self._set_accepting(False)

    def _send(self, conn: Connection, data: bytes) -> None:
        if conn.out:
            conn.out += data
            return
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        if sent < len(data):
            conn.out = data[sent:]
            self.epoll.modify(conn.fd, select.EPOLLIN | select.EPOLLOUT)
        elif conn.closing:
            self._close(conn)

    def _flush(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.out = conn.out[sent:]
        if conn.out:
            return
        if conn.closing:
            self._close(conn)
        elif self.draining:
            self._close_idle(conn)  # it announced keep-alive: the client may already be sending
        else:
            self.epoll.modify(conn.fd, select.EPOLLIN)

    def _refuse(self, conn: Connection, err: Exception) -> None:
        message = {"Allow": False, "Msg": "the authorization plugin could not read the request: %s" % err, "Err": str(err)}
        conn.close_after = True
        conn.buffer = b""
        self._complete(conn)
        self._reply(conn, 400, json.dumps(message).encode())

    def _expire_stalled(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self.started if c.deadline < now]:
            self._refuse(conn, BadRequest("the request did not arrive within %.0f s" % REQUEST_TIMEOUT))

    def _close(self, conn: Connection) -> None:
        if self.connections.get(conn.fd) is conn:
            del self.connections[conn.fd]
        self.started.discard(conn)
        try:
            conn.sock.close()  # closing the descriptor also takes it out of the epoll set
        except OSError:
            pass
        if not self.draining and not self.accepting and len(self.connections) < MAX_CONNECTIONS:
            self._set_accepting(True)

    def _start_drain(self) -> None:
        """Stop taking connections once no lookup waits for a nested request on a new one;
        answer what was asked with Connection: close; close idle connections so that no request
        the daemon sends is lost (see _close_idle)."""
        self.drain_deadline = time.monotonic() + DRAIN_TIMEOUT
        if not self.pending:
            self._set_accepting(False)
        for conn in list(self.connections.values()):
            if conn.out:
                continue  # _flush closes it once the answer is out
            if conn.buffer or conn.waiting:
                conn.close_after = True  # its answer says Connection: close
                continue
            self._close_idle(conn)

    def _close_idle(self, conn: Connection) -> None:
        """Close a kept-alive connection the daemon may be writing a request into right now.
        After shutdown(SHUT_RD) the daemon's next write fails at once (EPIPE, nothing written, so
        Go's HTTP client sends the request again on a new connection, which the next plugin
        process takes); a request that was already queued is still read and answered."""
        conn.close_after = True
        try:
            conn.sock.shutdown(socket.SHUT_RD)
        except OSError:
            self._close(conn)
            return
        self._read(conn)  # a queued request, or the end of the stream


# ---------------------------------------------------------------------------------------------
# sockets.py: Sockets: the listening socket systemd passes (socket activation), or one bound here.
# ---------------------------------------------------------------------------------------------


def activated_socket(env: Dict[str, str], pid: int) -> Optional[socket.socket]:
    """The listening socket systemd passed as fd 3, when it was passed to this process."""
    if env.get("LISTEN_PID") != str(pid) or not env.get("LISTEN_FDS", "").isdigit() or int(env["LISTEN_FDS"]) < 1:
        return None
    sock = socket.socket(fileno=3)
    os.set_inheritable(3, False)
    return sock


def bind_socket(path: str) -> socket.socket:
    """Bind path ourselves (development, tests): replace a stale socket, never a live one."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise SystemExit("%s exists and is not a socket; refusing to replace it" % path)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: stale
        else:
            raise SystemExit("another process is listening on %s; stop it first" % path)
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # created 0600: only root may talk to the plugin
    try:
        sock.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(512)
    return sock


# ---------------------------------------------------------------------------------------------
# report.py: Report: what already runs outside the remapping on this host, and what could not run once
# remapping is on, asked of the daemon with the lookups and the decisions the rules and observe mode
# use; and why GPU requests would be refused. The role's preflight and playbooks/audit.yml run the
# plugin with --report, so what they say and what the plugin does never disagree.
# ---------------------------------------------------------------------------------------------


def report(api: DockerAPI, config: Dict[str, Any]) -> Dict[str, Any]:
    """Containers outside the remapping (with why), enabled managed plugins not allowed, the
    containers that could not run once remapping is on (with why), the swarm state, and the
    engine's version with its known vulnerabilities less the recorded fixes; raise LookupFailed
    when the daemon cannot tell."""
    lookup = DaemonLookup(api)
    _status, listed = api.get("/containers/json?all=1")
    containers = []
    for entry in listed if isinstance(listed, list) else []:
        container = lookup.container(as_text(entry.get("Id")) if isinstance(entry, dict) else "")
        if container is None:
            continue  # removed since the list
        reason = outside_reason(container, lookup)
        if reason:
            containers.append({"id": container.id[:12], "name": container.name, "running": entry.get("State") == "running", "reason": reason})
    _status, plugins = api.get("/plugins")
    outside_plugins = []
    for found in plugins if isinstance(plugins, list) else []:
        name = as_text(found.get("Name")) if isinstance(found, dict) else ""
        if isinstance(found, dict) and found.get("Enabled") is True and normalize_plugin_ref(name) not in config["allowed_plugins"]:
            outside_plugins.append({"id": as_text(found.get("Id"))[:12], "name": name})
    _status, info = api.get("/info")
    swarm = info.get("Swarm") if isinstance(info, dict) else None
    version = lookup.engine_version()
    return {"unremapped_containers": containers, "unremapped_plugins": outside_plugins, "would_break": would_break(api),
            "swarm": as_text(swarm.get("LocalNodeState")) if isinstance(swarm, dict) else "",
            "engine_version": version,
            "open_vulnerabilities": [{"id": v.id, "fixed_in": v.fixed_in, "summary": v.summary} for v in open_vulnerabilities(version, config)]}


def would_break(api: DockerAPI) -> List[Dict[str, Any]]:
    """The containers that could not run once remapping is on, with why; raise LookupFailed when
    the daemon cannot tell. Joins are followed to a fixed point (a container that joins one that
    cannot run cannot run either), the joined container named by full ID, name or ID prefix as the
    daemon resolves it."""
    _status, listed = api.get("/containers/json?all=1")
    inspected: Dict[str, Dict[str, Any]] = {}
    running: Dict[str, bool] = {}
    for entry in listed if isinstance(listed, list) else []:
        ref = as_text(entry.get("Id")) if isinstance(entry, dict) else ""
        status, data = api.get("/containers/%s/json" % quote(ref)) if ref else (404, None)
        if status == 200 and isinstance(data, dict) and isinstance(data.get("Id"), str) and isinstance(data.get("HostConfig"), dict):
            inspected[data["Id"]] = data
            running[data["Id"]] = isinstance(entry, dict) and entry.get("State") == "running"
    names = {as_text(data.get("Name")).lstrip("/"): cid for cid, data in inspected.items()}

    def resolve(ref: str) -> str:
        if ref in inspected:
            return ref
        if ref in names:
            return names[ref]
        prefixed = [cid for cid in inspected if ref and cid.startswith(ref)]
        return prefixed[0] if len(prefixed) == 1 else ""

    def label(cid: str) -> str:
        return "%s (%s)" % (as_text(inspected[cid].get("Name")).lstrip("/"), cid[:12])

    reasons: Dict[str, List[str]] = {}
    while True:
        breaking = {}
        for data in inspected.values():
            for field, _namespace in NAMESPACE_MODES:
                mode = as_text(data["HostConfig"].get(field))
                target = resolve(mode[len("container:"):]) if mode.startswith("container:") else ""
                if target in reasons:
                    breaking[mode[len("container:"):]] = label(target)
        found = {cid: [why for _rule, why in remap_breaks(data["HostConfig"], breaking)] for cid, data in inspected.items()}
        found = {cid: why for cid, why in found.items() if why}
        if found == reasons:
            break
        reasons = found
    return [{"id": cid[:12], "name": as_text(inspected[cid].get("Name")).lstrip("/"), "running": running[cid], "reasons": why}
            for cid, why in sorted(reasons.items(), key=lambda item: as_text(inspected[item[0]].get("Name")))]


def run_report(config: Dict[str, Any]) -> int:
    """Print the report as one JSON object; a daemon that cannot tell gives "error", never a
    shorter list. With allow_gpus, why GPU requests would still be refused (the NVIDIA Container
    Toolkit's version unknown, or with known escapes), or ""."""
    result: Dict[str, Any] = {"plugin_version": VERSION, "unremapped_containers": [], "unremapped_plugins": [], "would_break": [], "swarm": "",
                              "engine_version": "", "open_vulnerabilities": [], "error": "",
                              "nvidia_toolkit_problem": (toolkit_problem(config) or "") if config["allow_gpus"] else ""}
    try:
        result.update(report(DockerAPI(config["docker_socket"]), config))
    except LookupFailed as err:
        result["error"] = str(err)
    print(json.dumps(result, sort_keys=True))
    return 0


# ---------------------------------------------------------------------------------------------
# main.py: Main: the command line (serve, --check-config, --report, --version).
# ---------------------------------------------------------------------------------------------


def release_startup_memory() -> None:
    """Give back to the system what compiling this file at start took: about 5 MB that the C
    allocator keeps once freed (glibc's malloc_trim). Where there is no glibc, nothing to do."""
    try:
        import ctypes  # only here: a long-running process pays for it once
        ctypes.CDLL(None).malloc_trim(0)
    except (ImportError, OSError, AttributeError):
        pass


def main(argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="socket to bind when not socket-activated (default %(default)s)")
    parser.add_argument("--config", help="JSON config file (default: enforce, no allowlists, no opt-in rules)")
    parser.add_argument("--name", help="plugin name for the log (default: the socket's file name)")
    parser.add_argument("--check-config", metavar="FILE", help="validate FILE and exit: 0 valid, 2 invalid")
    parser.add_argument("--report", action="store_true", help="print what already runs outside the remapping as JSON, and exit")
    parser.add_argument("--config-json", metavar="JSON", help="the config as JSON text instead of --config (for --report)")
    parser.add_argument("--version", action="version", version="docker-userns-enforcement-plugin %s" % VERSION)
    args = parser.parse_args(argv)
    env = dict(os.environ) if env is None else env

    if args.check_config:
        try:
            config = load_config(args.check_config)
        except ConfigError as err:
            print("config invalid: %s" % err, file=sys.stderr)
            return 2
        print("config OK: mode %s, %d allowed plugin(s), %d exempt user(s)" % (config["mode"], len(config["allowed_plugins"]), len(config["exempt_users"])))
        return 0

    try:
        config = config_from_text(args.config_json, "--config-json") if args.config_json is not None else load_config(args.config)
    except ConfigError as err:
        print("docker-userns-enforcement-plugin: %s" % err, file=sys.stderr)
        return 2
    if args.report:
        return run_report(config)
    name = args.name or os.path.basename(args.socket).rsplit(".sock", 1)[0] or DEFAULT_NAME
    plugin = Plugin(config, args.config, name)

    listener = activated_socket(env, os.getpid())
    activated = listener is not None
    if listener is None:
        listener = bind_socket(args.socket)
    server = Server(plugin, listener)
    # The handlers run in this (the loop's) thread; the wakeup fd gets the loop out of epoll.
    signal.set_wakeup_fd(server.wake_writer.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.drain())
    signal.signal(signal.SIGINT, lambda signum, frame: server.drain())
    signal.signal(signal.SIGHUP, lambda signum, frame: plugin.reload())
    release_startup_memory()
    log_event("start", version=VERSION, plugin=name, mode=config["mode"], socket_activated=activated,
              socket=None if activated else args.socket, pid=os.getpid(), docker_socket=config["docker_socket"])
    try:
        server.run()
    finally:
        listener.close()
        if not activated:
            try:
                os.unlink(args.socket)
            except OSError:
                pass
    log_event("stop", plugin=name, lookups=plugin.lookup.lookups, **server.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
