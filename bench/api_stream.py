#!/usr/bin/env python3
"""A steady stream of Docker API requests, run INSIDE a Docker host that the role converged.

Stdlib only (the host has python3 and nothing else). Client threads send, one after the other, a
mix of requests over the host's Docker socket and classify every answer:

  ping           GET  /_ping                                          expected 200
  list           GET  /containers/json?all=1                          expected 200
  create-ok      POST /containers/create (an image that does not exist) expected 404 "No such image":
                 the request got past the plugin and nothing was created
  create-host    POST /containers/create with HostConfig.UsernsMode=host and a real image:
                 expected 403 "userns=host is not allowed"

Outcomes: "expected"; "wrongly-allowed" (a create-host that Docker accepted); "refused-error" (an
HTTP error from the daemon instead of the expected answer, e.g. the plugin was unreachable: the
request failed closed); "lost" (no HTTP answer: a transport error or a timeout).

With --kill-plugin N it also SIGKILLs the plugin's main process N times (pid from systemd) and
measures, per kill, the time until a request sent after the kill gets its expected answer again.
With --restart-plugin N it restarts the plugin's service N times with systemctl (a planned restart:
nothing may be refused). With --until-file PATH it runs until that file exists (the upgrade
benchmark) instead of --duration.

Prints one JSON object on stdout. Usage:
  python3 api_stream.py --image busybox:local [--clients 2] [--duration 10] [--kill-plugin 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

LABEL = "docker-userns.api-stream"


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def requests_mix(image: str):
    """(kind, method, path, body) in the order the clients cycle through them."""
    labels = {LABEL: "1"}
    return [
        ("ping", "GET", "/_ping", None),
        ("create-host", "POST", "/containers/create",
         {"Image": image, "Cmd": ["true"], "Labels": labels, "HostConfig": {"UsernsMode": "host", "NetworkMode": "none"}}),
        ("list", "GET", "/containers/json?all=1", None),
        ("create-ok", "POST", "/containers/create",
         {"Image": "api-stream-no-such-image:never", "Cmd": ["true"], "Labels": labels, "HostConfig": {"NetworkMode": "none"}}),
    ]


def classify(kind: str, status: int, body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    if kind == "create-host":
        if status == 201:
            return "wrongly-allowed"
        if status == 403 and "userns=host is not allowed" in text:
            return "expected"
        return "refused-error"
    if kind == "create-ok":
        if status == 404 and "No such image" in text:
            return "expected"
        if status == 201:
            return "expected"  # an image by that name would be created; still allowed, as it should be
        return "refused-error"
    return "expected" if status == 200 else "refused-error"


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []  # (started, finished, kind, outcome, detail)

    def add(self, *record) -> None:
        with self.lock:
            self.records.append(record)


def client_loop(sock_path: str, image: str, timeout: float, stop: threading.Event, recorder: Recorder, offset: int) -> None:
    mix = requests_mix(image)
    i = offset
    while not stop.is_set():
        kind, method, path, body = mix[i % len(mix)]
        i += 1
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        started = time.monotonic()
        conn = UnixHTTPConnection(sock_path, timeout)
        try:
            conn.request(method, "/v1.41" + path, body=payload, headers=headers)
            response = conn.getresponse()
            status, data = response.status, response.read()
            outcome, detail = classify(kind, status, data), "%d %s" % (status, data[:200].decode("utf-8", "replace").strip())
        except (OSError, http.client.HTTPException) as error:
            outcome, detail = "lost", "%s: %s" % (type(error).__name__, error)
        finally:
            conn.close()
        recorder.add(started, time.monotonic(), kind, outcome, detail)


def plugin_pid(service: str) -> int:
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", service], capture_output=True, text=True, check=True)
    return int(out.stdout.strip() or 0)


def wait_for_new_pid(service: str, old: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = plugin_pid(service)
        if pid not in (0, old):
            return pid
        time.sleep(0.02)
    return 0


def kill_loop(args, recorder: Recorder, kills: list) -> None:
    """SIGKILL the plugin, wait for the first expected answer to a request sent after the kill."""
    for _ in range(args.kill_plugin):
        time.sleep(args.kill_interval)
        pid = plugin_pid(args.service)
        if pid == 0:  # socket activation: nothing running until a request comes; let the stream start it
            time.sleep(0.5)
            pid = plugin_pid(args.service)
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        deadline = killed_at + 30
        recovered_at = None
        while time.monotonic() < deadline and recovered_at is None:
            time.sleep(0.01)
            with recorder.lock:
                done = [r[1] for r in recorder.records if r[0] > killed_at and r[3] == "expected"]
            recovered_at = min(done) if done else None
        new_pid = wait_for_new_pid(args.service, pid, 10)
        kills.append({"pid": pid, "new_pid": new_pid,
                      "recovery_s": round(recovered_at - killed_at, 3) if recovered_at else None})


def restart_loop(args, restarts: list) -> None:
    """Planned restarts (`systemctl restart`, as the role's upgrade does): the plugin drains
    and the next process takes over the socket; no request may be refused."""
    for _ in range(args.restart_plugin):
        time.sleep(args.restart_interval)
        pid = plugin_pid(args.service)
        started = time.monotonic()
        subprocess.run(["systemctl", "restart", args.service], check=True, timeout=120)
        restarts.append({"pid": pid, "new_pid": plugin_pid(args.service), "restart_s": round(time.monotonic() - started, 3)})


def leftover_host_userns_containers(sock_path: str) -> list:
    """Containers this stream created in the host user namespace (there must be none); removes ours."""
    conn = UnixHTTPConnection(sock_path, 30)
    conn.request("GET", "/v1.41/containers/json?all=1&filters=" + json.dumps({"label": [LABEL]}).replace(" ", ""))
    listed = json.loads(conn.getresponse().read())
    conn.close()
    wrong = []
    for container in listed:
        conn = UnixHTTPConnection(sock_path, 30)
        conn.request("GET", "/v1.41/containers/%s/json" % container["Id"])
        info = json.loads(conn.getresponse().read())
        conn.close()
        if info["HostConfig"].get("UsernsMode") == "host":
            wrong.append(container["Id"][:12])
        conn = UnixHTTPConnection(sock_path, 30)
        conn.request("DELETE", "/v1.41/containers/%s?force=1" % container["Id"])
        conn.getresponse().read()
        conn.close()
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--image", required=True, help="an image present in the host's Docker (for create-host)")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30, help="per request, seconds")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--until-file", help="run until this file exists (overrides --duration)")
    parser.add_argument("--ready-file", help="touch this file once the stream is running")
    parser.add_argument("--kill-plugin", type=int, default=0, metavar="N")
    parser.add_argument("--kill-interval", type=float, default=2.0)
    parser.add_argument("--restart-plugin", type=int, default=0, metavar="N", help="systemctl restart the plugin N times")
    parser.add_argument("--restart-interval", type=float, default=1.0)
    parser.add_argument("--service", default="docker-userns-enforcement-plugin.service")
    args = parser.parse_args()

    recorder, stop = Recorder(), threading.Event()
    kills: list = []
    restarts: list = []
    clients = [threading.Thread(target=client_loop, args=(args.socket, args.image, args.timeout, stop, recorder, n), daemon=True)
               for n in range(args.clients)]
    started = time.monotonic()
    for thread in clients:
        thread.start()
    if args.ready_file:
        open(args.ready_file, "w").close()
    if args.kill_plugin:
        kill_loop(args, recorder, kills)
        time.sleep(args.kill_interval)  # the stream goes on a while after the last kill
    elif args.restart_plugin:
        restart_loop(args, restarts)
        time.sleep(args.restart_interval)
    elif args.until_file:
        while not os.path.exists(args.until_file):
            time.sleep(0.1)
    else:
        time.sleep(args.duration)
    stop.set()
    for thread in clients:
        thread.join(args.timeout + 5)
    elapsed = time.monotonic() - started

    counts: dict = {}
    for _, _, _kind, outcome, _ in recorder.records:
        counts[outcome] = counts.get(outcome, 0) + 1
    latencies = sorted(r[1] - r[0] for r in recorder.records)
    result = {
        "requests": len(recorder.records),
        "seconds": round(elapsed, 2),
        "expected": counts.get("expected", 0),
        "wrongly_allowed": counts.get("wrongly-allowed", 0),
        "refused_error": counts.get("refused-error", 0),
        "lost": counts.get("lost", 0),
        "max_latency_s": round(latencies[-1], 3) if latencies else None,
        "kills": kills,
        "restarts": restarts,
        "host_userns_containers": leftover_host_userns_containers(args.socket),
        "unexpected_examples": sorted({"%s: %s" % (r[2], r[4]) for r in recorder.records if r[3] != "expected"})[:10],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
