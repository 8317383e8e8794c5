"""Report: what already runs outside the remapping on this host, and what could not run once
remapping is on, asked of the daemon with the lookups and the decisions the rules and observe mode
use; and why GPU requests would be refused. The role's preflight and playbooks/audit.yml run the
plugin with --report, so what they say and what the plugin does never disagree.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List

from .config import VERSION, normalize_plugin_ref
from .containers import NAMESPACE_MODES, as_text, outside_reason
from .daemon_api import DockerAPI, quote
from .daemon_lookup import DaemonLookup
from .engine import open_vulnerabilities
from .lookups import LookupFailed
from .remap_effects import remap_breaks
from .rules_devices import toolkit_problem


def report(api: DockerAPI, config: Dict[str, Any]) -> Dict[str, Any]:
    """Containers outside the remapping (with why), enabled managed plugins not allowed, the
    containers that could not run once remapping is on (with why), the swarm state, and the
    engine's version with its known vulnerabilities less the recorded fixes; raise LookupFailed
    when the daemon cannot tell."""
    lookup = DaemonLookup(api)
    _status, listed = api.get("/containers/json?all=1")
    containers = []
    for entry in listed if isinstance(listed, list) else []:
        container = lookup.container(as_text(entry.get("Id")) if isinstance(entry, dict) else "")
        if container is None:
            continue  # removed since the list
        reason = outside_reason(container, lookup)
        if reason:
            containers.append({"id": container.id[:12], "name": container.name, "running": entry.get("State") == "running", "reason": reason})
    _status, plugins = api.get("/plugins")
    outside_plugins = []
    for found in plugins if isinstance(plugins, list) else []:
        name = as_text(found.get("Name")) if isinstance(found, dict) else ""
        if isinstance(found, dict) and found.get("Enabled") is True and normalize_plugin_ref(name) not in config["allowed_plugins"]:
            outside_plugins.append({"id": as_text(found.get("Id"))[:12], "name": name})
    _status, info = api.get("/info")
    swarm = info.get("Swarm") if isinstance(info, dict) else None
    version = lookup.engine_version()
    return {"unremapped_containers": containers, "unremapped_plugins": outside_plugins, "would_break": would_break(api),
            "swarm": as_text(swarm.get("LocalNodeState")) if isinstance(swarm, dict) else "",
            "engine_version": version,
            "open_vulnerabilities": [{"id": v.id, "fixed_in": v.fixed_in, "summary": v.summary} for v in open_vulnerabilities(version, config)]}


def would_break(api: DockerAPI) -> List[Dict[str, Any]]:
    """The containers that could not run once remapping is on, with why; raise LookupFailed when
    the daemon cannot tell. Joins are followed to a fixed point (a container that joins one that
    cannot run cannot run either), the joined container named by full ID, name or ID prefix as the
    daemon resolves it."""
    _status, listed = api.get("/containers/json?all=1")
    inspected: Dict[str, Dict[str, Any]] = {}
    running: Dict[str, bool] = {}
    for entry in listed if isinstance(listed, list) else []:
        ref = as_text(entry.get("Id")) if isinstance(entry, dict) else ""
        status, data = api.get("/containers/%s/json" % quote(ref)) if ref else (404, None)
        if status == 200 and isinstance(data, dict) and isinstance(data.get("Id"), str) and isinstance(data.get("HostConfig"), dict):
            inspected[data["Id"]] = data
            running[data["Id"]] = isinstance(entry, dict) and entry.get("State") == "running"
    names = {as_text(data.get("Name")).lstrip("/"): cid for cid, data in inspected.items()}

    def resolve(ref: str) -> str:
        if ref in inspected:
            return ref
        if ref in names:
            return names[ref]
        prefixed = [cid for cid in inspected if ref and cid.startswith(ref)]
        return prefixed[0] if len(prefixed) == 1 else ""

    def label(cid: str) -> str:
        return "%s (%s)" % (as_text(inspected[cid].get("Name")).lstrip("/"), cid[:12])

    reasons: Dict[str, List[str]] = {}
    while True:
        breaking = {}
        for data in inspected.values():
            for field, _namespace in NAMESPACE_MODES:
                mode = as_text(data["HostConfig"].get(field))
                target = resolve(mode[len("container:"):]) if mode.startswith("container:") else ""
                if target in reasons:
                    breaking[mode[len("container:"):]] = label(target)
        found = {cid: [why for _rule, why in remap_breaks(data["HostConfig"], breaking)] for cid, data in inspected.items()}
        found = {cid: why for cid, why in found.items() if why}
        if found == reasons:
            break
        reasons = found
    return [{"id": cid[:12], "name": as_text(inspected[cid].get("Name")).lstrip("/"), "running": running[cid], "reasons": why}
            for cid, why in sorted(reasons.items(), key=lambda item: as_text(inspected[item[0]].get("Name")))]


def run_report(config: Dict[str, Any]) -> int:
    """Print the report as one JSON object; a daemon that cannot tell gives "error", never a
    shorter list. With allow_gpus, why GPU requests would still be refused (the NVIDIA Container
    Toolkit's version unknown, or with known escapes), or ""."""
    result: Dict[str, Any] = {"plugin_version": VERSION, "unremapped_containers": [], "unremapped_plugins": [], "would_break": [], "swarm": "",
                              "engine_version": "", "open_vulnerabilities": [], "error": "",
                              "nvidia_toolkit_problem": (toolkit_problem(config) or "") if config["allow_gpus"] else ""}
    try:
        result.update(report(DockerAPI(config["docker_socket"]), config))
    except LookupFailed as err:
        result["error"] = str(err)
    print(json.dumps(result, sort_keys=True))
    return 0
