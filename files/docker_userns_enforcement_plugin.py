#!/usr/bin/env python3
"""Docker authorization plugin that keeps every container inside the user-namespace remapping.

The Docker daemon consults this plugin on every API request (AuthZPlugin.AuthZReq). It refuses
host user namespaces (`docker run --userns=host`) however the request spells them, refuses
managed Docker plugins (they run as real root outside the remapping) unless allowlisted, and
fails closed when it cannot see or parse a request that could carry such settings.

One file, Python 3.8+ standard library only: it is copied onto hosts as it is.

    python3 docker_userns_enforcement_plugin.py --socket PATH [--config FILE]
    python3 docker_userns_enforcement_plugin.py --check-config FILE

Sections, in the order a request travels: config, decode, classify, rules, verdict, transport,
main. Everything above the transport is pure and testable without sockets.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import posixpath
import re
import signal
import socket
import stat
import sys
import threading
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

VERSION = "1.0.0"
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
    for key in ("log_allowed", "deny_privileged", "deny_devices"):
        if not isinstance(config[key], bool):
            raise ConfigError("%s must be true or false" % key)
    for key in ("allowed_plugins", "exempt_users", "deny_host_namespaces", "deny_cap_add", "deny_bind_mounts"):
        config[key] = _string_list(config[key], key)
    bad_ns = [n for n in config["deny_host_namespaces"] if n not in HOST_NAMESPACES]
    if bad_ns:
        raise ConfigError("deny_host_namespaces: unknown namespace(s) %s; known: %s" % (", ".join(bad_ns), ", ".join(HOST_NAMESPACES)))
    bad_paths = [p for p in config["deny_bind_mounts"] if not p.startswith("/")]
    if bad_paths:
        raise ConfigError("deny_bind_mounts: paths must be absolute: %s" % ", ".join(bad_paths))
    config["deny_cap_add"] = [normalize_capability(c) for c in config["deny_cap_add"]]
    config["allowed_plugins"] = [normalize_plugin_ref(p) for p in config["allowed_plugins"]]
    return config


def load_config(path: Optional[str]) -> Dict[str, Any]:
    """Read and validate the config file; no path means the safe defaults."""
    if not path:
        return validate_config({})
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError("cannot read %s: %s" % (path, err)) from None
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except ValueError as err:
        raise ConfigError("%s is not valid JSON: %s" % (path, err)) from None
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


class Pairs(list):
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
    kind: str  # "string", "bool", "strings", "struct", "ptr", "structs"
    schema: Optional["Schema"] = None


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
        go_decode_struct(field.schema, value, target)
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
                seen.append(go_decode_struct(field.schema, element, {}))


MOUNT = Schema([Field("Type", "string"), Field("Source", "string")])
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
]
HOST_CONFIG = Schema(HOST_CONFIG_FIELDS)

# The daemon decodes create bodies (and pre-1.24 start bodies) into a wrapper that embeds
# *HostConfig: HostConfig fields given at the top level count when no "HostConfig" key is.
CREATE_WRAPPER = Schema(HOST_CONFIG_FIELDS + [Field("HostConfig", "ptr", HOST_CONFIG)])

SERVICE_SPEC = Schema([
    Field("TaskTemplate", "struct", Schema([Field("Runtime", "string"), Field("PluginSpec", "ptr", Schema([]))])),
])


def effective_host_config(body: bytes) -> Dict[str, Any]:
    """The HostConfig the daemon will apply for a create (or legacy start) body."""
    value = parse_go_json(body)
    try:
        wrapper = go_decode_struct(CREATE_WRAPPER, value, {})
    except TypeMismatch as err:
        raise Undecodable("the body does not match the Docker API types: %s" % err) from None
    inner = wrapper.get("HostConfig")
    if inner is not None:
        return inner
    wrapper.pop("HostConfig", None)
    return wrapper


# ---------------------------------------------------------------------------------------------
# Classify: what the daemon will route a request to, from its method and raw RequestURI.
# ---------------------------------------------------------------------------------------------


class Request(NamedTuple):
    user: str
    method: str
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
CONTAINER_START = "container-start"
PLUGIN_OP = "plugin"
SERVICE_WRITE = "service-write"
OTHER = "other"

_CONTAINER_START = re.compile(r"^/containers/(.+)/start$")
_SERVICE_UPDATE = re.compile(r"^/services/(.+)/update$")
# The daemon's plugin routes, in the order its router tries them.
_PLUGIN_ROUTES = [
    (re.compile(r"^/plugins/pull$"), "install"),
    (re.compile(r"^/plugins/(.*)/push$"), None),
    (re.compile(r"^/plugins/(.*)/enable$"), "enable"),
    (re.compile(r"^/plugins/(.*)/disable$"), None),
    (re.compile(r"^/plugins/(.*)/set$"), "set"),
    (re.compile(r"^/plugins/(.*)/upgrade$"), "upgrade"),
    (re.compile(r"^/plugins/create$"), "create"),
]


def classify(request: Request) -> Tuple[str, Optional[str], Optional[str]]:
    """Return (kind, plugin operation, plugin name from the path)."""
    if request.method.upper() != "POST":
        return OTHER, None, None
    path = request.path
    if path == "/containers/create":
        return CONTAINER_CREATE, None, None
    if _CONTAINER_START.match(path):
        return CONTAINER_START, None, None
    if path == "/services/create" or _SERVICE_UPDATE.match(path):
        return SERVICE_WRITE, None, None
    if path.startswith("/plugins/"):
        for pattern, operation in _PLUGIN_ROUTES:
            match = pattern.match(path)
            if match:
                if operation is None:
                    return OTHER, None, None
                return PLUGIN_OP, operation, (match.group(1) if match.groups() else None)
    return OTHER, None, None


# ---------------------------------------------------------------------------------------------
# Rules: small pure functions, each returning None or a Denial. A rule may raise Undecodable
# when the body it needs cannot be read; the verdict turns that into a fail-closed denial.
# ---------------------------------------------------------------------------------------------


class Denial(NamedTuple):
    rule: str
    message: str


class Context(NamedTuple):
    request: Request
    kind: str
    plugin_op: Optional[str]
    plugin_name: Optional[str]
    host_config: Optional[Dict[str, Any]]  # what the daemon will apply to a container
    task_template: Optional[Dict[str, Any]]  # a swarm service's TaskTemplate


UNSEEN_BODY_HELP = (
    "the daemon did not forward the request body to the authorization plugin (it does not for "
    "bodies of 1 MiB or more, chunked transfer encoding, or a Content-Type other than "
    "application/json), so the plugin cannot check it; send the request with an application/json "
    "body under 1 MiB and a Content-Length"
)


# The daemon ignores a start body of at most this many bytes ("a non-nil JSON object is at
# least 7 characters").
IGNORED_START_BODY_BYTES = 7


def _legacy_start_carries_body(request: Request) -> bool:
    """Before API 1.24 the daemon applies a HostConfig sent with start (when longer than
    IGNORED_START_BODY_BYTES, or chunked). Without a visible body, only a Content-Length that
    short is safe."""
    if request.body:
        return len(request.body) > IGNORED_START_BODY_BYTES
    length = request.headers.get("content-length", "")
    return not (length.isdigit() and int(length) <= IGNORED_START_BODY_BYTES)


def rule_unseen_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    request = ctx.request
    needs_body = ctx.kind in (CONTAINER_CREATE, SERVICE_WRITE) or (
        ctx.kind == CONTAINER_START and version_less(request.version, "1.24") and _legacy_start_carries_body(request)
    )
    if needs_body and not request.body:
        return Denial("unseen-body", "%s %s: %s" % (request.method, request.path, UNSEEN_BODY_HELP))
    return None


def rule_host_userns(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.31: the host's user namespace is not shared."""
    if ctx.host_config is not None and ctx.host_config.get("UsernsMode") == "host":
        return Denial(
            "host-userns",
            "userns=host is not allowed: containers must run in the remapped user namespace "
            "(CIS Docker 5.31); remove --userns=host (HostConfig.UsernsMode)",
        )
    return None


def _plugin_names(ctx: Context) -> List[str]:
    query = parse_query(ctx.request.raw_query)
    if ctx.plugin_op == "install":
        return [query.get("remote", "")] + ([query["name"]] if query.get("name") else [])
    if ctx.plugin_op == "create":
        return [query.get("name", "")]
    if ctx.plugin_op == "upgrade":
        return [ctx.plugin_name or "", query.get("remote", "")]
    return [ctx.plugin_name or ""]


def rule_managed_plugins(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Managed plugins run as real root with the mounts and capabilities they ask for."""
    if ctx.kind == SERVICE_WRITE:
        template = ctx.task_template or {}
        if template.get("Runtime", "").lower() == "plugin" or template.get("PluginSpec") is not None:
            return Denial("managed-plugins", "managed plugins are not allowed: swarm services with the plugin runtime install them outside the user namespace remapping")
        return None
    if ctx.kind != PLUGIN_OP:
        return None
    names = _plugin_names(ctx)
    allowed = config["allowed_plugins"]
    content_type = ctx.request.headers.get("content-type", "").split(";")[0].strip().lower()
    # A form body could name another plugin than the query the plugin sees.
    form_body = content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    if allowed and not form_body and all(name and normalize_plugin_ref(name) in allowed for name in names):
        return None
    shown = ", ".join(n or "(none)" for n in names)
    return Denial(
        "managed-plugins",
        "managed plugins are not allowed: they run as real root outside the user namespace "
        "remapping (plugin %s: %s); ask an administrator to add it to allowed_plugins" % (ctx.plugin_op, shown),
    )


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


RULES: List[Callable[[Context, Dict[str, Any]], Optional[Denial]]] = [
    rule_unseen_body,
    rule_host_userns,
    rule_managed_plugins,
    rule_privileged,
    rule_host_namespaces,
    rule_cap_add,
    rule_bind_mounts,
    rule_devices,
]


# ---------------------------------------------------------------------------------------------
# Verdict: from the daemon's AuthZReq to a decision. The first denial wins; audit mode allows
# and logs it; exempt users skip the rules; anything unreadable is denied.
# ---------------------------------------------------------------------------------------------


class Decision(NamedTuple):
    allow: bool
    decision: str  # "allow", "deny" or "would-deny"
    rule: str
    message: str


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
    if method.upper() != "POST":
        # Only POST routes create or change anything the rules look at: skip parsing the URI.
        return Request(user, method, uri, uri, None, "", {}, body)
    path, version, raw_query = split_uri(uri)
    return Request(user, method, uri, path, version, raw_query, {str(k).lower(): str(v) for k, v in headers.items()}, body)


def _host_config(request: Request, kind: str) -> Optional[Dict[str, Any]]:
    """The HostConfig a container request body carries, or None when it carries none."""
    if kind == CONTAINER_CREATE and request.body:
        return effective_host_config(request.body)
    if kind == CONTAINER_START and request.body and len(request.body) > IGNORED_START_BODY_BYTES:
        return effective_host_config(request.body)
    return None


def _task_template(request: Request, kind: str) -> Optional[Dict[str, Any]]:
    if kind != SERVICE_WRITE or not request.body:
        return None
    try:
        return go_decode_struct(SERVICE_SPEC, parse_go_json(request.body), {}).get("TaskTemplate", {})
    except TypeMismatch as err:
        raise Undecodable("the service spec does not match the Docker API types: %s" % err) from None


def evaluate(request: Request, config: Dict[str, Any]) -> Optional[Denial]:
    """Run the rules; the first denial wins. Never raises for bad input: it denies."""
    kind, plugin_op, plugin_name = classify(request)
    if kind == OTHER:
        return None
    try:
        ctx = Context(request, kind, plugin_op, plugin_name, _host_config(request, kind), _task_template(request, kind))
        for rule in RULES:
            denial = rule(ctx, config)
            if denial:
                return denial
    except (Undecodable, Unroutable) as err:
        return Denial("unreadable-body", "%s %s: %s; the plugin refuses what it cannot check" % (request.method, request.path, err))
    return None


def decide(payload: Any, config: Dict[str, Any]) -> Tuple[Decision, Optional[Request]]:
    """The policy as a pure function of the daemon's AuthZReq payload and the config."""
    try:
        request = parse_authz_request(payload)
    except (Unroutable, Undecodable) as err:
        # Protocol-level garbage: denied even in audit mode, it never comes from a sane daemon.
        return Decision(False, "deny", "unreadable-request", "the plugin cannot read this request: %s" % err), None
    if request.user and request.user in config["exempt_users"]:
        return Decision(True, "allow", "exempt-user", ""), request
    denial = evaluate(request, config)
    if denial is None:
        return ALLOW, request
    if config["mode"] == "audit":
        return Decision(True, "would-deny", denial.rule, denial.message), request
    return Decision(False, "deny", denial.rule, denial.message), request


# ---------------------------------------------------------------------------------------------
# Audit log: one JSON object per line on stderr, which journald keeps.
# ---------------------------------------------------------------------------------------------


def log_event(event: str, **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event}
    record.update(fields)
    line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    try:
        os.write(2, line.encode("utf-8", errors="replace"))
    except OSError:
        pass  # a closed stderr must not take the plugin down


def log_decision(decision: Decision, request: Optional[Request], payload: Any, config: Dict[str, Any]) -> None:
    if decision.decision == "allow" and not config["log_allowed"]:
        return
    source = payload if isinstance(payload, dict) else {}
    who = {
        "user": request.user if request else str(source.get("User", "")),
        "method": request.method if request else str(source.get("RequestMethod", "")),
        "path": (request.uri if request else str(source.get("RequestUri", "")))[:512],
    }
    log_event("decision", decision=decision.decision, rule=decision.rule, reason=decision.message, mode=config["mode"], **who)


# ---------------------------------------------------------------------------------------------
# Transport: HTTP/1.1 over a Unix socket, one thread per connection, keep-alive, bounded reads.
# Knows nothing of Docker semantics.
# ---------------------------------------------------------------------------------------------

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 8 * 1024 * 1024  # the daemon forwards at most 1 MiB of body, base64 in JSON
REQUEST_TIMEOUT = 10.0  # once a request has started, all of it must arrive within this
IDLE_TIMEOUT = None  # never close the daemon's idle connections: that races its reuse of them
EMPTY_REQUEST_HELP = (
    "the daemon sent an empty authorization request, as it does when it retries after the plugin "
    "was restarted in the middle of a request; refused to be safe: run the command again"
)
MAX_CONNECTIONS = 128
CONTENT_TYPE = b"application/vnd.docker.plugins.v1+json"


class BadRequest(Exception):
    """The peer did not speak HTTP/1.1 as expected."""


class Plugin:
    """Holds the current config and answers the three plugin endpoints."""

    def __init__(self, config: Dict[str, Any], config_path: Optional[str], name: str):
        self.config = config
        self.config_path = config_path
        self.name = name

    def reload(self) -> None:
        try:
            self.config = load_config(self.config_path)
        except ConfigError as err:
            log_event("reload-failed", reason=str(err), kept_mode=self.config["mode"])
            return
        log_event("reload", mode=self.config["mode"], config=self.config_path)

    def handle(self, path: str, body: bytes) -> Tuple[int, bytes]:
        if path == "/AuthZPlugin.AuthZReq":
            return 200, self.authz_request(body)
        if path == "/AuthZPlugin.AuthZRes":
            # Response phase: nothing in a response can undo a refused request; answer fast.
            return 200, b'{"Allow":true}'
        if path == "/Plugin.Activate":
            return 200, b'{"Implements":["authz"]}'
        return 404, json.dumps({"Err": "unknown endpoint %s" % path[:200]}).encode()

    def authz_request(self, body: bytes) -> bytes:
        config = self.config  # one consistent config per request, even across a reload
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        try:
            if not body.strip():
                decision, request = Decision(False, "deny", "empty-request", EMPTY_REQUEST_HELP), None
            else:
                decision, request = decide(payload, config)
        except Exception as err:  # a bug must deny, never allow
            decision, request = Decision(False, "deny", "internal-error", "the plugin failed to check this request: %s" % err), None
        log_decision(decision, request, payload, config)
        if decision.allow:
            return b'{"Allow":true}'
        return json.dumps({"Allow": False, "Msg": decision.message, "Err": ""}).encode()


def _read_request(conn: socket.socket, buffer: bytearray) -> Optional[Tuple[str, str, Dict[str, str], bytes]]:
    """Read one request from conn (leftover bytes in buffer); None at a clean end of stream."""
    conn.settimeout(IDLE_TIMEOUT if not buffer else REQUEST_TIMEOUT)
    while True:
        end = buffer.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
        if end >= 0:
            break
        if len(buffer) > MAX_HEADER_BYTES:
            raise BadRequest("headers too large")
        chunk = conn.recv(65536)
        if not chunk:
            if buffer:
                raise BadRequest("connection closed inside a request")
            return None
        buffer += chunk
        conn.settimeout(REQUEST_TIMEOUT)
    head = bytes(buffer[:end]).decode("latin-1")
    del buffer[: end + 4]
    lines = head.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest("malformed request line")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise BadRequest("chunked request bodies are not supported")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise BadRequest("malformed Content-Length")
    length = int(length_text)
    if length > MAX_BODY_BYTES:
        raise BadRequest("request body too large")
    conn.settimeout(REQUEST_TIMEOUT)
    while len(buffer) < length:
        chunk = conn.recv(max(65536, length - len(buffer)))
        if not chunk:
            raise BadRequest("connection closed inside a request body")
        buffer += chunk
    body = bytes(buffer[:length])
    del buffer[:length]
    return parts[0], parts[1], headers, body


def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, reason, CONTENT_TYPE, len(body))
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


def serve_connection(plugin: Plugin, conn: socket.socket) -> None:
    buffer = bytearray()
    try:
        while True:
            try:
                request = _read_request(conn, buffer)
            except BadRequest as err:
                message = {"Allow": False, "Msg": "the authorization plugin could not read the request: %s" % err, "Err": str(err)}
                conn.sendall(_response(400, json.dumps(message).encode(), close=True))
                return
            if request is None:
                return
            method, target, headers, body = request
            status, answer = plugin.handle(target.split("?", 1)[0], body) if method == "POST" else (404, b'{"Err":"use POST"}')
            close = headers.get("connection", "").lower() == "close"
            conn.sendall(_response(status, answer, close))
            if close:
                return
    except (OSError, socket.timeout):
        return  # peer went away or stalled: nothing was allowed, drop the connection
    finally:
        conn.close()


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
    sock.listen(128)
    return sock


class Shutdown(Exception):
    pass


def serve(plugin: Plugin, listener: socket.socket) -> None:
    slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def run(conn: socket.socket) -> None:
        try:
            serve_connection(plugin, conn)
        finally:
            slots.release()

    while True:
        slots.acquire()
        try:
            conn, _ = listener.accept()
        except OSError as err:
            slots.release()
            if listener.fileno() == -1:
                return  # closed under us: shutting down
            log_event("accept-failed", reason=str(err))
            time.sleep(0.1)  # e.g. out of file descriptors: wait for connections to end
            continue
        except BaseException:
            slots.release()
            raise
        threading.Thread(target=run, args=(conn,), daemon=True).start()


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="socket to bind when not socket-activated (default %(default)s)")
    parser.add_argument("--config", help="JSON config file (default: enforce, no allowlists, no opt-in rules)")
    parser.add_argument("--name", help="plugin name for the log (default: the socket's file name)")
    parser.add_argument("--check-config", metavar="FILE", help="validate FILE and exit: 0 valid, 2 invalid")
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
        config = load_config(args.config)
    except ConfigError as err:
        print("docker-userns-enforcement-plugin: %s" % err, file=sys.stderr)
        return 2
    name = args.name or os.path.basename(args.socket).rsplit(".sock", 1)[0] or DEFAULT_NAME
    plugin = Plugin(config, args.config, name)

    def on_term(signum: int, frame: Any) -> None:
        raise Shutdown()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, lambda signum, frame: plugin.reload())

    listener = activated_socket(env, os.getpid())
    activated = listener is not None
    if listener is None:
        listener = bind_socket(args.socket)
    log_event("start", version=VERSION, plugin=name, mode=config["mode"], socket_activated=activated, socket=None if activated else args.socket, pid=os.getpid())
    try:
        serve(plugin, listener)
    except Shutdown:
        pass
    finally:
        listener.close()
        if not activated:
            try:
                os.unlink(args.socket)
            except OSError:
                pass
    log_event("stop", plugin=name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
