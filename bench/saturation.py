#!/usr/bin/env python3
"""Benchmark: the plugin under saturation, against no plugin and a minimal Go plugin, in one run.

Three real dockerds (userns-remap on, private paths) run side by side: one with no authorization
plugin ("none"), one with the smallest allow-everything Go plugin ("floor",
bench/floor_plugin), one with this plugin ("plugin", its own process, as under systemd). A Go
load generator (bench/loadgen: 8 clients, each on its own keep-alive connection) saturates each
daemon in turn for a few seconds, in rounds that alternate the order so that drift hits all
three alike. Workloads:

  ping   GET /_ping only: the plugin's round trips are most of the work (plugin-bound)
  mix    /_ping, /version, /containers/json, /images/json (daemon-bound)
  exec   docker exec: an exec create and its detached start into a running container; with the
         plugin each costs a container lookup through the daemon (or a cached fact)

Figures per workload: operations per second and p99 latency of each daemon, the plugin's over
the floor's, and the CPU time the plugin and the floor spent per operation. Then the plugin's own CPU time per decision, measured by sending AuthZ
requests straight to its socket: an allowed GET, a refused container create, an allowed create.

Prints one `name: value` line per figure. Needs root, dockerd and go (`make bench` sets them up).
Usage: python3 bench/saturation.py [--seconds 10] [--rounds 2] [--clients 8] [--workloads ping,mix,exec]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from authz_overhead import FloorPlugin, KeepAliveClient  # noqa: E402 (sys.path above)
from harness import PluginProcess, PrivateDockerd, remove_tree, rss_mb, short_tempdir  # noqa: E402 (sys.path above)

LABELS = ("none", "floor", "plugin")


def build_loadgen(workdir: Path) -> Path:
    binary = workdir / "loadgen"
    env = dict(os.environ, GO111MODULE="off", GOCACHE=str(workdir / "gocache"), HOME=str(workdir))
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=REPO / "bench" / "loadgen", env=env, check=True)
    return binary


def cpu_seconds(pids) -> float:
    """User + system CPU time of these processes (and their waited-for children), in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def plugin_pids(plugin: PluginProcess) -> list:
    """The plugin's process and its worker processes, if it has any."""
    pids = [plugin.pid]
    children = Path("/proc/%d/task/%d/children" % (plugin.pid, plugin.pid))
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    return pids


def run_loadgen(loadgen: Path, daemon: PrivateDockerd, workload: str, container: str, clients: int, seconds: float) -> dict:
    result = subprocess.run(
        [str(loadgen), "-socket", daemon.socket, "-clients", str(clients), "-seconds", str(seconds),
         "-workload", workload, "-container", container],
        capture_output=True, text=True, timeout=seconds + 120, check=True,
    )
    return json.loads(result.stdout)


def authz_payload(method: str, uri: str, body=None) -> bytes:
    data = {"User": "", "UserAuthNMethod": "", "RequestMethod": method, "RequestUri": uri,
            "RequestHeaders": {"Content-Type": "application/json", "User-Agent": "Docker-Client/20.10.24 (linux)"}}
    if body is not None:
        data["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
    raw = json.dumps(data).encode()
    return b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw)


def cpu_per_decision(plugin: PluginProcess, request: bytes, count: int) -> float:
    """The plugin's CPU microseconds per AuthZ request, sent one after the other on one connection."""
    client = KeepAliveClient(str(plugin.socket))
    for _ in range(200):
        client.roundtrip(request)
    before = cpu_seconds(plugin_pids(plugin))
    for _ in range(count):
        client.roundtrip(request)
    used = cpu_seconds(plugin_pids(plugin)) - before
    client.close()
    return used / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workloads", default="ping,mix,exec")
    parser.add_argument("--decisions", type=int, default=20000, help="AuthZ requests per CPU-per-decision figure")
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("go"):
        print("needs root, dockerd and go: run `make bench`", file=sys.stderr)
        return 2

    workdir = short_tempdir("due-sat-")
    plugin = PluginProcess("due-sat-%d" % os.getpid(), workdir, {}, docker_socket=str(workdir / "plugin" / "docker.sock"))
    floor = FloorPlugin("due-satfloor-%d" % os.getpid(), workdir)
    daemons = {}
    try:
        loadgen = build_loadgen(workdir)
        floor.start()
        plugin.start()
        containers = {}
        for label, plugins in (("none", []), ("floor", [floor.name]), ("plugin", [plugin.name])):
            (workdir / label).mkdir()
            daemon = daemons[label] = PrivateDockerd(workdir / label, plugins).start()
            image = daemon.import_busybox()
            run = daemon.docker("run", "-d", "--network", "none", image, "sleep", "3600")
            if run.returncode != 0:
                raise RuntimeError("docker run failed on %s: %s" % (label, run.stderr.decode()))
            containers[label] = run.stdout.decode().strip()

        rss_before = rss_mb(plugin.pid)
        for workload in args.workloads.split(","):
            totals: Dict[str, Dict[str, Any]] = {label: {"operations": 0, "errors": 0, "p99": [], "examples": []} for label in LABELS}
            plugin_cpu = floor_cpu = 0.0
            for label in LABELS:  # warm up connections and caches
                run_loadgen(loadgen, daemons[label], workload, containers[label], args.clients, 1)
            for round_number in range(args.rounds):
                order = LABELS if round_number % 2 == 0 else tuple(reversed(LABELS))
                for label in order:
                    measured = {"plugin": plugin_pids(plugin), "floor": [floor.proc.pid]}.get(label, [])
                    before = cpu_seconds(measured)
                    figures = run_loadgen(loadgen, daemons[label], workload, containers[label], args.clients, args.seconds)
                    used = cpu_seconds(measured) - before
                    if label == "plugin":
                        plugin_cpu += used
                    elif label == "floor":
                        floor_cpu += used
                    total = totals[label]
                    total["operations"] += figures["operations"]
                    total["errors"] += figures["errors"]
                    total["p99"].append(figures["p99_ms"])
                    total["examples"] += figures["examples"]
            duration = args.seconds * args.rounds
            for label in LABELS:
                total = totals[label]
                print("sat_%s_%s_per_s: %.0f" % (workload, label, total["operations"] / duration))
                print("sat_%s_%s_p99_ms: %.2f" % (workload, label, max(total["p99"])))
                print("sat_%s_%s_errors: %d" % (workload, label, total["errors"]))
                for example in total["examples"][:3]:
                    print("  (%s %s error) %s" % (workload, label, example), file=sys.stderr)
            plugin_ops, floor_ops = totals["plugin"]["operations"], totals["floor"]["operations"]
            print("sat_%s_over_floor: %.2f" % (workload, plugin_ops / floor_ops if floor_ops else 0))
            print("sat_%s_p99_over_floor: %.2f" % (workload, max(totals["plugin"]["p99"]) / max(totals["floor"]["p99"])))
            print("sat_%s_plugin_cpu_us_per_op: %.0f" % (workload, plugin_cpu / plugin_ops * 1e6 if plugin_ops else 0))
            print("sat_%s_floor_cpu_us_per_op: %.0f" % (workload, floor_cpu / floor_ops * 1e6 if floor_ops else 0))
            sys.stdout.flush()

        create = {"Image": "busybox", "Cmd": ["sh"], "Env": ["A=%d" % i for i in range(20)], "HostConfig": {"NetworkMode": "none"}}
        figures = {
            "get": authz_payload("GET", "/v1.41/containers/json?all=1"),
            "create_allowed": authz_payload("POST", "/v1.41/containers/create?name=x", create),
            "create_refused": authz_payload("POST", "/v1.41/containers/create", dict(create, HostConfig={"UsernsMode": "host"})),
        }
        for name, request in figures.items():
            print("plugin_cpu_us_per_%s: %.1f" % (name, cpu_per_decision(plugin, request, args.decisions)))
        print("sat_plugin_rss_before_mb: %.1f" % rss_before)
        print("sat_plugin_rss_after_mb: %.1f" % rss_mb(plugin.pid))
        return 0
    finally:
        for daemon in daemons.values():
            for container in daemon.docker("ps", "-aq").stdout.decode().split():
                daemon.docker("rm", "-f", container)
            daemon.stop()
        plugin.stop()
        floor.stop()
        remove_tree(workdir)


if __name__ == "__main__":
    sys.exit(main())
