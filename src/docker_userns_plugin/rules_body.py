"""Rules on what the plugin can see: a JSON body the daemon did not forward, a form body that
could set query parameters, and a pre-1.24 start body that would replace a container's HostConfig.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .context import USERNS_HOST_MESSAGE, Context, Denial, engine_flaws, form_body
from .engine import HIDDEN_CHUNKED_BODY, HIDDEN_LARGE_BODY
from .lookups import LookupFailed
from .request import Request, version_less
from .routes import ARCHIVE_WRITE, BUILD, CHECKPOINT, CONTAINER_START, PLUGIN_OP

UNSEEN_BODY_HELP = (
    "the daemon did not forward the request body to the authorization plugin (it does not for "
    "bodies of 1 MiB or more, chunked transfer encoding, a Content-Type other than "
    "application/json, or a request URI ending in /auth, query string included), so the plugin "
    "cannot check it; send the request with an application/json body under 1 MiB and a Content-Length"
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


def _is_legacy_start(ctx: Context) -> bool:
    return ctx.kind == CONTAINER_START and version_less(ctx.request.version, "1.24")


def _may_have_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return length is None or length != "0"  # no Content-Length: maybe chunked


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
        version, found = engine_flaws(ctx, config, HIDDEN_LARGE_BODY, HIDDEN_CHUNKED_BODY)
    except LookupFailed:
        return ""
    if not found:
        return ""
    return "; this Docker (%s) hides such bodies: %s (fixed in %s)" % (version, "; ".join("%s: %s" % (v.id, v.summary) for v in found), found[0].fixed_in)


def rule_form_body(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Parameters the rules read from the query string could come from a form body instead."""
    if ctx.kind in (CONTAINER_START, CHECKPOINT, PLUGIN_OP, ARCHIVE_WRITE, BUILD) and form_body(ctx.request):
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
