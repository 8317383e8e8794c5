"""Resilience procedures on one converged host: SIGKILL the plugin under load, upgrade it under load.

Both drive bench/api_stream.py inside the host (it talks to the host's own Docker socket) and
return its JSON result plus what was observed around it. The benchmarks print these figures; the
tests in tests/fleet/ assert the behaviour (nothing wrongly allowed, Docker not restarted).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, Tuple

from fleet import NESTED_IMAGE, REPO, Fleet, outer_env, run_playbook

STREAM_SCRIPT = REPO / "bench" / "api_stream.py"
HOST_DIR = "/var/lib/api-stream"  # not /tmp: a tmpfs in Debian 13 hosts
PLUGIN_SERVICE = "docker-userns-enforcement-plugin.service"
PLUGIN_PATH = "/usr/local/bin/docker-userns-enforcement-plugin"


def install_stream(fleet: Fleet, host: str) -> None:
    fleet.run(host, "mkdir", "-p", HOST_DIR)
    fleet.write_file(host, HOST_DIR + "/api_stream.py", STREAM_SCRIPT.read_text(), mode="0755")
    fleet.run(host, "import-busybox-image", NESTED_IMAGE)


def _stream_result(completed: subprocess.CompletedProcess) -> Dict:
    if completed.returncode != 0:
        raise RuntimeError("api_stream.py failed (%d): %s" % (completed.returncode, completed.stderr.decode()[-2000:]))
    return json.loads(completed.stdout.decode().strip().splitlines()[-1])


def _stream_in_host(fleet: Fleet, host: str, clients: int, *options: str, timeout: float) -> Dict:
    """Run bench/api_stream.py in the host with these options; its result and whether Docker answers after."""
    install_stream(fleet, host)
    result = _stream_result(fleet.run(host, "python3", HOST_DIR + "/api_stream.py", "--image", NESTED_IMAGE,
                                      "--clients", str(clients), *options, timeout=timeout))
    result["docker_answers_after"] = fleet.docker_answers(host)
    return result


def kill_under_load(fleet: Fleet, host: str, kills: int = 5, clients: int = 2, interval: float = 2.0) -> Dict:
    """SIGKILL the plugin `kills` times while `clients` threads send requests; systemd restarts it."""
    return _stream_in_host(fleet, host, clients, "--kill-plugin", str(kills), "--kill-interval", str(interval),
                           timeout=kills * (interval + 40) + 60)


def restart_under_load(fleet: Fleet, host: str, restarts: int = 5, clients: int = 2, interval: float = 1.0) -> Dict:
    """`systemctl restart` the plugin `restarts` times while `clients` threads send requests."""
    return _stream_in_host(fleet, host, clients, "--restart-plugin", str(restarts), "--restart-interval", str(interval),
                           timeout=restarts * (interval + 60) + 60)


def plugin_version(fleet: Fleet, host: str) -> str:
    return fleet.run(host, "python3", PLUGIN_PATH, "--version").stdout.decode().split()[-1]


def newer_role(workdir: Path, bump: int = 1) -> Tuple[Path, str]:
    """A copy of the role whose plugin file is the current one with a patch version `bump` higher."""
    roles = workdir / ("newer-roles-%d" % bump)
    if roles.exists():
        shutil.rmtree(roles)
    shutil.copytree(REPO / "roles" / "docker_userns", roles / "docker_userns", symlinks=False)
    plugin_file = roles / "docker_userns" / "files" / "docker_userns_enforcement_plugin.py"
    source = plugin_file.read_text()
    match = re.search(r'^VERSION = "(\d+)\.(\d+)\.(\d+)"$', source, re.M)
    if not match:
        raise RuntimeError("no VERSION = \"X.Y.Z\" line in the plugin file")
    new_version = "%s.%s.%d" % (match.group(1), match.group(2), int(match.group(3)) + bump)
    plugin_file.unlink()  # it was a copy of the symlink's target; never write through to files/
    plugin_file.write_text(source[:match.start()] + 'VERSION = "%s"' % new_version + source[match.end():])
    return roles, new_version


def upgrade_under_load(fleet: Fleet, host: str, workdir: Path, clients: int = 2, upgrades: int = 1) -> Dict:
    """Re-run site.yml on `host` `upgrades` times, each with a newer plugin file, while requests
    stream; Docker must not restart."""
    install_stream(fleet, host)
    old_version = plugin_version(fleet, host)
    docker_pid_before = fleet.unit_property(host, "docker.service", "MainPID")
    docker_started_before = fleet.unit_property(host, "docker.service", "ExecMainStartTimestampMonotonic")
    plugin_pid_before = fleet.unit_property(host, PLUGIN_SERVICE, "MainPID")
    until_file = HOST_DIR + "/stop"
    fleet.run(host, "rm", "-f", until_file, HOST_DIR + "/ready")

    stream = subprocess.Popen(
        ["docker", "exec", host, "python3", HOST_DIR + "/api_stream.py", "--image", NESTED_IMAGE,
         "--clients", str(clients), "--until-file", until_file, "--ready-file", HOST_DIR + "/ready"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=outer_env())
    try:
        deadline = time.monotonic() + 60
        while fleet.run(host, "test", "-e", HOST_DIR + "/ready", check=False).returncode != 0:
            if time.monotonic() > deadline or stream.poll() is not None:
                raise RuntimeError("the request stream did not start in %s" % host)
            time.sleep(0.2)
        time.sleep(1)  # some requests before the upgrade starts
        inventory = fleet.inventory(hosts=[host], filename="upgrade-%s.ini" % host)
        playbooks = []
        for bump in range(1, upgrades + 1):
            roles, new_version = newer_role(workdir, bump)
            playbooks.append(run_playbook("playbooks/site.yml", inventory, env={"ANSIBLE_ROLES_PATH": str(roles)},
                                          log=workdir / ("upgrade-%s-%d.log" % (host, bump))))
            if playbooks[-1].rc != 0:
                break
        playbook = playbooks[-1]
        time.sleep(1)  # and some after it
    finally:
        fleet.run(host, "touch", until_file, check=False)
        stdout, stderr = stream.communicate(timeout=120)
    result = _stream_result(subprocess.CompletedProcess(stream.args, stream.returncode, stdout, stderr))
    result.update({
        "playbook_rc": playbook.rc,
        "upgrades": len(playbooks),
        "playbook_s": round(sum(p.seconds for p in playbooks), 1),
        "recap": playbook.recap().get(host, {}),
        "old_version": old_version,
        "new_version": new_version,
        "installed_version": plugin_version(fleet, host),
        "plugin_restarted": fleet.unit_property(host, PLUGIN_SERVICE, "MainPID") != plugin_pid_before,
        "docker_restarted": (fleet.unit_property(host, "docker.service", "MainPID") != docker_pid_before
                             or fleet.unit_property(host, "docker.service", "ExecMainStartTimestampMonotonic") != docker_started_before),
        "docker_answers_after": fleet.docker_answers(host),
    })
    return result
