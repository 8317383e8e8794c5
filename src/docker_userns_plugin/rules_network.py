"""Rules on networks: which network a container (or a build's RUN step) joins, and the options of
networks and endpoints a client creates. The daemon refuses the host's network under remapping
only when it is named "host", so a reference to it by ID is refused here; a bridge named after an
existing host interface would put that interface under the daemon's control, and a subnet that
overlaps the host's routes or addresses would take the host's traffic.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Tuple

from .context import Context, Denial
from .gojson import decode_body
from .request import parse_query
from .schemas import CREATE_NETWORKS_SCHEMA, NETWORK_CONNECT_SCHEMA, NETWORK_CREATE_SCHEMA
from .table_types import BUILD, CONTAINER_CREATE, NETWORK_CONNECT, NETWORK_CREATE

BUILTIN_MODES = ("", "default", "bridge", "none")  # "host" is looked up like any other name
HOST_NETWORK_HELP = ("it is the host's network: under remapping the daemon refuses --network=host, and the plugin refuses "
                     "the same network by any other name")
BUILD_HOST = "; a build's RUN steps would share the host's network namespace (BuildKit grants it even under remapping)"


def _network_refs(ctx: Context) -> Iterator[Tuple[str, str]]:
    """(reference, where) of every network the request puts a container or build step on."""
    if ctx.kind == CONTAINER_CREATE and ctx.request.body:
        mode = (ctx.host_config or {}).get("NetworkMode", "")
        if mode not in BUILTIN_MODES + ("host",) and not mode.startswith("container:"):  # host: the remap-refuses rule
            yield mode, "--network %s" % mode
        networking = decode_body(CREATE_NETWORKS_SCHEMA, ctx.request.body, "create body").get("NetworkingConfig") or {}
        for name in (networking.get("EndpointsConfig") or {}):
            if name not in BUILTIN_MODES:
                yield name, "NetworkingConfig.EndpointsConfig %s" % name
    elif ctx.kind == NETWORK_CONNECT and ctx.route.target and ctx.route.target not in BUILTIN_MODES:
        yield ctx.route.target, "network connect %s" % ctx.route.target
    elif ctx.kind == BUILD and ctx.request.path == "/build":
        mode = parse_query(ctx.request.raw_query).get("networkmode", "")
        if mode not in BUILTIN_MODES:
            yield mode, "build --network %s" % mode


def rule_network_mode(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    for ref, where in _network_refs(ctx):
        if ref.startswith("container:"):
            return Denial("network-mode", "%s is not allowed: a build step that joins a container's network namespace joins "
                          "its user namespace too, and the plugin cannot tell which container a build will find" % where[:200])
        network = ctx.lookup.network(ref)
        if network is not None and network.driver == "host":
            return Denial("network-mode", "%s is not allowed: %s%s" % (where[:200], HOST_NETWORK_HELP, BUILD_HOST if ctx.kind == BUILD else ""))
    return None


# -- network and endpoint options ------------------------------------------------------------

BRIDGE_OPTIONS = (
    "com.docker.network.bridge.enable_icc", "com.docker.network.bridge.enable_ip_masquerade",
    "com.docker.network.bridge.host_binding_ipv4", "com.docker.network.driver.mtu",
    "com.docker.network.container_iface_prefix", "com.docker.network.bridge.inhibit_ipv4",
    "com.docker.network.bridge.name",
)
ENDPOINT_OPTIONS = ("com.docker.network.endpoint.ifname", "com.docker.network.endpoint.sysctls")
INTERFACE_NAME = "com.docker.network.bridge.name"


def _overlapping_route(value: str, routes: Tuple[str, ...]) -> Optional[str]:
    import ipaddress  # only here: few requests create networks, and every plugin process would pay for it

    try:
        wanted = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None  # the daemon refuses what is not a subnet or address
    for route in routes:
        network = ipaddress.ip_network(route, strict=False)
        if network.version == wanted.version and network.overlaps(wanted):
            return route
    return None


def network_options_problem(ctx: Context, network: Dict[str, Any], config: Dict[str, Any]) -> Optional[str]:
    driver = network.get("Driver", "") or "bridge"
    options = network.get("Options") or {}
    if driver == "bridge":
        unknown = sorted(set(options) - set(BRIDGE_OPTIONS))
        if unknown:
            return "the bridge options %s are not reviewed (reviewed: %s)" % (", ".join(unknown)[:300], ", ".join(BRIDGE_OPTIONS))
        name = options.get(INTERFACE_NAME, "")
        if name and name in ctx.lookup.host_network().interfaces:
            return ("%s=%s names an existing host interface: the daemon would take it over (its addresses, firewall rules "
                    "and sysctls)" % (INTERFACE_NAME, name[:64]))
    ipam = network.get("IPAM") or {}
    if ipam.get("Options"):
        return "IPAM options are not reviewed"
    for subnet in ipam.get("Config", []):
        for key in ("Subnet", "Gateway"):
            if subnet.get(key):
                route = _overlapping_route(subnet[key], ctx.lookup.host_network().routes)
                if route:
                    return ("the %s %s overlaps the host's route or address %s: the daemon would route it to the network's "
                            "bridge and take the host's traffic for it" % (key.lower(), subnet[key][:64], route))
    return None


def rule_network_options(ctx: Context, config: Dict[str, Any]) -> Optional[Denial]:
    if ctx.kind == NETWORK_CREATE and ctx.request.body:
        network = decode_body(NETWORK_CREATE_SCHEMA, ctx.request.body, "network")
        if network.get("Driver", "") in config["allowed_drivers"]:
            return None  # macvlan or ipvlan, which an administrator allowed with its options
        problem = network_options_problem(ctx, network, config)
        if problem:
            return Denial("network-options", "network %s is not allowed: %s" % (network.get("Name", "")[:100], problem))
    endpoints = []
    if ctx.kind == CONTAINER_CREATE and ctx.request.body:
        networking = decode_body(CREATE_NETWORKS_SCHEMA, ctx.request.body, "create body").get("NetworkingConfig") or {}
        endpoints = [(name, e or {}) for name, e in (networking.get("EndpointsConfig") or {}).items()]
    elif ctx.kind == NETWORK_CONNECT and ctx.request.body:
        endpoints = [(ctx.route.target or "", decode_body(NETWORK_CONNECT_SCHEMA, ctx.request.body, "connect body").get("EndpointConfig") or {})]
    for name, endpoint in endpoints:
        unknown = sorted(set(endpoint.get("DriverOpts") or {}) - set(ENDPOINT_OPTIONS))
        if unknown:
            return Denial("network-options", "the endpoint options %s on network %s are not reviewed (reviewed: %s)"
                          % (", ".join(unknown)[:300], name[:100], ", ".join(ENDPOINT_OPTIONS)))
    return None
