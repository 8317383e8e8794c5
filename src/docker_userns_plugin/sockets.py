"""Sockets: the listening socket systemd passes (socket activation), or one bound here.
"""

from __future__ import annotations

import os
import socket
import stat
from typing import Dict, Optional


def activated_socket(env: Dict[str, str], pid: int) -> Optional[socket.socket]:
    """The listening socket systemd passed as fd 3, when it was passed to this process."""
    if env.get("LISTEN_PID") != str(pid) or not env.get("LISTEN_FDS", "").isdigit() or int(env["LISTEN_FDS"]) < 1:
        return None
    sock = socket.socket(fileno=3)
    os.set_inheritable(3, False)
    return sock


def bind_socket(path: str) -> socket.socket:
    """Bind path ourselves (development, tests): replace a stale socket, never a live one."""
    os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise SystemExit("%s exists and is not a socket; refusing to replace it" % path)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # nobody listens: stale
        else:
            raise SystemExit("another process is listening on %s; stop it first" % path)
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # created 0600: only root may talk to the plugin
    try:
        sock.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(512)
    return sock
