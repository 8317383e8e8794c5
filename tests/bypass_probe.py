#!/usr/bin/env python3
"""Known ways past a naive userns plugin, tried against a real Docker daemon.

Standard library only: the Molecule verifier copies this file into a test host and runs it
against that host's Docker, so the same cases are proven on every Docker version tested; the
integration tests import CASES and run them against their own daemon.

    python3 bypass_probe.py --socket /var/run/docker.sock --image IMAGE

prints a JSON list, one object per case: the HTTP status, the daemon's message, and whether a
container with the host user namespace was made (it must never be). Each case comes with a
control: the same body with the host user namespace turned off, which the daemon must accept,
so a refusal is the plugin's doing and not the daemon rejecting a malformed body.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import uuid

# name -> body template; {image} and {mode} are filled in ("host", or "" for the control).
CASES = {
    "lowercase keys": '{{"image": "{image}", "hostconfig": {{"usernsmode": "{mode}"}}}}',
    "upper-case keys": '{{"IMAGE": "{image}", "HOSTCONFIG": {{"USERNSMODE": "{mode}"}}}}',
    "long s folds to s": '{{"Image": "{image}", "Ho\u017ftConfig": {{"U\u017fernsmode": "{mode}"}}}}',
    "top-level HostConfig fields": '{{"Image": "{image}", "UsernsMode": "{mode}"}}',
    "HostConfig null then top-level": '{{"Image": "{image}", "HostConfig": null, "UsernsMode": "{mode}"}}',
    "repeated HostConfig is merged": '{{"Image": "{image}", "HostConfig": {{"UsernsMode": "{mode}"}}, "HostConfig": {{"Memory": 0}}}}',
    "repeated key, last wins": '{{"Image": "{image}", "HostConfig": {{"UsernsMode": "", "UsernsMode": "{mode}"}}}}',
    "null keeps the old value": '{{"Image": "{image}", "HostConfig": {{"UsernsMode": "{mode}", "UsernsMode": null}}}}',
    "escaped key": '{{"Image": "{image}", "HostConfig": {{"Userns\\u004dode": "{mode}"}}}}',
    "invalid UTF-8 elsewhere": '{{"Image": "{image}", "Labels": {{"a": "\udcff\udcfe"}}, "HostConfig": {{"UsernsMode": "{mode}"}}}}',
}
PATHS = ["/v1.41/containers/create", "/containers/%63reate"]


def body_of(case: str, image: str, mode: str) -> bytes:
    return CASES[case].format(image=image, mode=mode).encode("utf-8", errors="surrogateescape")


def request(sock_path: str, method: str, path: str, body: bytes = None) -> tuple:
    conn = http.client.HTTPConnection("localhost", timeout=60)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.settimeout(60)
    conn.sock.connect(sock_path)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", errors="replace")
    finally:
        conn.close()


def try_create(sock_path: str, path: str, body: bytes) -> dict:
    """Create, report, and remove what was made."""
    name = "due-probe-%s" % uuid.uuid4().hex[:10]
    status, message = request(sock_path, "POST", "%s?name=%s" % (path, name), body)
    host_userns = False
    if status == 201:
        _status, inspect = request(sock_path, "GET", "/containers/%s/json" % name)
        host_userns = json.loads(inspect)["HostConfig"]["UsernsMode"] == "host"
        request(sock_path, "DELETE", "/containers/%s?force=1" % name)
    return {"status": status, "message": message.strip()[:300], "host_userns_created": host_userns}


def probe(sock_path: str, image: str) -> list:
    results = []
    for case in CASES:
        for path in PATHS:
            attempt = try_create(sock_path, path, body_of(case, image, "host"))
            control = try_create(sock_path, path, body_of(case, image, ""))
            results.append({"case": case, "path": path, "attempt": attempt, "control": control})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--image", required=True)
    args = parser.parse_args()
    json.dump(probe(args.socket, args.image), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
