"""Transport: HTTP/1.1 over a Unix socket. One thread runs an epoll loop over every connection
(dockerd opens a new one for most calls when it is busy, so no thread per connection); a few
worker threads run the decisions that wait for a lookup, while the loop keeps answering the
daemon, including the nested request each lookup makes. Bounded reads, keep-alive, a time limit
once a request has started. SIGTERM drains: no request is refused by a planned restart. Knows
nothing of Docker semantics.
"""

from __future__ import annotations

import errno
import json
import queue
import select
import socket
import threading
import time
from typing import Dict, List, Optional, Set, Tuple

from .audit_log import log_event
from .daemon_api import LOOKUP_TIMEOUT, MAX_HEADER_BYTES
from .daemon_lookup import DEFER, LookupDeferred
from .plugin_service import ALLOW_ANSWER, Plugin

MAX_BODY_BYTES = 8 * 1024 * 1024  # the daemon forwards at most 1 MiB of body, base64 in JSON
REQUEST_TIMEOUT = 10.0  # once a request has started, all of it must arrive within this
DRAIN_TIMEOUT = LOOKUP_TIMEOUT + REQUEST_TIMEOUT + 2.0


MAX_CONNECTIONS = 128
LOOKUP_WORKERS = 8
MAX_PENDING_LOOKUPS = 256
STATS_INTERVAL = 60.0  # seconds between two stats lines, while requests come
CONTENT_TYPE = b"application/vnd.docker.plugins.v1+json"


class BadRequest(Exception):
    """The peer did not speak HTTP/1.1 as expected."""


def _response(status: int, body: bytes, close: bool) -> bytes:
    reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
    head = b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n" % (status, reason, CONTENT_TYPE, len(body))
    if close:
        head += b"Connection: close\r\n"
    return head + b"\r\n" + body


ALLOW_RESPONSE = _response(200, ALLOW_ANSWER, False)


def parse_head(head: bytes) -> Tuple[str, str, int, bool]:
    """(method, target, body length, close) from a request head; raise BadRequest."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest("malformed request line")
    length, close = 0, False
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest("malformed header line")
        name = name.strip().lower()
        if name == b"content-length":
            value = value.strip()
            if not value.isdigit():
                raise BadRequest("malformed Content-Length")
            length = int(value)
            if length > MAX_BODY_BYTES:
                raise BadRequest("request body too large")
        elif name == b"transfer-encoding":
            raise BadRequest("chunked request bodies are not supported")
        elif name == b"connection":
            close = value.strip().lower() == b"close"
    return parts[0].decode("latin-1"), parts[1].decode("latin-1"), length, close


class Connection:
    __slots__ = ("buffer", "close_after", "closing", "deadline", "fd", "out", "sock", "waiting")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.fd = sock.fileno()
        self.buffer = b""
        self.out = b""
        self.waiting = False  # a decision for this connection is with a worker thread
        self.close_after = False  # the next answer says Connection: close
        self.closing = False  # the answer being sent said Connection: close
        self.deadline = 0.0  # when a started request must be complete; 0: none started


class Server:
    """The epoll loop. run() returns after stop() or after a drain (SIGTERM) has finished."""

    def __init__(self, plugin: Plugin, listener: socket.socket):
        self.plugin = plugin
        self.listener = listener
        listener.setblocking(False)
        self.epoll = select.epoll()
        self.connections: Dict[int, Connection] = {}
        self.started: Set[Connection] = set()  # the connections with a request started, not yet complete
        self.wake_reader, self.wake_writer = socket.socketpair()
        self.wake_reader.setblocking(False)
        self.wake_writer.setblocking(False)
        self.jobs: queue.SimpleQueue[Optional[Tuple[Connection, bytes]]] = queue.SimpleQueue()
        self.done: queue.SimpleQueue[Tuple[Connection, bytes]] = queue.SimpleQueue()
        self.workers: List[threading.Thread] = []
        self.pending = 0
        self.accepting = False
        self.draining = False
        self.stopped = False
        self.drain_deadline = 0.0
        self.stats = {"connections": 0, "requests": 0, "deferred": 0}
        self.stats_logged = 0  # requests counted by the last stats line
        self.stats_due = 0.0  # when the next stats line may be written

    # -- control, from signal handlers or other threads ------------------------------------

    def wake(self) -> None:
        try:
            self.wake_writer.send(b"\0")
        except OSError:
            pass  # full: the loop is awake anyway

    def drain(self) -> None:
        """Finish what was asked, take nothing new, then return from run()."""
        self.draining = True
        self.wake()

    def stop(self) -> None:
        self.stopped = True
        self.wake()

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        self.epoll.register(self.wake_reader.fileno(), select.EPOLLIN)
        self._set_accepting(True)
        listener_fd, wake_fd = self.listener.fileno(), self.wake_reader.fileno()
        connections = self.connections
        try:
            while not self.stopped:
                if self.draining and not self.drain_deadline:
                    self._start_drain()
                if self.draining and ((not connections and not self.accepting) or time.monotonic() > self.drain_deadline):
                    return
                for fd, events in self.epoll.poll(self._poll_timeout()):
                    if fd == listener_fd:
                        self._accept()
                    elif fd == wake_fd:
                        self._on_wake()
                    else:
                        conn = connections.get(fd)
                        if conn is None:
                            continue
                        if events & select.EPOLLOUT:
                            self._flush(conn)
                        if events & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR) and conn.fd in connections:
                            self._read(conn)
                self._expire_stalled()
                self._log_stats()
        finally:
            self._log_stats(final=True)
            for _ in self.workers:
                self.jobs.put(None)
            for conn in list(connections.values()):
                self._close(conn)
            self.epoll.close()
            self.wake_reader.close()
            self.wake_writer.close()

    def _log_stats(self, final: bool = False) -> None:
        """A stats line with the requests decided since the last one, at most every STATS_INTERVAL:
        the decision report counts them to know how much traffic a window saw."""
        now = time.monotonic()
        fresh = self.stats["requests"] - self.stats_logged
        if fresh and (final or now >= self.stats_due):
            log_event("stats", requests=fresh, interval=STATS_INTERVAL)
            self.stats_logged = self.stats["requests"]
            self.stats_due = now + STATS_INTERVAL

    def _poll_timeout(self) -> float:
        deadlines = [c.deadline for c in self.started]
        if self.draining:
            deadlines.append(self.drain_deadline)
        if self.stats["requests"] != self.stats_logged:
            deadlines.append(self.stats_due)
        if not deadlines:
            return -1
        return max(0.0, min(deadlines) - time.monotonic()) + 0.01

    def _set_accepting(self, accepting: bool) -> None:
        if accepting == self.accepting:
            return
        if accepting:
            self.epoll.register(self.listener.fileno(), select.EPOLLIN)
        else:
            self.epoll.unregister(self.listener.fileno())
        self.accepting = accepting

    def _accept(self) -> None:
        while len(self.connections) < MAX_CONNECTIONS:
            try:
                sock, _address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as err:
                log_event("accept-failed", reason=str(err))
                if err.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM) and self.connections:
                    self._set_accepting(False)  # until a connection closes
                return
            sock.setblocking(False)
            conn = Connection(sock)
            self.connections[conn.fd] = conn
            self.epoll.register(conn.fd, select.EPOLLIN)
            self.stats["connections"] += 1
            if self.draining:
                conn.close_after = True
        self._set_accepting(False)  # full: accept again when a connection closes

    def _read(self, conn: Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        if not data:
            if conn.buffer and not conn.waiting:  # the peer may have closed only its sending side
                self._refuse(conn, BadRequest("connection closed inside a request"))
            else:
                self._close(conn)  # the peer is gone; an answer still being decided is dropped
            return
        conn.buffer = conn.buffer + data if conn.buffer else data
        self._process(conn)

    def _process(self, conn: Connection) -> None:
        """Answer every complete request in the buffer, in order, until one waits for a lookup."""
        while conn.buffer and not conn.waiting and conn.fd in self.connections:
            buffer = conn.buffer
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEADER_BYTES + 4)
            try:
                if end < 0:
                    if len(buffer) > MAX_HEADER_BYTES:
                        raise BadRequest("headers too large")
                    self._started(conn)
                    return
                method, target, length, close = parse_head(buffer[:end])
            except BadRequest as err:
                self._refuse(conn, err)
                return
            if len(buffer) < end + 4 + length:
                self._started(conn)
                return
            body = buffer[end + 4:end + 4 + length]
            conn.buffer = buffer[end + 4 + length:]
            self._complete(conn)
            if close:
                conn.close_after = True
            self._answer(conn, method, target, body)

    def _started(self, conn: Connection) -> None:
        if not conn.deadline:
            conn.deadline = time.monotonic() + REQUEST_TIMEOUT
            self.started.add(conn)

    def _complete(self, conn: Connection) -> None:
        conn.deadline = 0.0
        self.started.discard(conn)

    def _answer(self, conn: Connection, method: str, target: str, body: bytes) -> None:
        path = target.split("?", 1)[0]
        keep_alive = not (conn.close_after or self.draining)
        if method != "POST":
            self._reply(conn, 404, b'{"Err":"use POST"}')
            return
        if path == "/AuthZPlugin.AuthZReq":
            self.stats["requests"] += 1
            try:
                answer = self.plugin.authz_request(body, DEFER)
            except LookupDeferred:
                self._defer(conn, body)
                return
            if answer is ALLOW_ANSWER and keep_alive:
                self._send(conn, ALLOW_RESPONSE)
                return
            self._reply(conn, 200, answer)
        elif path == "/AuthZPlugin.AuthZRes" and keep_alive:
            self.plugin.authz_response(body)
            self._send(conn, ALLOW_RESPONSE)
        else:
            self._reply(conn, *self.plugin.handle(path, body))

    def _reply(self, conn: Connection, status: int, body: bytes) -> None:
        """Send an answer that says Connection: close when the connection is to be closed."""
        conn.closing = conn.close_after or self.draining
        self._send(conn, _response(status, body, conn.closing))

    def _defer(self, conn: Connection, body: bytes) -> None:
        if self.pending >= MAX_PENDING_LOOKUPS:
            message = {"Allow": False, "Msg": "the plugin has too many requests waiting for container lookups; try again", "Err": ""}
            self._reply(conn, 200, json.dumps(message).encode())
            return
        if not self.workers:
            for number in range(LOOKUP_WORKERS):
                worker = threading.Thread(target=self._work, name="lookup-%d" % number, daemon=True)
                worker.start()
                self.workers.append(worker)
        self.stats["deferred"] += 1
        self.pending += 1
        conn.waiting = True
        self.jobs.put((conn, body))

    def _work(self) -> None:
        """A worker thread: decide with real lookups, hand the answer back to the loop."""
        while True:
            job = self.jobs.get()
            if job is None:
                return
            conn, body = job
            self.done.put((conn, self.plugin.authz_request(body)))
            self.wake()

    def _on_wake(self) -> None:
        try:
            while self.wake_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        while True:
            try:
                conn, answer = self.done.get_nowait()
            except queue.Empty:
                break
            self.pending -= 1
            if conn.fd not in self.connections or self.connections[conn.fd] is not conn:
                continue  # the daemon closed the connection meanwhile
            conn.waiting = False
            self._reply(conn, 200, answer)
            self._process(conn)
        if self.draining and not self.pending:
            self._set_accepting(False)

    def _send(self, conn: Connection, data: bytes) -> None:
        if conn.out:
            conn.out += data
            return
        try:
            sent = conn.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._close(conn)
            return
        if sent < len(data):
            conn.out = data[sent:]
            self.epoll.modify(conn.fd, select.EPOLLIN | select.EPOLLOUT)
        elif conn.closing:
            self._close(conn)

    def _flush(self, conn: Connection) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close(conn)
            return
        conn.out = conn.out[sent:]
        if conn.out:
            return
        if conn.closing:
            self._close(conn)
        elif self.draining:
            self._close_idle(conn)  # it announced keep-alive: the client may already be sending
        else:
            self.epoll.modify(conn.fd, select.EPOLLIN)

    def _refuse(self, conn: Connection, err: Exception) -> None:
        message = {"Allow": False, "Msg": "the authorization plugin could not read the request: %s" % err, "Err": str(err)}
        conn.close_after = True
        conn.buffer = b""
        self._complete(conn)
        self._reply(conn, 400, json.dumps(message).encode())

    def _expire_stalled(self) -> None:
        now = time.monotonic()
        for conn in [c for c in self.started if c.deadline < now]:
            self._refuse(conn, BadRequest("the request did not arrive within %.0f s" % REQUEST_TIMEOUT))

    def _close(self, conn: Connection) -> None:
        if self.connections.get(conn.fd) is conn:
            del self.connections[conn.fd]
        self.started.discard(conn)
        try:
            conn.sock.close()  # closing the descriptor also takes it out of the epoll set
        except OSError:
            pass
        if not self.draining and not self.accepting and len(self.connections) < MAX_CONNECTIONS:
            self._set_accepting(True)

    def _start_drain(self) -> None:
        """Stop taking connections once no lookup waits for a nested request on a new one;
        answer what was asked with Connection: close; close idle connections so that no request
        the daemon sends is lost (see _close_idle)."""
        self.drain_deadline = time.monotonic() + DRAIN_TIMEOUT
        if not self.pending:
            self._set_accepting(False)
        for conn in list(self.connections.values()):
            if conn.out:
                continue  # _flush closes it once the answer is out
            if conn.buffer or conn.waiting:
                conn.close_after = True  # its answer says Connection: close
                continue
            self._close_idle(conn)

    def _close_idle(self, conn: Connection) -> None:
        """Close a kept-alive connection the daemon may be writing a request into right now.
        After shutdown(SHUT_RD) the daemon's next write fails at once (EPIPE, nothing written, so
        Go's HTTP client sends the request again on a new connection, which the next plugin
        process takes); a request that was already queued is still read and answered."""
        conn.close_after = True
        try:
            conn.sock.shutdown(socket.SHUT_RD)
        except OSError:
            self._close(conn)
            return
        self._read(conn)  # a queued request, or the end of the stream
