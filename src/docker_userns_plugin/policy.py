"""Policy: from the daemon's AuthZReq to a decision. A route the reviewed table does not know, or
refuses, is refused first; then the rules run in order, the review of every parameter and field
among the first, and the first denial wins. Audit mode allows and logs it; exempt users skip the
rules; anything unreadable or unknowable is denied.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

from .config import VERSION
from .context import Context, Denial
from .gojson import Undecodable, decode_body
from .lookups import NO_LOOKUP, ContainerLookup, LookupFailed, OncePerRequest
from .mounts import planned_mounts
from .remap_effects import remap_breaks, remap_changes
from .request import Request, Unroutable, split_uri
from .routes import Route, classify
from .rules_cis import rule_bind_mounts, rule_cap_add, rule_devices, rule_host_namespaces, rule_privileged
from .rules_devices import rule_device_grants, rule_runtime_hooks
from .rules_drivers import rule_driver_names, rule_log_options, rule_volume_options
from .rules_engine import rule_engine_buildkit, rule_engine_copy, rule_engine_plugins
from .rules_features import rule_checkpoint_dir, rule_managed_plugins, rule_swarm
from .rules_host_config import rule_masked_paths, rule_remap_refuses, rule_security_opt, rule_storage_opt, rule_sysctls
from .rules_network import rule_network_mode, rule_network_options
from .rules_request import rule_api_version, rule_form_body, rule_review, rule_unseen_body
from .rules_root_work import rule_bind_sources, rule_held_volumes, rule_host_mount_copy, rule_volumes
from .rules_userns import rule_host_userns, rule_joined_namespaces, rule_outside_container
from .schemas import HOST_CONFIG_SCHEMA, SERVICE_SPEC_SCHEMA, effective_host_config
from .table_types import CONTAINER_CREATE, OTHER, REFUSED, SERVICE_WRITE

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
