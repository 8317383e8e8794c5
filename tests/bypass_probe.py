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
import sys
import tarfile
import uuid
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--image", required=True)
    parser.add_argument("--generated", type=int, default=0, help="send this many generated bodies instead")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--classes", help="comma-separated: mounts, routes, existing, rootwork, engine (instead of the create bodies)")
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
