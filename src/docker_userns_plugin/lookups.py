"""Lookups: what the policy may ask about existing things (containers, execs, volumes, networks,
the daemon and its engine, host paths, devices and network), as an interface the transport fills with real answers and tests with fakes,
and the facts those answers carry. Facts of a container never change for its ID: the user
namespace, the namespaces it joins and its mounts are fixed at create (a pre-1.24 start could
replace them, and the rules refuse that), and a volume cannot be removed while a container uses it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, FrozenSet, List, NamedTuple, Optional, Tuple, TypeVar


class LookupFailed(Exception):
    """The daemon could not tell the plugin what a container is; the reason is for the client."""


class Container(NamedTuple):
    id: str
    name: str  # without the leading "/"
    host_userns: bool
    joins: Tuple[Tuple[str, str], ...]  # (namespace, reference) of each container:REF mode
    mounts: Tuple[Tuple[str, str, str, str, str], ...]  # (type, name, source, destination, driver)
    user: str = ""  # Config.User: whom docker cp -a gives the files to
    creating_binds: Tuple[str, ...] = ()  # bind sources the daemon creates when they are missing

    @property
    def label(self) -> str:
        return "%s (%s)" % (self.name, self.id[:12]) if self.name else self.id[:12]


class Volume(NamedTuple):
    name: str
    driver: str
    options: Dict[str, str]


class VolumeUser(NamedTuple):
    """A container that mounts a volume, as the daemon lists it now."""
    name: str
    state: str  # "running", "paused", "restarting", "exited", "created" ...
    read_write: bool


class HostPath(NamedTuple):
    """What is at a host path, and who besides root could remove or replace it (or a directory
    on the way to it) later."""
    exists: bool
    is_dir: bool = False
    empty: bool = False  # a directory without entries
    root_only: bool = False  # owned by root, writable by nobody else
    changeable_by: str = ""  # "" when only root can; else who, for messages


class DaemonInfo(NamedTuple):
    """What the daemon says of itself (GET /info)."""
    data_root: str
    remaps: bool  # user namespace remapping is on ("name=userns" among its security options)
    logging_driver: str  # the default log driver


class Network(NamedTuple):
    id: str
    name: str
    driver: str


class HostDevice(NamedTuple):
    kind: str  # "c" or "b"
    major: int
    minor: int
    path: str

    @property
    def label(self) -> str:
        return "%s (%s %d:%d)" % (self.path, self.kind, self.major, self.minor)


class HostNetwork(NamedTuple):
    routes: Tuple[str, ...]  # "ADDRESS/PREFIX" of every route and address of the host, default routes left out
    interfaces: FrozenSet[str]


class ContainerLookup:
    """What the policy may ask about existing things. The transport passes one that asks the
    daemon; tests pass one that knows a few containers. Each method raises LookupFailed when it
    cannot tell, and returns None when the thing does not exist (the daemon answers 404 then)."""

    def container(self, ref: str) -> Optional[Container]:
        raise LookupFailed("this plugin was started without a way to look up containers")

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        raise LookupFailed("this plugin was started without a way to look up execs")

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        raise LookupFailed("this plugin was started without a way to look up volumes")

    def volume_users(self, name: str) -> List[VolumeUser]:
        raise LookupFailed("this plugin was started without a way to look up volumes")

    def volume_held(self, name: str) -> bool:
        """Whether the daemon may be copying an image's files into this volume right now, for a
        create this plugin allowed and the daemon has not answered yet (see Holds)."""
        return False

    def engine_version(self) -> str:
        raise LookupFailed("this plugin was started without a way to ask the daemon its version")

    def daemon_info(self) -> DaemonInfo:
        raise LookupFailed("this plugin was started without a way to ask the daemon about itself")

    def network(self, ref: str) -> Optional[Network]:
        raise LookupFailed("this plugin was started without a way to look up networks")

    def host_path(self, path: str) -> HostPath:
        raise LookupFailed("this plugin was started without a way to look at host paths")

    def host_devices(self, path: str) -> List[HostDevice]:
        raise LookupFailed("this plugin was started without a way to look at host devices")

    def host_network(self) -> HostNetwork:
        raise LookupFailed("this plugin was started without a way to look at the host's network")


NO_LOOKUP = ContainerLookup()


_T = TypeVar("_T")


class OncePerRequest(ContainerLookup):
    """Asks the lookup at most once per reference within one request (a name could point to
    another container between two lookups; within a request every rule sees the same one)."""

    def __init__(self, lookup: ContainerLookup):
        self.lookup = lookup
        self.answers: Dict[Tuple[str, ...], Any] = {}

    def _ask(self, key: Tuple[str, ...], ask: Callable[[], _T]) -> _T:
        if key not in self.answers:
            self.answers[key] = ask()
        answer: _T = self.answers[key]  # the key names the question, so the answer is ask's type
        return answer

    def container(self, ref: str) -> Optional[Container]:
        return self._ask(("container", ref), lambda: self.lookup.container(ref))

    def exec_container_id(self, exec_id: str) -> Optional[str]:
        return self._ask(("exec", exec_id), lambda: self.lookup.exec_container_id(exec_id))

    def volume(self, name: str, used_by: str) -> Optional[Volume]:
        return self._ask(("volume", name, used_by), lambda: self.lookup.volume(name, used_by))

    def volume_users(self, name: str) -> List[VolumeUser]:
        return self._ask(("volume-users", name), lambda: self.lookup.volume_users(name))

    def volume_held(self, name: str) -> bool:
        return self._ask(("volume-held", name), lambda: self.lookup.volume_held(name))

    def engine_version(self) -> str:
        return self._ask(("engine",), self.lookup.engine_version)

    def daemon_info(self) -> DaemonInfo:
        return self._ask(("info",), self.lookup.daemon_info)

    def network(self, ref: str) -> Optional[Network]:
        return self._ask(("network", ref), lambda: self.lookup.network(ref))

    def host_path(self, path: str) -> HostPath:
        return self._ask(("host-path", path), lambda: self.lookup.host_path(path))

    def host_devices(self, path: str) -> List[HostDevice]:
        return self._ask(("host-devices", path), lambda: self.lookup.host_devices(path))

    def host_network(self) -> HostNetwork:
        return self._ask(("host-network",), self.lookup.host_network)
