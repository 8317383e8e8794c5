"""Daemon API: a small blocking HTTP/1.1 client of the daemon's own socket, for the lookups.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, Tuple

from .config import VERSION
from .lookups import LookupFailed

LOOKUP_TIMEOUT = 10.0
MAX_LOOKUP_BYTES = 16 * 1024 * 1024


USER_AGENT = "docker-userns-enforcement-plugin/%s (container lookup)" % VERSION


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def quote(text: str) -> str:
    """Percent-encode everything but unreserved characters (a "/" in a link name included)."""
    return "".join(chr(b) if b in _UNRESERVED else "%%%02X" % b for b in text.encode("utf-8", errors="replace"))


class _Broken(Exception):
    """The daemon's answer was cut short or is not HTTP."""


def read_response(reader: Any) -> Tuple[int, bytes, bool]:
    """(status, body, connection closes) of one HTTP/1.1 response; chunked or not, bounded."""
    status_line = reader.readline(MAX_HEADER_BYTES)
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise _Broken("no HTTP status line" if status_line else "the connection closed")
    status, length, chunked, close = int(parts[1]), None, False, parts[0] == b"HTTP/1.0"
    while True:
        line = reader.readline(MAX_HEADER_BYTES)
        if not line.endswith(b"\n"):
            raise _Broken("headers cut short")
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.endswith(b"chunked")
        elif name == b"connection":
            close = value == b"close"
    if chunked:
        chunks, size = [], 0
        while True:
            line = reader.readline(1024)
            try:
                chunk_size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise _Broken("a malformed chunk") from None
            if chunk_size == 0:
                while reader.readline(MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            size += chunk_size
            if size > MAX_LOOKUP_BYTES:
                raise LookupFailed("the daemon's answer is larger than %d bytes" % MAX_LOOKUP_BYTES)
            chunks.append(reader.read(chunk_size))
            reader.readline(2)
        return status, b"".join(chunks), close
    if length is None:
        body = reader.read(MAX_LOOKUP_BYTES + 1)  # until the daemon closes
        close = True
    elif length > MAX_LOOKUP_BYTES:
        raise LookupFailed("the daemon's answer is larger than %d bytes" % MAX_LOOKUP_BYTES)
    else:
        body = reader.read(length)
        if len(body) < length:
            raise _Broken("the body was cut short")
    if len(body) > MAX_LOOKUP_BYTES:
        raise LookupFailed("the daemon's answer is larger than %d bytes" % MAX_LOOKUP_BYTES)
    return status, body, close


class DockerAPI:
    """A small blocking client of the daemon's API over its Unix socket, one keep-alive
    connection per thread (lookups run on the transport's worker threads). The standard
    library's http.client would do, but imports the email package: 6 MB more resident."""

    def __init__(self, socket_path: str, timeout: float = LOOKUP_TIMEOUT):
        self.socket_path = socket_path
        self.timeout = timeout
        self.local = threading.local()

    def _connect(self) -> Tuple[socket.socket, Any]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        return sock, sock.makefile("rb")

    def get(self, path: str) -> Tuple[int, Any]:
        """(status, decoded JSON or None); raise LookupFailed when the daemon cannot be asked."""
        request = b"GET %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: %s\r\n\r\n" % (path.encode("ascii"), USER_AGENT.encode())
        for attempt in (1, 2):
            connection = getattr(self.local, "connection", None)
            reused = connection is not None
            try:
                if connection is None:
                    connection = self.local.connection = self._connect()
                connection[0].sendall(request)
                status, data, close = read_response(connection[1])
            except (OSError, _Broken) as err:
                self._drop()
                if reused and attempt == 1:
                    continue  # the daemon closed a kept-alive connection: a GET can be sent again
                raise LookupFailed("cannot ask the Docker daemon at %s (GET %s: %s); check that dockerd listens on "
                                   "that socket, or set docker_socket in the plugin's config"
                                   % (self.socket_path, path[:200], err or type(err).__name__)) from None
            except LookupFailed:
                self._drop()
                raise
            if close:
                self._drop()
            if status == 404:
                return 404, None
            try:
                value = json.loads(data)
            except ValueError:
                value = None
            if status != 200 or value is None:
                message = value.get("message", "") if isinstance(value, dict) else data[:200].decode("utf-8", "replace")
                raise LookupFailed("the Docker daemon answered GET %s with %d: %s" % (path[:200], status, str(message)[:300]))
            return 200, value
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        connection = getattr(self.local, "connection", None)
        self.local.connection = None
        if connection is not None:
            connection[1].close()
            connection[0].close()


MAX_HEADER_BYTES = 64 * 1024
