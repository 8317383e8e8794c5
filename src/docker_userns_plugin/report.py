"""Report: what already runs outside the remapping on this host, asked of the daemon with the
lookups and the decision the rules use; and why GPU requests would be refused. The role's preflight and playbooks/audit.yml run the
plugin with --report, so what they say and what the plugin does never disagree.
"""

from __future__ import annotations

import json
from typing import Any, Dict

from .config import VERSION, normalize_plugin_ref
from .containers import as_text, outside_reason
from .daemon_api import DockerAPI
from .daemon_lookup import DaemonLookup
from .engine import open_vulnerabilities
from .lookups import LookupFailed
from .rules_devices import toolkit_problem


def report(api: DockerAPI, config: Dict[str, Any]) -> Dict[str, Any]:
    """Containers outside the remapping (with why), enabled managed plugins not allowed, the
    swarm state, and the engine's version with its known vulnerabilities less the recorded
    fixes; raise LookupFailed when the daemon cannot tell."""
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
    return {"unremapped_containers": containers, "unremapped_plugins": outside_plugins,
            "swarm": as_text(swarm.get("LocalNodeState")) if isinstance(swarm, dict) else "",
            "engine_version": version,
            "open_vulnerabilities": [{"id": v.id, "fixed_in": v.fixed_in, "summary": v.summary} for v in open_vulnerabilities(version, config)]}


def run_report(config: Dict[str, Any]) -> int:
    """Print the report as one JSON object; a daemon that cannot tell gives "error", never a
    shorter list. With allow_gpus, why GPU requests would still be refused (the NVIDIA Container
    Toolkit's version unknown, or with known escapes), or ""."""
    result: Dict[str, Any] = {"plugin_version": VERSION, "unremapped_containers": [], "unremapped_plugins": [], "swarm": "",
                              "engine_version": "", "open_vulnerabilities": [], "error": "",
                              "nvidia_toolkit_problem": (toolkit_problem(config) or "") if config["allow_gpus"] else ""}
    try:
        result.update(report(DockerAPI(config["docker_socket"]), config))
    except LookupFailed as err:
        result["error"] = str(err)
    print(json.dumps(result, sort_keys=True))
    return 0
