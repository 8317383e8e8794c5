"""The plugin's transport on real Unix sockets: the protocol, keep-alive, concurrency, bounded
reads, stalls, socket activation, stale sockets, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module
from harness import PLUGIN, api, short_tempdir, wait_for

plugin = plugin_module.load()
CREATE_HOST = {"RequestMethod": "POST", "RequestUri": "/containers/create", "RequestBody": "eyJIb3N0Q29uZmlnIjp7IlVzZXJuc01vZGUiOiJob3N0In19"}


@pytest.fixture
def sockdir():
    path = short_tempdir("due-sock-")
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture
def in_process(sockdir, monkeypatch):
    """The transport served from a thread of this process, with a short request timeout."""
    monkeypatch.setattr(plugin, "REQUEST_TIMEOUT", 0.5)
    path = str(sockdir / "p.sock")
    listener = plugin.bind_socket(path)
    server = plugin.Server(plugin.Plugin(plugin.validate_config({}), None, "test"), listener)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield path
    server.stop()
    thread.join(10)
    listener.close()


def raw_exchange(path: str, data: bytes, timeout: float = 5.0) -> bytes:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(path)
    try:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks: List[bytes] = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        sock.close()


def post(path: str, endpoint: str, payload) -> dict:
    status, body = api(path, "POST", endpoint, payload, timeout=5)
    assert status == 200, body
    return json.loads(body)


def test_activate_and_authz_endpoints(in_process):
    assert post(in_process, "/Plugin.Activate", {}) == {"Implements": ["authz"]}
    answer = post(in_process, "/AuthZPlugin.AuthZReq", CREATE_HOST)
    assert answer["Allow"] is False and "userns=host is not allowed" in answer["Msg"]
    assert post(in_process, "/AuthZPlugin.AuthZReq", {"RequestMethod": "GET", "RequestUri": "/_ping"}) == {"Allow": True}


def test_response_phase_is_allowed_without_parsing(in_process):
    status, body = api(in_process, "POST", "/AuthZPlugin.AuthZRes", b"not even json", timeout=5)
    assert status == 200 and json.loads(body) == {"Allow": True}


def test_unknown_endpoint_is_404(in_process):
    status, _body = api(in_process, "POST", "/VolumeDriver.Create", {}, timeout=5)
    assert status == 404


def test_keep_alive_answers_many_requests_on_one_connection(in_process):
    request = json.dumps(CREATE_HOST).encode()
    one = b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n%s" % (len(request), request)
    answer = raw_exchange(in_process, one * 5)
    assert answer.count(b"HTTP/1.1 200 OK") == 5
    assert answer.count(b"userns=host is not allowed") == 5


def test_concurrent_connections_all_get_answers(in_process):
    errors = []

    def client():
        try:
            for _ in range(25):
                assert post(in_process, "/AuthZPlugin.AuthZReq", CREATE_HOST)["Allow"] is False
        except Exception as err:  # collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors


@pytest.mark.parametrize("data", [
    b"GARBAGE\r\n\r\n",
    b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
    b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n",
    b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n",
    b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"short\"",
])
def test_malformed_http_is_answered_with_a_denial_and_closed(in_process, data):
    answer = raw_exchange(in_process, data)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'"Allow": false' in answer


def test_a_stalled_client_does_not_block_others(in_process):
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(in_process)
    stalled.sendall(b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    try:
        assert post(in_process, "/Plugin.Activate", {}) == {"Implements": ["authz"]}
        stalled.settimeout(5)
        started = time.monotonic()
        answer = stalled.recv(65536)  # the plugin gives up on it after REQUEST_TIMEOUT
        assert time.monotonic() - started < 4
        assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    finally:
        stalled.close()


def test_bound_socket_is_root_only_and_replaces_a_stale_one(sockdir):
    path = str(sockdir / "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    listener = plugin.bind_socket(path)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        with pytest.raises(SystemExit, match="another process is listening"):
            plugin.bind_socket(path)
    finally:
        listener.close()


def test_refuses_to_replace_a_file_that_is_not_a_socket(sockdir):
    path = sockdir / "file.sock"
    path.write_text("keep me")
    with pytest.raises(SystemExit, match="not a socket"):
        plugin.bind_socket(str(path))
    assert path.read_text() == "keep me"


def test_socket_activation_uses_fd_3_and_sigterm_exits_cleanly(sockdir):
    path = str(sockdir / "activated.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    script = 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "%s" "%s" --socket /nonexistent/never-bound.sock' % (sys.executable, PLUGIN)
    proc = subprocess.Popen(
        ["sh", "-c", script], pass_fds=(3,) if listener.fileno() == 3 else (),
        preexec_fn=lambda: os.dup2(listener.fileno(), 3), close_fds=False, stderr=subprocess.PIPE,
    )
    try:
        assert post(path, "/Plugin.Activate", {}) == {"Implements": ["authz"]}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stderr is not None
        log = [json.loads(line) for line in proc.stderr.read().decode().splitlines()]
        assert log[0]["event"] == "start" and log[0]["socket_activated"] is True
        assert log[-1]["event"] == "stop"
        assert os.path.exists(path)  # systemd's socket is not ours to remove
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


def test_bind_mode_removes_its_socket_on_sigterm(sockdir):
    path = sockdir / "own.sock"
    proc = subprocess.Popen([sys.executable, str(PLUGIN), "--socket", str(path)], stderr=subprocess.DEVNULL)
    try:
        wait_for(path.exists, 10, "plugin socket")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert not path.exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_invalid_config_at_start_exits_2_with_the_reason(sockdir):
    config = sockdir / "bad.json"
    config.write_text('{"mode": "off"}')
    result = subprocess.run([sys.executable, str(PLUGIN), "--socket", str(sockdir / "x.sock"), "--config", str(config)], capture_output=True, timeout=10)
    assert result.returncode == 2 and b"mode must be" in result.stderr


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=300) | st.builds(lambda b: b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\n" + b, st.binary(max_size=200)))
def test_arbitrary_bytes_on_the_wire_never_hang_or_crash_the_server(in_process, data):
    answer = raw_exchange(in_process, data, timeout=5)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    if b"AuthZReq" in data:  # random bytes never make a request that could be allowed
        assert b'"Allow":true' not in answer
    assert post(in_process, "/Plugin.Activate", {}) == {"Implements": ["authz"]}


# --- planned restarts: SIGTERM drains, the next process takes the same socket ------------------

ALLOWED = json.dumps({"RequestMethod": "GET", "RequestUri": "/v1.41/_ping"}).encode()
REFUSED = json.dumps(CREATE_HOST).encode()


def start_activated(listener: socket.socket, extra_args=(), log=None) -> subprocess.Popen:
    """The plugin as systemd starts it: the listening socket as fd 3, LISTEN_PID its own pid.
    Its log goes to a file (like journald, a reader that keeps up), or to a pipe read at the end."""
    script = 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "%s" -I -S "%s" --socket /nonexistent/never.sock %s' % (
        sys.executable, PLUGIN, " ".join(extra_args))

    def as_fd_3():
        os.dup2(listener.fileno(), 3)
        os.set_inheritable(3, True)  # dup2 onto itself would keep close-on-exec

    return subprocess.Popen(["sh", "-c", script], preexec_fn=as_fd_3, close_fds=False,
                            stderr=subprocess.PIPE if log is None else open(log, "ab"))


class GoLikeClient:
    """One keep-alive connection used the way dockerd's plugin client (Go's http.Transport) uses
    it: a request whose write fails before anything was written is sent again on a new connection;
    a request that was written but got no answer is lost (dockerd would then resend it with an
    empty body, which the plugin must refuse)."""

    def __init__(self, path: str):
        self.path, self.buffer = path, b""
        self.sock: Optional[socket.socket] = None
        self.resent = self.lost = 0

    def _connect(self) -> socket.socket:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(self.path)
        self.buffer = b""
        return self.sock

    def authz(self, payload: bytes):
        request = b"POST /AuthZPlugin.AuthZReq HTTP/1.1\r\nHost: p\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
        while True:
            sock = self.sock or self._connect()
            try:
                sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                self.resent += 1  # nothing written: Go sends it again on a new connection
                sock.close()
                self.sock = None
                continue
            try:
                return self._answer(sock)
            except (ConnectionResetError, EOFError):
                self.lost += 1
                sock.close()
                self.sock = None
                return None

    def _answer(self, sock: socket.socket):
        while b"\r\n\r\n" not in self.buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError()
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length_field = re.search(rb"Content-Length: (\d+)", head)
        assert length_field, head
        length = int(length_field.group(1))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError()
            rest += chunk
        self.buffer = rest[length:]
        if b"Connection: close" in head:
            sock.close()
            self.sock = None
        return json.loads(rest[:length])


def test_planned_restarts_refuse_nothing(sockdir):
    path = str(sockdir / "restarted.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(512)
    stop, results, clients = threading.Event(), [], []

    def stream(number: int):
        client = GoLikeClient(path)
        clients.append(client)
        while not stop.is_set():
            payload = ALLOWED if number % 2 else REFUSED
            answer = client.authz(payload)
            results.append((payload is ALLOWED, answer))

    log = sockdir / "plugin.log"
    proc = start_activated(listener, log=log)
    threads = [threading.Thread(target=stream, args=(n,)) for n in range(8)]
    try:
        wait_for(lambda: post(path, "/Plugin.Activate", {}) == {"Implements": ["authz"]}, 10, "the plugin")
        for thread in threads:
            thread.start()
        for _ in range(3):  # three restarts under the stream, as `systemctl restart` does them
            time.sleep(0.4)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            assert json.loads(log.read_text().splitlines()[-1])["event"] == "stop"
            proc = start_activated(listener, log=log)
        time.sleep(0.4)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        listener.close()
    assert sum(c.lost for c in clients) == 0  # no written request went unanswered
    assert len(results) > 200
    stops = [json.loads(line) for line in log.read_text().splitlines() if '"event": "stop"' in line]
    assert len(stops) == 4 and all(stop["requests"] > 0 for stop in stops)
    assert all(answer == {"Allow": True} for allowed, answer in results if allowed)
    assert all(answer["Allow"] is False and "userns=host is not allowed" in answer["Msg"] for allowed, answer in results if not allowed)


def test_sigterm_waits_for_a_decision_that_waits_for_a_lookup(sockdir):
    """A lookup in flight at SIGTERM still gets its answer before the process exits."""
    daemon_path = str(sockdir / "slow-daemon.sock")
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.bind(daemon_path)
    daemon.listen(4)
    description = json.dumps({"Id": "ab" * 32, "Name": "/rootshell", "HostConfig": {"UsernsMode": "host"}, "Mounts": []}).encode()

    def slow_daemon():  # a stand-in for dockerd that takes a second to describe a container
        conn, _ = daemon.accept()
        conn.recv(65536)
        time.sleep(1.0)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(description), description))
        conn.close()

    threading.Thread(target=slow_daemon, daemon=True).start()
    config = sockdir / "config.json"
    config.write_text(json.dumps({"docker_socket": daemon_path}))
    path = str(sockdir / "p.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    proc = start_activated(listener, ["--config", str(config)])
    try:
        wait_for(lambda: post(path, "/Plugin.Activate", {}) == {"Implements": ["authz"]}, 10, "the plugin")
        client = GoLikeClient(path)
        answer = []
        exec_into = json.dumps({"RequestMethod": "POST", "RequestUri": "/containers/rootshell/exec", "RequestBody": "e30=",
                                "RequestHeaders": {"Content-Type": "application/json"}}).encode()
        asking = threading.Thread(target=lambda: answer.append(client.authz(exec_into)))
        asking.start()
        time.sleep(0.3)  # the decision now waits for the slow daemon
        proc.send_signal(signal.SIGTERM)
        asking.join(10)
        assert answer and answer[0]["Allow"] is False and "rootshell" in answer[0]["Msg"]
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
        daemon.close()
