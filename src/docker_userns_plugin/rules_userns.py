"""Rules on the user namespace itself (CIS Docker 5.31): no host user namespace for a new
container, no joining the namespaces of a container outside the remapping, and nothing run in,
attached to or started again in such a container.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from .containers import NAMESPACE_MODES, outside_reason
from .context import Context, Denial, create_name, engine_flaws
from .engine import BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR
from .lookups import Container, LookupFailed
from .table_types import ARCHIVE_WRITE, CONTAINER_CREATE, CONTAINER_ENTER, CONTAINER_START, EXEC_START

BUILDX_HINT = (
    "; buildx's docker-container driver asks for the host user namespace: use the default "
    "docker driver instead (docker buildx use default)"
)
# buildx also falls back to that driver, on its own, when the daemon refuses its BuildKit session.
BUILDX_FALLBACK_HINT = (
    "; and this Docker (%s) refuses BuildKit builds (%s, fixed in %s), so buildx falls back to such a container by "
    "itself: build with the classic builder (DOCKER_BUILDKIT=0 docker build ...), or upgrade Docker"
)

USERNS_HOST_MESSAGE = (
    "userns=host is not allowed: containers must run in the remapped user namespace "
    "(CIS Docker 5.31); remove --userns=host (HostConfig.UsernsMode)"
)


def rule_host_userns(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """CIS Docker Benchmark 5.31: the host's user namespace is not shared."""
    if ctx.kind == CONTAINER_CREATE and ctx.host_config is not None and ctx.host_config.get("UsernsMode") == "host":
        hint = ""
        if create_name(ctx.request).startswith("buildx_buildkit_"):
            hint = _buildx_hint(ctx, config)
        return Denial("host-userns", USERNS_HOST_MESSAGE + hint)
    return None


def _buildx_hint(ctx: Context, config: Dict[str, Any]) -> str:
    try:
        version, found = engine_flaws(ctx, config, BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR)
    except LookupFailed:
        return BUILDX_HINT  # the refusal stands; only the hint is less precise
    if found:
        return BUILDX_HINT + BUILDX_FALLBACK_HINT % (version, ", ".join(v.id for v in found), found[0].fixed_in)
    return BUILDX_HINT


OUTSIDE_HELP = (
    "so anything run in it runs as real root on the host (userns=host is not allowed); remove it "
    "(docker rm -f %s) or recreate it without --userns=host"
)


def rule_joined_namespaces(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """A new container that shares the pid, ipc or network namespace of a container outside
    the remapping shares its user namespace as well (CIS Docker 5.31)."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    for field, namespace in NAMESPACE_MODES:
        mode = ctx.host_config.get(field, "")
        if not mode.startswith("container:"):
            continue
        joined = ctx.lookup.container(mode[len("container:"):])
        if joined is None:
            continue  # the daemon refuses to join a container that does not exist
        reason = outside_reason(joined, ctx.lookup)
        if reason:
            return Denial("outside-container", "sharing the %s namespace of container %s is not allowed: it %s, %s"
                          % (namespace, joined.label, reason, OUTSIDE_HELP % joined.name))
    return None


def _target_container(ctx: Context) -> Optional[Container]:
    if ctx.kind == EXEC_START:
        container_id = ctx.lookup.exec_container_id(ctx.route.target or "")
        return None if container_id is None else ctx.lookup.container(container_id)
    return ctx.lookup.container(ctx.route.target or "")


def rule_outside_container(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Nothing may run code in, attach to, start again, change or write into a container that
    is outside the remapping (created with --userns=host before enforcement, in audit mode, or
    joined to one). Stop, kill, remove, inspect, logs and export stay allowed."""
    if ctx.kind not in (CONTAINER_START, CONTAINER_ENTER, EXEC_START, ARCHIVE_WRITE):
        return None
    container = _target_container(ctx)
    if container is None:
        return None  # no such container or exec: the daemon answers 404 itself
    reason = outside_reason(container, ctx.lookup)
    if reason:
        return Denial("outside-container", "%s container %s is not allowed: it %s, %s"
                      % (ctx.route.action, container.label, reason, OUTSIDE_HELP % container.name))
    return None
