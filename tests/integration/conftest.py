"""Fixtures: one real dockerd (userns-remap on) with the plugin as its authorization plugin.

The daemon and the plugin are started once per test session with private paths, and stopped
by pid at the end. Tests that need another plugin config reconfigure it with SIGHUP and put the
default back.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness import PluginProcess, PrivateDockerd, remove_tree, short_tempdir

DEFAULT_CONFIG: dict = {}


@pytest.fixture(scope="session")
def workdir():
    if os.geteuid() != 0 or not shutil.which("dockerd"):
        # A failure, not a skip: `make test` installs docker.io and runs as root.
        pytest.fail("integration tests need root and dockerd (run `make test`, which installs docker.io)")
    path = short_tempdir("due-it-")
    yield path
    remove_tree(path)


@pytest.fixture(scope="session")
def plugin(workdir):
    # The plugin looks containers up in the daemon below, which starts after it.
    proc = PluginProcess("due-test-%d" % os.getpid(), workdir, DEFAULT_CONFIG, docker_socket=str(workdir / "d" / "docker.sock")).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def dockerd(workdir, plugin):
    daemon = PrivateDockerd(workdir / "d", [plugin.name])
    (workdir / "d").mkdir()
    daemon.start()
    daemon.import_busybox()
    yield daemon
    for line in daemon.docker("ps", "-aq").stdout.decode().split():
        daemon.docker("rm", "-f", line)
    daemon.stop()


@pytest.fixture
def configured(plugin):
    """Reconfigure the plugin for one test, then restore the defaults."""
    def apply(config: dict) -> None:
        plugin.reconfigure(config)
    yield apply
    plugin.reconfigure(DEFAULT_CONFIG)


# docker cp's mount-setup races, which Debian 12's Docker 20.10 does not fix: the plugin refuses
# docker cp there (tests/integration/test_root_work.py checks that refusal).
COPY_FLAWS = ["CVE-2026-41568", "CVE-2026-42306"]


@pytest.fixture
def copy_fixed(dockerd, plugin):
    """The plugin told that this engine carries the fixes of docker cp's mount-setup races, as an
    operator whose package backports them would: the tests of the other docker cp rules need cp
    to get that far. Yields that config, for tests that add to it."""
    version = dockerd.docker("version", "--format", "{{.Server.Version}}").stdout.decode().strip()
    config = {"engine_fixes": {"version": version, "fixed": COPY_FLAWS}}
    plugin.reconfigure(config)
    yield config
    plugin.reconfigure(DEFAULT_CONFIG)
