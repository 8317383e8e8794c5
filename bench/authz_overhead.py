#!/usr/bin/env python3
"""Benchmark: what the plugin adds to every Docker API call, and its memory.

In one run, three real dockerds (userns-remap on, private paths) answer `GET /_ping`: one with no
authorization plugin, one with this plugin, one with the smallest allow-everything plugin (a few
lines of Go, the floor). Rounds alternate between them so that drift hits all three alike. The
figure is the plugin's added latency relative to the floor's: (plugin - none) / (floor - none).

Then the plugin's resident memory after 10,000 and after 100,000 AuthZ requests sent straight to
its socket (a mix of allowed and denied requests, keep-alive and fresh connections).

Prints one `name: value` line per figure. Needs root, dockerd and go (the test set-up installs
them). Usage: python3 bench/authz_overhead.py [--rounds N] [--per-round N]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from harness import PLUGIN_DIR, PluginProcess, PrivateDockerd, remove_tree, rss_mb, short_tempdir, wait_for  # noqa: E402 (sys.path above)

PING = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"


def build_floor_plugin(workdir: Path) -> Path:
    binary = workdir / "floor-plugin"
    env = dict(os.environ, GO111MODULE="off", GOCACHE=str(workdir / "gocache"), HOME=str(workdir))
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=REPO / "bench" / "floor_plugin", env=env, check=True)
    return binary


class FloorPlugin:
    """The Go allow-everything plugin, started on /run/docker/plugins/NAME.sock and stopped by pid."""

    def __init__(self, name: str, workdir: Path):
        self.name = name
        self.socket = PLUGIN_DIR / ("%s.sock" % name)
        self.workdir = workdir
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> FloorPlugin:
        binary = build_floor_plugin(self.workdir)
        PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(binary), str(self.socket)], stderr=subprocess.DEVNULL)
        wait_for(self.socket.exists, 10, "the floor plugin's socket")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        try:
            self.socket.unlink()
        except OSError:
            pass


class KeepAliveClient:
    """A minimal HTTP/1.1 client on one Unix socket connection (less noise than http.client)."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""

    def roundtrip(self, request: bytes) -> bytes:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self.sock.recv(65536)
        self.buffer = rest[length:]
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise RuntimeError("unexpected answer: %r" % head[:200])
        return rest[:length]

    def close(self) -> None:
        self.sock.close()


def ping_latencies(client: KeepAliveClient, count: int) -> list:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        client.roundtrip(PING)
        latencies.append(time.perf_counter() - started)
    return latencies


def authz_requests():
    """A realistic mix: pings, list calls, allowed and refused creates, a plugin install."""
    def payload(method, uri, body=None):
        data = {"RequestMethod": method, "RequestUri": uri, "RequestHeaders": {"Content-Type": "application/json"}}
        if body is not None:
            data["RequestBody"] = base64.b64encode(json.dumps(body).encode()).decode()
        raw = json.dumps(data).encode()
        return b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: plugin\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw)

    create = {"Image": "busybox", "Cmd": ["sh"], "Env": ["A=%d" % i for i in range(50)], "HostConfig": {"Binds": ["/srv:/srv"]}}
    return [
        payload("GET", "/v1.41/_ping"),
        payload("GET", "/v1.41/containers/json?all=1"),
        payload("POST", "/v1.41/containers/create?name=x", create),
        payload("POST", "/v1.41/containers/create", dict(create, HostConfig={"UsernsMode": "host"})),
        payload("POST", "/v1.41/plugins/pull?remote=vieux/sshfs"),
    ]


def memory_figures(plugin: PluginProcess) -> dict:
    requests = authz_requests()
    sent = 0
    figures = {}
    client = KeepAliveClient(str(plugin.socket))
    for checkpoint in (10_000, 100_000):
        while sent < checkpoint:
            client.roundtrip(requests[sent % len(requests)])
            sent += 1
            if sent % 1000 == 0:  # the daemon also opens fresh connections now and then
                client.close()
                client = KeepAliveClient(str(plugin.socket))
        figures[checkpoint] = rss_mb(plugin.pid)
    client.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=250)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("go"):
        print("needs root, dockerd and go: run `make bench`", file=sys.stderr)
        return 2

    workdir = short_tempdir("due-bench-")
    plugin = PluginProcess("due-bench-%d" % os.getpid(), workdir, {})
    floor = FloorPlugin("due-floor-%d" % os.getpid(), workdir)
    daemons = {}
    try:
        floor.start()
        plugin.start()
        for label, plugins in (("none", []), ("plugin", [plugin.name]), ("floor", [floor.name])):
            (workdir / label).mkdir()
            daemons[label] = PrivateDockerd(workdir / label, plugins).start()
        clients = {label: KeepAliveClient(daemon.socket) for label, daemon in daemons.items()}
        for client in clients.values():
            ping_latencies(client, 200)  # warm up connections, caches and the plugins
        samples: Dict[str, List[float]] = {label: [] for label in daemons}
        for _ in range(args.rounds):
            for label, client in clients.items():
                samples[label] += ping_latencies(client, args.per_round)
        medians = {label: statistics.median(values) * 1e6 for label, values in samples.items()}
        for client in clients.values():
            client.close()
        memory = memory_figures(plugin)

        ratio = (medians["plugin"] - medians["none"]) / (medians["floor"] - medians["none"])
        print("ping_none_us: %.1f" % medians["none"])
        print("ping_floor_us: %.1f" % medians["floor"])
        print("ping_plugin_us: %.1f" % medians["plugin"])
        print("authz_over_floor: %.2f" % ratio)
        print("plugin_rss_mb: %.1f" % memory[10_000])
        print("plugin_rss_100k_mb: %.1f" % memory[100_000])
        print("plugin_rss_growth_mb: %.1f" % (memory[100_000] - memory[10_000]))
        return 0
    finally:
        for daemon in daemons.values():
            daemon.stop()
        plugin.stop()
        floor.stop()
        remove_tree(workdir)


if __name__ == "__main__":
    sys.exit(main())
