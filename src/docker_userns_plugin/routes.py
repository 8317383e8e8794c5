"""Routes: what the daemon will route a request to, from its method and path, and which routes
matter to the rules at all.
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from .request import Request

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
