"""Routes: what the daemon will route a request to, from its method and path, found in the
reviewed table (table_container_routes, table_api_routes) as the daemon's router (gorilla/mux)
matches: the pattern must match the whole decoded, cleaned path, and where two patterns could
match the one the daemon registered first wins (the tables keep the daemon's order).
"""

from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from .request import Request
from .table_api_routes import API_ROUTES
from .table_container_routes import CONTAINER_ROUTES
from .table_types import OTHER, RouteReview

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
