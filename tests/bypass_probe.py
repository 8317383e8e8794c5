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

With --classes it tries the ways around the remapping that do not create a host-userns
container (one JSON object per case: class, case, attempt, control, escaped):

    mounts    docker cp (archive GET, HEAD, PUT; the old copy route) through a bind mount and
              through a local volume with o=bind, of a root-only directory it makes; control: a
              container with a plain named volume
    routes    a pre-1.24 start carrying UsernsMode=host in every version spelling (/v1.23.,
              /v1.020 ...); creates whose body the daemon may hide from the plugin (a URI ending
              in /auth, 1 MiB or more, chunked)
    existing  exec, start, restart, unpause, attach, update, rename, cp into, and new containers
              joining the namespaces of containers OUTSIDE the remapping that the caller made
              beforehand (--outside ID, --outside-stopped ID, optionally --pending-exec ID: made
              while the plugin was in audit mode); control: the same request on a remapped container
    rootwork  the daemon's own root work on host paths: -v sources that do not exist, that a user
              could replace, or that were removed before a start; CreateMountpoint; a bind of
              Docker's data directory; copy-up into a volume binding an empty root-only directory
              (made beforehand, and with the container) and into a volume a running container
              writes; swarm init. Controls: the path with --mount, nocopy, an existing root path
    engine    docker cp out of and into a container, an xz archive into a container whose image
              ships an xz, docker cp -a into one that sets a user and ships a getent: "escaped" when
              a program from the container's files ran as real root on the host (it can mknod).
              Whether each is refused depends on the engine's known vulnerabilities and the fixes
              recorded in the plugin's engine_fixes; each result names the engine's version

The default deny (the plugin's reviewed table): each result also names the rule that must
refuse the attempt, as the plugin's log names it.

    drivers     ../ driver names (network, IPAM, volume, log, --volume-driver, --mount): the daemon
                would join them into a plugin socket path; stand-in plugins listen in a volume's
                directory and record what the daemon asks. Controls: bridge, default, local, json-file
    volumeopts  local volume options, mount(2) arguments the daemon applies as real root: overlay
                with its upper directory on a root-owned host directory (docker volume create -o,
                and inline in --mount), proc, a bind of Docker's data directory (both ways).
                Controls: a plain volume, tmpfs with a size, a bind of a root-owned directory
    devices     device grants: a cgroup rule of type a, b 8:* (disks), the console (c 5:1),
                --device /dev/null:FILE (under remapping the host's FILE). Controls: FUSE and TUN
    hooks       what the runtime runs as real root: --runtime io.containerd.x.v1, an annotation,
                --gpus, a CDI device. Controls: --runtime runc, no annotation, no device request
    unreviewed  what the table does not know: a HostConfig field, a query parameter, API 1.23, a
                route (which the daemon answers 404 itself, asking no plugin). Controls: the zero
                value, no parameter, API 1.24

    python3 bypass_probe.py --image IMAGE --classes mounts,routes
    python3 bypass_probe.py --image IMAGE --classes existing --outside ID --outside-stopped ID

"escaped" is true when the daemon did what the attempt asked (a file read or written through the
mount, a container in the host user namespace, an exec or start accepted): it must never be.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import shutil
import socket
import socketserver
import stat
import sys
import tarfile
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Optional

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


def request(sock_path: str, method: str, path: str, body=None, content_type: str = "application/json") -> tuple:
    """(status, text); body may be bytes, or an iterator of bytes to send chunked."""
    conn = http.client.HTTPConnection("localhost", timeout=60)
    conn.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.sock.settimeout(60)
    conn.sock.connect(sock_path)
    try:
        headers = {"Content-Type": content_type} if body is not None else {}
        chunked = body is not None and not isinstance(body, bytes)
        try:
            conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered before the whole body was read: read that answer
        response = conn.getresponse()
        data = response.read() if method != "HEAD" else b""
        if method == "HEAD" and response.status == 200:
            data = response.getheader("X-Docker-Container-Path-Stat", "").encode()
        return response.status, data.decode("utf-8", errors="replace")
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


# --- ways around the remapping that do not create a host-userns container ----------------------


def outcome(status: int, message: str) -> dict:
    return {"status": status, "message": message.strip()[:300]}


def json_body(value) -> bytes:
    return json.dumps(value).encode()


def make_container(sock_path: str, image: str, host_config: Optional[dict] = None, cmd=("sleep", "600"), start: bool = True) -> str:
    name = "due-probe-%s" % uuid.uuid4().hex[:10]
    body = {"Image": image, "Cmd": list(cmd), "HostConfig": dict({"NetworkMode": "none"}, **(host_config or {}))}
    status, message = request(sock_path, "POST", "/containers/create?name=%s" % name, json_body(body))
    if status != 201:
        raise RuntimeError("creating a probe container failed: %d %s" % (status, message))
    container_id = json.loads(message)["Id"]
    if start:
        status, message = request(sock_path, "POST", "/containers/%s/start" % container_id)
        if status not in (204, 304):
            raise RuntimeError("starting a probe container failed: %d %s" % (status, message))
    return container_id


def remove(sock_path: str, container_id: str) -> None:
    request(sock_path, "DELETE", "/containers/%s?force=1&v=1" % container_id)


def tar_of(name: str, content: bytes) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return data.getvalue()


def succeeded(status: int) -> bool:
    return 200 <= status < 300 or status == 101


SECRET = b"root:due-probe-secret-hash\n"


def probe_mounts(sock_path: str, image: str) -> list:
    """docker cp through host-backed mounts of a root-only directory; a named volume as control."""
    secret_dir = "/var/lib/due-probe-secret-%s" % uuid.uuid4().hex[:8]
    os.makedirs(secret_dir, mode=0o700)
    with open(os.path.join(secret_dir, "shadow"), "wb") as handle:
        handle.write(SECRET)
    os.chmod(os.path.join(secret_dir, "shadow"), 0o600)
    volume = "due-probe-bind-%s" % uuid.uuid4().hex[:8]
    plain = "due-probe-plain-%s" % uuid.uuid4().hex[:8]
    request(sock_path, "POST", "/volumes/create",
            json_body({"Name": volume, "Driver": "local", "DriverOpts": {"type": "none", "o": "bind", "device": secret_dir}}))
    containers = {}
    results = []
    try:
        containers["bind mount"] = make_container(sock_path, image, {"Binds": ["%s:/data" % secret_dir]}, start=False)
        containers["volume with o=bind"] = make_container(sock_path, image, {"Binds": ["%s:/data" % volume]}, start=False)
        control = containers["control"] = make_container(sock_path, image, {"Binds": ["%s:/data" % plain]}, start=False)
        for via in ("bind mount", "volume with o=bind"):
            target = containers[via]
            cases = [
                ("GET archive (docker cp out)", "GET", "/containers/{}/archive?path=/data/shadow", None),
                ("HEAD archive (docker cp stat)", "HEAD", "/containers/{}/archive?path=/data/shadow", None),
                ("PUT archive (docker cp in)", "PUT", "/containers/{}/archive?path=/data", tar_of("due-probe-written", b"x")),
                ("old copy route, API 1.23", "POST", "/v1.23/containers/{}/copy", json_body({"Resource": "/data/shadow"})),
            ]
            for case, method, path, body in cases:
                content_type = "application/x-tar" if method == "PUT" else "application/json"
                status, message = request(sock_path, method, path.format(target), body, content_type)
                control_status, control_message = request(sock_path, method, path.format(control).replace("/data/shadow", "/data"), body, content_type)
                written = os.path.exists(os.path.join(secret_dir, "due-probe-written"))
                results.append({
                    "class": "mounts", "case": "%s through a %s" % (case, via),
                    "attempt": outcome(status, message if method != "GET" else message[:80]),
                    "control": None if "copy route" in case
                    else outcome(control_status, control_message[:80] if succeeded(control_status) else control_message),
                    "escaped": written or (succeeded(status) and method != "POST") or SECRET.decode().strip() in message,
                })
    finally:
        for container_id in containers.values():
            remove(sock_path, container_id)
        request(sock_path, "DELETE", "/volumes/%s" % volume)
        request(sock_path, "DELETE", "/volumes/%s" % plain)
        shutil.rmtree(secret_dir, ignore_errors=True)
    return results


def host_userns_of(sock_path: str, container_id: str) -> str:
    status, message = request(sock_path, "GET", "/containers/%s/json" % container_id)
    return json.loads(message)["HostConfig"]["UsernsMode"] if status == 200 else ""


def probe_routes(sock_path: str, image: str) -> list:
    """Version spellings of the pre-1.24 start, and creates whose body may be hidden."""
    results = []
    for version in ("v1.23", "v1.23.", "v1.020", "v1.0023"):
        container_id = make_container(sock_path, image, start=False)
        try:
            status, message = request(sock_path, "POST", "/%s/containers/%s/start" % (version, container_id), json_body({"UsernsMode": "host"}))
            results.append({"class": "routes", "case": "start with UsernsMode=host at /%s/" % version,
                            "attempt": outcome(status, message), "control": None,
                            "escaped": host_userns_of(sock_path, container_id) == "host"})
        finally:
            remove(sock_path, container_id)
    host = {"Image": image, "Cmd": ["true"], "HostConfig": {"UsernsMode": "host"}}
    hidden = [
        ("create with a URI ending in /auth", "/v1.41/containers/create?x=/auth", json_body(host)),
        ("create body of 1 MiB", "/containers/create", json_body(dict(host, Labels={"pad": "x" * (1024 * 1024)}))),
        ("chunked create body", "/containers/create", iter([json_body(host)])),
    ]
    for case, path, body in hidden:
        name = "due-probe-%s" % uuid.uuid4().hex[:10]
        status, message = request(sock_path, "POST", path + ("&" if "?" in path else "?") + "name=" + name, body)
        escaped = status == 201 and host_userns_of(sock_path, name) == "host"
        if status == 201:
            remove(sock_path, name)
        results.append({"class": "routes", "case": case, "attempt": outcome(status, message), "control": None, "escaped": escaped})
    return results


def probe_existing(sock_path: str, image: str, outside: str, outside_stopped: str, pending_exec: str = "") -> list:
    """Requests that run code in, attach to, revive, change or write into containers outside the
    remapping, each beside the same request on a remapped container."""
    inside = make_container(sock_path, image)
    inside_stopped = make_container(sock_path, image, start=False)
    results = []
    made = []

    def attempt(case, method, path, body=None, target=outside, control=inside, content_type="application/json", has_control=True):
        status, message = request(sock_path, method, path.format(target), body, content_type)
        control_outcome = None
        if has_control:
            control_outcome = outcome(*request(sock_path, method, path.format(control), body, content_type))
        if status == 201 and "Id" in message and "/containers/create" in path:
            made.append(json.loads(message)["Id"])
        results.append({"class": "existing", "case": case, "attempt": outcome(status, message),
                        "control": control_outcome, "escaped": succeeded(status)})

    try:
        attempt("exec create", "POST", "/containers/{}/exec", json_body({"Cmd": ["cat", "/proc/self/uid_map"]}))
        attempt("start", "POST", "/containers/{}/start", target=outside_stopped, control=inside_stopped)
        attempt("restart", "POST", "/containers/{}/restart?t=0")
        request(sock_path, "POST", "/containers/%s/pause" % outside)
        request(sock_path, "POST", "/containers/%s/pause" % inside)
        attempt("unpause", "POST", "/containers/{}/unpause")
        request(sock_path, "POST", "/containers/%s/unpause" % outside)  # refused: it stays paused
        attempt("attach", "POST", "/containers/{}/attach?stream=0&logs=1&stdout=1")
        attempt("websocket attach", "GET", "/containers/{}/attach/ws?stream=0&logs=1", has_control=False)
        attempt("update restart policy", "POST", "/containers/{}/update", json_body({"RestartPolicy": {"Name": "always"}}))
        attempt("rename", "POST", "/containers/{}/rename?name=due-probe-%s" % uuid.uuid4().hex[:8], has_control=False)
        attempt("docker cp into it", "PUT", "/containers/{}/archive?path=/", tar_of("due-probe-written", b"x"), content_type="application/x-tar")
        for field in ("PidMode", "NetworkMode", "IpcMode"):
            body = '{"Image": "%s", "Cmd": ["true"], "HostConfig": {"%s": "container:{}"}}' % (image, field)
            status, message = request(sock_path, "POST", "/containers/create", body.replace("{}", outside).encode())
            control_status, control_message = request(sock_path, "POST", "/containers/create", body.replace("{}", inside).encode())
            made += [json.loads(m)["Id"] for st, m in ((status, message), (control_status, control_message)) if st == 201]
            results.append({"class": "existing", "case": "create joining its %s" % field, "attempt": outcome(status, message),
                            "control": outcome(control_status, control_message), "escaped": status == 201})
        if pending_exec:
            status, message = request(sock_path, "POST", "/exec/%s/start" % pending_exec, json_body({"Detach": True}))
            results.append({"class": "existing", "case": "start an exec left pending in audit mode",
                            "attempt": outcome(status, message), "control": None, "escaped": succeeded(status)})
    finally:
        for container_id in [inside, inside_stopped] + made:
            remove(sock_path, container_id)
    return results


# --- the daemon's own root work on host paths, and the engine's known vulnerabilities --------------


def try_create_and_start(sock_path: str, image: str, host_config: dict, cmd=("true",)) -> tuple:
    """(status of the create, or of the start when the create worked, message, container ID or "")."""
    name = "due-probe-%s" % uuid.uuid4().hex[:10]
    body = {"Image": image, "Cmd": list(cmd), "HostConfig": dict({"NetworkMode": "none"}, **host_config)}
    status, message = request(sock_path, "POST", "/containers/create?name=%s" % name, json_body(body))
    if status != 201:
        return status, message, ""
    container_id = json.loads(message)["Id"]
    status, message = request(sock_path, "POST", "/containers/%s/start" % container_id)
    return status, message, container_id


def owned_by_root_untouched(path: str, mode: int) -> bool:
    info = os.stat(path)
    return info.st_uid == 0 and (info.st_mode & 0o7777) == mode and not os.listdir(path)


def probe_rootwork(sock_path: str, image: str) -> list:
    """Bind sources the daemon would create, copy-up into host directories and shared volumes,
    Docker's data directory, swarm. Each attempt beside a control the plugin lets through."""
    base = "/var/lib/due-probe-%s" % uuid.uuid4().hex[:8]
    os.makedirs(base, mode=0o755)
    results = []
    made = []
    volumes = []

    def record(case, status, message, escaped, control=None):
        results.append({"class": "rootwork", "case": case, "attempt": outcome(status, message),
                        "control": None if control is None else outcome(*control), "escaped": escaped})

    def control_of(host_config, create_only=False):
        if create_only:
            name = "due-probe-%s" % uuid.uuid4().hex[:10]
            body = {"Image": image, "Cmd": ["true"], "HostConfig": dict({"NetworkMode": "none"}, **host_config)}
            status, message = request(sock_path, "POST", "/containers/create?name=%s" % name, json_body(body))
            made.extend([name] if status == 201 else [])
            return status, message
        status, message, container_id = try_create_and_start(sock_path, image, host_config)
        if container_id:
            made.append(container_id)
        return status, message

    try:
        existing = os.path.join(base, "existing")
        os.makedirs(existing)
        missing = os.path.join(base, "missing", "system-generators")
        status, message, container_id = try_create_and_start(sock_path, image, {"Binds": ["%s:/x" % missing]})
        made += [container_id] if container_id else []
        record("-v source that does not exist", status, message, os.path.exists(missing), control_of({"Binds": ["%s:/x" % existing]}))

        created = os.path.join(base, "created", "sub")
        mount: dict = {"Type": "bind", "Source": created, "Target": "/x", "BindOptions": {"CreateMountpoint": True}}
        status, message, container_id = try_create_and_start(sock_path, image, {"Mounts": [mount]})
        made += [container_id] if container_id else []
        record("--mount bind with CreateMountpoint, source missing", status, message, os.path.exists(created),
               control_of({"Mounts": [dict(mount, Source=existing)]}))

        vanishing = os.path.join(base, "vanishing")
        os.makedirs(vanishing)
        container_id = make_container(sock_path, image, {"Binds": ["%s:/x" % vanishing]}, cmd=("true",), start=False)
        made.append(container_id)
        os.rmdir(vanishing)
        status, message = request(sock_path, "POST", "/containers/%s/start" % container_id)
        record("start after the -v source was removed", status, message, os.path.exists(vanishing),
               control_of({"Binds": ["%s:/x" % existing]}))

        home = os.path.join(base, "home")
        project = os.path.join(home, "project")
        os.makedirs(project)
        os.chown(home, 65534, 65534)
        os.chown(project, 65534, 65534)
        status, message, container_id = try_create_and_start(sock_path, image, {"Binds": ["%s:/x" % project]})
        made += [container_id] if container_id else []
        record("-v source that a user could remove or replace", status, message, succeeded(status),
               control_of({"Mounts": [{"Type": "bind", "Source": project, "Target": "/x"}]}))

        _status, info = request(sock_path, "GET", "/info")
        data_root = json.loads(info).get("DockerRootDir", "/var/lib/docker")
        status, message, container_id = try_create_and_start(sock_path, image, {"Binds": ["%s:/x:ro" % data_root]})
        made += [container_id] if container_id else []
        record("bind of Docker's data directory", status, message, succeeded(status))

        for case, how in (("copy-up into a volume that binds an empty root-only directory", "beforehand"),
                          ("copy-up into a volume made with the container, binding an empty root-only directory", "with")):
            empty = os.path.join(base, "empty-%s" % how)
            os.makedirs(empty, mode=0o700)
            os.chmod(empty, 0o700)
            options = {"type": "none", "o": "bind", "device": empty}
            volume = "due-probe-bound-%s" % uuid.uuid4().hex[:8]
            volumes.append(volume)
            if how == "beforehand":
                request(sock_path, "POST", "/volumes/create", json_body({"Name": volume, "Driver": "local", "DriverOpts": options}))
                host_config: dict = {"Binds": ["%s:/bin" % volume]}
                nocopy: dict = {"Binds": ["%s:/bin:nocopy" % volume]}
            else:
                mount = {"Type": "volume", "Source": volume, "Target": "/bin",
                         "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": options}}}
                host_config = {"Mounts": [mount]}
                nocopy = {"Mounts": [dict(mount, VolumeOptions=dict(mount["VolumeOptions"], NoCopy=True))]}
            status, message, container_id = try_create_and_start(sock_path, image, host_config)
            made += [container_id] if container_id else []
            escaped = not owned_by_root_untouched(empty, 0o700)
            control = control_of(nocopy, create_only=True)  # nocopy: the directory is left alone
            record(case, status, message, escaped or not owned_by_root_untouched(empty, 0o700), control)

        shared = "due-probe-shared-%s" % uuid.uuid4().hex[:8]
        volumes.append(shared)
        made.append(make_container(sock_path, image, {"Binds": ["%s:/data" % shared]}))  # a running writer
        status, message, container_id = try_create_and_start(sock_path, image, {"Binds": ["%s:/bin" % shared]})
        made += [container_id] if container_id else []
        record("copy-up into a volume another running container writes", status, message, status in (201, 204),
               control_of({"Binds": ["%s:/data:nocopy" % shared]}))

        status, message = request(sock_path, "POST", "/swarm/init", json_body({"ListenAddr": "127.0.0.1:2377", "AdvertiseAddr": "127.0.0.1"}))
        _status, info = request(sock_path, "GET", "/info")
        joined = json.loads(info).get("Swarm", {}).get("LocalNodeState") == "active"
        if joined:
            request(sock_path, "POST", "/swarm/leave?force=1")
        record("make this host a swarm node", status, message, joined)
    finally:
        for container_id in made:
            remove(sock_path, container_id)
        for volume in volumes:
            request(sock_path, "DELETE", "/volumes/%s" % volume)
        shutil.rmtree(base, ignore_errors=True)
    return results


PROOF = "/due-probe-proof"
# Run by the daemon from the container's files, it proves where it ran: only real root in the
# host's user namespace can make a device node. busybox by its path: the daemon may run it with its
# own PATH, which on Debian 13 and later has no /bin (and the busybox image's applets are there).
PROVING_SCRIPT = ("#!/bin/sh\nname=$(/bin/busybox basename $0)\n/bin/busybox mknod %s-$name c 1 3 2>/dev/null\n"
                  "exec /bin/busybox $name \"$@\"\n" % PROOF)


def proving_image(sock_path: str, image: str) -> str:
    """The image plus an xz and a getent that prove it when the daemon runs them (docker commit)."""
    container_id = make_container(sock_path, image)
    try:
        for program in ("getent", "xz", "unpigz"):
            script = PROVING_SCRIPT.replace("'", "'\\''")
            command = "mkdir -p /usr/bin && printf '%%s' '%s' > /usr/bin/%s && chmod 755 /usr/bin/%s" % (script, program, program)
            status, message = request(sock_path, "POST", "/containers/%s/exec" % container_id, json_body({"Cmd": ["sh", "-c", command]}))
            exec_id = json.loads(message)["Id"]
            request(sock_path, "POST", "/exec/%s/start" % exec_id, json_body({"Detach": False}))
        name = "due-probe-proving-%s" % uuid.uuid4().hex[:8]
        status, message = request(sock_path, "POST", "/commit?container=%s&repo=%s&tag=latest" % (container_id, name), json_body({}))
        if status != 201:
            raise RuntimeError("docker commit failed: %d %s" % (status, message))
        return name + ":latest"
    finally:
        remove(sock_path, container_id)


def proven(sock_path: str, container_id: str) -> bool:
    """Whether a program of the container's ran as real root on the host (its device node is there)."""
    status, message = request(sock_path, "POST", "/containers/%s/exec" % container_id,
                              json_body({"Cmd": ["sh", "-c", "ls %s-* 2>/dev/null" % PROOF], "AttachStdout": True}))
    if status != 201:
        return False
    exec_id = json.loads(message)["Id"]
    _status, output = request(sock_path, "POST", "/exec/%s/start" % exec_id, json_body({"Detach": False}))
    return PROOF in output


def xz_tar() -> bytes:
    import lzma
    return lzma.compress(tar_of("due-probe-written", b"x"), format=lzma.FORMAT_XZ)


def probe_engine(sock_path: str, image: str) -> list:
    """docker cp as this engine's known vulnerabilities make it dangerous: out of and into a plain
    container, an xz archive into a container whose image ships an xz, docker cp -a into one that
    sets a user and ships a getent. Escaped: one of the container's programs ran as real root."""
    _status, version = request(sock_path, "GET", "/version")
    results = []
    proving = proving_image(sock_path, image)
    made = []
    try:
        plain = make_container(sock_path, proving)
        made.append(plain)
        as_user_body = {"Image": proving, "Cmd": ["sleep", "600"], "User": "1000:1000", "HostConfig": {"NetworkMode": "none"}}
        status, message = request(sock_path, "POST", "/containers/create", json_body(as_user_body))
        as_user = json.loads(message)["Id"]
        made.append(as_user)
        request(sock_path, "POST", "/containers/%s/start" % as_user)
        cases = [
            ("docker cp out of a container", "GET", "/containers/%s/archive?path=/etc" % plain, None, "application/json", plain),
            ("docker cp into a container", "PUT", "/containers/%s/archive?path=/" % plain, tar_of("due-probe-written", b"x"), "application/x-tar", plain),
            ("docker cp of an xz archive into a container whose image ships an xz", "PUT", "/containers/%s/archive?path=/" % plain,
             xz_tar(), "application/x-tar", plain),
            ("docker cp -a into a container that sets a user and ships a getent", "PUT",
             "/containers/%s/archive?path=/&copyUIDGID=1" % as_user, tar_of("due-probe-written", b"x"), "application/x-tar", as_user),
        ]
        for case, method, path, body, content_type, target in cases:
            status, message = request(sock_path, method, path, body, content_type)
            results.append({"class": "engine", "case": case, "engine": json.loads(version).get("Version", ""),
                            "attempt": outcome(status, message if not succeeded(status) else message[:80]), "control": None,
                            "escaped": proven(sock_path, target)})
    finally:
        for container_id in made:
            remove(sock_path, container_id)
        request(sock_path, "DELETE", "/images/%s?force=1" % proving)
    return results


# --- the default deny: what the reviewed table marks for a check, and what it does not know ------


def run_to_end(sock_path: str, image: str, host_config: dict, cmd=("true",), query: str = "") -> dict:
    """Create, start and wait for a container, then remove it: the status of the create (when it
    failed) or of the start, the daemon's message, the container's output and exit code."""
    name = "due-probe-%s" % uuid.uuid4().hex[:10]
    body = {"Image": image, "Cmd": list(cmd), "HostConfig": dict({"NetworkMode": "none"}, **host_config)}
    status, message = request(sock_path, "POST", "/containers/create?name=%s%s" % (name, query), json_body(body))
    ran = {"status": status, "message": message.strip()[:300], "output": "", "exit": None}
    if status != 201:
        return ran
    try:
        status, message = request(sock_path, "POST", "/containers/%s/start" % name)
        ran.update(status=status, message=message.strip()[:300])
        if succeeded(status):
            _status, waited = request(sock_path, "POST", "/containers/%s/wait" % name)
            ran["exit"] = json.loads(waited).get("StatusCode")
            _status, logs = request(sock_path, "GET", "/containers/%s/logs?stdout=1&stderr=1" % name)
            ran["output"] = logs.replace("\x00", "")[:2000]
    finally:
        remove(sock_path, name)
    return ran


def ran_outcome(ran: dict) -> dict:
    """A control's outcome: the daemon's status and message, and the container's exit code."""
    return dict(outcome(ran["status"], ran["message"]), exit=ran["exit"])


def default_deny_result(cls: str, case: str, rule: str, attempt: dict, control: Optional[dict], escaped: bool, **more) -> dict:
    """One case; rule: the plugin's rule that must refuse the attempt (its log names it)."""
    return dict({"class": cls, "case": case, "rule": rule, "attempt": attempt, "control": control, "escaped": escaped}, **more)


def data_root_of(sock_path: str) -> str:
    _status, info = request(sock_path, "GET", "/info")
    return json.loads(info).get("DockerRootDir", "/var/lib/docker")


# What a stand-in plugin answers besides {} (no error).
PLUGIN_ANSWERS = {
    "/NetworkDriver.GetCapabilities": {"Scope": "local"},
    "/IpamDriver.GetDefaultAddressSpaces": {"LocalDefaultAddressSpace": "local", "GlobalDefaultAddressSpace": "global"},
    # No pool (libnetwork's IPAM answers carry "Error", the other drivers' "Err"): the daemon fails
    # the network create before its bridge driver makes a bridge on the host.
    "/IpamDriver.RequestPool": {"Error": "due-probe: asked, and refusing (the probe only records the call)"},
    "/VolumeDriver.Capabilities": {"Capabilities": {"Scope": "local"}},
    "/LogDriver.Capabilities": {"Cap": {"ReadLogs": False}},
}


class FakePlugin:
    """A legacy plugin's socket: answers the daemon as a driver of the given kind would (or with
    an error where an answer would make the daemon reconfigure the host) and records each call."""

    def __init__(self, path: str, implements: str):
        self.path = path
        self.requests: list = []
        recorder = self
        answers = dict(PLUGIN_ANSWERS, **{"/Plugin.Activate": {"Implements": [implements]}})

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                recorder.requests.append(self.path)
                body = json.dumps(answers.get(self.path, {})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.docker.plugins.v1+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                pass

        self.server = socketserver.ThreadingUnixStreamServer(path, Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def traversal_name(socket_path: str) -> str:
    """The driver name the daemon joins into /run/docker/plugins/NAME.sock to find this socket."""
    return "../../.." + socket_path[:-len(".sock")]


def probe_drivers(sock_path: str, image: str) -> list:
    """Driver names with ../ for a network, its IPAM, a volume, a container's log, its volumes
    (--volume-driver) and a --mount volume: the daemon would join each into a plugin socket path.
    The sockets are stand-in plugins in a volume's directory, where a remapped container can
    make one; "escaped" when the daemon called one. Controls: the built-in drivers."""
    lair = "due-probe-lair-%s" % uuid.uuid4().hex[:8]
    request(sock_path, "POST", "/volumes/create", json_body({"Name": lair}))
    _status, answer = request(sock_path, "GET", "/volumes/%s" % lair)
    lair_dir = json.loads(answer)["Mountpoint"]
    plugins, results, networks, volumes, made = [], [], [], [], []

    def stand_in(kind: str, implements: str) -> tuple:
        plugin = FakePlugin(os.path.join(lair_dir, "%s.sock" % kind), implements)
        plugins.append(plugin)
        return plugin, traversal_name(plugin.path)

    def network(body: dict) -> tuple:
        status, message = request(sock_path, "POST", "/networks/create", json_body(dict({"Name": "due-probe-%s" % uuid.uuid4().hex[:8]}, **body)))
        if status == 201:
            networks.append(json.loads(message)["Id"])
        return status, message

    def volume(body: dict) -> tuple:
        name = "due-probe-drv-%s" % uuid.uuid4().hex[:8]
        status, message = request(sock_path, "POST", "/volumes/create", json_body(dict({"Name": name}, **body)))
        if status == 201:
            volumes.append(name)
        return status, message

    def create(host_config: dict) -> tuple:
        name = "due-probe-%s" % uuid.uuid4().hex[:10]
        body = {"Image": image, "Cmd": ["true"], "HostConfig": dict({"NetworkMode": "none"}, **host_config)}
        status, message = request(sock_path, "POST", "/containers/create?name=%s" % name, json_body(body))
        if status == 201:
            made.append(name)
        return status, message

    def record(case: str, attempt: tuple, plugin: FakePlugin, control: tuple) -> None:
        results.append(default_deny_result("drivers", case, "driver-name", outcome(*attempt), outcome(*control),
                                           bool(plugin.requests) or succeeded(attempt[0]), requests=list(plugin.requests)))

    try:
        # Config-only controls: the daemon stores them and sets nothing up on the host's network.
        plugin, name = stand_in("network", "NetworkDriver")
        record("network driver ../", network({"Driver": name}), plugin, network({"Driver": "bridge", "ConfigOnly": True}))
        plugin, name = stand_in("ipam", "IpamDriver")
        record("IPAM driver ../", network({"Driver": "bridge", "IPAM": {"Driver": name}}), plugin,
               network({"Driver": "bridge", "IPAM": {"Driver": "default"}, "ConfigOnly": True}))
        plugin, name = stand_in("volume", "VolumeDriver")
        record("volume driver ../", volume({"Driver": name}), plugin, volume({"Driver": "local"}))
        plugin, name = stand_in("log", "LogDriver")
        record("log driver ../", create({"LogConfig": {"Type": name, "Config": {}}}), plugin,
               create({"LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}}))
        plugin, name = stand_in("volumes", "VolumeDriver")
        named = ["due-probe-drv-%s" % uuid.uuid4().hex[:8] for _ in range(4)]
        volumes += named
        record("--volume-driver ../", create({"VolumeDriver": name, "Binds": ["%s:/due-x" % named[0]]}), plugin,
               create({"VolumeDriver": "local", "Binds": ["%s:/due-x" % named[1]]}))
        plugin, name = stand_in("mount", "VolumeDriver")

        def mount(source: str, driver: str) -> dict:
            return {"Type": "volume", "Source": source, "Target": "/due-x", "VolumeOptions": {"DriverConfig": {"Name": driver}}}
        record("--mount volume-driver=../", create({"Mounts": [mount(named[2], name)]}), plugin, create({"Mounts": [mount(named[3], "local")]}))
    finally:
        for name in made:
            remove(sock_path, name)
        for network_id in networks:
            request(sock_path, "DELETE", "/networks/%s" % network_id)
        for name in volumes:
            request(sock_path, "DELETE", "/volumes/%s" % name)
        for plugin in plugins:
            plugin.close()
        request(sock_path, "DELETE", "/volumes/%s" % lair)  # last: its directory holds the stand-ins' sockets
    return results


def probe_volumeopts(sock_path: str, image: str) -> list:
    """Options of the local volume driver are mount(2) arguments the daemon applies as real root in
    the host's mount namespace: overlay with its upper and work directories on root-owned host
    directories (as docker volume create -o, and inline in --mount), proc, and a bind of Docker's
    data directory (both spellings). "escaped" when the daemon took the options (the volume or
    container was made) or did what they ask: a file in the upper directory, the host's PID 1
    seen, another volume's file read through the data directory. Controls: a plain volume, tmpfs
    with a size, a bind of a root-owned directory that is not the data directory."""
    data_root = data_root_of(sock_path)
    # Another volume's file, which a bind of the data directory shows (it cannot list the data
    # directory itself: 0710, the remapped root's group; it can walk into what it knows).
    marker = "due-probe-marker-%s" % uuid.uuid4().hex[:8]
    request(sock_path, "POST", "/volumes/create", json_body({"Name": marker}))
    _status, answer = request(sock_path, "GET", "/volumes/%s" % marker)
    with open(os.path.join(json.loads(answer)["Mountpoint"], "marker"), "w") as handle:
        handle.write("due-probe-another-volume\n")
    through_data_root = ("cat", "/due-x/volumes/%s/_data/marker" % marker)
    # Overlay's upper directory must be on a file system that takes one: the data root's does.
    layers = os.path.join(os.path.dirname(data_root.rstrip("/")), "due-probe-ov-%s" % uuid.uuid4().hex[:8])
    base = "/var/lib/due-probe-%s" % uuid.uuid4().hex[:8]
    bound = os.path.join(base, "bound")
    os.makedirs(bound, mode=0o755)
    with open(os.path.join(bound, "hello"), "w") as handle:
        handle.write("due-probe-bound\n")
    with open("/proc/1/cmdline", "rb") as cmdline:
        host_init = cmdline.read().split(b"\0")[0].decode(errors="replace")
    results, volumes = [], [marker]

    def overlay(tag: str) -> tuple:
        dirs = [os.path.join(layers, tag, part) for part in ("lower", "upper", "work")]
        for path in dirs:
            os.makedirs(path, mode=0o755)
        return dirs[1], {"type": "overlay", "device": "overlay", "o": "lowerdir=%s,upperdir=%s,workdir=%s" % tuple(dirs)}

    def by_volume_create(options: dict, target: str, cmd) -> tuple:
        """docker volume create -o ..., then a container using it: (volume create's outcome, the run)."""
        name = "due-probe-vo-%s" % uuid.uuid4().hex[:8]
        status, message = request(sock_path, "POST", "/volumes/create", json_body({"Name": name, "Driver": "local", "DriverOpts": options}))
        if status != 201:
            return (status, message), None
        volumes.append(name)
        return (status, message), run_to_end(sock_path, image, {"Binds": ["%s:%s" % (name, target)]}, cmd)

    def by_mount(options: dict, target: str, cmd) -> dict:
        """--mount type=volume,...,volume-driver=local,volume-opt=...: the create makes the volume."""
        name = "due-probe-vo-%s" % uuid.uuid4().hex[:8]
        volumes.append(name)
        mount = {"Type": "volume", "Source": name, "Target": target, "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": options}}}
        return run_to_end(sock_path, image, {"Mounts": [mount]}, cmd)

    def control_by_volume_create(options: dict, target: str, cmd) -> dict:
        (status, message), ran = by_volume_create(options, target, cmd)
        return ran_outcome(ran) if ran else dict(outcome(status, message), exit=None)

    def record(case: str, attempt: tuple, effect: bool, control: dict) -> None:
        results.append(default_deny_result("volumeopts", case, "volume-options", outcome(*attempt), control,
                                           effect or succeeded(attempt[0]), effect=effect))

    def written(upper: str) -> bool:
        return bool(os.listdir(upper))  # the copy of the image's files, and the container's own

    write = ("/bin/busybox", "sh", "-c", "touch /bin/due-probe-written")
    try:
        upper, options = overlay("create")
        created, _ran = by_volume_create(options, "/bin", write)
        record("overlay, upperdir on a root-owned host directory (docker volume create)", created, written(upper),
               control_by_volume_create({}, "/due-x", ("touch", "/due-x/written")))
        upper, options = overlay("mount")
        ran = by_mount(options, "/bin", write)
        tmpfs = {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
        record("overlay, upperdir on a root-owned host directory (--mount volume-opt)", (ran["status"], ran["message"]), written(upper),
               ran_outcome(by_mount(tmpfs, "/due-x", ("touch", "/due-x/written"))))
        created, ran = by_volume_create({"type": "proc", "device": "proc"}, "/due-x", ("cat", "/due-x/1/cmdline"))
        record("proc (docker volume create)", created, bool(ran) and host_init in ran["output"] and host_init != "cat",
               control_by_volume_create(tmpfs, "/due-x", ("touch", "/due-x/written")))
        data = {"type": "none", "o": "bind,ro", "device": data_root}
        bind = {"type": "none", "o": "bind", "device": bound}
        created, ran = by_volume_create(data, "/due-x", through_data_root)
        record("bind of Docker's data directory (docker volume create)", created, bool(ran) and "due-probe-another-volume" in ran["output"],
               control_by_volume_create(bind, "/due-x", ("cat", "/due-x/hello")))
        ran = by_mount(data, "/due-x", through_data_root)
        record("bind of Docker's data directory (--mount volume-opt)", (ran["status"], ran["message"]), "due-probe-another-volume" in ran["output"],
               ran_outcome(by_mount(bind, "/due-x", ("cat", "/due-x/hello"))))
    finally:
        for name in volumes:
            request(sock_path, "DELETE", "/volumes/%s" % name)
        shutil.rmtree(layers, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    return results


def device_node(path: str, base: str, kind: str, major: int, minor: int) -> str:
    """The host's device at path when it is that device, else a node of the same numbers the probe
    makes (test hosts in containers lack most of /dev): what the daemon is given either way."""
    try:
        info = os.stat(path)
        if stat.S_ISCHR(info.st_mode) and (os.major(info.st_rdev), os.minor(info.st_rdev)) == (major, minor):
            return path
    except OSError:
        pass
    node = os.path.join(base, kind)
    os.mknod(node, 0o600 | stat.S_IFCHR, os.makedev(major, minor))
    return node


def probe_devices(sock_path: str, image: str) -> list:
    """Device grants: a device cgroup rule of type a (runc then allows every device), the host's
    disks (b 8:*), the host's console (c 5:1, which Docker's own cgroup allows a node of but the
    plugin does not grant), and --device /dev/null:FILE, which under remapping binds the host's
    FILE into the container. "escaped" when the container started with the grant (or the host
    file was read or changed). Controls: FUSE and TUN, by rule and by --device."""
    base = "/var/lib/due-probe-%s" % uuid.uuid4().hex[:8]
    public = os.path.join(base, "pub")
    os.makedirs(public, mode=0o755)
    host_file = os.path.join(public, "file")
    with open(host_file, "w") as handle:
        handle.write("due-probe-host-file\n")
    os.chmod(host_file, 0o666)
    results = []

    def device(path: str, inside: str = "") -> dict:
        return {"Devices": [{"PathOnHost": path, "PathInContainer": inside or path, "CgroupPermissions": "rwm"}]}

    def record(case: str, ran: dict, control: dict, effect: bool = False) -> None:
        results.append(default_deny_result("devices", case, "device-grant", outcome(ran["status"], ran["message"]), ran_outcome(control),
                                           effect or succeeded(ran["status"]), effect=effect))

    try:
        fuse, tun = device_node("/dev/fuse", base, "fuse", 10, 229), device_node("/dev/net/tun", base, "tun", 10, 200)
        console = device_node("/dev/console", base, "console", 5, 1)
        record("--device-cgroup-rule 'a 7:0 r' (type a allows every device)", run_to_end(sock_path, image, {"DeviceCgroupRules": ["a 7:0 r"]}),
               run_to_end(sock_path, image, {"DeviceCgroupRules": ["c 10:229 rwm"]}))
        record("--device-cgroup-rule 'b 8:* rwm' (the host's disks)", run_to_end(sock_path, image, {"DeviceCgroupRules": ["b 8:* rwm"]}),
               run_to_end(sock_path, image, {"DeviceCgroupRules": ["c 10:200 rwm"]}))
        record("--device of the console (c 5:1, %s)" % console, run_to_end(sock_path, image, device(console)),
               run_to_end(sock_path, image, device(fuse)))
        ran = run_to_end(sock_path, image, device("/dev/null", host_file), ("sh", "-c", "cat %s; echo due-probe-written > %s" % (host_file, host_file)))
        with open(host_file) as handle:
            changed = handle.read() != "due-probe-host-file\n"
        record("--device /dev/null:%s (a host file under remapping)" % host_file, ran, run_to_end(sock_path, image, device(tun)),
               effect=changed or "due-probe-host-file" in ran["output"])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def probe_hooks(sock_path: str, image: str) -> list:
    """What the runtime and its hooks run as real root: a runtime of containerd's NAME.vN form (the
    daemon takes any, and containerd runs that shim binary), an OCI annotation (crun writes
    run.oci.hooks.stdout's file as real root), a GPU request (NVIDIA's hook runs as real root) and
    a CDI device (the administrator's specs add mounts and hooks). "escaped" when the container
    started with it. Controls: --runtime runc, empty annotations and device requests."""
    results = []

    def attempt(case: str, host_config: dict, control: dict, kept=None) -> None:
        name = "due-probe-%s" % uuid.uuid4().hex[:10]
        body = {"Image": image, "Cmd": ["true"], "HostConfig": dict({"NetworkMode": "none"}, **host_config)}
        status, message = request(sock_path, "POST", "/containers/create?name=%s" % name, json_body(body))
        escaped = False
        if status == 201:
            try:
                _status, inspect = request(sock_path, "GET", "/containers/%s/json" % name)
                status, message = request(sock_path, "POST", "/containers/%s/start" % name)
                escaped = succeeded(status) and (kept is None or kept(json.loads(inspect)["HostConfig"]))
            finally:
                remove(sock_path, name)
        results.append(default_deny_result("hooks", case, "runtime-hooks", outcome(status, message),
                                           ran_outcome(run_to_end(sock_path, image, control)), escaped))

    annotation = "run.oci.hooks.stdout"
    attempt("--runtime io.containerd.x.v1", {"Runtime": "io.containerd.x.v1"}, {"Runtime": "runc"})
    attempt("--annotation %s=/etc/nologin" % annotation, {"Annotations": {annotation: "/etc/nologin"}}, {"Annotations": {}},
            kept=lambda host_config: annotation in (host_config.get("Annotations") or {}))
    attempt("--gpus all", {"DeviceRequests": [{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}]}, {"DeviceRequests": []})
    attempt("--device example.com/device=probe (CDI)", {"DeviceRequests": [{"Driver": "cdi", "DeviceIDs": ["example.com/device=probe"]}]},
            {"DeviceRequests": []})
    return results


def probe_unreviewed(sock_path: str, image: str) -> list:
    """What the reviewed table does not know: a HostConfig field with a non-zero value, a query
    parameter, an API version before 1.24, a route. "escaped" when the daemon did the request.
    Controls: the zero value of the field, the request without the parameter, API 1.24. A route
    the daemon does not have never reaches a plugin: its router answers 404 before any middleware;
    the plugin's refusal of unknown routes is for routes a newer daemon adds."""
    results = []

    def record(case: str, rule: str, attempt: tuple, control: Optional[dict]) -> None:
        results.append(default_deny_result("unreviewed", case, rule, outcome(*attempt), control, succeeded(attempt[0])))

    ran = run_to_end(sock_path, image, {"DueProbeUnknown": "x"})
    record("an unknown HostConfig field with a non-zero value", "unreviewed", (ran["status"], ran["message"]),
           ran_outcome(run_to_end(sock_path, image, {"DueProbeUnknown": ""})))
    ran = run_to_end(sock_path, image, {}, query="&dueprobe=1")
    record("an unknown query parameter (?dueprobe=1)", "unreviewed", (ran["status"], ran["message"]), ran_outcome(run_to_end(sock_path, image, {})))
    status, message = request(sock_path, "GET", "/v1.23/containers/json")
    control_status, control_message = request(sock_path, "GET", "/v1.24/containers/json")
    record("API version 1.23 (GET /v1.23/containers/json)", "api-version", (status, message),
           dict(outcome(control_status, control_message[:80]), exit=None))
    record("an unknown route (GET /v1.41/due-probe/unknown)", "unreviewed-route", request(sock_path, "GET", "/v1.41/due-probe/unknown"), None)
    return results


DEFAULT_DENY_CLASSES = {"drivers": probe_drivers, "volumeopts": probe_volumeopts, "devices": probe_devices,
                        "hooks": probe_hooks, "unreviewed": probe_unreviewed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--image", required=True)
    parser.add_argument("--generated", type=int, default=0, help="send this many generated bodies instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--classes", help="comma-separated: mounts, routes, existing, rootwork, engine, %s (instead of the "
                        "create bodies)" % ", ".join(DEFAULT_DENY_CLASSES))
    parser.add_argument("--outside", help="ID of a running container outside the remapping (class existing)")
    parser.add_argument("--outside-stopped", help="ID of a stopped container outside the remapping (class existing)")
    parser.add_argument("--pending-exec", default="", help="ID of an exec created in --outside, never started")
    args = parser.parse_args()
    if args.generated:
        results = probe_generated(args.socket, args.image, args.generated, args.seed)
    elif args.classes:
        results = []
        for name in args.classes.split(","):
            if name == "mounts":
                results += probe_mounts(args.socket, args.image)
            elif name == "routes":
                results += probe_routes(args.socket, args.image)
            elif name == "rootwork":
                results += probe_rootwork(args.socket, args.image)
            elif name == "engine":
                results += probe_engine(args.socket, args.image)
            elif name in DEFAULT_DENY_CLASSES:
                results += DEFAULT_DENY_CLASSES[name](args.socket, args.image)
            elif name == "existing":
                if not args.outside or not args.outside_stopped:
                    parser.error("class existing needs --outside and --outside-stopped")
                results += probe_existing(args.socket, args.image, args.outside, args.outside_stopped, args.pending_exec)
            else:
                parser.error("unknown class %r" % name)
    else:
        results = probe(args.socket, args.image)
    json.dump(results, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
