"""Rules on the request as a whole, before any rule reads what it asks: an API version older than
the table covers, a JSON body the daemon did not forward, a form body that could set query
parameters, and the review (default deny) of every query parameter and body field.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .context import Context, Denial, engine_flaws, form_body
from .engine import HIDDEN_CHUNKED_BODY, HIDDEN_LARGE_BODY
from .lookups import LookupFailed
from .request import Request, version_less
from .review import review_request

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
