"""Plugin service: the three endpoints of Docker's plugin protocol (Plugin.Activate,
AuthZPlugin.AuthZReq, AuthZPlugin.AuthZRes) over the policy, with the current config, its reload,
and the volume holds that outlive a request.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

from .audit_log import log_decision, log_event
from .config import ConfigError, load_config
from .daemon_api import DockerAPI
from .daemon_lookup import DaemonLookup, Holds
from .lookups import ContainerLookup
from .policy import Decision, decide

EMPTY_REQUEST_HELP = (
    "the daemon sent an empty authorization request, as it does when it retries after the plugin "
    "was killed in the middle of a request; refused to be safe: run the command again"
)


ALLOW_ANSWER = b'{"Allow":true}'


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
