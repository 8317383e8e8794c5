#!/usr/bin/python
# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Ansible module: what Docker's data directory holds, and carrying it into (or out of) the
user-namespace-remapped data directory, owners shifted, so that nothing vanishes from view."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_userns_data_root
short_description: Carry Docker's images, containers and volumes into the remapped data directory, and back
description:
  - Turning C(userns-remap) on makes Docker use C(DATA_ROOT/UID.GID) (for example C(/var/lib/docker/100000.100000)),
    where every image, container and volume of the plain data directory is out of view. Turning it off does the
    reverse. This module lists what would vanish (O(action=inventory)), and carries it across (O(action=carry)).
  - O(direction=forward) carries the plain data directory into the remapped one, O(direction=back) the remapped one
    into the plain one. What is carried - the images (C(image/), the C(overlay2) layers they use), the containers
    (C(containers/ID), their writable and init layers) and the volumes (C(volumes/NAME), C(volumes/metadata.db)) and
    the networks (C(network/files/local-kv.db)); the files of containers and volumes get their owners shifted into
    the remap range (forward) or out of it (back), Docker's own files keep root, and the directories Docker gives the
    remapped root's group get that group, as Docker itself lays them out.
  - Not carried - the BuildKit build cache and layers no image or container uses, managed plugins, swarm state, other
    storage drivers than C(overlay2) (an error), and the containerd image store (an error).
  - Every file keeps its content, mode (setuid included), timestamps, extended attributes, hard links and holes
    (C(SEEK_DATA)/C(SEEK_HOLE)); device nodes, FIFOs, sockets, symlinks and overlay whiteouts are made again.
    POSIX ACLs (C(system.posix_acl_access), C(system.posix_acl_default)) have their named users and groups shifted.
    File capabilities (C(security.capability)) are written after the owner (a chown clears them); forward, a v2 set
    becomes a v3 set whose root id is the remapped root (the kernel ignores a v2 set inside a remapped container),
    back the reverse. Ids that the remap range cannot hold are an error, named before anything is copied.
  - The copy goes into a staging directory, C(DATA_ROOT/.docker-userns-carry/stage), which is renamed into place only
    when everything is copied and compared, so Docker never reads a half copy. A journal
    (C(DATA_ROOT/.docker-userns-carry/journal.json)) records each finished part; a carry that was interrupted (power
    loss, a full disk, a failure) resumes when run again, copying again only what is missing or changed since.
    O(action=abort) rolls it back instead. Whatever sat where the copy goes is moved aside, never deleted, into
    C(DATA_ROOT/.docker-userns-carry/replaced-DIRECTION-TIME); the source is never changed.
  - Ansible modules cannot stream their output - the carry writes a progress line every few seconds to
    O(progress_log) (C(tail -f) it).
  - Docker must be stopped (and its socket, so that no request starts it again) while it carries; the module
    refuses while the process named in O(docker_pidfile) runs.
options:
  data_root:
    description: Docker's data directory as configured (C(data-root), without the C(UID.GID) that remapping adds).
    type: path
    default: /var/lib/docker
  remap_user:
    description:
      - The user Docker remaps to (C(userns-remap) in C(daemon.json); C(user) or C(user:group)). Its ranges in
        C(/etc/subuid) and C(/etc/subgid) define the shift, read as Docker reads them (by uid, else by name, in file order).
    type: str
    default: dockremap
  direction:
    description: C(forward) reads the plain data directory and carries into the remapped one; C(back) the reverse.
    type: str
    choices: [forward, back]
    default: forward
  action:
    description:
      - C(inventory) reads the source and reports what it holds, the space a carry needs and whether the ids fit the
        range; it changes nothing.
      - C(carry) carries (or resumes an interrupted carry); nothing to do when the target already holds a finished
        carry of an unchanged source.
      - C(abort) rolls an unfinished carry back - the staging directory goes, a partial swap is undone.
    type: str
    choices: [inventory, carry, abort]
    default: inventory
  reserve_mb:
    description: Space, in MiB, that must stay free on the data directory's file system after the carry.
    type: int
    default: 1024
  planned_count:
    description:
      - When the remap user has no range yet (the role creates it later in the same run), check the ids of a forward
        carry against a range of this many ids; 0 leaves that check to the carry itself.
    type: int
    default: 0
  verify:
    description: After the copy, compare every copied file with its source byte for byte (metadata is always compared).
    type: bool
    default: true
  progress_log:
    description: Where the progress lines go; default C(DATA_ROOT/.docker-userns-carry/progress.log).
    type: path
  docker_pidfile:
    description: Docker's pid file; the module refuses to carry while the process it names runs.
    type: path
    default: /var/run/docker.pid
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
author:
  # No GitHub handle: the project has none (validate-modules wants one, or !UNKNOWN).
  - docker-userns-enforcement project !UNKNOWN
"""

EXAMPLES = r"""
- name: List what turning remapping on would hide, and check the space a carry needs
  docker_hardening.userns.docker_userns_data_root:
    data_root: /var/lib/docker
  register: docker_data

- name: Carry images, containers and volumes into the remapped data directory (Docker stopped)
  docker_hardening.userns.docker_userns_data_root:
    action: carry
    direction: forward

- name: Carry them back before remapping is turned off
  docker_hardening.userns.docker_userns_data_root:
    action: carry
    direction: back
"""

RETURN = r"""
source:
  description: The data directory read (the plain one forward, C(DATA_ROOT/UID.GID) back).
  returned: always
  type: str
  sample: /var/lib/docker
target:
  description: Where the carry puts what it copies; empty when the remap user has no range yet.
  returned: always
  type: str
  sample: /var/lib/docker/100000.100000
inventory:
  description:
    - What the source holds, read from its files (Docker may run or not) - what a switch would hide if it were not
      carried. Sizes are bytes allocated on disk.
    - C(images) - C(id), C(tags), C(size) (the layers it uses, shared ones counted for each image).
    - C(containers) - C(id), C(name), C(image), C(running) (as Docker last recorded it), C(size) (its writable
      layer and files), C(volumes) (names).
    - C(volumes) - C(name), C(anonymous), C(host_backed) (its options mount a device or a host path, whose files are
      not copied), C(size), C(used_by) (container names).
    - C(not_carried) - C(unused_layers) and C(unused_layer_bytes) (build cache, layers nothing uses),
      C(managed_plugins).
    - C(bytes), C(entries) - the totals a carry copies.
  returned: always
  type: dict
  sample:
    images: [{id: "sha256:0f5c...", tags: ["local/unique:1"], size: 2105344}]
    containers: [{id: 5f61..., name: db, image: "bb:local", running: true, size: 16384, volumes: [dbvol]}]
    volumes: [{name: dbvol, anonymous: false, host_backed: false, size: 12288, used_by: [db]}]
    not_carried: {unused_layers: 0, unused_layer_bytes: 0, managed_plugins: 0}
    bytes: 4321280
    entries: 702
target_inventory:
  description: The same for what is at the target now and would be moved aside (counts only); null when nothing is there.
  returned: always
  type: dict
  sample: {images: 0, containers: 0, volumes: 0}
space:
  description: The space check - C(needed_bytes), C(needed_inodes), C(free_bytes), C(free_inodes), C(reserve_bytes), C(enough).
  returned: always
  type: dict
  sample: {needed_bytes: 4321280, needed_inodes: 702, free_bytes: 80530636800, free_inodes: 4000000, reserve_bytes: 1073741824, enough: true}
problems:
  description: What stops a carry, each a sentence naming the path (ids beyond the range, mount points, an unsupported storage driver).
  returned: always
  type: list
  elements: str
carried:
  description:
    - What the run copied - C(units) (layers, containers, volumes, metadata), C(files), C(directories), C(symlinks),
      C(other) (devices, FIFOs, sockets, whiteouts), C(hardlinks), C(bytes); C(resumed_units), kept from an interrupted run.
  returned: O(action=carry), not in check mode
  type: dict
  sample: {units: 9, resumed_units: 0, files: 620, directories: 70, symlinks: 400, other: 2, hardlinks: 1, bytes: 4321280}
verified:
  description: What was compared after the copy - C(entries) (metadata), C(files) and C(bytes) (content, with O(verify)).
  returned: O(action=carry), not in check mode
  type: dict
  sample: {entries: 1092, files: 620, bytes: 4321280}
moved_aside:
  description: Where what sat at the target was moved; empty when nothing was there.
  returned: O(action=carry) or O(action=abort)
  type: str
  sample: /var/lib/docker/.docker-userns-carry/replaced-forward-20261207T034002
seconds:
  description: How long the carry took.
  returned: O(action=carry), not in check mode
  type: float
  sample: 1.42
journal:
  description: The journal file of the carry.
  returned: always
  type: str
  sample: /var/lib/docker/.docker-userns-carry/journal.json
progress_log:
  description: The file the progress lines go to.
  returned: always
  type: str
  sample: /var/lib/docker/.docker-userns-carry/progress.log
pending:
  description: An unfinished carry found in the journal (C(direction), C(phase)); null when there is none.
  returned: always
  type: dict
  sample: {direction: forward, phase: copying}
"""

import errno
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import struct
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

from ansible.module_utils.basic import AnsibleModule

CARRY_DIR = ".docker-userns-carry"
JOURNAL_VERSION = 1
HEX64 = re.compile(r"[0-9a-f]{64}")
# Files in a container's directory that the container itself reads and writes (owned by its root).
CONTAINER_OWN_FILES = ("hostname", "hosts", "resolv.conf")
# Layer directories whose whole tree belongs to the container (owners shifted).
LAYER_CONTENT = ("diff", "work", "merged")
ACL_XATTRS = ("system.posix_acl_access", "system.posix_acl_default")
CAPABILITY_XATTR = "security.capability"
COPY_CHUNK = 1 << 30
COMPARE_CHUNK = 1 << 20
PROGRESS_SECONDS = 2.0
SYNC_SECONDS = 5.0
SYNC_BYTES = 256 << 20


class CarryError(Exception):
    """The carry cannot go on; the message says what and where."""


# ---- id mapping --------------------------------------------------------------------------------


class IdMap:
    """Docker's mapping of container ids to host ids: the ranges in file order, container ids counted on."""

    def __init__(self, ranges: List[Tuple[int, int]]):
        self.ranges: List[Tuple[int, int, int]] = []  # (container start, host start, size)
        container = 0
        for start, size in ranges:
            self.ranges.append((container, start, size))
            container += size
        self.size = container

    @property
    def root(self) -> int:
        return self.ranges[0][1]

    def to_host(self, cid: int) -> Optional[int]:
        for container, host, size in self.ranges:
            if container <= cid < container + size:
                return host + cid - container
        return None

    def to_container(self, hid: int) -> Optional[int]:
        for container, host, size in self.ranges:
            if host <= hid < host + size:
                return container + hid - host
        return None

    def as_list(self) -> List[List[int]]:
        return [list(entry) for entry in self.ranges]


def parse_subid(text: str, uid: Optional[int], name: str) -> List[Tuple[int, int]]:
    """The ranges of a user in /etc/subuid or /etc/subgid text, as Docker reads them: lines for its uid
    when there are any, else for its name, in file order."""
    by_uid: List[Tuple[int, int]] = []
    by_name: List[Tuple[int, int]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue
        if uid is not None and parts[0] == str(uid):
            by_uid.append((int(parts[1]), int(parts[2])))
        elif parts[0] == name:
            by_name.append((int(parts[1]), int(parts[2])))
    return by_uid or by_name


SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


def load_maps(remap_user: str) -> Optional[Tuple[IdMap, IdMap]]:
    """(uid map, gid map) of the remap user (Docker looks both up by the user), None when it has no ranges."""
    name = remap_user.split(":", 1)[0]
    try:
        uid: Optional[int] = pwd.getpwnam(name).pw_uid
    except KeyError:
        uid = None
    maps = []
    for path in (SUBUID, SUBGID):
        try:
            with open(path, encoding="utf-8") as handle:
                ranges = parse_subid(handle.read(), uid, name)
        except OSError:
            ranges = []
        if not ranges:
            return None
        maps.append(IdMap(ranges))
    return maps[0], maps[1]


class Shift:
    """How ids change in one direction: forward maps container ids to host ids, back the reverse."""

    def __init__(self, uids: IdMap, gids: IdMap, forward: bool):
        self.uids = uids
        self.gids = gids
        self.forward = forward

    # Back, host root's entries stay root's: Docker itself makes some as host root in remapped layers (the init
    # layer's /etc/mtab symlink, measured on 20.10), and a host administrator may have put files in a volume.
    def uid(self, value: int) -> Optional[int]:
        if self.forward:
            return self.uids.to_host(value)
        return 0 if value == 0 else self.uids.to_container(value)

    def gid(self, value: int) -> Optional[int]:
        if self.forward:
            return self.gids.to_host(value)
        return 0 if value == 0 else self.gids.to_container(value)

    @property
    def group_of_docker_dirs(self) -> int:
        """The group Docker gives its traversal directories in the target."""
        return self.gids.root if self.forward else 0


# ---- extended attributes that hold ids ------------------------------------------------------

ACL_HEADER = struct.Struct("<I")
ACL_ENTRY = struct.Struct("<HHI")
ACL_USER = 0x02
ACL_GROUP = 0x08


def shift_acl(value: bytes, uid: Callable[[int], Optional[int]], gid: Callable[[int], Optional[int]]) -> Optional[bytes]:
    """A POSIX ACL xattr with its named users and groups shifted; None when one has no id there."""
    if len(value) < ACL_HEADER.size or (len(value) - ACL_HEADER.size) % ACL_ENTRY.size:
        return value  # not the format we know: kept as it is (the kernel checks it when it is set)
    out = bytearray(value[:ACL_HEADER.size])
    for offset in range(ACL_HEADER.size, len(value), ACL_ENTRY.size):
        tag, perm, ident = ACL_ENTRY.unpack_from(value, offset)
        if tag in (ACL_USER, ACL_GROUP):
            mapped = uid(ident) if tag == ACL_USER else gid(ident)
            if mapped is None:
                return None
            ident = mapped
        out += ACL_ENTRY.pack(tag, perm, ident)
    return bytes(out)


def acl_ids(value: bytes) -> Iterator[Tuple[str, int]]:
    """("uid"|"gid", id) of the named entries of an ACL xattr."""
    if len(value) < ACL_HEADER.size or (len(value) - ACL_HEADER.size) % ACL_ENTRY.size:
        return
    for offset in range(ACL_HEADER.size, len(value), ACL_ENTRY.size):
        tag, _perm, ident = ACL_ENTRY.unpack_from(value, offset)
        if tag == ACL_USER:
            yield "uid", ident
        elif tag == ACL_GROUP:
            yield "gid", ident


VFS_CAP_REVISION_2 = 0x02000000
VFS_CAP_REVISION_3 = 0x03000000
VFS_CAP_REVISION_MASK = 0xFF000000
CAP_V2_SIZE = 20
CAP_V3_SIZE = 24


def capability_rootid(value: bytes) -> Optional[int]:
    """The root id a file capability set belongs to: 0 for v2 (host root), the stored one for v3; None otherwise."""
    if len(value) < 4:
        return None
    revision = struct.unpack_from("<I", value)[0] & VFS_CAP_REVISION_MASK
    if revision == VFS_CAP_REVISION_2 and len(value) == CAP_V2_SIZE:
        return 0
    if revision == VFS_CAP_REVISION_3 and len(value) == CAP_V3_SIZE:
        return int(struct.unpack_from("<I", value, 20)[0])
    return None


def shift_capability(value: bytes, uid: Callable[[int], Optional[int]]) -> Optional[bytes]:
    """A security.capability xattr for the other side: the root id it belongs to shifted, written as v2 when that
    is host root and as v3 otherwise. None when the root id has no place there; unknown formats are kept."""
    rootid = capability_rootid(value)
    if rootid is None:
        return value
    mapped = uid(rootid)
    if mapped is None:
        return None
    magic = struct.unpack_from("<I", value)[0]
    flags = magic & ~VFS_CAP_REVISION_MASK & 0xFFFFFFFF
    data = value[4:20]
    if mapped == 0:
        return struct.pack("<I", VFS_CAP_REVISION_2 | flags) + data
    return struct.pack("<I", VFS_CAP_REVISION_3 | flags) + data + struct.pack("<I", mapped)


# ---- the data directory's layout ----------------------------------------------------------------


def read_json(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def read_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def listdir(path: str) -> List[str]:
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


class Unit:
    """One part of a carry, copied and recorded as a whole: a layer, a container, a volume, or metadata."""

    def __init__(self, name: str, kind: str):
        self.name = name  # the path relative to the data directory: "overlay2/ID", "containers/ID", "image" ...
        self.kind = kind  # "layer", "container", "volume", "meta"


class Layout:
    """What a data directory holds, read from its files."""

    def __init__(self, root: str):
        self.root = root
        self.problems: List[str] = []
        self.images: List[Dict[str, Any]] = []
        self.containers: List[Dict[str, Any]] = []
        self.volumes: List[Dict[str, Any]] = []
        self.layer_ids: Set[str] = set()
        self.image_layers: Dict[str, List[str]] = {}  # image id -> overlay2 ids
        self.container_layers: Dict[str, List[str]] = {}
        self.unused_layers: List[str] = []
        self.managed_plugins = 0
        self.read()

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def read(self) -> None:
        if not os.path.isdir(self.root):
            return
        drivers = [name for name in listdir(self.path("image")) if os.path.isdir(self.path("image", name))]
        for driver in drivers:
            if driver != "overlay2" and listdir(self.path("image", driver, "imagedb", "content", "sha256")):
                self.problems.append("%s holds images of the storage driver %s: only overlay2 is carried" % (self.path("image", driver), driver))
        info = read_json(self.path("image", "overlay2", "repositories.json")) or {}
        tags: Dict[str, List[str]] = {}
        for _repo, refs in sorted((info.get("Repositories") or {}).items()):
            for ref, image_id in sorted((refs or {}).items()):
                if "@" not in ref:
                    tags.setdefault(image_id, []).append(ref)
        layerdb = self.path("image", "overlay2", "layerdb")
        chains: Dict[str, str] = {}  # chain id -> cache id
        for chain in listdir(os.path.join(layerdb, "sha256")):
            cache = read_line(os.path.join(layerdb, "sha256", chain, "cache-id"))
            if cache:
                chains[chain] = cache
                self.layer_ids.add(cache)
        for image in listdir(self.path("image", "overlay2", "imagedb", "content", "sha256")):
            config = read_json(self.path("image", "overlay2", "imagedb", "content", "sha256", image)) or {}
            diff_ids = ((config.get("rootfs") or {}).get("diff_ids")) or []
            layers = []
            chain = ""
            for diff_id in diff_ids:
                chain = diff_id if not chain else "sha256:" + hashlib.sha256(("%s %s" % (chain, diff_id)).encode()).hexdigest()
                layer = chains.get(chain.split(":", 1)[-1])
                if layer:
                    layers.append(layer)
            image_id = "sha256:" + image
            self.image_layers[image_id] = layers
            self.images.append({"id": image_id, "tags": tags.get(image_id, []), "size": 0})
        used_by: Dict[str, List[str]] = {}
        for cid in listdir(self.path("containers")):
            config = read_json(self.path("containers", cid, "config.v2.json"))
            if not isinstance(config, dict):
                if os.path.isdir(self.path("containers", cid)):
                    self.problems.append("%s has no readable config.v2.json" % self.path("containers", cid))
                continue
            driver = config.get("Driver") or "overlay2"
            if driver != "overlay2":
                self.problems.append("container %s uses the storage driver %s: only overlay2 is carried" % (cid[:12], driver))
            name = str(config.get("Name") or "").lstrip("/")
            mounts = [read_line(os.path.join(layerdb, "mounts", cid, key)) for key in ("mount-id", "init-id")]
            layers = [layer for layer in mounts if layer]
            self.container_layers[cid] = layers
            self.layer_ids.update(layers)
            volumes = []
            for point in (config.get("MountPoints") or {}).values():
                if isinstance(point, dict) and point.get("Type") == "volume" and point.get("Name"):
                    volumes.append(point["Name"])
                    used_by.setdefault(point["Name"], []).append(name)
            self.containers.append({"id": cid, "name": name, "image": str((config.get("Config") or {}).get("Image") or config.get("Image") or ""),
                                    "running": bool((config.get("State") or {}).get("Running")), "size": 0, "volumes": sorted(volumes)})
        for name in listdir(self.path("volumes")):
            if not os.path.isdir(self.path("volumes", name)):
                continue
            options = read_json(self.path("volumes", name, "opts.json")) or {}
            host_backed = bool(options.get("MountDevice") or options.get("MountType") or options.get("MountOpts"))
            self.volumes.append({"name": name, "anonymous": bool(HEX64.fullmatch(name)), "host_backed": host_backed,
                                 "size": 0, "used_by": sorted(used_by.get(name, []))})
        overlay = self.path("overlay2")
        self.unused_layers = [name for name in listdir(overlay) if name != "l" and name not in self.layer_ids
                              and os.path.isdir(os.path.join(overlay, name))]
        self.layer_ids = {layer for layer in self.layer_ids if os.path.isdir(os.path.join(overlay, layer))}
        self.managed_plugins = len([name for name in listdir(self.path("plugins")) if HEX64.fullmatch(name)])

    def units(self) -> List[Unit]:
        units = [Unit("overlay2/" + layer, "layer") for layer in sorted(self.layer_ids)]
        units += [Unit("containers/" + container["id"], "container") for container in self.containers]
        units += [Unit("volumes/" + volume["name"], "volume") for volume in self.volumes]
        for meta in ("image", "volumes/metadata.db", "network/files/local-kv.db"):
            if os.path.lexists(self.path(meta)):
                units.append(Unit(meta, "meta"))
        return units

    def holds_data(self) -> bool:
        return bool(self.images or self.containers or self.volumes)

    def counts(self) -> Dict[str, int]:
        return {"images": len(self.images), "containers": len(self.containers), "volumes": len(self.volumes)}


def rewrite_paths(value: Any, old: str, new: str) -> Any:
    """Every string in a container's config.v2.json that names a file of the old data directory's containers or
    volumes, named in the new one."""
    if isinstance(value, dict):
        return {key: rewrite_paths(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite_paths(item, old, new) for item in value]
    if isinstance(value, str):
        for part in ("/containers/", "/volumes/"):
            if value.startswith(old + part):
                return new + value[len(old):]
    return value


def rewritten_config(data: bytes, old: str, new: str) -> bytes:
    config = json.loads(data.decode("utf-8"))
    return json.dumps(rewrite_paths(config, old, new), separators=(",", ":")).encode("utf-8")


# ---- owner rules ------------------------------------------------------------------------------

KEEP = "keep"  # Docker's own: owner and group as they are
SHIFT = "shift"  # the container's: owner and group shifted
GROUP = "group"  # a directory Docker gives root and the remapped root's group, which must pass through it to reach
# a container's files (the data directory, overlay2, overlay2/ID, containers, containers/ID, containers/ID/mounts:
# measured on Docker 20.10 and 26.1)


def entry_rule(unit: Unit, rel: str) -> str:
    """How the owner of the entry at ``rel`` (relative to the unit, "" for the unit itself) changes."""
    parts = rel.split("/") if rel else []
    if unit.kind == "layer":
        if not parts:
            return GROUP
        return SHIFT if parts[0] in LAYER_CONTENT else KEEP
    if unit.kind == "container":
        if not parts or parts == ["mounts"]:
            return GROUP
        if len(parts) == 1 and parts[0] in CONTAINER_OWN_FILES:
            return SHIFT
        return KEEP
    if unit.kind == "volume":
        return SHIFT if parts and parts[0] == "_data" else KEEP
    return KEEP


# ---- walking, copying and comparing -------------------------------------------------------------


class Progress:
    """Progress lines in a log file, at most one every PROGRESS_SECONDS (and at each phase)."""

    def __init__(self, path: str, total_bytes: int, total_entries: int, label: str):
        self.path = path
        self.total_bytes = max(total_bytes, 1)
        self.total_entries = total_entries
        self.label = label
        self.bytes = 0
        self.entries = 0
        self.started = time.monotonic()
        self.last = 0.0
        self.unit = ""
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)

    def line(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("%s %s\n" % (stamp, text))

    def tick(self, nbytes: int = 0, entries: int = 1) -> None:
        self.bytes += nbytes
        self.entries += entries
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self.report()

    def report(self) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.bytes / elapsed
        left = (self.total_bytes - self.bytes) / rate if rate > 0 else 0
        self.line("%s: %s of %s (%d%%), %d of %d entries, %s/s, about %d s left; now %s" % (
            self.label, human(self.bytes), human(self.total_bytes), min(100, 100 * self.bytes // self.total_bytes),
            self.entries, self.total_entries, human(int(rate)), max(0, int(left)), self.unit))


def human(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return ("%d %s" % (size, unit)) if unit == "B" else ("%.1f %s" % (size, unit))
        size /= 1024
    return "%d B" % value


class UnitScan:
    def __init__(self) -> None:
        self.bytes = 0
        self.entries = 0
        self.fingerprint = ""


def scan_unit(root: str, unit: Unit, shift: Optional[Shift], problems: List[str], limit: int = 20, mounts: bool = True) -> UnitScan:
    """Stat every entry of a unit: its size on disk, its count, a fingerprint (what changes when anything in it
    changes) and the problems a carry would meet (ids with no place in the target; with ``mounts``, mount points:
    while Docker runs, a running container's layers are mounted, which only a carry minds)."""
    result = UnitScan()
    digest = hashlib.blake2b(digest_size=16)
    top = os.path.join(root, unit.name)
    try:
        top_stat = os.lstat(top)
    except FileNotFoundError:
        result.fingerprint = "absent"
        return result
    device = top_stat.st_dev
    stack: List[Tuple[str, os.stat_result]] = [("", top_stat)]
    while stack:
        rel, st = stack.pop()
        result.entries += 1
        if stat.S_ISREG(st.st_mode):
            result.bytes += st.st_blocks * 512
        fields = (rel, st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_nlink)
        digest.update(("%s\0%o\0%d\0%d\0%d\0%d\0%d\0%d\0%d\n" % fields).encode("utf-8", "surrogateescape"))
        path = os.path.join(top, rel) if rel else top
        if st.st_dev != device:
            if mounts and len(problems) < limit:
                problems.append("%s is a mount point (another file system): unmount it, Docker must be stopped" % path)
            continue
        if shift is not None and entry_rule(unit, rel) == SHIFT and len(problems) < limit:
            if shift.uid(st.st_uid) is None or shift.gid(st.st_gid) is None:
                problems.append("%s is owned by %d:%d, which the remap range %s cannot hold" % (path, st.st_uid, st.st_gid, range_text(shift)))
            elif not stat.S_ISLNK(st.st_mode):
                for name in ACL_XATTRS + (CAPABILITY_XATTR,):
                    problem = xattr_problem(path, name, shift)
                    if problem:
                        problems.append(problem)
        if stat.S_ISDIR(st.st_mode):
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        stack.append((rel + "/" + entry.name if rel else entry.name, entry.stat(follow_symlinks=False)))
            except OSError as err:
                problems.append("cannot read %s: %s" % (path, err.strerror))
    result.fingerprint = digest.hexdigest()
    return result


def range_text(shift: Shift) -> str:
    """The ids a shift can hold, as a reader of the problem needs them: container ids forward, host ids back."""
    if shift.forward:
        return "(container ids 0-%d)" % (shift.uids.size - 1)
    return "(host ids %s)" % ", ".join("%d-%d" % (host, host + size - 1) for _container, host, size in shift.uids.ranges)


def xattr_problem(path: str, name: str, shift: Shift) -> str:
    try:
        value = os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return ""
    if name == CAPABILITY_XATTR:
        if shift_capability(value, shift.uid) is None:
            return "%s has file capabilities for root id %s, which the remap range cannot hold" % (path, capability_rootid(value))
        return ""
    if shift_acl(value, shift.uid, shift.gid) is None:
        return "%s has an ACL (%s) naming ids the remap range cannot hold: %s" % (path, name, sorted(acl_ids(value)))
    return ""


class Copier:
    """Copies one unit into the stage, owners as entry_rule says, every attribute kept."""

    def __init__(self, shift: Shift, progress: Optional[Progress]):
        self.shift = shift
        self.progress = progress
        self.counts = {"files": 0, "directories": 0, "symlinks": 0, "other": 0, "hardlinks": 0, "bytes": 0}
        self.links: Dict[Tuple[int, int], str] = {}
        self.unit = Unit("", "meta")
        self.rewrite: Optional[Tuple[str, str]] = None

    def owner(self, rel: str, st: os.stat_result) -> Tuple[int, int]:
        rule = entry_rule(self.unit, rel)
        if rule == SHIFT:
            uid, gid = self.shift.uid(st.st_uid), self.shift.gid(st.st_gid)
            if uid is None or gid is None:
                raise CarryError("%s is owned by %d:%d, which the remap range cannot hold" % (rel, st.st_uid, st.st_gid))
            return uid, gid
        if rule == GROUP and st.st_gid in (0, self.shift.gids.root):
            return st.st_uid, self.shift.group_of_docker_dirs
        return st.st_uid, st.st_gid

    def xattrs(self, path: str, rel: str, fd: Optional[int] = None) -> List[Tuple[str, bytes]]:
        """The extended attributes to write on the copy, shifted where they hold ids (capabilities last)."""
        target: Any = fd if fd is not None else path
        try:
            names = os.listxattr(target, follow_symlinks=False) if fd is None else os.listxattr(fd)
        except OSError as err:
            if err.errno in (errno.ENOTSUP, errno.EPERM):
                return []
            raise
        shifted = entry_rule(self.unit, rel) == SHIFT
        out: List[Tuple[str, bytes]] = []
        capability = None
        for name in sorted(names):
            value = os.getxattr(target, name, follow_symlinks=False) if fd is None else os.getxattr(fd, name)
            if shifted and name in ACL_XATTRS:
                changed = shift_acl(value, self.shift.uid, self.shift.gid)
                if changed is None:
                    raise CarryError("%s has an ACL naming ids the remap range cannot hold" % path)
                value = changed
            if name == CAPABILITY_XATTR:
                if shifted:
                    changed = shift_capability(value, self.shift.uid)
                    if changed is None:
                        raise CarryError("%s has file capabilities for a root id the remap range cannot hold" % path)
                    value = changed
                capability = (name, value)
                continue
            out.append((name, value))
        if capability:
            out.append(capability)
        return out

    def copy_unit(self, src_root: str, dst_root: str, unit: Unit) -> None:
        self.unit = unit
        self.links = {}
        src = os.path.join(src_root, unit.name)
        dst = os.path.join(dst_root, unit.name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        self.copy_entry(src, dst, "", os.lstat(src))

    def copy_entry(self, src: str, dst: str, rel: str, st: os.stat_result) -> None:
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(dst, 0o700)
            with os.scandir(src) as entries:
                children = sorted((entry.name, entry.stat(follow_symlinks=False)) for entry in entries)
            for name, child in children:
                self.copy_entry(os.path.join(src, name), os.path.join(dst, name), rel + "/" + name if rel else name, child)
            self.finish(src, dst, rel, st)
            self.counts["directories"] += 1
        elif stat.S_ISREG(mode):
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                first = self.links.get(key)
                if first is not None:
                    os.link(first, dst)
                    self.counts["hardlinks"] += 1
                    self.tick(0)
                    return
                self.links[key] = dst
            self.copy_file(src, dst, rel, st)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), dst)
            self.finish(src, dst, rel, st)
            self.counts["symlinks"] += 1
        else:  # character and block devices (overlay whiteouts are 0:0 character devices), FIFOs, sockets
            os.mknod(dst, stat.S_IFMT(mode) | 0o600, st.st_rdev)
            self.finish(src, dst, rel, st)
            self.counts["other"] += 1
        self.tick(st.st_blocks * 512 if stat.S_ISREG(mode) else 0)

    def tick(self, nbytes: int) -> None:
        if self.progress is not None:
            self.progress.tick(nbytes)

    def finish(self, src: str, dst: str, rel: str, st: os.stat_result) -> None:
        """Owner, then mode (a chown clears setuid bits), then extended attributes (capabilities last: a chown
        clears them too), then times - on a path, not following symlinks."""
        uid, gid = self.owner(rel, st)
        os.lchown(dst, uid, gid)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        for name, value in self.xattrs(src, rel):
            os.setxattr(dst, name, value, follow_symlinks=False)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)

    def copy_file(self, src: str, dst: str, rel: str, st: os.stat_result) -> None:
        rewrite = self.rewrite if self.unit.kind == "container" and rel == "config.v2.json" else None
        src_fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                if rewrite is not None:
                    with os.fdopen(os.dup(src_fd), "rb") as handle:
                        data = rewritten_config(handle.read(), rewrite[0], rewrite[1])
                    os.write(dst_fd, data)
                else:
                    copy_data(src_fd, dst_fd, st)
                uid, gid = self.owner(rel, st)
                os.fchown(dst_fd, uid, gid)
                os.fchmod(dst_fd, stat.S_IMODE(st.st_mode))
                for name, value in self.xattrs(src, rel, src_fd):
                    os.setxattr(dst_fd, name, value)
                os.utime(dst_fd, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(dst_fd)
        finally:
            os.close(src_fd)
        self.counts["files"] += 1
        self.counts["bytes"] += st.st_size


def copy_range(src_fd: int, dst_fd: int, offset: int, end: int) -> None:
    """Copy [offset, end) to the same offsets: copy_file_range where the kernel has it, read and write otherwise."""
    while offset < end:
        count = min(end - offset, COPY_CHUNK)
        try:
            done = os.copy_file_range(src_fd, dst_fd, count, offset, offset)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
            data = os.pread(src_fd, min(count, COMPARE_CHUNK), offset)
            done = os.pwrite(dst_fd, data, offset) if data else 0
        if done == 0:
            break  # the file got shorter: the comparison afterwards will say so
        offset += done


def copy_data(src_fd: int, dst_fd: int, st: os.stat_result) -> None:
    """The content, holes kept: only the data segments (SEEK_DATA/SEEK_HOLE) are written, then the size is set."""
    size = st.st_size
    if size and st.st_blocks * 512 >= size:
        copy_range(src_fd, dst_fd, 0, size)  # no hole can hide in a file whose blocks cover its size
    else:
        for start, end in data_segments(src_fd, size):
            copy_range(src_fd, dst_fd, start, end)
    os.ftruncate(dst_fd, size)


class Comparer:
    """Checks a copied unit against its source: the same entries, the owners the rules give, the same modes,
    times, sizes, links, devices and extended attributes (shifted where they hold ids), and with content, the
    same bytes."""

    def __init__(self, copier: Copier, content: bool, progress: Optional[Progress]):
        self.copier = copier
        self.content = content
        self.progress = progress
        self.counts = {"entries": 0, "files": 0, "bytes": 0}

    def compare_unit(self, src_root: str, dst_root: str, unit: Unit) -> None:
        self.copier.unit = unit
        src_top = os.path.join(src_root, unit.name)
        dst_top = os.path.join(dst_root, unit.name)
        src_links: Dict[Tuple[int, int], str] = {}
        dst_links: Dict[Tuple[int, int], str] = {}
        stack = [""]
        while stack:
            rel = stack.pop()
            src = os.path.join(src_top, rel) if rel else src_top
            dst = os.path.join(dst_top, rel) if rel else dst_top
            try:
                dst_st = os.lstat(dst)
            except FileNotFoundError as err:
                raise CarryError("the copy has no %s" % dst) from err
            src_st = os.lstat(src)
            self.compare_entry(src, dst, rel, src_st, dst_st)
            if stat.S_ISREG(src_st.st_mode) and src_st.st_nlink > 1:
                first = src_links.setdefault((src_st.st_dev, src_st.st_ino), rel)
                if dst_links.setdefault((dst_st.st_dev, dst_st.st_ino), rel) != first:
                    raise CarryError("%s is not hard-linked as %s is" % (dst, src))
            if stat.S_ISDIR(src_st.st_mode):
                names = listdir(src)
                if names != listdir(dst):
                    raise CarryError("%s and %s do not hold the same names" % (src, dst))
                stack.extend(rel + "/" + name if rel else name for name in names)

    def compare_entry(self, src: str, dst: str, rel: str, src_st: os.stat_result, dst_st: os.stat_result) -> None:
        self.counts["entries"] += 1
        want_uid, want_gid = self.copier.owner(rel, src_st)
        rewritten = self.copier.rewrite is not None and self.copier.unit.kind == "container" and rel == "config.v2.json"
        checks = [
            ("type and mode", src_st.st_mode, dst_st.st_mode),
            ("owner", (want_uid, want_gid), (dst_st.st_uid, dst_st.st_gid)),
            ("modification time", src_st.st_mtime_ns, dst_st.st_mtime_ns),
            ("link count", src_st.st_nlink, dst_st.st_nlink),
        ]
        if not stat.S_ISDIR(src_st.st_mode) and not rewritten:
            checks.append(("size", src_st.st_size, dst_st.st_size))
        if stat.S_ISCHR(src_st.st_mode) or stat.S_ISBLK(src_st.st_mode):
            checks.append(("device", src_st.st_rdev, dst_st.st_rdev))
        if stat.S_ISLNK(src_st.st_mode):
            checks.append(("symlink target", os.readlink(src), os.readlink(dst)))
        for what, want, got in checks:
            if want != got:
                raise CarryError("%s: %s is %r, expected %r (from %s)" % (dst, what, got, want, src))
        if not stat.S_ISLNK(src_st.st_mode):
            want_xattrs = dict(self.copier.xattrs(src, rel))
            got_xattrs = dict(self.copier.xattrs(dst, "")) if want_xattrs or has_xattrs(dst) else {}
            if want_xattrs != got_xattrs:
                raise CarryError("%s: extended attributes %s, expected %s" % (dst, sorted(got_xattrs), sorted(want_xattrs)))
        if stat.S_ISREG(src_st.st_mode):
            if rewritten and self.copier.rewrite is not None:
                with open(src, "rb") as handle:
                    want = rewritten_config(handle.read(), *self.copier.rewrite)
                with open(dst, "rb") as handle:
                    if handle.read() != want:
                        raise CarryError("%s does not hold its source's configuration with the paths rewritten" % dst)
            elif self.content:
                same_content(src, dst)
                self.counts["files"] += 1
                self.counts["bytes"] += src_st.st_size
            if self.progress is not None:
                self.progress.tick(src_st.st_blocks * 512)


def has_xattrs(path: str) -> bool:
    try:
        return bool(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return False


def data_segments(fd: int, end: int, start: int = 0) -> Iterator[Tuple[int, int]]:
    """The (start, end) ranges of a file between ``start`` and ``end`` that hold data (SEEK_DATA/SEEK_HOLE); the
    whole range where the file system cannot tell."""
    offset = start
    while offset < end:
        try:
            data = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError as err:
            if err.errno == errno.ENXIO:
                return  # only a hole from here on
            if err.errno != errno.EINVAL:
                raise
            yield offset, end
            return
        if data >= end:
            return
        hole = min(os.lseek(fd, data, os.SEEK_HOLE), end)
        yield data, hole
        offset = hole


def same_content(src: str, dst: str) -> None:
    """The copy holds the source's bytes: its data segments compared, and the source's holes read as zeros in the
    copy (where the copy has data there at all). A sparse file is compared without reading its holes."""
    with open(src, "rb", buffering=0) as one, open(dst, "rb", buffering=0) as two:
        size = os.fstat(one.fileno()).st_size
        if os.fstat(two.fileno()).st_size != size:
            raise CarryError("%s does not have the size of %s" % (dst, src))
        checked = 0
        for start, end in data_segments(one.fileno(), size):
            zeros_in_copy(two.fileno(), checked, start, dst)
            compare_range(one.fileno(), two.fileno(), start, end, src, dst)
            checked = end
        zeros_in_copy(two.fileno(), checked, size, dst)


def compare_range(fd_one: int, fd_two: int, start: int, end: int, src: str, dst: str) -> None:
    offset = start
    while offset < end:
        count = min(COMPARE_CHUNK, end - offset)
        a = os.pread(fd_one, count, offset)
        if not a or a != os.pread(fd_two, count, offset):
            raise CarryError("%s differs from %s after byte %d" % (dst, src, offset))
        offset += len(a)


def zeros_in_copy(fd: int, start: int, end: int, dst: str) -> None:
    """A hole of the source: the copy must hold zeros there (a hole, or data that is zeros)."""
    for seg_start, seg_end in data_segments(fd, end, start):
        offset = seg_start
        while offset < seg_end:
            data = os.pread(fd, min(COMPARE_CHUNK, seg_end - offset), offset)
            if not data or data.count(0) != len(data):
                raise CarryError("%s holds data where its source has a hole (byte %d)" % (dst, offset))
            offset += len(data)


# ---- the journal ------------------------------------------------------------------------------------


def write_json_atomic(path: str, data: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    def __init__(self, carry_dir: str):
        self.path = os.path.join(carry_dir, "journal.json")
        self.data: Dict[str, Any] = read_json(self.path) or {}

    def save(self) -> None:
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_json_atomic(self.path, self.data)

    def pending(self) -> Optional[Dict[str, str]]:
        phase = self.data.get("phase")
        if phase in ("copying", "swapping"):
            return {"direction": str(self.data.get("direction")), "phase": str(phase)}
        return None


# ---- the carry ----------------------------------------------------------------------------------


def docker_running(pidfile: str) -> Optional[int]:
    """The pid of the dockerd that the pid file names, when it runs."""
    text = read_line(pidfile)
    if not text.isdigit():
        return None
    comm = read_line("/proc/%s/comm" % text)
    return int(text) if comm == "dockerd" else None


def hold_lock(carry_dir: str) -> Optional[int]:
    """An exclusive lock on the carry directory for the rest of this process (two carries at once would undo each
    other's work); None when another process holds it."""
    os.makedirs(carry_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(carry_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_tree(path: str) -> None:
    if os.path.lexists(path):
        shutil.rmtree(path)


class Carry:
    """One run of the module: paths, the journal, and the steps of inventory, carry and abort."""

    def __init__(self, params: Dict[str, Any], maps: Optional[Tuple[IdMap, IdMap]]):
        self.params = params
        self.data_root = os.path.abspath(params["data_root"])
        self.forward = params["direction"] == "forward"
        self.maps = maps
        remapped = os.path.join(self.data_root, "%d.%d" % (maps[0].root, maps[1].root)) if maps else ""
        self.source = self.data_root if self.forward else remapped
        self.target = remapped if self.forward else self.data_root
        self.shift = Shift(maps[0], maps[1], self.forward) if maps else None
        if maps is None and self.forward and params.get("planned_count"):
            planned = IdMap([(0, params["planned_count"])])  # where it will start is not known yet; its size is
            self.check_shift: Optional[Shift] = Shift(planned, planned, True)
        else:
            self.check_shift = self.shift
        self.carry_dir = os.path.join(self.data_root, CARRY_DIR)
        self.stage = os.path.join(self.carry_dir, "stage")
        self.journal = Journal(self.carry_dir)
        self.progress_log = params["progress_log"] or os.path.join(self.carry_dir, "progress.log")

    # -- inventory --

    def inventory(self, mounts: bool) -> Tuple[Layout, Dict[str, UnitScan], List[str]]:
        problems: List[str] = []
        if not self.source or not os.path.isdir(self.source):
            return Layout(self.source or self.data_root), {}, problems
        layout = Layout(self.source)
        problems.extend(layout.problems)
        scans = {unit.name: scan_unit(self.source, unit, self.check_shift, problems, mounts=mounts) for unit in layout.units()}
        return layout, scans, problems

    def describe(self, layout: Layout, scans: Dict[str, UnitScan]) -> Dict[str, Any]:
        def size(units: List[str]) -> int:
            return sum(scans[name].bytes for name in units if name in scans)
        images = [dict(image, size=size(["overlay2/" + layer for layer in layout.image_layers.get(image["id"], [])])) for image in layout.images]
        containers = [dict(container, size=size(["containers/" + container["id"]]
                                                + ["overlay2/" + layer for layer in layout.container_layers.get(container["id"], [])]))
                      for container in layout.containers]
        volumes = [dict(volume, size=size(["volumes/" + volume["name"]])) for volume in layout.volumes]
        unused_bytes = 0
        for layer in layout.unused_layers:
            unused_bytes += scan_unit(layout.root, Unit("overlay2/" + layer, "layer"), None, []).bytes
        return {"images": images, "containers": containers, "volumes": volumes,
                "not_carried": {"unused_layers": len(layout.unused_layers), "unused_layer_bytes": unused_bytes,
                                "managed_plugins": layout.managed_plugins},
                "bytes": sum(scan.bytes for scan in scans.values()), "entries": sum(scan.entries for scan in scans.values())}

    def space(self, needed_bytes: int, needed_inodes: int) -> Dict[str, Any]:
        where = self.data_root if os.path.isdir(self.data_root) else os.path.dirname(self.data_root)
        vfs = os.statvfs(where)
        free = vfs.f_bavail * vfs.f_frsize
        free_inodes = vfs.f_favail if vfs.f_files else -1  # file systems without an inode limit report 0 inodes
        reserve = self.params["reserve_mb"] * 1024 * 1024
        enough = free - needed_bytes >= reserve and (free_inodes < 0 or free_inodes >= needed_inodes)
        return {"needed_bytes": needed_bytes, "needed_inodes": needed_inodes, "free_bytes": free, "free_inodes": free_inodes,
                "reserve_bytes": reserve, "enough": enough}

    # -- resuming --

    def same_carry(self) -> bool:
        data = self.journal.data
        return (data.get("version") == JOURNAL_VERSION and data.get("direction") == self.params["direction"]
                and data.get("source") == self.source and data.get("target") == self.target
                and self.maps is not None and data.get("uid_map") == self.maps[0].as_list() and data.get("gid_map") == self.maps[1].as_list())

    def undo_swap(self) -> None:
        """Put back what an interrupted swap had renamed, last rename first."""
        for src, dst in reversed(self.journal.data.get("swaps") or []):
            if os.path.lexists(dst) and not os.path.lexists(src):
                os.makedirs(os.path.dirname(src), exist_ok=True)
                os.rename(dst, src)
        self.journal.data["swaps"] = []

    def roll_back(self) -> str:
        """Abort what the journal says is unfinished; return where the stage was, or ""."""
        if self.journal.data.get("phase") == "swapping":
            self.undo_swap()
        removed = self.stage if os.path.lexists(self.stage) else ""
        remove_tree(self.stage)
        if self.journal.data:
            self.journal.data.update(phase="aborted", units={}, swaps=[])
            self.journal.save()
        return removed

    # -- the copy --

    def carry(self, layout: Layout, scans: Dict[str, UnitScan], progress: Progress, content: bool) -> Dict[str, Any]:
        if self.shift is None or self.maps is None:
            raise CarryError("the remap user has no range: there is nothing to carry into")
        journal = self.journal
        if not self.same_carry() or journal.data.get("phase") not in ("copying", "swapping"):
            if journal.data.get("phase") in ("copying", "swapping"):
                self.roll_back()  # another carry's leftovers: this one starts afresh
            remove_tree(self.stage)
            journal.data = {"version": JOURNAL_VERSION, "direction": self.params["direction"], "source": self.source,
                            "target": self.target, "uid_map": self.maps[0].as_list(), "gid_map": self.maps[1].as_list(),
                            "phase": "copying", "units": {}, "swaps": [], "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            journal.save()
        elif journal.data.get("phase") == "swapping":
            self.undo_swap()  # the stage is checked again below: the source may have changed since
            journal.data["phase"] = "copying"
            journal.save()
        copier = Copier(self.shift, progress)
        copier.rewrite = (self.source, self.target)
        units = layout.units()
        names = {unit.name for unit in units}
        done: Dict[str, str] = journal.data.get("units") or {}
        kept = {name: fp for name, fp in done.items() if name in names and scans[name].fingerprint == fp
                and os.path.lexists(os.path.join(self.stage, name))}
        for name in set(done) - set(kept):  # changed since, or gone: copied again, or not at all
            remove_tree(os.path.join(self.stage, name))
        journal.data["units"] = dict(kept)
        journal.save()
        self.make_skeleton()
        last_sync = time.monotonic()
        unsynced: Dict[str, str] = {}
        unsynced_bytes = 0
        for unit in units:
            if unit.name in kept:
                continue
            progress.unit = unit.name
            remove_tree(os.path.join(self.stage, unit.name))
            copier.copy_unit(self.source, self.stage, unit)
            if unit.kind == "layer":
                self.link_layer(unit)
            unsynced[unit.name] = scans[unit.name].fingerprint
            unsynced_bytes += scans[unit.name].bytes
            # Recorded every few seconds, or sooner after much data: what a resume keeps, at the cost of a sync.
            if time.monotonic() - last_sync >= SYNC_SECONDS or unsynced_bytes >= SYNC_BYTES:
                self.record(unsynced)
                last_sync = time.monotonic()
                unsynced_bytes = 0
        self.record(unsynced)
        progress.report()
        progress.line("%s: copied %d parts (%d kept from an interrupted run); comparing" % (progress.label, len(units) - len(kept), len(kept)))
        comparer = Comparer(copier, content, Progress(progress.path, progress.total_bytes, progress.total_entries, progress.label + ", comparing"))
        for unit in units:
            comparer.compare_unit(self.source, self.stage, unit)
        self.compare_skeleton()
        progress.line("%s: compared %d entries, %d files byte for byte; swapping into place"
                      % (progress.label, comparer.counts["entries"], comparer.counts["files"]))
        moved = self.swap()
        progress.line("%s: done; %s" % (progress.label, ("what was at the target is in %s" % moved) if moved else "nothing was at the target"))
        counts = dict(copier.counts, units=len(units) - len(kept), resumed_units=len(kept))
        return {"carried": counts, "verified": comparer.counts, "moved_aside": moved}

    def record(self, unsynced: Dict[str, str]) -> None:
        """Mark units done once they are on disk (a power loss must not leave a unit marked done but unwritten)."""
        if not unsynced:
            return
        os.sync()
        self.journal.data["units"].update(unsynced)
        self.journal.save()
        unsynced.clear()

    def docker_dirs(self) -> List[Tuple[str, int, int]]:
        """(path in the stage, mode, gid) of the directories around the units, as Docker makes them."""
        if self.shift is None:
            raise CarryError("the remap user has no range")
        group = self.shift.group_of_docker_dirs
        dirs = []
        for rel, mode, grouped in (("", 0o710, True), ("overlay2", 0o710, True), ("overlay2/l", 0o700, False), ("containers", 0o710, True),
                                   ("volumes", 0o701, False), ("network", 0o750, False), ("network/files", 0o750, False)):
            dirs.append((rel, mode, group if grouped else 0))
        return dirs

    def make_skeleton(self) -> None:
        os.makedirs(self.carry_dir, mode=0o700, exist_ok=True)
        for rel, mode, gid in self.docker_dirs():
            path = os.path.join(self.stage, rel) if rel else self.stage
            if not os.path.isdir(path):
                os.mkdir(path, mode)
            os.chown(path, 0, gid)
            os.chmod(path, mode)

    def compare_skeleton(self) -> None:
        for rel, mode, gid in self.docker_dirs():
            st = os.lstat(os.path.join(self.stage, rel) if rel else self.stage)
            if (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) != (mode, 0, gid):
                raise CarryError("%s: mode %o owner %d:%d, expected %o 0:%d" % (rel or self.stage, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, mode, gid))

    def link_layer(self, unit: Unit) -> None:
        """overlay2/l/SHORT -> ../ID/diff: the short names the layers' lower files use."""
        short = read_line(os.path.join(self.source, unit.name, "link"))
        if short and "/" not in short:
            link = os.path.join(self.stage, "overlay2", "l", short)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink("../%s/diff" % unit.name.split("/", 1)[1], link)

    def swap(self) -> str:
        """Rename the stage into place, what was there moved aside. Forward it is one rename of the whole remapped
        directory; back, one per top-level directory of the plain one (Docker, stopped, reads none of them; the
        journal lets an interruption be undone)."""
        journal = self.journal
        os.sync()
        journal.data["phase"] = "swapping"
        journal.data["swaps"] = []
        journal.save()
        aside = os.path.join(self.carry_dir, "replaced-%s-%s" % (self.params["direction"], time.strftime("%Y%m%dT%H%M%S")))
        moves: List[Tuple[str, str]] = []
        if self.forward:
            if os.path.lexists(self.target):
                moves.append((self.target, os.path.join(aside, os.path.basename(self.target))))
            moves.append((self.stage, self.target))
        else:
            # network/: only its local-kv.db is carried, so only that file is swapped.
            names = [name for name in listdir(self.stage) if name != "network"]
            names += ["network/files/local-kv.db"] if os.path.lexists(os.path.join(self.stage, "network/files/local-kv.db")) else []
            for rel in names:
                if os.path.lexists(os.path.join(self.target, rel)):
                    moves.append((os.path.join(self.target, rel), os.path.join(aside, rel)))
                moves.append((os.path.join(self.stage, rel), os.path.join(self.target, rel)))
        for src, dst in moves:
            self.swap_one(src, dst)
        if not self.forward:
            st = os.lstat(self.target)
            os.chown(self.target, 0, 0)
            os.chmod(self.target, stat.S_IMODE(st.st_mode))
            remove_tree(self.stage)
        fsync_dir(self.data_root)
        moved = aside if os.path.lexists(aside) else ""
        journal.data.update(phase="done", swaps=[], finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"), moved_aside=moved)
        journal.save()
        return moved

    def swap_one(self, src: str, dst: str) -> None:
        """One rename of the swap, recorded in the journal before it is made (undo_swap reverses it)."""
        os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
        self.journal.data["swaps"].append([src, dst])
        self.journal.save()
        os.rename(src, dst)

    def finished(self, scans: Dict[str, UnitScan]) -> bool:
        """Whether the target holds this very carry, finished, of a source unchanged since."""
        units = self.journal.data.get("units") or {}
        return (self.same_carry() and self.journal.data.get("phase") == "done" and os.path.isdir(self.target)
                and set(units) == set(scans) and all(scans[name].fingerprint == fp for name, fp in units.items()))


def run(module: Any) -> Dict[str, Any]:
    params = module.params
    maps = load_maps(params["remap_user"])
    job = Carry(params, maps)
    result: Dict[str, Any] = {"changed": False, "source": job.source, "target": job.target, "journal": job.journal.path,
                              "progress_log": job.progress_log, "pending": job.journal.pending(), "problems": [],
                              "target_inventory": None}
    if maps is None and not job.forward:
        module.fail_json(msg="%s has no range in /etc/subuid and /etc/subgid: the remapped data directory cannot be named" % params["remap_user"], **result)
    if params["action"] == "abort":
        if result["pending"] is not None and not module.check_mode:
            lock = hold_lock(job.carry_dir)
            if lock is None:
                module.fail_json(msg="A carry runs on %s: wait for it, or stop it first" % job.data_root, **result)
                return result  # (fail_json exits)
            try:
                result["moved_aside"] = job.roll_back()
            finally:
                os.close(lock)
            result["changed"] = True
        else:
            result["changed"] = result["pending"] is not None
            result["moved_aside"] = ""
        result.update(inventory={}, space={})
        return result
    layout, scans, problems = job.inventory(mounts=params["action"] == "carry")
    result["problems"] = problems
    result["inventory"] = job.describe(layout, scans)
    target_layout = Layout(job.target) if job.target and os.path.isdir(job.target) else None
    result["target_inventory"] = target_layout.counts() if target_layout else None
    finished = job.finished(scans) if maps else False
    if finished:
        needed_bytes = needed_inodes = 0
    else:
        kept = (job.journal.data.get("units") or {}) if job.same_carry() else {}
        todo = [name for name, scan in scans.items() if kept.get(name) != scan.fingerprint]
        needed_bytes = sum(scans[name].bytes for name in todo)
        needed_inodes = sum(scans[name].entries for name in todo)
    result["space"] = job.space(needed_bytes, needed_inodes)
    if params["action"] == "inventory":
        return result
    # action == carry
    if maps is None and module.check_mode:
        result["changed"] = bool(layout.holds_data())  # the range comes later in the run that this check mode previews
        return result
    if maps is None:
        module.fail_json(msg="%s has no range in /etc/subuid and /etc/subgid yet: create it first (the role's subids step)" % params["remap_user"], **result)
    if finished:
        return result
    if problems:
        module.fail_json(msg="Nothing was copied: %s" % "; ".join(problems), **result)
    if not result["space"]["enough"]:
        space = result["space"]
        module.fail_json(msg="Nothing was copied: the carry needs %s and %d inodes on %s, which has %s and %d inodes free, and %s must stay free"
                         % (human(space["needed_bytes"]), space["needed_inodes"], job.data_root, human(space["free_bytes"]), space["free_inodes"],
                            human(space["reserve_bytes"])), **result)
    result["changed"] = True
    if module._diff:
        before = target_layout.counts() if target_layout else {}
        result["diff"] = {"before": json.dumps(before, indent=1, sort_keys=True) + "\n",
                          "after": json.dumps(Layout(job.source).counts(), indent=1, sort_keys=True) + "\n",
                          "before_header": job.target, "after_header": job.target}
    if module.check_mode:
        return result
    lock = hold_lock(job.carry_dir)
    if lock is None:
        module.fail_json(msg="Another carry runs on %s (it holds %s/lock)" % (job.data_root, job.carry_dir), **result)
        return result  # (fail_json exits)
    try:
        return locked_carry(module, job, layout, scans, result)
    finally:
        os.close(lock)  # (a module's process ends here anyway; tests run it in theirs)


def locked_carry(module: Any, job: Carry, layout: Layout, scans: Dict[str, UnitScan], result: Dict[str, Any]) -> Dict[str, Any]:
    params = module.params
    pid = docker_running(params["docker_pidfile"])
    if pid is not None:
        module.fail_json(msg="Docker runs (pid %d, %s): stop it and its socket (systemctl stop docker.socket docker.service) before a carry"
                         % (pid, params["docker_pidfile"]), **result)
    started = time.monotonic()
    label = "carry %s %s -> %s" % (params["direction"], job.source, job.target)
    progress = Progress(job.progress_log, result["inventory"]["bytes"], result["inventory"]["entries"], label)
    progress.line("%s: starting, %s in %d entries" % (label, human(result["inventory"]["bytes"]), result["inventory"]["entries"]))
    try:
        result.update(job.carry(layout, scans, progress, params["verify"]))
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            job.roll_back()
            module.fail_json(msg="The disk filled up during the carry (%s): it was rolled back, the source is untouched. Free space, then run again."
                             % err, **result)
        module.fail_json(msg="The carry stopped (%s). The source is untouched; run again to resume, or abort it (action=abort). Journal: %s"
                         % (err, job.journal.path), **result)
    except CarryError as err:
        module.fail_json(msg="The carry stopped: %s. The source is untouched; run again to resume, or abort it (action=abort). Journal: %s"
                         % (err, job.journal.path), **result)
    result["seconds"] = round(time.monotonic() - started, 3)
    result["pending"] = None
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            data_root=dict(type="path", default="/var/lib/docker"),
            remap_user=dict(type="str", default="dockremap"),
            direction=dict(type="str", choices=["forward", "back"], default="forward"),
            action=dict(type="str", choices=["inventory", "carry", "abort"], default="inventory"),
            reserve_mb=dict(type="int", default=1024),
            planned_count=dict(type="int", default=0),
            verify=dict(type="bool", default=True),
            progress_log=dict(type="path"),
            docker_pidfile=dict(type="path", default="/var/run/docker.pid"),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
