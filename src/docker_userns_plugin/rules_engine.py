"""Rules on the engine's known vulnerabilities: docker cp, managed plugin installs and BuildKit
builds on engines with open flaws in them (checked with the daemon's version, asked each time).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .context import Context, Denial, engine_flaws
from .engine import (
    BUILDKIT_FRONTEND,
    BUILDKIT_GIT_SUBDIR,
    COPY_AS_USER,
    COPY_MOUNT_RACE,
    COPY_MOUNT_REDIRECT,
    DECOMPRESS_IN_CONTAINER,
    PLUGIN_PRIVILEGES,
    Vulnerability,
)
from .request import Request, parse_query
from .table_types import ARCHIVE_READ, ARCHIVE_WRITE, BUILD, PLUGIN_OP

COPY_INSTEAD = ("Meanwhile copy through the container itself, inside the remapping: docker exec CONTAINER tar -c -C DIR . > "
                "files.tar, or docker exec -i CONTAINER tar -x -C DIR < files.tar")


def vulnerability_denial(refused: str, version: str, found: List[Vulnerability], instead: str) -> Denial:
    return Denial(
        "engine-vulnerability",
        "%s is not allowed on this Docker (%s): %s. Fixed in %s: upgrade Docker; if its package carries the fix, let the role "
        "record it (it reads the package's changelog, or set docker_userns_engine_fixes) or add it to the plugin's "
        "engine_fixes.%s" % (refused, version or "its version unknown", "; ".join("%s: %s" % (v.id, v.summary) for v in found),
                             found[0].fixed_in, " " + instead if instead else ""))


def _bool_value(request: Request, key: str) -> bool:
    """The daemon's httputils.BoolValue on the query string: false only when empty, 0, no, false or none."""
    return parse_query(request.raw_query).get(key, "").strip().lower() not in ("", "0", "no", "false", "none")


def rule_engine_copy(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """docker cp on engines with known flaws in it (checked here with the daemon's version)."""
    if ctx.kind not in (ARCHIVE_READ, ARCHIVE_WRITE):
        return None
    version, found = engine_flaws(ctx, config, COPY_MOUNT_RACE, COPY_MOUNT_REDIRECT, DECOMPRESS_IN_CONTAINER, COPY_AS_USER)
    what = "docker cp (%s container %s)" % (ctx.route.action, (ctx.route.target or "")[:100])
    races = [v for v in found if v in (COPY_MOUNT_RACE, COPY_MOUNT_REDIRECT)]
    if races:
        return vulnerability_denial(what, version, races, COPY_INSTEAD)
    if ctx.kind == ARCHIVE_WRITE and DECOMPRESS_IN_CONTAINER in found:
        return vulnerability_denial(what, version, [DECOMPRESS_IN_CONTAINER], COPY_INSTEAD)
    if ctx.kind == ARCHIVE_WRITE and COPY_AS_USER in found and _bool_value(ctx.request, "copyUIDGID"):
        container = ctx.lookup.container(ctx.route.target or "")
        if container is not None and container.user:
            return vulnerability_denial("docker cp -a (copyUIDGID) into container %s, which runs as user %s" % (container.label, container.user[:64]),
                                        version, [COPY_AS_USER], "Copy without -a, then set the owner inside the container: "
                                        "docker exec CONTAINER chown USER PATH")
    return None


def rule_engine_plugins(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Installing or upgrading an allowed managed plugin, on engines that check its privileges wrongly."""
    if ctx.kind != PLUGIN_OP or ctx.route.action not in ("install", "upgrade"):
        return None
    version, found = engine_flaws(ctx, config, PLUGIN_PRIVILEGES)
    if found:
        return vulnerability_denial("plugin %s" % ctx.route.action, version, found, "")
    return None


def rule_engine_buildkit(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """BuildKit builds, on engines whose BuildKit lets a build reach outside its state directory."""
    if ctx.kind != BUILD or (ctx.request.path == "/build" and parse_query(ctx.request.raw_query).get("version") != "2"):
        return None
    version, found = engine_flaws(ctx, config, BUILDKIT_FRONTEND, BUILDKIT_GIT_SUBDIR)
    if found:
        return vulnerability_denial("a BuildKit build", version, found, "Meanwhile build with the classic builder: DOCKER_BUILDKIT=0 docker build ...")
    return None
