"""Rules on daemon features that act outside the remapping: swarm (tasks start without asking any
plugin), managed plugins (they run as real root), checkpoints in a directory of the client's choosing.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .config import normalize_plugin_ref
from .context import Context, Denial, form_body
from .gojson import decode_body
from .request import parse_query
from .schemas import CHECKPOINT_CREATE_SCHEMA
from .table_types import CHECKPOINT, CONTAINER_START, PLUGIN_OP, SERVICE_WRITE, SWARM, SWARM_JOIN


def _plugin_names(ctx: Context) -> List[str]:
    query = parse_query(ctx.request.raw_query)
    operation = ctx.route.action
    if operation == "install":
        return [query.get("remote", "")] + ([query["name"]] if query.get("name") else [])
    if operation == "create":
        return [query.get("name", "")]
    if operation == "upgrade":
        return [ctx.route.target or "", query.get("remote", "")]
    return [ctx.route.target or ""]


def rule_managed_plugins(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Managed plugins run as real root with the mounts and capabilities they ask for."""
    if ctx.kind == SERVICE_WRITE:
        template = ctx.task_template or {}
        if template.get("Runtime", "").lower() == "plugin" or template.get("PluginSpec") is not None:
            return Denial("managed-plugins",
                          "managed plugins are not allowed: swarm services with the plugin runtime install them outside the user namespace remapping")
        return None
    if ctx.kind != PLUGIN_OP:
        return None
    names = _plugin_names(ctx)
    allowed = config["allowed_plugins"]
    if allowed and not form_body(ctx.request) and all(name and normalize_plugin_ref(name) in allowed for name in names):
        return None
    shown = ", ".join(n or "(none)" for n in names)
    return Denial(
        "managed-plugins",
        "managed plugins are not allowed: they run as real root outside the user namespace "
        "remapping (plugin %s: %s); ask an administrator to add it to allowed_plugins" % (ctx.route.action, shown),
    )


def rule_checkpoint_dir(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Checkpoints (experimental daemons) in a directory of the client's choosing: the daemon
    creates, lists, writes (CRIU dump), restores from and removes it as real root on the host."""
    directory = ""
    if ctx.kind == CHECKPOINT and ctx.request.method == "POST":
        if ctx.request.body:
            directory = decode_body(CHECKPOINT_CREATE_SCHEMA, ctx.request.body, "checkpoint options").get("CheckpointDir", "")
    elif ctx.kind == CHECKPOINT:
        directory = parse_query(ctx.request.raw_query).get("dir", "")
    elif ctx.kind == CONTAINER_START:
        directory = parse_query(ctx.request.raw_query).get("checkpoint-dir", "")
    if directory:
        return Denial("checkpoint-dir", "checkpoints in a directory of your choosing (%s) are not allowed: the daemon "
                      "creates, reads, writes and removes it as real root on the host; use the container's own checkpoint "
                      "directory" % directory[:200])
    return None


SWARM_HELP = ("swarm services start containers on this host without asking any authorization plugin, so the plugin could "
              "not keep them inside the remapping; if this host must be a swarm node, an administrator can set allow_swarm "
              "(docker_userns_allow_swarm) and accept that")


def rule_swarm(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if config["allow_swarm"] or ctx.kind not in (SWARM_JOIN, SERVICE_WRITE, SWARM):
        return None
    what = {SWARM_JOIN: "making this host a swarm node", SERVICE_WRITE: "swarm services"}.get(ctx.kind, "changing swarm (%s)" % ctx.route.action)
    return Denial("swarm", "%s is not allowed: %s" % (what, SWARM_HELP))
