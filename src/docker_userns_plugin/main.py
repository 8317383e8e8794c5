"""Main: the command line (serve, --check-config, --report, --version).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Dict, List, Optional

from .audit_log import log_event
from .config import DEFAULT_NAME, DEFAULT_SOCKET, VERSION, ConfigError, config_from_text, load_config
from .http_server import Server
from .plugin_service import Plugin
from .report import run_report
from .sockets import activated_socket, bind_socket


def release_startup_memory() -> None:
    """Give back to the system what compiling this file at start took: about 5 MB that the C
    allocator keeps once freed (glibc's malloc_trim). Where there is no glibc, nothing to do."""
    try:
        import ctypes  # only here: a long-running process pays for it once
        ctypes.CDLL(None).malloc_trim(0)
    except (ImportError, OSError, AttributeError):
        pass


def main(argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", default=DEFAULT_SOCKET, help="socket to bind when not socket-activated (default %(default)s)")
    parser.add_argument("--config", help="JSON config file (default: enforce, no allowlists, no opt-in rules)")
    parser.add_argument("--name", help="plugin name for the log (default: the socket's file name)")
    parser.add_argument("--check-config", metavar="FILE", help="validate FILE and exit: 0 valid, 2 invalid")
    parser.add_argument("--report", action="store_true", help="print what already runs outside the remapping as JSON, and exit")
    parser.add_argument("--config-json", metavar="JSON", help="the config as JSON text instead of --config (for --report)")
    parser.add_argument("--version", action="version", version="docker-userns-enforcement-plugin %s" % VERSION)
    args = parser.parse_args(argv)
    env = dict(os.environ) if env is None else env

    if args.check_config:
        try:
            config = load_config(args.check_config)
        except ConfigError as err:
            print("config invalid: %s" % err, file=sys.stderr)
            return 2
        print("config OK: mode %s, %d allowed plugin(s), %d exempt user(s)" % (config["mode"], len(config["allowed_plugins"]), len(config["exempt_users"])))
        return 0

    try:
        config = config_from_text(args.config_json, "--config-json") if args.config_json is not None else load_config(args.config)
    except ConfigError as err:
        print("docker-userns-enforcement-plugin: %s" % err, file=sys.stderr)
        return 2
    if args.report:
        return run_report(config)
    name = args.name or os.path.basename(args.socket).rsplit(".sock", 1)[0] or DEFAULT_NAME
    plugin = Plugin(config, args.config, name)

    listener = activated_socket(env, os.getpid())
    activated = listener is not None
    if listener is None:
        listener = bind_socket(args.socket)
    server = Server(plugin, listener)
    # The handlers run in this (the loop's) thread; the wakeup fd gets the loop out of epoll.
    signal.set_wakeup_fd(server.wake_writer.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGTERM, lambda signum, frame: server.drain())
    signal.signal(signal.SIGINT, lambda signum, frame: server.drain())
    signal.signal(signal.SIGHUP, lambda signum, frame: plugin.reload())
    release_startup_memory()
    log_event("start", version=VERSION, plugin=name, mode=config["mode"], socket_activated=activated,
              socket=None if activated else args.socket, pid=os.getpid(), docker_socket=config["docker_socket"])
    try:
        server.run()
    finally:
        listener.close()
        if not activated:
            try:
                os.unlink(args.socket)
            except OSError:
                pass
    log_event("stop", plugin=name, lookups=plugin.lookup.lookups, **server.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
