#!/usr/bin/env python3
"""Benchmark: how long the plugin takes from exec to its first answer, and its memory then.

The plugin is started as its systemd unit starts it (`python3 -I -S`, through runpy) on a socket
of its own, and timed until it answers the daemon's first call, `POST /Plugin.Activate`. Two
floors are measured in the same run, alternating with it: the Go allow-everything plugin
(bench/floor_plugin, the floor of the other benchmarks) and the bare interpreter
(`python3 -I -S -c pass`), which no Python plugin can beat. A systemd socket-activated plugin
pays this once per start, and the daemon waits for it only on the first request after one.

Prints one `name: value` line per figure. Needs go (the test set-up installs it).
Usage: python3 bench/startup.py [--plugin PATH] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from authz_overhead import build_floor_plugin  # noqa: E402 (sys.path above)
from harness import PLUGIN, PLUGIN_PYTHON, api, plugin_command, remove_tree, rss_mb, short_tempdir, stop_process, wait_for  # noqa: E402


def activated(path: Path) -> bool:
    try:
        return api(str(path), "POST", "/Plugin.Activate", timeout=2)[0] == 200
    except OSError:
        return False


def time_server(argv: List[str], path: Path) -> Tuple[float, float]:
    """Seconds from exec until the server answers Activate, and its resident memory then."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: activated(path), 20, "an answer to Activate on %s" % path, interval=0.0005)
        return time.monotonic() - start, rss_mb(proc.pid)
    finally:
        stop_process(proc, 5)
        path.unlink(missing_ok=True)


def time_interpreter() -> float:
    start = time.monotonic()
    subprocess.run([PLUGIN_PYTHON, "-I", "-S", "-c", "pass"], check=True)
    return time.monotonic() - start


def median_ms(samples: List[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", type=Path, default=PLUGIN)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    workdir = short_tempdir("due-startup-")
    times: Dict[str, List[float]] = {"plugin": [], "floor": [], "python": []}
    memory: List[float] = []
    try:
        floor_binary = build_floor_plugin(workdir)
        plugin_socket, floor_socket = workdir / "plugin.sock", workdir / "floor.sock"
        for _ in range(args.runs):  # alternating, so that drift hits all three alike
            elapsed, rss = time_server([*plugin_command(args.plugin), "--socket", str(plugin_socket)], plugin_socket)
            times["plugin"].append(elapsed)
            memory.append(rss)
            times["floor"].append(time_server([str(floor_binary), str(floor_socket)], floor_socket)[0])
            times["python"].append(time_interpreter())
    finally:
        remove_tree(workdir)

    plugin, floor, python = (median_ms(times[name]) for name in ("plugin", "floor", "python"))
    print("startup_plugin_ms: %.1f" % plugin)
    print("startup_floor_ms: %.1f" % floor)
    print("startup_python_ms: %.1f" % python)
    print("startup_over_floor: %.2f" % (plugin / floor))
    print("startup_over_python: %.2f" % (plugin / python))
    print("startup_plugin_rss_mb: %.1f" % statistics.median(memory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
