"""Audit log: one JSON object per line on stderr, which journald keeps.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, Optional

from .context import create_name
from .gojson import decode_body
from .policy import Decision
from .request import Request
from .routes import UNKNOWN_ROUTE, classify
from .schemas import CREATE_IMAGE_SCHEMA
from .table_types import CONTAINER_CREATE

MAX_LOG_LINE = 4000  # below PIPE_BUF: one write, never interleaved with another line


def log_event(event: str, **fields: Any) -> None:
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "event": event}
    record.update(fields)
    line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", errors="replace")
    if len(line) > MAX_LOG_LINE:
        record["reason"] = str(record.get("reason", ""))[:600]  # up to 4 bytes a character
        record["path"] = str(record.get("path", ""))[:200]
        line = json.dumps(record, ensure_ascii=False, default=str).encode("utf-8", errors="replace")[:MAX_LOG_LINE]
    try:
        os.write(2, line + b"\n")
    except OSError:
        pass  # a closed stderr must not take the plugin down


def log_decision(decision: Decision, request: Optional[Request], payload: Any, config: Dict[str, Any]) -> None:
    """One decision line (allowed requests only with log_allowed), and in observe mode one
    would-break line for each thing remapping will refuse or change for the request."""
    if decision.decision == "allow" and not config["log_allowed"] and not decision.effects:
        return
    source = payload if isinstance(payload, dict) else {}
    who = {
        "user": request.user if request else str(source.get("User", "")),
        "method": request.method if request else str(source.get("RequestMethod", "")),
        "path": (request.uri if request else str(source.get("RequestUri", "")))[:512],
    }
    # What the request was about, for the decision report: the container, exec or plugin in the
    # route and, for a create, the image and name. Best effort: the decision is already made.
    route = classify(request) if request else UNKNOWN_ROUTE
    if route.target is not None:
        who["target"] = route.target[:100]
    if request is not None and route.kind == CONTAINER_CREATE:
        who["name"] = create_name(request)[:100]
        if (decision.decision != "allow" or decision.effects) and request.body:
            try:
                who["image"] = str(decode_body(CREATE_IMAGE_SCHEMA, request.body, "create body").get("Image", ""))[:200]
            except Exception:  # an unreadable body is the decision's reason already; logging must not fail
                who["image"] = ""
    if decision.decision != "allow" or config["log_allowed"]:
        log_event("decision", decision=decision.decision, rule=decision.rule, reason=decision.message, mode=config["mode"], **who)
    for rule, why in decision.effects:
        log_event("decision", decision="would-break", rule=rule, reason=why, mode=config["mode"], **who)
