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

Sections, in the order a request travels: config, decode, classify, containers (what an existing
container is), rules, verdict, audit log, lookups (asking the daemon), transport, main.
Everything above the lookups is pure and testable without sockets: the policy receives the
container lookup as a parameter.
"""

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
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple, TypeVar

VERSION = "2.0.0"
DEFAULT_NAME = "deny-userns-mode-host"
DEFAULT_SOCKET = "/run/docker/plugins/%s.sock" % DEFAULT_NAME

# ---------------------------------------------------------------------------------------------
# Config: one JSON file, every key optional, unknown keys refused (a typo must not silently
# switch a rule off).
# ---------------------------------------------------------------------------------------------

HOST_NAMESPACES = ("pid", "ipc", "network", "uts", "cgroup")

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
    if config["mode"] not in ("enforce", "audit"):
        raise ConfigError('mode must be "enforce" or "audit", not %r' % (config["mode"],))
    for key in ("log_allowed", "allow_copy_through_host_mounts", "allow_swarm", "deny_privileged", "deny_devices"):
        if not isinstance(config[key], bool):
            raise ConfigError("%s must be true or false" % key)
    if not isinstance(config["docker_socket"], str) or not config["docker_socket"].startswith("/"):
        raise ConfigError("docker_socket must be the absolute path of the daemon's Unix socket")
    for key in ("allowed_plugins", "exempt_users", "deny_host_namespaces", "deny_cap_add", "deny_bind_mounts"):
        config[key] = _string_list(config[key], key)
    bad_ns = [n for n in config["deny_host_namespaces"] if n not in HOST_NAMESPACES]
    if bad_ns:
        raise ConfigError("deny_host_namespaces: unknown namespace(s) %s; known: %s" % (", ".join(bad_ns), ", ".join(HOST_NAMESPACES)))
    bad_paths = [p for p in config["deny_bind_mounts"] if not p.startswith("/")]
    if bad_paths:
        raise ConfigError("deny_bind_mounts: paths must be absolute: %s" % ", ".join(bad_paths))
    config["engine_fixes"] = _engine_fixes(config["engine_fixes"])
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
        raw = json.loads(text, parse_constant=_reject_constant)
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
# Decode: read a request body the way the Go daemon's encoding/json does.
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


def _reject_constant(name: str) -> Any:
    raise ValueError("%s is not JSON" % name)


_DECODER = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=_reject_constant, parse_int=Number, parse_float=Number)
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
    kind: str  # "string", "bool", "strings", "stringmap", "struct", "ptr", "structs"
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


MOUNT = Schema([
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
DEVICE = Schema([Field("PathOnHost", "string")])

# HostConfig fields the rules read (Resources is embedded in HostConfig, so Devices and
# DeviceCgroupRules sit at its top level).
HOST_CONFIG_FIELDS = [
    Field("UsernsMode", "string"),
    Field("Privileged", "bool"),
    Field("PidMode", "string"),
    Field("IpcMode", "string"),
    Field("NetworkMode", "string"),
    Field("UTSMode", "string"),
    Field("CgroupnsMode", "string"),
    Field("CapAdd", "strings"),
    Field("Binds", "strings"),
    Field("Mounts", "structs", MOUNT),
    Field("Devices", "structs", DEVICE),
    Field("DeviceCgroupRules", "strings"),
    Field("VolumeDriver", "string"),
    Field("VolumesFrom", "strings"),
]
HOST_CONFIG = Schema(HOST_CONFIG_FIELDS)

# The daemon decodes create bodies (and pre-1.24 start bodies) into a wrapper that embeds
# *HostConfig: HostConfig fields given at the top level count when no "HostConfig" key is.
CREATE_WRAPPER = Schema(HOST_CONFIG_FIELDS + [Field("HostConfig", "ptr", HOST_CONFIG)])

SERVICE_SPEC = Schema([
    Field("TaskTemplate", "struct", Schema([Field("Runtime", "string"), Field("PluginSpec", "ptr", Schema([]))])),
])

CHECKPOINT_CREATE_OPTIONS = Schema([Field("CheckpointDir", "string")])


def effective_host_config(body: bytes) -> Dict[str, Any]:
    """The HostConfig the daemon will apply for a create (or legacy start) body."""
    value = parse_go_json(body)
    try:
        wrapper = go_decode_struct(CREATE_WRAPPER, value, {})
    except TypeMismatch as err:
        raise Undecodable("the body does not match the Docker API types: %s" % err) from None
    inner: Optional[Dict[str, Any]] = wrapper.get("HostConfig")
    if inner is not None:
        return inner
    wrapper.pop("HostConfig", None)
    return wrapper


def decode_body(schema: Schema, body: bytes, what: str) -> Dict[str, Any]:
    """Decode a body into the fields of schema; raise Undecodable."""
    try:
        return go_decode_struct(schema, parse_go_json(body), {})
    except TypeMismatch as err:
        raise Undecodable("the %s does not match the Docker API types: %s" % (what, err)) from None


# ---------------------------------------------------------------------------------------------
# Classify: what the daemon will route a request to, from its method and raw RequestURI.
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


# Route kinds that matter; everything else is "other".
CONTAINER_CREATE = "container-create"
CONTAINER_START = "container-start"  # runs the container's command; pre-1.24 also applies a body
CONTAINER_ENTER = "container-enter"  # runs code in, attaches to, or revives an existing container
EXEC_START = "exec-start"
ARCHIVE_READ = "archive-read"  # the daemon reads the container's files, as real root
ARCHIVE_WRITE = "archive-write"  # the daemon writes into the container's files, as real root
CHECKPOINT = "checkpoint"  # experimental daemons: CRIU images, optionally in any host directory
PLUGIN_OP = "plugin"
SERVICE_WRITE = "service-write"
SWARM_JOIN = "swarm-join"  # makes this host a swarm node: tasks start without asking any plugin
BUILD = "build"  # BuildKit builds run in the daemon, as real root
JSON_BODY = "json-body"  # no rule reads it, but the daemon decodes a JSON body here
OTHER = "other"


class Route(NamedTuple):
    kind: str
    action: str  # what the request does to its target, for messages
    target: Optional[str]  # the container reference, exec ID or plugin name in the path
    json_body: bool  # the daemon decodes a JSON request body on this route


OTHER_ROUTE = Route(OTHER, "", None, False)

# The daemon's routes that matter, per method, as its router (gorilla/mux) matches them: the
# pattern must match the whole decoded path, and {name:.*} may hold slashes (a legacy link name
# "web/db" names a container). Where two routers' patterns overlap, the daemon takes the one
# registered first (container routes first); the patterns below do not overlap.
# (pattern, kind, action, decodes a JSON body)
_ROUTE_TABLE: Dict[str, List[Tuple[str, str, str, bool]]] = {
    "POST": [
        ("/containers/create", CONTAINER_CREATE, "create", True),
        ("/containers/(.*)/unpause", CONTAINER_ENTER, "unpause", False),
        ("/containers/(.*)/restart", CONTAINER_ENTER, "restart", False),
        ("/containers/(.*)/start", CONTAINER_START, "start", False),
        ("/containers/(.*)/attach", CONTAINER_ENTER, "attach to", False),
        ("/containers/(.*)/copy", ARCHIVE_READ, "copy files out of", True),
        ("/containers/(.*)/exec", CONTAINER_ENTER, "exec into", True),
        ("/containers/(.*)/rename", CONTAINER_ENTER, "rename", False),
        ("/containers/(.*)/update", CONTAINER_ENTER, "update", True),
        ("/containers/(.*)/checkpoints", CHECKPOINT, "checkpoint", True),
        ("/exec/(.*)/start", EXEC_START, "start an exec in", True),
        ("/commit", JSON_BODY, "commit", True),
        ("/networks/create", JSON_BODY, "create a network", True),
        ("/networks/(.*)/connect", JSON_BODY, "connect a network", True),
        ("/networks/(.*)/disconnect", JSON_BODY, "disconnect a network", True),
        ("/volumes/create", JSON_BODY, "create a volume", True),
        ("/swarm/(?:init|join)", SWARM_JOIN, "make this host a swarm node", True),
        ("/swarm/(?:update|unlock)", JSON_BODY, "configure swarm", True),
        ("/build", BUILD, "build an image", False),
        ("/grpc", BUILD, "open a BuildKit session", False),
        ("/services/create", SERVICE_WRITE, "create a service", True),
        ("/services/(.*)/update", SERVICE_WRITE, "update a service", True),
        ("/nodes/(.*)/update", JSON_BODY, "update a node", True),
        ("/secrets/create", JSON_BODY, "create a secret", True),
        ("/secrets/(.*)/update", JSON_BODY, "update a secret", True),
        ("/configs/create", JSON_BODY, "create a config", True),
        ("/configs/(.*)/update", JSON_BODY, "update a config", True),
        ("/plugins/(.*)/enable", PLUGIN_OP, "enable", False),
        ("/plugins/pull", PLUGIN_OP, "install", True),
        ("/plugins/(.*)/upgrade", PLUGIN_OP, "upgrade", True),
        ("/plugins/(.*)/set", PLUGIN_OP, "set", True),
        ("/plugins/create", PLUGIN_OP, "create", False),
    ],
    "GET": [
        ("/containers/(.*)/attach/ws", CONTAINER_ENTER, "attach to", False),
        ("/containers/(.*)/archive", ARCHIVE_READ, "copy files out of", False),
        ("/containers/(.*)/checkpoints", CHECKPOINT, "list checkpoints of", False),
    ],
    "HEAD": [
        ("/containers/(.*)/archive", ARCHIVE_READ, "read file details in", False),
    ],
    "PUT": [
        ("/containers/(.*)/archive", ARCHIVE_WRITE, "copy files into", False),
        ("/volumes/(.*)", JSON_BODY, "update a volume", True),
    ],
    "DELETE": [
        ("/containers/(.*)/checkpoints/(.*)", CHECKPOINT, "delete a checkpoint of", False),
    ],
}
# By method, then by the path's first segment ("containers", "exec" ...): few patterns to try.
_ROUTES: Dict[str, Dict[str, List[Tuple[re.Pattern[str], str, str, bool]]]] = {}
for _method, _routes in _ROUTE_TABLE.items():
    for _pattern, _kind, _action, _json_body in _routes:
        _ROUTES.setdefault(_method, {}).setdefault(_pattern.split("/")[1], []).append((re.compile(_pattern), _kind, _action, _json_body))
# GET, HEAD and DELETE requests can only matter on these routes: a URI without one of these
# words (or a percent-escape, which could spell one) is routed elsewhere. This keeps the common
# GETs (ping, list, inspect, logs) free of URI parsing.
_ROUTED_WORDS = {"GET": ("archive", "attach", "checkpoints", "%"), "HEAD": ("archive", "%"), "DELETE": ("checkpoints", "%")}


def may_matter(method: str, uri: str) -> bool:
    """False when the request cannot reach a route any rule reads (cheap, conservative)."""
    words = _ROUTED_WORDS.get(method)
    if words is None:
        return method in ("POST", "PUT")
    return any(word in uri for word in words)


def classify(request: Request) -> Route:
    """The route the daemon will take for this request, and the target named in its path."""
    segment = request.path.split("/", 2)[1] if request.path.startswith("/") else ""
    for pattern, kind, action, json_body in _ROUTES.get(request.method, {}).get(segment, ()):
        match = pattern.fullmatch(request.path)
        if match:
            return Route(kind, action, match.group(1) if match.groups() else None, json_body)
    return OTHER_ROUTE


# ---------------------------------------------------------------------------------------------
# Containers: what an existing container is, from the daemon's own description of it
# (GET /containers/{id}/json). These facts never change for a container ID: the user namespace,
# the namespaces it joins and its mounts are fixed at create (a pre-1.24 start could replace
# them, and the rules refuse that), and a volume cannot be removed while a container uses it.
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

    def data_root(self) -> str:
        raise LookupFailed("this plugin was started without a way to ask the daemon its data directory")

    def host_path(self, path: str) -> HostPath:
        raise LookupFailed("this plugin was started without a way to look at host paths")


NO_LOOKUP = ContainerLookup()


_T = TypeVar("_T")
_K = TypeVar("_K")
_V = TypeVar("_V")


class _OncePerRequest(ContainerLookup):
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

    def data_root(self) -> str:
        return self._ask(("data-root",), self.lookup.data_root)

    def host_path(self, path: str) -> HostPath:
        return self._ask(("host-path", path), lambda: self.lookup.host_path(path))


_NAMESPACE_MODES = (("PidMode", "pid"), ("IpcMode", "ipc"), ("NetworkMode", "network"))
FULL_ID = re.compile(r"[0-9a-f]{64}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def container_from_inspect(data: Any) -> Container:
    """The facts the rules need from the daemon's inspect answer; raise LookupFailed."""
    if not isinstance(data, dict) or not isinstance(data.get("Id"), str) or not isinstance(data.get("HostConfig"), dict):
        raise LookupFailed("the daemon's description of the container has no Id or HostConfig")
    host = data["HostConfig"]
    joins = []
    for field, namespace in _NAMESPACE_MODES:
        mode = _text(host.get(field))
        if mode.startswith("container:"):  # Go: SplitN(mode, ":", 2), first part "container"
            joins.append((namespace, mode[len("container:"):]))
    mounts: List[Tuple[str, str, str, str, str]] = []
    for mount in data.get("Mounts") or []:
        if isinstance(mount, dict):
            mounts.append((_text(mount.get("Type")), _text(mount.get("Name")), _text(mount.get("Source")),
                           _text(mount.get("Destination")), _text(mount.get("Driver"))))
    # HostConfig as well: a bind the daemon did not list is still a bind (fail closed).
    listed = {(kind, source, destination) for kind, _name, source, destination, _driver in mounts}
    for bind in host.get("Binds") or []:
        parts = _text(bind).split(":")
        if parts[0].startswith("/") and ("bind", parts[0], parts[1] if len(parts) > 1 else "") not in listed:
            mounts.append(("bind", "", parts[0], parts[1] if len(parts) > 1 else "", ""))
    never_created = set()
    for mount in host.get("Mounts") or []:
        if isinstance(mount, dict) and _text(mount.get("Type")) == "bind":
            entry = ("bind", _text(mount.get("Source")), _text(mount.get("Target")))
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
        name=_text(data.get("Name")).lstrip("/"),
        host_userns=_text(host.get("UsernsMode")) == "host",
        joins=tuple(joins),
        mounts=tuple(mounts),
        user=_text(config.get("User")) if isinstance(config, dict) else "",
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
# Host paths: what the daemon will find at a path it creates, re-owns or copies into as real
# root. The plugin runs on the host, so it looks itself, as the kernel resolves the path, and
# notes who besides root could remove or replace the path, or a directory on the way to it, later.
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
# Mounts: what a new container will mount, read from its HostConfig the way the daemon parses
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
# Engine: the known vulnerabilities of the daemon the plugin guards, from the version it reports
# (GET /version), less the fixes its package is known to carry (config engine_fixes: the role
# writes what the package's changelog names; an operator can add to it). Distributions backport
# fixes without changing the version, so without that knowledge the upstream version's
# vulnerabilities are assumed; a version the plugin cannot read is assumed to have them all.
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
# Rules: small pure functions, each returning None or a Denial. A rule may raise Undecodable
# when the body it needs cannot be read, or LookupFailed when the daemon cannot say what a
# container is; the verdict turns either into a fail-closed denial.
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


UNSEEN_BODY_HELP = (
    "the daemon did not forward the request body to the authorization plugin (it does not for "
    "bodies of 1 MiB or more, chunked transfer encoding, a Content-Type other than "
    "application/json, or a request URI ending in /auth, query string included), so the plugin "
    "cannot check it; send the request with an application/json body under 1 MiB and a Content-Length"
)
USERNS_HOST_MESSAGE = (
    "userns=host is not allowed: containers must run in the remapped user namespace "
    "(CIS Docker 5.31); remove --userns=host (HostConfig.UsernsMode)"
)
BUILDX_HINT = (
    "; buildx's docker-container driver asks for the host user namespace: use the default "
    "docker driver instead (docker buildx use default)"
)

# The daemon ignores a start body of at most this many bytes ("a non-nil JSON object is at
# least 7 characters").
IGNORED_START_BODY_BYTES = 7
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _legacy_start_carries_body(request: Request) -> bool:
    """Before API 1.24 the daemon applies a HostConfig sent with start (when longer than
    IGNORED_START_BODY_BYTES, or chunked). Without a visible body, only a Content-Length that
    short is safe."""
    if request.body:
        return len(request.body) > IGNORED_START_BODY_BYTES
    length = request.headers.get("content-length", "")
    return not (length.isdigit() and int(length) <= IGNORED_START_BODY_BYTES)


def _is_legacy_start(ctx: Context) -> bool:
    return ctx.kind == CONTAINER_START and version_less(ctx.request.version, "1.24")


def _may_have_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return length is None or length != "0"  # no Content-Length: maybe chunked


def _form_body(request: Request) -> bool:
    """A form body: Go's ParseForm reads its fields before the query string's."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES


def rule_unseen_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Fail closed on every route that decodes a JSON body the plugin did not see."""
    request = ctx.request
    if request.body:
        return None
    if _is_legacy_start(ctx):
        unseen = _legacy_start_carries_body(request)
    else:
        unseen = ctx.route.json_body and _may_have_body(request)
    if unseen:
        return Denial("unseen-body", "%s %s: %s%s" % (request.method, request.path, UNSEEN_BODY_HELP, _hidden_body_flaws(ctx, config)))
    return None


def _hidden_body_flaws(ctx: Context, config: Dict[str, Any]) -> str:
    """The engine's known flaws that hide bodies from plugins, for the message (best effort)."""
    try:
        version, found = _engine_flaws(ctx, config, HIDDEN_LARGE_BODY, HIDDEN_CHUNKED_BODY)
    except LookupFailed:
        return ""
    if not found:
        return ""
    return "; this Docker (%s) hides such bodies: %s (fixed in %s)" % (version, "; ".join("%s: %s" % (v.id, v.summary) for v in found), found[0].fixed_in)


def rule_form_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Parameters the rules read from the query string could come from a form body instead."""
    if ctx.kind in (CONTAINER_START, CHECKPOINT, PLUGIN_OP, ARCHIVE_WRITE, BUILD) and _form_body(ctx.request):
        return Denial("unseen-body", "%s %s: a form body can set parameters that the plugin reads from the query "
                      "string, and the daemon does not forward it; send the parameters in the query string" % (ctx.request.method, ctx.request.path))
    return None


def rule_legacy_start_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Before API 1.24 a start body replaces the container's HostConfig. The plugin decides
    about existing containers from the settings they were created with, so these stay fixed."""
    if _is_legacy_start(ctx) and ctx.host_config is not None:
        if ctx.host_config.get("UsernsMode") == "host":
            return Denial("host-userns", USERNS_HOST_MESSAGE)
        return Denial(
            "legacy-start-hostconfig",
            "changing a container's HostConfig when starting it (API before 1.24) is not allowed: the plugin "
            "checks containers by the settings they were created with; create the container with these settings, "
            "then start it without a body",
        )
    return None


def rule_host_userns(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.31: the host's user namespace is not shared."""
    if ctx.kind == CONTAINER_CREATE and ctx.host_config is not None and ctx.host_config.get("UsernsMode") == "host":
        hint = ""
        if _create_name(ctx.request).startswith("buildx_buildkit_"):
            hint = BUILDX_HINT
        return Denial("host-userns", USERNS_HOST_MESSAGE + hint)
    return None


def _create_name(request: Request) -> str:
    try:
        return parse_query(request.raw_query).get("name", "")
    except Unroutable:
        return ""


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
    if allowed and not _form_body(ctx.request) and all(name and normalize_plugin_ref(name) in allowed for name in names):
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
            directory = decode_body(CHECKPOINT_CREATE_OPTIONS, ctx.request.body, "checkpoint options").get("CheckpointDir", "")
    elif ctx.kind == CHECKPOINT:
        directory = parse_query(ctx.request.raw_query).get("dir", "")
    elif ctx.kind == CONTAINER_START:
        directory = parse_query(ctx.request.raw_query).get("checkpoint-dir", "")
    if directory:
        return Denial("checkpoint-dir", "checkpoints in a directory of your choosing (%s) are not allowed: the daemon "
                      "creates, reads, writes and removes it as real root on the host; use the container's own checkpoint "
                      "directory" % directory[:200])
    return None


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


def _overlaps(source: str, protected: str) -> bool:
    """A bind of the path itself, of a directory above it, or of anything below it."""
    source, protected = source.rstrip("/") or "/", protected.rstrip("/") or "/"
    return source == protected or protected.startswith(source.rstrip("/") + "/") or source.startswith(protected + "/")


def rule_bind_mounts(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.6 (sensitive host directories) and 5.32 (the Docker socket)."""
    protected = config["deny_bind_mounts"]
    if not protected or not ctx.host_config:
        return None
    for source in _host_paths(ctx.host_config):
        # Compare both the path as written and as resolved here: /var/run is a link to /run.
        candidates = {posixpath.normpath(source), os.path.realpath(source)}
        for path in protected:
            if any(_overlaps(c, path) or _overlaps(c, os.path.realpath(path)) for c in candidates):
                return Denial("bind-mount", "bind-mounting %s is not allowed: it exposes %s (CIS Docker 5.6/5.32)" % (source, path))
    return None


def rule_devices(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.18: host devices are not directly exposed to containers."""
    if config["deny_devices"] and ctx.host_config and (ctx.host_config.get("Devices") or ctx.host_config.get("DeviceCgroupRules")):
        return Denial("devices", "host devices are not allowed in containers (CIS Docker 5.18); remove --device / --device-cgroup-rule")
    return None


# The rules below ask the daemon about existing containers; they come last so that a request
# refused for what it says costs no lookup.

OUTSIDE_HELP = (
    "so anything run in it runs as real root on the host (userns=host is not allowed); remove it "
    "(docker rm -f %s) or recreate it without --userns=host"
)


def rule_joined_namespaces(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """A new container that shares the pid, ipc or network namespace of a container outside
    the remapping shares its user namespace as well (CIS Docker 5.31)."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    for field, namespace in _NAMESPACE_MODES:
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
    data_root = ctx.lookup.data_root()
    if _overlaps(source, data_root):
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


# -- the engine's known vulnerabilities -----------------------------------------------------------

COPY_INSTEAD = ("Meanwhile copy through the container itself, inside the remapping: docker exec CONTAINER tar -c -C DIR . > "
                "files.tar, or docker exec -i CONTAINER tar -x -C DIR < files.tar")


def _engine_flaws(ctx: Context, config: Dict[str, Any], *among: Vulnerability) -> Tuple[str, List[Vulnerability]]:
    """The engine's version (asked now), and which of these known vulnerabilities it has open."""
    version = ctx.lookup.engine_version()
    return version, [v for v in open_vulnerabilities(version, config) if v in among]


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
    version, found = _engine_flaws(ctx, config, COPY_MOUNT_RACE, COPY_MOUNT_REDIRECT, DECOMPRESS_IN_CONTAINER, COPY_AS_USER)
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
    version, found = _engine_flaws(ctx, config, PLUGIN_PRIVILEGES)
    if found:
        return vulnerability_denial("plugin %s" % ctx.route.action, version, found, "")
    return None


def rule_engine_buildkit(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """BuildKit builds, on engines whose BuildKit lets a build reach outside its state directory."""
    if ctx.kind != BUILD or (ctx.request.path == "/build" and parse_query(ctx.request.raw_query).get("version") != "2"):
        return None
    version, found = _engine_flaws(ctx, config, BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR)
    if found:
        return vulnerability_denial("a BuildKit build", version, found, "Meanwhile build with the classic builder: DOCKER_BUILDKIT=0 docker build ...")
    return None


# -- swarm ---------------------------------------------------------------------------------------

SWARM_HELP = ("swarm services start containers on this host without asking any authorization plugin, so the plugin could "
              "not keep them inside the remapping; if this host must be a swarm node, an administrator can set allow_swarm "
              "(docker_userns_allow_swarm) and accept that")


def rule_swarm(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if config["allow_swarm"] or ctx.kind not in (SWARM_JOIN, SERVICE_WRITE):
        return None
    return Denial("swarm", "%s is not allowed: %s" % ("making this host a swarm node" if ctx.kind == SWARM_JOIN else "swarm services", SWARM_HELP))


RULES: List[Callable[[Context, Dict[str, Any]], Optional[Denial]]] = [
    rule_unseen_body,
    rule_form_body,
    rule_legacy_start_body,
    rule_host_userns,
    rule_swarm,
    rule_managed_plugins,
    rule_checkpoint_dir,
    rule_privileged,
    rule_host_namespaces,
    rule_cap_add,
    rule_bind_mounts,
    rule_devices,
    # Asking the daemon or looking at host paths from here on.
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


# ---------------------------------------------------------------------------------------------
# Verdict: from the daemon's AuthZReq to a decision. The first denial wins; audit mode allows
# and logs it; exempt users skip the rules; anything unreadable or unknowable is denied.
# ---------------------------------------------------------------------------------------------


class Decision(NamedTuple):
    allow: bool
    decision: str  # "allow", "deny" or "would-deny"
    rule: str
    message: str
    holds: Tuple[str, ...] = ()  # volumes nothing else may mount until the daemon answers (Holds)


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
    if not may_matter(method, uri):
        return Request(user, method, uri, uri, None, "", {}, body)
    path, version, raw_query = split_uri(uri)
    return Request(user, method, uri, path, version, raw_query, {str(k).lower(): str(v) for k, v in headers.items()}, body)


def _host_config(request: Request, route: Route) -> Optional[Dict[str, Any]]:
    """The HostConfig a container request body carries, or None when it carries none."""
    if route.kind == CONTAINER_CREATE and request.body:
        return effective_host_config(request.body)
    if route.kind == CONTAINER_START and request.body and len(request.body) > IGNORED_START_BODY_BYTES \
            and version_less(request.version, "1.24"):
        return effective_host_config(request.body)
    return None


def _task_template(request: Request, route: Route) -> Optional[Dict[str, Any]]:
    if route.kind != SERVICE_WRITE or not request.body:
        return None
    template: Optional[Dict[str, Any]] = decode_body(SERVICE_SPEC, request.body, "service spec").get("TaskTemplate", {})
    return template


def evaluate(request: Request, config: Dict[str, Any], lookup: ContainerLookup = NO_LOOKUP) -> Tuple[Optional[Denial], Tuple[str, ...]]:
    """Run the rules: the first denial wins, or the volumes to hold if all allow. Never raises
    for bad input: it denies."""
    route = classify(request)  # OTHER for a request parse_authz_request found cannot matter
    if route.kind == OTHER:
        return None, ()
    try:
        host_config = _host_config(request, route)
        mounts = planned_mounts(host_config) if route.kind == CONTAINER_CREATE and host_config else []
        ctx = Context(request, route, _OncePerRequest(lookup), host_config, _task_template(request, route), mounts, [])
        for rule in RULES:
            denial = rule(ctx, config)
            if denial:
                return denial, ()
    except (Undecodable, Unroutable) as err:
        return Denial("unreadable-body", "%s %s: %s; the plugin refuses what it cannot check" % (request.method, request.path, err)), ()
    except LookupFailed as err:
        return Denial("lookup-failed", "%s %s: %s; the plugin refuses what it cannot check" % (request.method, request.path, err)), ()
    return None, tuple(dict.fromkeys(ctx.holds))


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
    denial, holds = evaluate(request, config, lookup)
    if denial is None:
        return (Decision(True, "allow", "", "", holds) if holds else ALLOW), request
    if config["mode"] == "audit":
        return Decision(True, "would-deny", denial.rule, denial.message), request
    return Decision(False, "deny", denial.rule, denial.message), request


# ---------------------------------------------------------------------------------------------
# Audit log: one JSON object per line on stderr, which journald keeps.
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


CREATE_IMAGE = Schema([Field("Image", "string")])  # the create body's Config is embedded: Image is at the top


def log_decision(decision: Decision, request: Optional[Request], payload: Any, config: Dict[str, Any]) -> None:
    if decision.decision == "allow" and not config["log_allowed"]:
        return
    source = payload if isinstance(payload, dict) else {}
    who = {
        "user": request.user if request else str(source.get("User", "")),
        "method": request.method if request else str(source.get("RequestMethod", "")),
        "path": (request.uri if request else str(source.get("RequestUri", "")))[:512],
    }
    # What the request was about, for the decision report: the container, exec or plugin in the
    # route and, for a create, the image and name. Best effort: the decision is already made.
    route = classify(request) if request else OTHER_ROUTE
    if route.target is not None:
        who["target"] = route.target[:100]
    if request is not None and route.kind == CONTAINER_CREATE:
        who["name"] = _create_name(request)[:100]
        if decision.decision != "allow" and request.body:
            try:
                who["image"] = str(decode_body(CREATE_IMAGE, request.body, "create body").get("Image", ""))[:200]
            except Exception:  # an unreadable body is the decision's reason already; logging must not fail
                who["image"] = ""
    log_event("decision", decision=decision.decision, rule=decision.rule, reason=decision.message, mode=config["mode"], **who)


# ---------------------------------------------------------------------------------------------
# Lookups: the plugin asks the daemon what a container is (GET /containers/{ref}/json) while it
# decides. The daemon holds no lock while it consults authorization plugins, and that nested
# GET passes through this plugin too (it is allowed without a lookup). Facts are cached by full
# container ID only: a name or an ID prefix can point to another container at any time, an ID
# never does, and the facts of an ID never change (see "Containers"), so the cache gives the
# same answer as a new lookup and can never turn a denial into an allow.
# ---------------------------------------------------------------------------------------------

LOOKUP_TIMEOUT = 10.0
MAX_LOOKUP_BYTES = 16 * 1024 * 1024
CACHE_SIZE = 1024
USER_AGENT = "docker-userns-enforcement-plugin/%s (container lookup)" % VERSION
_HEX = re.compile(r"[0-9a-f]+")
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
        volume = Volume(name, _text(data.get("Driver")) or "local", {str(k): _text(v) for k, v in options.items()} if isinstance(options, dict) else {"?": "?"})
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
            users.append(VolumeUser(_text(names[0]).lstrip("/") or _text(entry.get("Id"))[:12], _text(entry.get("State")),
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

    def data_root(self) -> str:
        self.lookups += 1
        _status, data = self.api.get("/info")
        root = data.get("DockerRootDir") if isinstance(data, dict) else None
        if not isinstance(root, str) or not root.startswith("/"):
            raise LookupFailed("the daemon's answer to GET /info has no DockerRootDir")
        return root

    def host_path(self, path: str) -> HostPath:
        return inspect_host_path(path)


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

    def data_root(self) -> str:
        raise LookupDeferred()

    def host_path(self, path: str) -> HostPath:
        raise LookupDeferred()  # a stat can block (a hung network mount): never in the loop


DEFER = _DeferringLookup()


# ---------------------------------------------------------------------------------------------
# Transport: HTTP/1.1 over a Unix socket. One thread runs an epoll loop over every connection
# (dockerd opens a new one for most calls when it is busy, so no thread per connection); a few
# worker threads run the decisions that wait for a lookup, while the loop keeps answering the
# daemon, including the nested request each lookup makes. Bounded reads, keep-alive, a time
# limit once a request has started. SIGTERM drains: no request is refused by a planned restart.
# Knows nothing of Docker semantics.
# ---------------------------------------------------------------------------------------------

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024  # the daemon forwards at most 1 MiB of body, base64 in JSON
REQUEST_TIMEOUT = 10.0  # once a request has started, all of it must arrive within this
DRAIN_TIMEOUT = LOOKUP_TIMEOUT + REQUEST_TIMEOUT + 2.0
EMPTY_REQUEST_HELP = (
    "the daemon sent an empty authorization request, as it does when it retries after the plugin "
    "was killed in the middle of a request; refused to be safe: run the command again"
)
MAX_CONNECTIONS = 128
LOOKUP_WORKERS = 8
MAX_PENDING_LOOKUPS = 256
CONTENT_TYPE = b"application/vnd.docker.plugins.v1+json"
ALLOW_ANSWER = b'{"Allow":true}'


class BadRequest(Exception):
    """The peer did not speak HTTP/1.1 as expected."""


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


def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, reason, CONTENT_TYPE, len(body))
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


_ALLOW_RESPONSE = _response(200, ALLOW_ANSWER, False)


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
        finally:
            for _ in self.workers:
                self.jobs.put(None)
            for conn in list(connections.values()):
                self._close(conn)
            self.epoll.close()
            self.wake_reader.close()
            self.wake_writer.close()

    def _poll_timeout(self) -> float:
        deadlines = [c.deadline for c in self.started]
        if self.draining:
            deadlines.append(self.drain_deadline)
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
                self._send(conn, _ALLOW_RESPONSE)
                return
            self._reply(conn, 200, answer)
        elif path == "/AuthZPlugin.AuthZRes" and keep_alive:
            self.plugin.authz_response(body)
            self._send(conn, _ALLOW_RESPONSE)
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
# Report: what already runs outside the remapping on this host, asked of the daemon with the
# lookups and the decision the rules use. The role's preflight and playbooks/audit.yml run this
# file with --report, so what they say and what the plugin does never disagree.
# ---------------------------------------------------------------------------------------------


def report(api: DockerAPI, config: Dict[str, Any]) -> Dict[str, Any]:
    """Containers outside the remapping (with why), enabled managed plugins not allowed, the
    containers that would not run once remapping is on (with why), the swarm state, and the engine's version with its known vulnerabilities less the recorded
    fixes; raise LookupFailed when the daemon cannot tell."""
    lookup = DaemonLookup(api)
    _status, listed = api.get("/containers/json?all=1")
    containers = []
    for entry in listed if isinstance(listed, list) else []:
        container = lookup.container(_text(entry.get("Id")) if isinstance(entry, dict) else "")
        if container is None:
            continue  # removed since the list
        reason = outside_reason(container, lookup)
        if reason:
            containers.append({"id": container.id[:12], "name": container.name, "running": entry.get("State") == "running", "reason": reason})
    _status, plugins = api.get("/plugins")
    outside_plugins = []
    for found in plugins if isinstance(plugins, list) else []:
        name = _text(found.get("Name")) if isinstance(found, dict) else ""
        if isinstance(found, dict) and found.get("Enabled") is True and normalize_plugin_ref(name) not in config["allowed_plugins"]:
            outside_plugins.append({"id": _text(found.get("Id"))[:12], "name": name})
    _status, info = api.get("/info")
    swarm = info.get("Swarm") if isinstance(info, dict) else None
    version = lookup.engine_version()
    return {"unremapped_containers": containers, "unremapped_plugins": outside_plugins, "would_break": would_break(api),
            "swarm": _text(swarm.get("LocalNodeState")) if isinstance(swarm, dict) else "",
            "engine_version": version,
            "open_vulnerabilities": [{"id": v.id, "fixed_in": v.fixed_in, "summary": v.summary} for v in open_vulnerabilities(version, config)]}


# What cannot run once remapping is on, measured on Docker 20.10 and 26.1 (moby's daemon/daemon_unix.go
# verifyPlatformContainerSettings refuses the first three at every start, v20.10.24 to docker-v29.7.2;
# runc cannot mount /dev/mqueue for the fourth). --uts=host and --cgroupns=host run remapped.
_REMAP_BREAKS: Tuple[Tuple[Callable[[Dict[str, Any]], bool], str], ...] = (
    (lambda host: host.get("Privileged") is True, "runs privileged (--privileged), which the daemon refuses with remapping on"),
    (lambda host: _text(host.get("NetworkMode")) == "host", "uses the host's network namespace (--network host), which the daemon refuses with remapping on"),
    (lambda host: _text(host.get("PidMode")) == "host", "uses the host's pid namespace (--pid host), which the daemon refuses with remapping on"),
    (lambda host: _text(host.get("IpcMode")) == "host",
     "uses the host's ipc namespace (--ipc host): runc cannot mount /dev/mqueue from a remapped user namespace"),
)


def remap_breaks(inspected: Dict[str, Any], breaking: Dict[str, str]) -> List[str]:
    """Why a container (the daemon's inspect answer) cannot run once user-namespace remapping is on: its own
    settings, or joining the pid, ipc or network namespace of a container that cannot run either (``breaking``:
    the reference as its mode writes it -> that container's label). Empty when it can run. A container in the
    host user namespace (--userns=host) is not remapped, so nothing here stops it (it is reported as outside)."""
    host = inspected.get("HostConfig")
    if not isinstance(host, dict) or _text(host.get("UsernsMode")) == "host":
        return []
    reasons = [reason for applies, reason in _REMAP_BREAKS if applies(host)]
    for field, namespace in _NAMESPACE_MODES:
        mode = _text(host.get(field))
        joined = breaking.get(mode[len("container:"):]) if mode.startswith("container:") else None
        if joined:
            reasons.append("shares the %s namespace of container %s, which cannot run remapped" % (namespace, joined))
    return reasons


def would_break(api: DockerAPI) -> List[Dict[str, Any]]:
    """The containers that would not run once remapping is on, with why; raise LookupFailed when the daemon cannot
    tell. Joins are followed to a fixed point (a container joining one that breaks breaks too); they name the
    joined container by full ID, name or ID prefix, resolved as the daemon resolves them."""
    _status, listed = api.get("/containers/json?all=1")
    inspected: Dict[str, Dict[str, Any]] = {}
    running: Dict[str, bool] = {}
    for entry in listed if isinstance(listed, list) else []:
        ref = _text(entry.get("Id")) if isinstance(entry, dict) else ""
        status, data = api.get("/containers/%s/json" % quote(ref)) if ref else (404, None)
        if status == 200 and isinstance(data, dict) and isinstance(data.get("Id"), str):
            inspected[data["Id"]] = data
            running[data["Id"]] = isinstance(entry, dict) and entry.get("State") == "running"
    names = {_text(data.get("Name")).lstrip("/"): cid for cid, data in inspected.items()}

    def resolve(ref: str) -> str:
        if ref in inspected:
            return ref
        if ref in names:
            return names[ref]
        prefixed = [cid for cid in inspected if ref and cid.startswith(ref)]
        return prefixed[0] if len(prefixed) == 1 else ""

    breaking: Dict[str, str] = {}
    reasons: Dict[str, List[str]] = {}
    while True:
        by_ref = {}
        for data in inspected.values():
            host = data.get("HostConfig") if isinstance(data.get("HostConfig"), dict) else {}
            for field, _namespace in _NAMESPACE_MODES:
                mode = _text(host.get(field)) if isinstance(host, dict) else ""
                target = resolve(mode[len("container:"):]) if mode.startswith("container:") else ""
                if target in breaking:
                    by_ref[mode[len("container:"):]] = breaking[target]
        found = {cid: remap_breaks(data, by_ref) for cid, data in inspected.items()}
        found = {cid: why for cid, why in found.items() if why}
        if found == reasons:
            break
        reasons = found
        breaking = {cid: "%s (%s)" % (_text(inspected[cid].get("Name")).lstrip("/"), cid[:12]) for cid in reasons}
    return [{"id": cid[:12], "name": _text(inspected[cid].get("Name")).lstrip("/"), "running": running[cid], "reasons": why}
            for cid, why in sorted(reasons.items(), key=lambda item: _text(inspected[item[0]].get("Name")))]


def run_report(config: Dict[str, Any]) -> int:
    """Print the report as one JSON object; a daemon that cannot tell gives "error", never a
    shorter list."""
    result: Dict[str, Any] = {"plugin_version": VERSION, "unremapped_containers": [], "unremapped_plugins": [], "would_break": [], "swarm": "",
                              "engine_version": "", "open_vulnerabilities": [], "error": ""}
    try:
        result.update(report(DockerAPI(config["docker_socket"]), config))
    except LookupFailed as err:
        result["error"] = str(err)
    print(json.dumps(result, sort_keys=True))
    return 0


# ---------------------------------------------------------------------------------------------
# Main
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
