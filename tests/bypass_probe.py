#!/usr/bin/env python3
"""Known ways past a naive userns plugin, tried against a real Docker daemon.

Standard library only: the Molecule verifier copies this file into a test host and runs it
against that host's Docker, so the same cases are proven on every Docker version tested; the
integration tests import CASES and run them against their own daemon.

    python3 bypass_probe.py --socket /var/run/docker.sock --image IMAGE
    python3 bypass_probe.py --socket /var/run/docker.sock --image IMAGE --generated 150 --seed 1

The first prints a JSON list, one object per case: the HTTP status, the daemon's message, and
whether a container with the host user namespace was made (it must never be). Each case comes
with a control: the same body with the host user namespace turned off, which the daemon must
accept, so a refusal is the plugin's doing and not the daemon rejecting a malformed body.

With --generated, it sends that many generated create bodies instead (random key spellings with
Unicode folding, repeated keys and objects, nulls, top-level HostConfig fields, invalid UTF-8,
trailing data), the same shapes as the differential test, and reports for each whether the
plugin refused it and whether the daemon made a host-userns container: with the plugin
enforcing, no body may get past it to such a container, on whatever Docker version runs.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
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


FOLDS = {"s": ["s", "S", "\u017f"], "k": ["k", "K", "\u212a"]}
USERNS_VALUES = ["host", "host", "host", "host", "", "private", "HOST", "host ", None]


def spelled(rng, name: str) -> str:
    return "".join(rng.choice(FOLDS.get(ch.lower(), [ch.lower(), ch.upper()])) for ch in name)


def generated_body(rng, image: str) -> bytes:
    """One create body in the shapes of tests/integration/test_differential.py."""
    def js(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    def host_config() -> str:
        members = []
        for _ in range(rng.randint(0, 3)):
            if rng.random() < 0.75:
                members.append("%s: %s" % (js(spelled(rng, "UsernsMode")), js(rng.choice(USERNS_VALUES))))
            else:
                members.append("%s: 0" % js(spelled(rng, "Memory")))
        return "{%s}" % ", ".join(members)

    members = ["%s: %s" % (js(spelled(rng, "Image")), js(image)), '"Cmd": ["true"]']
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["hostconfig", "hostconfig", "hostconfig", "null", "toplevel", "toplevel", "label"])
        if kind == "hostconfig":
            members.append("%s: %s" % (js(spelled(rng, "HostConfig")), host_config()))
        elif kind == "null":
            members.append("%s: null" % js(spelled(rng, "HostConfig")))
        elif kind == "toplevel":
            members.append("%s: %s" % (js(spelled(rng, "UsernsMode")), js(rng.choice(USERNS_VALUES))))
        else:
            members.append('"Labels": {"k": "v"}')
    rng.shuffle(members)
    body = ("{%s}" % ", ".join(members)).encode("utf-8")
    if rng.random() < 0.5:
        body = body.replace(b'"k"', b'"\xff\xfek"', 1)
    return body + rng.choice([b"", b"", b" ", b'\n{"HostConfig": {"UsernsMode": "host"}}', b" garbage"])


def probe_generated(sock_path: str, image: str, count: int, seed: int) -> list:
    rng = random.Random(seed)
    results = []
    for _ in range(count):
        body = generated_body(rng, image)
        outcome = try_create(sock_path, PATHS[0], body)
        outcome["refused_by_plugin"] = outcome["status"] == 403 and "authorization denied by plugin" in outcome["message"]
        outcome["body"] = body.decode("utf-8", errors="replace")[:300]
        results.append(outcome)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--image", required=True)
    parser.add_argument("--generated", type=int, default=0, help="send this many generated bodies instead")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.generated:
        results = probe_generated(args.socket, args.image, args.generated, args.seed)
    else:
        results = probe(args.socket, args.image)
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
