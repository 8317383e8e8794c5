"""The reviewed table's vocabulary: how the table says what the plugin knows of a route, of each
query parameter and of each body field, and its verdict on a non-zero value.

- allow: any value; the reason says why nothing host-side follows from it.
- check: a named rule judges the value (the rule's name, as its refusals carry it).
- one_of: only these values (or the zero value) pass; the reason says why the others do not.
- refuse: only the zero value passes; the reason says what a non-zero one would make the daemon
  do. An administrator can accept it, field by field, with the config's allow_fields.
- struct, list_of, map_of: the value is a JSON object with these fields, a list or an object of
  such values; each field is judged by its own verdict.

What the table does not name is refused when non-zero (review.py). The table is data: the
threat model's reviewed-API document is rendered from it (tools/gen_threat_model.py).
"""

from __future__ import annotations

from typing import Dict, NamedTuple, Optional, Tuple

from .gojson import go_fold

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
