"""Host network: the host's routes, addresses and interface names, read from /proc/1/net (the
network namespace of PID 1, the host's: the plugin's own service has a private one), for the
rules on networks a client creates: a subnet that overlaps what the host routes would take the
host's traffic, and a bridge name that is an existing host interface would put that interface
under the daemon's control.
"""

from __future__ import annotations

from typing import List

from .lookups import HostNetwork, LookupFailed

PROC_NET = "/proc/1/net"


def _hex_ipv4(text: str) -> str:
    """An address of /proc/net/route: four bytes in hex, little-endian."""
    value = int(text, 16)
    return ".".join(str((value >> shift) & 0xFF) for shift in (0, 8, 16, 24))


def _hex_ipv6(text: str) -> str:
    return ":".join(text[i:i + 4] for i in range(0, 32, 4))


def _ipv4_routes(lines: List[str]) -> List[str]:
    routes = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) >= 8:
            mask = bin(int(fields[7], 16)).count("1")
            if mask:
                routes.append("%s/%d" % (_hex_ipv4(fields[1]), mask))
    return routes


def _ipv6_routes(lines: List[str]) -> List[str]:
    routes = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and int(fields[1], 16):
            routes.append("%s/%d" % (_hex_ipv6(fields[0]), int(fields[1], 16)))
    return routes


def _ipv6_addresses(lines: List[str]) -> List[str]:
    return ["%s/128" % _hex_ipv6(line.split()[0]) for line in lines if line.split()]


def _ipv4_addresses(lines: List[str]) -> List[str]:
    """The host's own IPv4 addresses: /32 LOCAL entries of /proc/net/fib_trie."""
    found = []
    for before, line in zip(lines, lines[1:]):
        if "/32 host LOCAL" in line:
            found.append("%s/32" % before.split()[-1])
    return found


def _read_lines(name: str) -> List[str]:
    try:
        with open("%s/%s" % (PROC_NET, name), encoding="ascii", errors="replace") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []  # no IPv6 in this kernel
    except OSError as err:
        raise LookupFailed("cannot read the host's %s: %s" % (name, err.strerror or err)) from None


def read_host_network() -> HostNetwork:
    routes = (["127.0.0.0/8"] + _ipv4_routes(_read_lines("route")) + _ipv4_addresses(_read_lines("fib_trie"))
              + _ipv6_routes(_read_lines("ipv6_route")) + _ipv6_addresses(_read_lines("if_inet6")))
    interfaces = frozenset(line.split(":", 1)[0].strip() for line in _read_lines("dev")[2:] if ":" in line)
    if not interfaces:
        raise LookupFailed("cannot list the host's network interfaces (%s/dev is empty)" % PROC_NET)
    return HostNetwork(tuple(dict.fromkeys(routes)), interfaces)
