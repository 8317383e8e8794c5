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
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))
from authz_overhead import build_floor_plugin  # noqa: E402 (sys.path above)
from harness import remove_tree, rss_mb, short_tempdir, stop_process  # noqa: E402

ACTIVATE = b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 0\r\n\r\n"
RUNPY = "import runpy, sys; del sys.argv[0]; runpy.run_path(sys.argv[0], run_name='__main__')"


def first_answer(path: Path, deadline: float) -> bytes:
    """Poll the socket until it answers Activate; the answer's first bytes."""
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(str(path))
                client.sendall(ACTIVATE)
                answer = client.recv(4096)
                if answer:
                    return answer
        except OSError:
            pass
        time.sleep(0.0005)
    raise RuntimeError("no answer on %s within the deadline" % path)


def time_server(argv: List[str], path: Path) -> tuple:
    """Seconds from exec until the server answers Activate, and its resident memory then."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = first_answer(path, start + 20)
        elapsed = time.monotonic() - start
        if b" 200 " not in answer.split(b"\r\n", 1)[0]:
            raise RuntimeError("Activate was not answered 200: %r" % answer[:80])
        return elapsed, rss_mb(proc.pid)
    finally:
        stop_process(proc, 5)
        path.unlink(missing_ok=True)


def time_interpreter() -> tuple:
    start = time.monotonic()
    subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
    return time.monotonic() - start, 0.0


def median_ms(samples: List[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin", type=Path, default=REPO / "files" / "docker_userns_enforcement_plugin.py")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    workdir = short_tempdir("due-startup-")
    try:
        floor_binary = build_floor_plugin(workdir)
        plugin_socket, floor_socket = workdir / "plugin.sock", workdir / "floor.sock"
        contenders: dict = {
            "plugin": lambda: time_server([sys.executable, "-I", "-S", "-c", RUNPY, str(args.plugin),
                                           "--socket", str(plugin_socket)], plugin_socket),
            "floor": lambda: time_server([str(floor_binary), str(floor_socket)], floor_socket),
            "python": time_interpreter,
        }
        times: dict = {name: [] for name in contenders}
        memory: List[float] = []
        for _ in range(args.runs):
            for name, run in contenders.items():
                elapsed, rss = run()
                times[name].append(elapsed)
                if name == "plugin":
                    memory.append(rss)
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
