"""Rules on the daemon's own work as real root on host paths: docker cp through host-backed
mounts, bind sources it creates or shows, and the copy of an image's files into volumes.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .containers import host_backed_mounts, local_volume_binds, volume_host_path
from .context import Context, Denial, overlaps
from .lookups import HostPath, Volume
from .mounts import PlannedMount
from .request import clean_path
from .table_types import ARCHIVE_READ, ARCHIVE_WRITE, CONTAINER_CREATE, CONTAINER_ENTER, CONTAINER_START


def rule_host_mount_copy(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """The daemon copies files (docker cp) as real root, whatever the remapping: through a
    host-backed mount that reaches host files root alone may read or write. The container
    controls its own files (a symlink can change at any moment), so any path may lead there."""
    if ctx.kind not in (ARCHIVE_READ, ARCHIVE_WRITE) or config["allow_copy_through_host_mounts"]:
        return None
    container = ctx.lookup.container(ctx.route.target or "")
    if container is None:
        return None
    mounts = host_backed_mounts(container, ctx.lookup)
    if mounts:
        return Denial("host-mount-copy", "docker cp (%s) container %s is not allowed: it has host-backed mounts (%s), and the "
                      "daemon copies as real root on the host, whatever the remapping; copy through a container without "
                      "host mounts, or ask an administrator to set allow_copy_through_host_mounts"
                      % (ctx.route.action, container.label, "; ".join(mounts)[:600]))
    return None


# -- the daemon's own work as real root: host paths it creates and re-owns ---------------------

def _bind_source_problem(ctx: Context, source: str, creates: bool) -> Optional[str]:
    """Why the daemon must not get this bind source, or None. Every bind: not a path that shows
    Docker's data directory (the remapped root owns every container's files and volumes there).
    A bind the daemon creates when it is missing: it must exist, and nobody but root may be able
    to remove or replace it, or a directory on the way to it (the daemon would then create the
    path again, following symlinks, at a start nobody asks about: a restart policy's, the
    daemon's own)."""
    if not source.startswith("/") or "\\" in source:
        return "the daemon reads %r as a path relative to its own working directory" % source[:200]
    data_root = ctx.lookup.daemon_info().data_root
    if overlaps(source, data_root):
        return ("it shows Docker's data directory %s, where the remapped root owns the files and volumes of every "
                "container" % data_root)
    if not creates:
        return None
    where = ctx.lookup.host_path(source)
    if not where.exists:
        return ("it does not exist, and the daemon would create it as real root (following symlinks), owned by the "
                "remapped root; create it first, or mount it with --mount type=bind (which never creates it)")
    if where.changeable_by:
        return ("%s could remove or replace it, and the daemon would then create it again as real root (following "
                "symlinks) at the next start, even one nobody asks about (a restart policy's); mount it with "
                "--mount type=bind,source=%s,target=... (which never creates it), or keep it where only root can "
                "change it" % (where.changeable_by, source))
    return None


def rule_bind_sources(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """Bind sources the daemon creates (or shows) as real root, for a new container, at start and
    restart, and for docker cp (which sets up the container's mounts too)."""
    binds: List[Tuple[str, str, bool]] = []  # (source, how the request or container has it, created when missing)
    if ctx.kind == CONTAINER_CREATE and ctx.host_config:
        binds = [(m.source, m.spelling, m.creates_source) for m in ctx.mounts if m.kind == "bind"]
        for spec in ctx.host_config.get("VolumesFrom", []):
            other = ctx.lookup.container(spec.split(":", 1)[0])
            if other is not None:  # none: the daemon refuses the create
                binds += [(source, "--volumes-from %s (its bind mount of %s)" % (other.label, source), True)
                          for kind, _name, source, _dest, _driver in other.mounts if kind == "bind"]
    elif ctx.kind in (CONTAINER_START, ARCHIVE_READ, ARCHIVE_WRITE) or (ctx.kind == CONTAINER_ENTER and ctx.route.action == "restart"):
        container = ctx.lookup.container(ctx.route.target or "")
        if container is not None:
            binds = [(source, "container %s's bind mount of %s" % (container.label, source), source in container.creating_binds)
                     for kind, _name, source, _dest, _driver in dict.fromkeys(container.mounts) if kind == "bind"]
    for source, spelling, creates in binds:
        problem = _bind_source_problem(ctx, source, creates)
        if problem:
            return Denial("bind-source", "%s (%s) is not allowed: %s" % (spelling[:300], ctx.route.action, problem))
    return None


_RUNNING_STATES = ("running", "paused", "restarting")


def _copy_up_problem(ctx: Context, mount: PlannedMount) -> Optional[str]:
    """Why the daemon must not copy the image's files into this volume, or None. It copies as
    real root, following symlinks, when the volume is empty, and gives the volume's directory the
    owner and mode of the image's; that directory is on the host for a local volume that binds
    one (o=bind, device=...) and wherever its driver says for other drivers."""
    existing = ctx.lookup.volume(mount.source, "") if mount.source else None
    driver = existing.driver if existing else (mount.driver or "local")
    options = existing.options if existing else mount.options
    if driver != "local":
        return "its driver %s keeps it where the plugin cannot look, and the daemon would copy into it as real root" % driver
    if local_volume_binds(options):
        # With a subpath the daemon fills that directory inside the bound one (it cannot leave it).
        device = options.get("device", "")
        if mount.subpath and device.startswith("/"):
            device = clean_path(device + "/" + mount.subpath)
        where = ctx.lookup.host_path(device) if device.startswith("/") else HostPath(exists=False)
        if not (where.exists and where.is_dir and not where.empty):
            return ("it binds the host directory %s, which is %s: the daemon would copy the image's files into it and give "
                    "it the image directory's owner (the remapped root)" % (device, "empty" if where.exists else "missing"))
        if not where.root_only or where.changeable_by:
            return ("it binds the host directory %s, which %s could empty or replace while the daemon checks it and copies "
                    "into it" % (device, where.changeable_by or "someone besides root"))
        return None
    shows = volume_host_path(Volume(mount.source, driver, options))
    if shows:
        return "%s, and the daemon would copy into it as real root without the plugin seeing whether it is empty" % shows
    if existing is not None:
        writers = [u.name for u in ctx.lookup.volume_users(mount.source) if u.read_write and u.state in _RUNNING_STATES]
        if writers:
            return ("container %s can write into it right now, and could lead the daemon's copy (as real root) anywhere on "
                    "the host through symlinks; it already has its content: mount it with nocopy, or stop %s first"
                    % (writers[0], writers[0]))
    if mount.source:
        ctx.holds.append(mount.source)  # nothing else may mount it until the daemon has copied
    return None


def rule_volumes(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """The daemon fills a new container's empty volumes with the image's files, as real root."""
    if ctx.kind != CONTAINER_CREATE or not ctx.host_config:
        return None
    driver = ctx.host_config.get("VolumeDriver", "")
    if driver and driver != "local":
        return Denial("volume-copy", "--volume-driver %s is not allowed: the daemon would copy the image's files, as real root, "
                      "into volumes of that driver (the image's own volumes included), where the plugin cannot look; create the "
                      "volumes with docker volume create --driver %s and mount them with nocopy" % (driver, driver))
    for mount in ctx.mounts:
        if mount.kind != "volume":
            continue
        if mount.source and ctx.lookup.volume_held(mount.source):
            return Denial("volume-copy", "volume %s (%s) is not allowed right now: the daemon is copying an image's files into "
                          "it for another container; try again when that create has finished" % (mount.source, mount.spelling))
        problem = _copy_up_problem(ctx, mount) if mount.copy else None
        if problem:
            return Denial("volume-copy", "%s is not allowed: %s. Mount it with nocopy (-v NAME:/path:nocopy, or --mount "
                          "...,volume-nocopy)" % (mount.spelling[:300], problem))
    return None


def rule_held_volumes(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    """While the daemon fills a volume for a create, no container that mounts it may start, and
    no docker cp may write through it (either could plant symlinks the copy follows)."""
    if ctx.kind not in (CONTAINER_START, ARCHIVE_WRITE) and not (ctx.kind == CONTAINER_ENTER and ctx.route.action in ("restart", "unpause")):
        return None
    container = ctx.lookup.container(ctx.route.target or "")
    if container is None:
        return None
    for kind, name, _source, _dest, _driver in container.mounts:
        if kind == "volume" and ctx.lookup.volume_held(name):
            return Denial("volume-copy", "%s container %s is not allowed right now: the daemon is copying an image's files into "
                          "its volume %s for another container; try again when that create has finished" % (ctx.route.action, container.label, name))
    return None
