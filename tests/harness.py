"""Real parts for tests and benchmarks: a private dockerd, the plugin as a process, raw API calls.

Everything here uses private paths under one temporary directory and stops only the processes
it started, by their pid.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "files" / "docker_userns_enforcement_plugin.py"
PLUGIN_DIR = Path("/run/docker/plugins")
TEST_IMAGE = "due-busybox:test"
# The plugin runs as it does on hosts: the system's python3, isolated, without site-packages.
PLUGIN_PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def plugin_command(plugin: Path = PLUGIN) -> List[str]:
    """The plugin file run through runpy, as the role's service unit runs it (see its ExecStart:
    a script's syntax tree would stay in memory for as long as the server runs)."""
    return [PLUGIN_PYTHON, "-I", "-S", "-c", "import runpy, sys; del sys.argv[0]; runpy.run_path(sys.argv[0], run_name='__main__')",
            str(plugin)]


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 60.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def api(sock_path: str, method: str, path: str, body=None, headers: Optional[Dict[str, str]] = None, timeout: float = 60.0) -> Tuple[int, bytes]:
    """One raw Docker API call; body may be bytes, a JSON-able object, or an iterator (chunked)."""
    headers = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)) and not hasattr(body, "__next__"):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = UnixHTTPConnection(sock_path, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=headers, encode_chunked=hasattr(body, "__next__"))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon answered before reading the whole body: read that answer
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError("timed out after %.0fs waiting for %s" % (timeout, what))


def _answers(sock_path: str) -> bool:
    try:
        return api(sock_path, "GET", "/_ping", timeout=2)[0] == 200
    except OSError:
        return False


def stop_process(proc: Optional[subprocess.Popen], grace: float) -> None:
    """SIGTERM a process we started, SIGKILL it if it is still there after grace seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class PluginProcess:
    """The plugin file run as its own process on /run/docker/plugins/NAME.sock."""

    def __init__(self, name: str, workdir: Path, config: Optional[dict] = None, docker_socket: Optional[str] = None):
        self.name = name
        self.socket = PLUGIN_DIR / ("%s.sock" % name)
        self.config_path = workdir / ("%s.json" % name)
        self.log_path = workdir / ("%s.log" % name)
        self.docker_socket = docker_socket  # the daemon the plugin looks containers up in
        self.write_config(config or {})
        self.proc: Optional[subprocess.Popen] = None

    def write_config(self, config: dict) -> None:
        if self.docker_socket:
            config = dict({"docker_socket": self.docker_socket}, **config)
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        tmp.replace(self.config_path)

    def start(self) -> PluginProcess:
        PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "ab")  # noqa: SIM115 the process writes to it until stop() closes it
        self.proc = subprocess.Popen(
            [*plugin_command(), "--socket", str(self.socket), "--config", str(self.config_path)],
            stdout=self.log, stderr=self.log,
        )
        wait_for(self.socket.exists, 10, "plugin socket %s" % self.socket)
        return self

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("plugin %s was not started" % self.name)
        return self.proc.pid

    def reconfigure(self, config: dict) -> None:
        """Write a new config, SIGHUP, and wait until the plugin logged the reload."""
        before = self.log_path.read_text().count('"event": "reload')
        self.write_config(config)
        os.kill(self.pid, signal.SIGHUP)
        wait_for(lambda: self.log_path.read_text().count('"event": "reload') > before, 10, "plugin reload")

    def log_records(self) -> List[dict]:
        records = []
        for line in self.log_path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
        return records

    def stop(self) -> None:
        stop_process(self.proc, 10)
        if getattr(self, "log", None):
            self.log.close()


class PrivateDockerd:
    """A real dockerd with private paths, userns-remap on, and the given authorization plugins."""

    def __init__(self, root: Path, authz_plugins: List[str], userns_remap: bool = True):
        self.root = root
        self.socket = str(root / "docker.sock")
        self.pidfile = root / "docker.pid"
        self.log_path = root / "dockerd.log"
        self.authz_plugins = authz_plugins
        self.userns_remap = userns_remap
        self.proc: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 60) -> PrivateDockerd:
        config = self.root / "daemon.json"
        config.write_text("{}")  # never read the machine's /etc/docker/daemon.json
        args = [
            "dockerd", "--config-file", str(config),
            "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.pidfile), "-H", "unix://" + self.socket,
            "--bridge=none", "--iptables=false", "--ip-masq=false",
        ]
        if self.userns_remap:
            args.append("--userns-remap=default")
        args += ["--authorization-plugin=%s" % name for name in self.authz_plugins]
        self.log = open(self.log_path, "ab")  # noqa: SIM115 the process writes to it until stop() closes it
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or _answers(self.socket), timeout, "dockerd")
        except TimeoutError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError("dockerd exited with %s; see %s:\n%s" % (self.proc.returncode, self.log_path, self.log_path.read_text()[-3000:]))
        return self

    def docker(self, *args: str, input: Optional[bytes] = None, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", "unix://" + self.socket, *args], input=input, capture_output=True, timeout=timeout)

    def api(self, method: str, path: str, body=None, headers=None, timeout: float = 60) -> Tuple[int, bytes]:
        return api(self.socket, method, path, body, headers, timeout)

    def import_busybox(self, name: str = TEST_IMAGE) -> str:
        """A tiny image built here from busybox-static: nothing is pulled."""
        if self.docker("image", "inspect", name).returncode == 0:
            return name
        busybox = shutil.which("busybox") or "/bin/busybox"
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            rootfs = Path(tmp) / "rootfs"
            (rootfs / "bin").mkdir(parents=True)
            shutil.copy2(busybox, rootfs / "bin" / "busybox")
            applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
            for applet in applets:
                if applet != "busybox":
                    os.symlink("busybox", rootfs / "bin" / applet)
            for directory in ("proc", "sys", "dev", "etc", "tmp"):
                (rootfs / directory).mkdir(exist_ok=True)
            tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True, check=True).stdout
        result = self.docker("import", "-c", 'CMD ["sh"]', "-", name, input=tar)
        if result.returncode != 0:
            raise RuntimeError("docker import failed: %s" % result.stderr.decode())
        return name

    def stop(self) -> None:
        stop_process(self.proc, 30)
        if getattr(self, "log", None):
            self.log.close()


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    for line in Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS for pid %d" % pid)


def short_tempdir(prefix: str) -> Path:
    """A short private directory: dockerd's unix sockets must fit in 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/var/tmp"))
    path.chmod(0o711)  # the remapped root must be able to traverse to its data-root
    return path


def remove_tree(path: Path) -> None:
    """Remove a test daemon's tree, which may hold bind-mount leftovers of its own."""
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
