"""Daemon lookups: the plugin asks the daemon what a container is (GET /containers/{ref}/json)
while it decides. The daemon holds no lock while it consults authorization plugins, and that
nested GET passes through this plugin too (it is allowed without a lookup). Facts are cached by
full container ID only: a name or an ID prefix can point to another container at any time, an ID
never does, and the facts of an ID never change (see lookups), so the cache gives the same answer
as a new lookup and can never turn a denial into an allow.
"""

from __future__ import annotations

import collections
import json
import re
import threading
import time
from typing import Dict, List, Optional, Tuple, TypeVar

from .containers import FULL_ID, as_text, container_from_inspect
from .daemon_api import DockerAPI, quote
from .host_devices import host_devices
from .host_network import read_host_network
from .host_paths import inspect_host_path
from .lookups import (
    Container,
    ContainerLookup,
    DaemonInfo,
    HostDevice,
    HostNetwork,
    HostPath,
    LookupFailed,
    Network,
    Volume,
    VolumeUser,
)

_K = TypeVar("_K")
_V = TypeVar("_V")


CACHE_SIZE = 1024


_HEX = re.compile(r"[0-9a-f]+")


HOLD_TIMEOUT = 600.0


class Holds:
    """Volumes the daemon may be filling with an image's files right now, for creates this plugin
    allowed and the daemon has not answered yet. Until it answers, nothing else may mount them: a
    process that writes into a volume while the daemon copies into it as real root can lead the
    copy anywhere on the host through symlinks. A hold ends with the create's AuthZRes (the daemon
    repeats the request's method and URI there), or after HOLD_TIMEOUT if none comes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_request: Dict[Tuple[str, str], List[Tuple[float, Tuple[str, ...]]]] = {}

    def __bool__(self) -> bool:
        return bool(self.by_request)

    def place(self, method: str, uri: str, volumes: Tuple[str, ...]) -> None:
        with self.lock:
            self.by_request.setdefault((method, uri), []).append((time.monotonic() + HOLD_TIMEOUT, volumes))

    def release(self, method: str, uri: str) -> None:
        with self.lock:
            placed = self.by_request.get((method, uri))
            if placed:
                placed.pop(0)
                if not placed:
                    del self.by_request[(method, uri)]

    def held(self, volume: str) -> bool:
        now = time.monotonic()
        with self.lock:
            for key in list(self.by_request):
                self.by_request[key] = [hold for hold in self.by_request[key] if hold[0] > now]
                if not self.by_request[key]:
                    del self.by_request[key]
            return any(volume in volumes for placed in self.by_request.values() for _expiry, volumes in placed)


class DaemonLookup(ContainerLookup):
    """Asks the daemon, and keeps what never changes for an ID."""

    def __init__(self, api: DockerAPI, cache: bool = True, holds: Optional[Holds] = None):
        self.api = api
        self.use_cache = cache
        self.holds = holds or Holds()
        self.lock = threading.Lock()
        self.containers: collections.OrderedDict[str, Container] = collections.OrderedDict()
        self.exec_containers: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.volumes: collections.OrderedDict[Tuple[str, str], Volume] = collections.OrderedDict()
        self.lookups = 0

    def _cached(self, table: collections.OrderedDict[_K, _V], key: _K) -> Optional[_V]:
        if not self.use_cache:
            return None
        with self.lock:
            value = table.get(key)
            if value is not None:
                table.move_to_end(key)
            return value

    def _keep(self, table: collections.OrderedDict[_K, _V], key: _K, value: _V) -> None:
        if not self.use_cache:
            return
        with self.lock:
            table[key] = value
            if len(table) > CACHE_SIZE:
                table.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.containers.clear()
            self.exec_containers.clear()
            self.volumes.clear()

    def container(self, ref: str) -> Optional[Container]:
        if FULL_ID.fullmatch(ref):
            cached = self._cached(self.containers, ref)
            if cached is not None:
                return cached
        self.lookups += 1
        status, data = self.api.get("/containers/%s/json" % quote(ref))
        if status == 404:
            return None
        container = container_from_inspect(data)
        self._check_unambiguous(ref, container)
        self._keep(self.containers, container.id, container)
        return container

    def _check_unambiguous(self, ref: str, container: Container) -> None:
        """The daemon resolves a reference as a full ID, else as a name, else as a unique ID
        prefix. When a name that is also hex resolved here, another container whose ID starts
        with it would take the reference over once the name is gone."""
        if ref == container.id or container.id.startswith(ref) or not _HEX.fullmatch(ref):
            return
        filters = quote(json.dumps({"id": [ref]}))
        _status, listed = self.api.get("/containers/json?all=1&filters=%s" % filters)
        others = [c.get("Id", "") for c in listed or [] if isinstance(c, dict) and str(c.get("Id", "")).startswith(ref) and c.get("Id") != container.id]
        if others:
            raise LookupFailed("the name %s is also the beginning of container %s's ID; refer to the container by its full ID" % (ref, others[0][:12]))

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        cached = self._cached(self.exec_containers, exec_id)
        if cached is not None:
            return cached
        self.lookups += 1
        status, data = self.api.get("/exec/%s/json" % quote(exec_id))
        if status == 404:
            return None
        container_id = data.get("ContainerID") if isinstance(data, dict) else None
        if not isinstance(container_id, str) or not container_id:
            raise LookupFailed("the daemon's description of exec %s names no container" % exec_id[:64])
        if isinstance(data, dict) and data.get("ID") == exec_id:
            self._keep(self.exec_containers, exec_id, container_id)
        return container_id

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        # A volume cannot be removed (and made again differently) while a container uses it.
        cached = self._cached(self.volumes, (used_by, name))
        if cached is not None:
            return cached
        self.lookups += 1
        status, data = self.api.get("/volumes/%s" % quote(name))
        if status == 404:
            return None
        if not isinstance(data, dict):
            raise LookupFailed("the daemon's description of volume %s is not an object" % name[:64])
        options = data.get("Options") or {}
        options = {str(k): as_text(v) for k, v in options.items()} if isinstance(options, dict) else {"?": "?"}
        volume = Volume(name, as_text(data.get("Driver")) or "local", options)
        if used_by:  # no container holds an unused volume: it can be removed and made anew
            self._keep(self.volumes, (used_by, name), volume)
        return volume

    def volume_users(self, name: str) -> List[VolumeUser]:
        self.lookups += 1
        _status, listed = self.api.get("/containers/json?all=1&filters=%s" % quote(json.dumps({"volume": [name]})))
        users = []
        for entry in listed if isinstance(listed, list) else []:
            if not isinstance(entry, dict):
                continue
            mounts = [m for m in entry.get("Mounts") or [] if isinstance(m, dict) and m.get("Name") == name]
            names = entry.get("Names") or [""]
            users.append(VolumeUser(as_text(names[0]).lstrip("/") or as_text(entry.get("Id"))[:12], as_text(entry.get("State")),
                                    not mounts or any(m.get("RW") is not False for m in mounts)))
        return users

    def volume_held(self, name: str) -> bool:
        return self.holds.held(name)

    def engine_version(self) -> str:
        """Asked every time: a daemon can be upgraded (or downgraded) under a running plugin."""
        self.lookups += 1
        _status, data = self.api.get("/version")
        version = data.get("Version") if isinstance(data, dict) else None
        if not isinstance(version, str):
            raise LookupFailed("the daemon's answer to GET /version has no Version")
        return version

    def daemon_info(self) -> DaemonInfo:
        """Asked every time: the daemon's configuration changes with a restart the plugin outlives."""
        self.lookups += 1
        _status, data = self.api.get("/info")
        root = data.get("DockerRootDir") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(root, str) or not root.startswith("/"):
            raise LookupFailed("the daemon's answer to GET /info has no DockerRootDir")
        options = data.get("SecurityOptions")
        remaps = isinstance(options, list) and any(as_text(o).split(",")[0] == "name=userns" for o in options)
        return DaemonInfo(root, remaps, as_text(data.get("LoggingDriver")))

    def network(self, ref: str) -> Optional[Network]:
        """The network a reference names, as the daemon resolves it (name, ID or ID prefix); not
        cached: a name can be given to another network at any time."""
        self.lookups += 1
        status, data = self.api.get("/networks/%s" % quote(ref))
        if status == 404:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("Id"), str):
            raise LookupFailed("the daemon's description of network %s has no Id" % ref[:64])
        return Network(data["Id"], as_text(data.get("Name")), as_text(data.get("Driver")))

    def host_path(self, path: str) -> HostPath:
        return inspect_host_path(path)

    def host_devices(self, path: str) -> List[HostDevice]:
        return host_devices(path)

    def host_network(self) -> HostNetwork:
        return read_host_network()


class LookupDeferred(BaseException):
    """Raised by the transport's first, non-blocking pass when a decision needs the daemon:
    the request then goes to a worker thread. A BaseException, so no `except Exception` in the
    policy can swallow it."""


class _DeferringLookup(ContainerLookup):
    def container(self, ref: str) -> Optional[Container]:
        raise LookupDeferred()

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        raise LookupDeferred()

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        raise LookupDeferred()

    def volume_users(self, name: str) -> List[VolumeUser]:
        raise LookupDeferred()

    def volume_held(self, name: str) -> bool:
        raise LookupDeferred()

    def engine_version(self) -> str:
        raise LookupDeferred()

    def daemon_info(self) -> DaemonInfo:
        raise LookupDeferred()

    def network(self, ref: str) -> Optional[Network]:
        raise LookupDeferred()

    def host_path(self, path: str) -> HostPath:
        raise LookupDeferred()  # a stat can block (a hung network mount): never in the loop

    def host_devices(self, path: str) -> List[HostDevice]:
        raise LookupDeferred()

    def host_network(self) -> HostNetwork:
        raise LookupDeferred()


DEFER = _DeferringLookup()
