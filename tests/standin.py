"""A stand-in Docker daemon: the few read-only API routes the plugin asks, over a Unix socket.

It answers from descriptions given in Python, resolving container references the way dockerd
does (full ID, then name, then unique ID prefix), and reports any version string. Tests use it
where a real engine cannot be had here: Docker CE versions (24.0, 28.x, 29.5.0, 29.5.1) that
Debian does not ship, and thousands of generated container sets. The plugin's lookups against a
real dockerd are tested in tests/integration.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import Dict, List, Optional, Tuple


def resolve_reference(descriptions: List[dict], ref: str) -> Tuple[int, dict]:
    """(status, description or error) as dockerd resolves a container reference: a full ID, else
    a name, else a unique ID prefix."""
    for match in (lambda d: d["Id"] == ref, lambda d: d.get("Name") == "/" + ref):
        found = [d for d in descriptions if match(d)]
        if found:
            return 200, found[0]
    by_prefix = [d for d in descriptions if ref and d["Id"].startswith(ref)]
    if len(by_prefix) > 1:
        return 400, {"message": "multiple IDs found with provided prefix: %s" % ref}
    return (200, by_prefix[0]) if by_prefix else (404, {"message": "No such container: %s" % ref})


class StandInDaemon:
    def __init__(self, socket_path: str, version: str = "29.5.1", containers: Optional[List[dict]] = None,
                 volumes: Optional[Dict[str, dict]] = None, plugins: Optional[List[dict]] = None,
                 execs: Optional[Dict[str, str]] = None, data_root: str = "/var/lib/docker"):
        self.socket_path = socket_path
        self.data_root = data_root
        self.version = version
        self.containers = list(containers or [])
        self.volumes = dict(volumes or {})
        self.plugins = list(plugins or [])
        self.execs = dict(execs or {})
        self.requests: List[str] = []
        self.server: Optional[socketserver.ThreadingUnixStreamServer] = None

    # -- what the daemon answers ----------------------------------------------------------------

    def answer(self, path: str):
        route = urllib.parse.urlsplit(path).path
        parts = [urllib.parse.unquote(p) for p in route.split("/")[1:]]
        if parts and parts[0].startswith("v1."):
            parts = parts[1:]
        if parts == ["version"]:
            return 200, {"Version": self.version, "ApiVersion": "1.45", "Os": "linux"}
        if parts == ["info"]:
            return 200, {"DockerRootDir": self.data_root, "Swarm": {"LocalNodeState": "inactive"}}
        if parts == ["containers", "json"]:
            return 200, [{"Id": d["Id"], "Names": [d.get("Name", "")], "State": d.get("State", {}).get("Status", "created")}
                         for d in self.containers]
        if len(parts) == 3 and parts[0] == "containers" and parts[2] == "json":
            return resolve_reference(self.containers, parts[1])
        if len(parts) == 3 and parts[0] == "exec" and parts[2] == "json":
            if parts[1] in self.execs:
                return 200, {"ID": parts[1], "ContainerID": self.execs[parts[1]]}
            return 404, {"message": "No such exec instance"}
        if len(parts) == 2 and parts[0] == "volumes":
            if parts[1] in self.volumes:
                return 200, dict({"Name": parts[1], "Driver": "local", "Options": None}, **self.volumes[parts[1]])
            return 404, {"message": "get %s: no such volume" % parts[1]}
        if parts == ["plugins"]:
            return 200, self.plugins
        return 404, {"message": "page not found"}

    # -- serving --------------------------------------------------------------------------------

    def start(self) -> StandInDaemon:
        daemon = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                daemon.requests.append(self.path)
                status, value = daemon.answer(self.path)
                body = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        if os.path.exists(self.socket_path):
            os.unlink(self.socket_path)
        self.server = socketserver.ThreadingUnixStreamServer(self.socket_path, Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            os.unlink(self.socket_path)

    def __enter__(self) -> StandInDaemon:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
