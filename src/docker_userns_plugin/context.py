"""Rule context: what every rule receives (the request, its route, the lookups, the decoded
HostConfig and mounts), what a rule returns (a Denial), and the few helpers several rules share.

Rules are small pure functions, each returning None or a Denial. A rule may raise Undecodable
when the body it needs cannot be read, or LookupFailed when the daemon cannot say what a container
is; the verdict turns either into a fail-closed denial.
"""

from __future__ import annotations

from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from .engine import Vulnerability, open_vulnerabilities
from .lookups import ContainerLookup
from .mounts import PlannedMount
from .request import Request, Unroutable, parse_query
from .routes import Route


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
