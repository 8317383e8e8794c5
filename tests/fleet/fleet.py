"""Disposable Debian Docker hosts on the private outer dockerd, and ansible-playbook runs over them.

Shared by the fleet tests (tests/fleet/) and the fleet benchmarks (bench/). Each host is a
container of the Molecule host image (systemd as PID 1, Debian's docker.io inside, network none),
reached by Ansible with the community.docker.docker connection. A Fleet only ever removes the
containers it names itself (its own name prefix), with their anonymous /var/lib/docker volumes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent.parent
DEV_CACHE = Path(os.environ.get("DOCKER_USERNS_DEV_CACHE", "/var/cache/docker-userns-dev"))
OUTER_DOCKER_HOST = "unix://%s" % (DEV_CACHE / "outer" / "docker.sock")
HOST_IMAGE = "docker-userns-host:bookworm"
NESTED_IMAGE = "busybox:local"

# Every capability but SYS_RESOURCE, which these machines lack (why --privileged fails here);
# the same list as .config/molecule/config.yml and tools/demo.sh.
HOST_CAPS = (  # noqa: SIM905 one word list, written as in .config/molecule/config.yml and tools/demo.sh
    "AUDIT_CONTROL AUDIT_READ AUDIT_WRITE BLOCK_SUSPEND CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER "
    "FSETID IPC_LOCK IPC_OWNER KILL LEASE LINUX_IMMUTABLE MAC_ADMIN MAC_OVERRIDE MKNOD NET_ADMIN "
    "NET_BIND_SERVICE NET_BROADCAST NET_RAW SETFCAP SETGID SETPCAP SETUID SYSLOG SYS_ADMIN SYS_BOOT "
    "SYS_CHROOT SYS_MODULE SYS_NICE SYS_PACCT SYS_PTRACE SYS_RAWIO SYS_TIME SYS_TTY_CONFIG WAKE_ALARM"
).split()

# What the fleet runs tune (measured in bench/fleet_scale.py, see docs/performance.md).
# The playbooks already skip fact gathering (the role needs no facts). Pipelining works with the
# docker connection (community.docker 4.8.5 has_pipelining): one `docker exec` per task instead of
# copy + exec + remove. Forks cover a whole batch. A fixed interpreter skips discovery.
TUNED_ANSIBLE_ENV = {
    "ANSIBLE_PIPELINING": "True",
    "ANSIBLE_FORKS": "10",
    "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
    "ANSIBLE_GATHERING": "explicit",
}


def logs_dir(benchmark: str) -> Path:
    """bench/results/BENCHMARK-logs (not committed), emptied for each run: inventories and playbook output."""
    path = REPO / "bench" / "results" / (benchmark + "-logs")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def outer_env() -> Dict[str, str]:
    """The environment for `docker` and `ansible-playbook`: the outer dockerd, the config in the repo."""
    env = dict(os.environ)
    env.setdefault("DOCKER_HOST", OUTER_DOCKER_HOST)
    env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
    env["ANSIBLE_ROLES_PATH"] = env.get("ANSIBLE_ROLES_PATH", str(REPO / "roles"))
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_HOST_KEY_CHECKING"] = "False"
    env["ANSIBLE_RETRY_FILES_ENABLED"] = "False"
    return env


def docker(*args: str, input: Optional[bytes] = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """The docker CLI against the outer dockerd."""
    result = subprocess.run(["docker", *args], input=input, capture_output=True, env=outer_env(), timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError("docker %s failed (%d): %s" % (" ".join(args), result.returncode, result.stderr.decode()[-2000:]))
    return result


def require_outer_dockerd_and_image(image: str = HOST_IMAGE) -> None:
    """The outer dockerd must answer; the host image is built once (reused when up to date)."""
    if docker("version", "--format", "{{.Server.Version}}", check=False).returncode != 0:
        raise RuntimeError("the outer dockerd does not answer at %s: run `tools/outer-dockerd.sh start` "
                           "(make test and make bench do it)" % outer_env()["DOCKER_HOST"])
    suite = image.rsplit(":", 1)[1]
    subprocess.run([str(REPO / "tools" / "build-host-image.sh"), suite], env=outer_env(), check=True,
                   stdout=subprocess.DEVNULL)


@dataclass
class PlaybookRun:
    rc: int
    seconds: float
    output: str
    # The hosts' state read right after the run, when a test needs it later (test_fleet.host_state).
    hosts: Dict[str, dict] = field(default_factory=dict)

    def recap(self) -> Dict[str, Dict[str, int]]:
        """PLAY RECAP as {host: {"ok": n, "changed": n, "failed": n, ...}}."""
        hosts: Dict[str, Dict[str, int]] = {}
        recap = self.output.rsplit("PLAY RECAP", 1)[-1] if "PLAY RECAP" in self.output else ""
        for line in recap.splitlines():
            match = re.match(r"^(\S+)\s+:\s+(.*)$", line.strip())
            if match:
                hosts[match.group(1)] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(2))}
        return hosts


class Fleet:
    """N host containers named PREFIX-1 .. PREFIX-N on the outer dockerd."""

    def __init__(self, prefix: str, count: int, workdir: Path, image: str = HOST_IMAGE):
        self.prefix = prefix
        self.names = ["%s-%d" % (prefix, i) for i in range(1, count + 1)]
        self.workdir = workdir
        self.image = image

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self, boot_timeout: float = 240) -> Fleet:
        self.remove_stale()
        caps = [arg for cap in HOST_CAPS for arg in ("--cap-add", cap)]
        for name in self.names:
            docker("run", "-d", "--name", name, "--hostname", name, "--label", "docker-userns.fleet=" + self.prefix,
                   "--cap-drop", "ALL", *caps,
                   "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                   "--cgroupns", "host", "--network", "none",
                   "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", "/var/lib/docker",
                   "--tmpfs", "/run", "--tmpfs", "/run/lock",
                   self.image, "/lib/systemd/systemd")
        with ThreadPoolExecutor(len(self.names)) as pool:
            list(pool.map(lambda name: self.wait_booted(name, boot_timeout), self.names))
        return self

    def wait_booted(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            probe = self.run(name, "systemctl", "is-system-running", check=False)
            state = (probe.stdout or probe.stderr).decode().strip()
            if state in ("running", "degraded") and self.run(name, "docker", "info", check=False).returncode == 0:
                return
            time.sleep(2)
        raise RuntimeError("host %s did not boot within %.0fs (systemd: %r); look with: "
                           "docker exec %s journalctl -b" % (name, timeout, state, name))

    def remove_stale(self) -> None:
        """Remove containers left with this fleet's prefix by an interrupted earlier run."""
        listed = docker("ps", "-aq", "--filter", "label=docker-userns.fleet=" + self.prefix).stdout.decode().split()
        if listed:
            docker("rm", "-f", "-v", *listed)

    def remove(self) -> None:
        present = [n for n in self.names if docker("container", "inspect", n, check=False).returncode == 0]
        if present:
            docker("rm", "-f", "-v", *present, check=False)

    # ---- inside a host ----------------------------------------------------------------------
    def run(self, name: str, *argv: str, input: Optional[bytes] = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        args = ["exec"] + (["-i"] if input is not None else []) + [name, *argv]
        return docker(*args, input=input, check=check, timeout=timeout)

    def read_file(self, name: str, path: str) -> Optional[str]:
        result = self.run(name, "cat", path, check=False)
        return result.stdout.decode() if result.returncode == 0 else None

    def write_file(self, name: str, path: str, content: str, mode: str = "0644") -> None:
        self.run(name, "sh", "-c", 'cat > "$1" && chmod %s "$1"' % mode, "-", path, input=content.encode())

    def restart_docker(self, name: str) -> None:
        # docker.service allows 3 starts a minute, and a fresh host has just started it once.
        self.run(name, "systemctl", "reset-failed", "docker.service")
        self.run(name, "systemctl", "restart", "docker.service")

    def docker_answers(self, name: str) -> bool:
        return self.run(name, "docker", "info", "--format", "{{.ServerVersion}}", check=False).returncode == 0

    def unit_property(self, name: str, unit: str, prop: str) -> str:
        return self.run(name, "systemctl", "show", "-p", prop, "--value", unit).stdout.decode().strip()

    # ---- Ansible ------------------------------------------------------------------------------
    def inventory(self, hosts: Optional[List[str]] = None, host_vars: Optional[Dict[str, Dict[str, str]]] = None,
                  group_vars: Optional[Dict[str, str]] = None, filename: str = "inventory.ini") -> Path:
        """An INI inventory of the docker_hosts group (the group the playbooks act on)."""
        lines = ["# Written by %s for the hosts %s-*" % (Path(__file__).name, self.prefix), "[docker_hosts]"]
        for name in hosts or self.names:
            extra = " ".join("%s=%s" % item for item in (host_vars or {}).get(name, {}).items())
            lines.append("%s ansible_connection=community.docker.docker %s" % (name, extra))
        lines += ["", "[docker_hosts:vars]"] + ["%s=%s" % item for item in (group_vars or {}).items()]
        path = self.workdir / filename
        path.write_text("\n".join(lines) + "\n")
        return path


def remove_enforcement_by_hand(fleet: Fleet, host: str) -> None:
    """What an admin might do on one host: drop the plugin from daemon.json and restart Docker."""
    fleet.run(host, "python3", "-c",
              "import json; p = '/etc/docker/daemon.json'; d = json.load(open(p)); "
              "d.pop('authorization-plugins', None); json.dump(d, open(p, 'w'), indent=2)")
    fleet.restart_docker(host)
    if not fleet.docker_answers(host):
        raise RuntimeError("Docker did not come back on %s after removing the plugin by hand" % host)


AUDIT_ROW = re.compile(r'"(?P<host>\S+)\s+(?P<docker>\S+)\s+(?P<remap>\S+)\s+(?P<plugin>\S+)\s+(?P<mode>\S+)\s+'
                       r'(?P<version>\S+)\s+(?P<selftest>\S+)\s+(?P<outside>\d+)\s+(?P<cis_2_9>PASS|FAIL)\s+(?P<cis_2_12>PASS|FAIL)\s+'
                       r'(?P<cis_5_31>PASS|FAIL)\s+(?P<watched>\S+)\s+(?P<requests>\d+)\s+(?P<would_break>\S+)\s+(?P<would_hide>\S+)\s+'
                       r'(?P<decisions>[^"]*?)\s*"')


def audit_table(output: str) -> Dict[str, Dict[str, str]]:
    """The fleet table that playbooks/audit.yml prints, as {host: {column: value}}."""
    table = output.rsplit("Report the fleet", 1)[-1]
    return {m.group("host"): m.groupdict() for m in AUDIT_ROW.finditer(table)}


def audit_failing(row: Dict[str, str]) -> bool:
    return "FAIL" in (row["cis_2_9"], row["cis_2_12"], row["cis_5_31"])


def run_playbook(playbook: str, inventory: Path, extra_args: Sequence[str] = (), env: Optional[Dict[str, str]] = None,
                 log: Optional[Path] = None, timeout: float = 1800) -> PlaybookRun:
    """Run one ansible-playbook from the repository root; its output also goes to `log`."""
    binary = shutil.which("ansible-playbook")
    if not binary:
        raise RuntimeError("ansible-playbook not on PATH: use the test virtual environment (tools/setup.sh)")
    full_env = outer_env()
    full_env.update(TUNED_ANSIBLE_ENV)
    full_env.update(env or {})
    started = time.monotonic()
    result = subprocess.run([binary, "-i", str(inventory), str(REPO / playbook), *extra_args], cwd=REPO,
                            env=full_env, capture_output=True, timeout=timeout)
    seconds = time.monotonic() - started
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    if log is not None:
        log.write_text(output)
    return PlaybookRun(result.returncode, seconds, output)


def converge_one_host(fleet: Fleet, workdir: Path, extra_args: Sequence[str]) -> str:
    """Start the fleet's only host and apply site.yml to it; stop the benchmark with the log's tail
    when that fails. Returns the host's name."""
    host = fleet.names[0]
    fleet.start()
    converge = run_playbook("playbooks/site.yml", fleet.inventory(), extra_args, log=workdir / "converge.log")
    if converge.rc != 0:
        print(converge.output[-4000:], file=sys.stderr)
        raise SystemExit("converging %s failed; see %s" % (host, workdir / "converge.log"))
    return host
