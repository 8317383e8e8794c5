"""Policy: from the daemon's AuthZReq to a decision. The rules run in order and the first denial
wins; audit mode allows and logs it; exempt users skip the rules; anything unreadable or
unknowable is denied.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from .context import Context, Denial
from .gojson import Undecodable, decode_body
from .lookups import NO_LOOKUP, ContainerLookup, LookupFailed, OncePerRequest
from .mounts import planned_mounts
from .request import Request, Unroutable, split_uri, version_less
from .routes import CONTAINER_CREATE, CONTAINER_START, OTHER, SERVICE_WRITE, Route, classify, may_matter
from .rules_body import IGNORED_START_BODY_BYTES, rule_form_body, rule_legacy_start_body, rule_unseen_body
from .rules_cis import rule_bind_mounts, rule_cap_add, rule_devices, rule_host_namespaces, rule_privileged
from .rules_engine import rule_engine_buildkit, rule_engine_copy, rule_engine_plugins
from .rules_features import rule_checkpoint_dir, rule_managed_plugins, rule_swarm
from .rules_root_work import rule_bind_sources, rule_held_volumes, rule_host_mount_copy, rule_volumes
from .rules_userns import rule_host_userns, rule_joined_namespaces, rule_outside_container
from .schemas import SERVICE_SPEC, effective_host_config

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
        ctx = Context(request, route, OncePerRequest(lookup), host_config, _task_template(request, route), mounts, [])
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
