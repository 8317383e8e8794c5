#!/usr/bin/env python3
"""Benchmark: 8 concurrent clients for 60 s against a dockerd with the plugin, and without it.

Two real dockerds (userns-remap on, private paths, tests/harness.py) run side by side: one with no
authorization plugin, one with this plugin (its own process, as under systemd: python3 -I -S).
Each gets the same load in turn: N client processes, each on its own keep-alive connection,
cycling through GET /_ping, GET /containers/json, GET /containers/ID/json (a created, never
started --network none container) and POST /containers/create with --userns=host of an image that
does not exist (the plugin refuses it with 403; without the plugin the daemon answers 404).

An error is a lost request (no HTTP answer) or an answer other than the one expected for that
daemon. Figures: requests, errors, throughput, p50/p99 latency per daemon, their ratios, and the
plugin's resident memory before and after its load. Prints `name: value` lines.
Usage: python3 bench/load.py [--clients 8] [--seconds 60]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from harness import PluginProcess, PrivateDockerd, UnixHTTPConnection, remove_tree, rss_mb, short_tempdir  # noqa: E402

REFUSED_CREATE = json.dumps({"Image": "due-load-no-such-image:never", "Cmd": ["true"],
                             "HostConfig": {"UsernsMode": "host", "NetworkMode": "none"}}).encode()


def expected_status(kind: str, with_plugin: bool) -> int:
    if kind == "create-host":
        return 403 if with_plugin else 404
    return 200


def client(sock_path: str, target_id: str, with_plugin: bool, seconds: float, offset: int):
    """One client process: returns (latencies of answered requests in seconds, errors, lost, error examples)."""
    mix = [("ping", "GET", "/v1.41/_ping", None),
           ("list", "GET", "/v1.41/containers/json?all=1", None),
           ("inspect", "GET", "/v1.41/containers/%s/json" % target_id, None),
           ("create-host", "POST", "/v1.41/containers/create", REFUSED_CREATE)]
    latencies, errors, lost, examples = [], 0, 0, set()
    conn = UnixHTTPConnection(sock_path, timeout=30)
    deadline = time.monotonic() + seconds
    i = offset
    while time.monotonic() < deadline:
        kind, method, path, body = mix[i % len(mix)]
        i += 1
        headers = {"Content-Type": "application/json"} if body else {}
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != expected_status(kind, with_plugin):
                errors += 1
                examples.add("%s: %d %s" % (kind, response.status, data[:150].decode("utf-8", "replace").strip()))
        except (OSError, http.client.HTTPException) as error:
            errors += 1
            lost += 1
            examples.add("%s: lost (%s)" % (kind, type(error).__name__))
            conn.close()
            conn = UnixHTTPConnection(sock_path, timeout=30)
    conn.close()
    return latencies, errors, lost, sorted(examples)[:5]


def percentile(sorted_values, fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def run_load(daemon: PrivateDockerd, target_id: str, with_plugin: bool, clients: int, seconds: float) -> dict:
    with multiprocessing.Pool(clients) as pool:
        results = pool.starmap(client, [(daemon.socket, target_id, with_plugin, seconds, n) for n in range(clients)])
    latencies = sorted(value for result in results for value in result[0])
    return {
        "requests": len(latencies) + sum(result[2] for result in results),
        "errors": sum(result[1] for result in results),
        "lost": sum(result[2] for result in results),
        "examples": sorted({example for result in results for example in result[3]}),
        "rps": len(latencies) / seconds,
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
    }


def prepare(daemon: PrivateDockerd) -> str:
    """A container for the inspect requests: created from the local busybox image, never started."""
    image = daemon.import_busybox()
    created = daemon.docker("create", "--network", "none", "--name", "due-load-target", image, "true")
    if created.returncode != 0:
        raise RuntimeError("docker create failed: %s" % created.stderr.decode())
    return created.stdout.decode().strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        print("needs root and dockerd: run `make bench`", file=sys.stderr)
        return 2

    workdir = short_tempdir("due-load-")
    plugin = PluginProcess("due-load-%d" % os.getpid(), workdir, {})
    daemons = {}
    try:
        plugin.start()
        for label, plugins in (("none", []), ("plugin", [plugin.name])):
            (workdir / label).mkdir()
            daemons[label] = PrivateDockerd(workdir / label, plugins).start()
        targets = {label: prepare(daemon) for label, daemon in daemons.items()}
        rss_before = rss_mb(plugin.proc.pid)
        figures = {}
        for label in ("none", "plugin"):
            run_load(daemons[label], targets[label], label == "plugin", args.clients, 2)  # warm up
            figures[label] = run_load(daemons[label], targets[label], label == "plugin", args.clients, args.seconds)
        rss_after = rss_mb(plugin.proc.pid)

        for label in ("none", "plugin"):
            f = figures[label]
            print("load_%s_requests: %d" % (label, f["requests"]))
            print("load_%s_errors: %d" % (label, f["errors"]))
            print("load_%s_lost: %d" % (label, f["lost"]))
            print("load_%s_rps: %.0f" % (label, f["rps"]))
            print("load_%s_p50_ms: %.2f" % (label, f["p50_ms"]))
            print("load_%s_p99_ms: %.2f" % (label, f["p99_ms"]))
            for example in f["examples"]:
                print("  (load %s error) %s" % (label, example), file=sys.stderr)
        print("load_errors_only_with_plugin: %d" % max(0, figures["plugin"]["errors"] - figures["none"]["errors"]))
        print("load_p99_ratio: %.2f" % (figures["plugin"]["p99_ms"] / figures["none"]["p99_ms"]))
        print("load_throughput_ratio: %.2f" % (figures["plugin"]["rps"] / figures["none"]["rps"]))
        print("load_plugin_rss_before_mb: %.1f" % rss_before)
        print("load_plugin_rss_after_mb: %.1f" % rss_after)
        return 0
    finally:
        for daemon in daemons.values():
            for container in daemon.docker("ps", "-aq").stdout.decode().split():
                daemon.docker("rm", "-f", container)
            daemon.stop()
        plugin.stop()
        remove_tree(workdir)


if __name__ == "__main__":
    sys.exit(main())
