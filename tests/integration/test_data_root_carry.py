"""The data-root switch against a real dockerd (Debian's 20.10 here; Docker 26.1 in molecule/adopt): a daemon
without remapping holds containers, images and volumes; the carry (plugins/modules/docker_userns_data_root.py,
run as Ansible runs it) is killed halfway, Docker started remapped meanwhile sees no half copy, the carry is run
again and finishes; the remapped daemon shows everything, owners shifted; data written there comes back with
the carry back.

The daemon, its data and the module run with private paths under one temporary directory; the remap range is
Docker's own default (dockremap in /etc/subuid, made by --userns-remap=default).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness import PLUGIN_PYTHON, REPO, TEST_IMAGE, PrivateDockerd, remove_tree, short_tempdir, wait_for

MODULE = REPO / "plugins" / "modules" / "docker_userns_data_root.py"
PLUGIN = REPO / "files" / "docker_userns_enforcement_plugin.py"
VOLUME_FILES = 40  # 40 files of 4 MiB in each of three volumes: enough to kill the copy halfway
CHECKSUMS = "cd /v && find . -type f | sort | xargs sha256sum && find . | sort | xargs stat -c '%n %u:%g %a'"


def dockremap_start() -> int:
    for line in Path("/etc/subuid").read_text().splitlines():
        name, start, _count = line.split(":")
        if name == "dockremap":
            return int(start)
    raise AssertionError("no dockremap range in /etc/subuid (dockerd --userns-remap=default makes one)")


@pytest.fixture(scope="module")
def root():
    if os.geteuid() != 0:
        pytest.fail("the data-root carry test needs root and dockerd (run `make test`)")
    path = short_tempdir("due-carry-")
    yield path
    # dockerd leaves its default network namespace mounted in its exec root: unmount what it left, deepest first.
    with open("/proc/self/mountinfo") as mountinfo:
        mounts = [line.split()[4] for line in mountinfo if line.split()[4].startswith(str(path) + "/")]
    for mount in sorted(mounts, reverse=True):
        subprocess.run(["umount", mount], check=False)
    remove_tree(path)


def daemon(root: Path, remapped: bool) -> PrivateDockerd:
    return PrivateDockerd(root, [], userns_remap=remapped)


def run_module(root: Path, action: str, direction: str, background: bool = False):
    args = root / ("args-%s-%s.json" % (action, direction))
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "data_root": str(root / "data"), "action": action, "direction": direction, "reserve_mb": 64,
        "docker_pidfile": str(root / "docker.pid")}}))
    command = [sys.executable, str(MODULE), str(args)]
    if background:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout)


def volume_state(docker: PrivateDockerd, volume: str) -> str:
    done = docker.docker("run", "--rm", "--network", "none", "-v", "%s:/v" % volume, TEST_IMAGE, "sh", "-c", CHECKSUMS)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def listing(docker: PrivateDockerd) -> dict:
    def lines(*args):
        return sorted(docker.docker(*args).stdout.decode().split("\n")[:-1])
    return {"containers": lines("ps", "--all", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}}"),
            "images": lines("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"),
            "volumes": lines("volume", "ls", "--format", "{{.Name}}")}


def test_switch_interrupted_then_resumed_and_back(root):
    plain = daemon(root, remapped=False)
    plain.start()
    try:
        plain.import_busybox()
        for n in range(3):
            fill = "for i in $(seq %d); do dd if=/dev/urandom of=/v/f$i bs=1M count=4 2>/dev/null; done; mkdir /v/d; chown 70:70 /v/d" % VOLUME_FILES
            assert plain.docker("run", "--rm", "--network", "none", "-v", "vol%d:/v" % n, TEST_IMAGE, "sh", "-c", fill).returncode == 0
        assert plain.docker("run", "-d", "--name", "db", "--network", "none", "--restart", "unless-stopped", "-v", "vol0:/v",
                            TEST_IMAGE, "sleep", "86400").returncode == 0
        assert plain.docker("run", "-d", "--name", "hostnet", "--network", "host", TEST_IMAGE, "sleep", "86400").returncode == 0
        assert plain.docker("run", "--name", "maker", "--network", "none", TEST_IMAGE, "sh", "-c", "echo only here > /marker").returncode == 0
        assert plain.docker("commit", "maker", "local/only-here:1").returncode == 0
        before = listing(plain)
        volumes = {n: volume_state(plain, "vol%d" % n) for n in range(3)}
        # The plugin's classification, against this daemon: what cannot run remapped.
        report = json.loads(subprocess.run([PLUGIN_PYTHON, "-I", "-S", str(PLUGIN), "--report", "--config-json",
                                            json.dumps({"docker_socket": plain.socket})], capture_output=True, text=True, check=True).stdout)
        assert [entry["name"] for entry in report["would_break"]] == ["hostnet"]
        inventory = run_module(root, "inventory", "forward")  # Docker running: read-only
        assert sorted(c["name"] for c in inventory["inventory"]["containers"]) == ["db", "hostnet", "maker"]
        assert inventory["problems"] == [] and inventory["space"]["enough"]
    finally:
        plain.stop()

    start = dockremap_start()
    target = root / "data" / ("%d.%d" % (start, start))
    progress = root / "data" / ".docker-userns-carry" / "progress.log"
    journal = root / "data" / ".docker-userns-carry" / "journal.json"
    # Kill the carry once it has recorded some parts and copied part of the data.
    proc = run_module(root, "carry", "forward", background=True)
    try:
        wait_for(lambda: (journal.exists() and len(json.loads(journal.read_text()).get("units", {})) > 0) or proc.poll() is not None,
                 120, "the carry to record a part")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    recorded = json.loads(journal.read_text())
    assert recorded["phase"] == "copying", "the carry finished before it could be interrupted: make the volumes larger"
    assert not target.exists()  # where a remapped Docker reads: nothing, not half a copy
    assert "%" in progress.read_text()

    remapped = daemon(root, remapped=True)
    remapped.start()  # meanwhile Docker starts remapped: it sees an empty data directory, not half a copy
    try:
        assert listing(remapped) == {"containers": [], "images": [], "volumes": []}
    finally:
        remapped.stop()

    result = run_module(root, "carry", "forward")
    assert not result.get("failed"), result.get("msg")
    assert result["carried"]["resumed_units"] == len(recorded["units"]) > 0
    assert result["target_inventory"] == {"containers": 0, "images": 0, "volumes": 0}  # Docker's empty one, moved aside
    assert Path(result["moved_aside"]).is_dir()

    remapped.start()
    try:
        assert listing(remapped) == before
        assert {n: volume_state(remapped, "vol%d" % n) for n in range(3)} == volumes  # checksums, owners as seen inside
        assert os.stat(target / "volumes" / "vol1" / "_data" / "d").st_uid == start + 70  # shifted on the host
        assert os.stat(target / "volumes" / "vol1" / "_data" / "f1").st_uid == start
        wait_for(lambda: remapped.docker("inspect", "-f", "{{.State.Running}}", "db").stdout.strip() == b"true", 30, "db to restart")
        uid_map = remapped.docker("exec", "db", "cat", "/proc/self/uid_map").stdout.split()
        assert uid_map[:2] == [b"0", str(start).encode()]
        refused = remapped.docker("start", "hostnet")
        assert refused.returncode != 0 and b"cannot share the host's network namespace" in refused.stderr
        ran = remapped.docker("run", "--rm", "--network", "none", "local/only-here:1", "cat", "/marker")
        assert ran.stdout == b"only here\n"
        # Written while remapped: it must come back.
        assert remapped.docker("exec", "db", "sh", "-c", "echo remapped > /v/new; chown 33:33 /v/new").returncode == 0
        assert remapped.docker("run", "--name", "made-remapped", "--network", "none", "-v", "newvol:/n", TEST_IMAGE,
                               "sh", "-c", "echo n > /n/file").returncode == 0
        after_remapped = listing(remapped)
        volumes_remapped = {name: volume_state(remapped, name) for name in ("vol0", "newvol")}
    finally:
        remapped.stop()

    result = run_module(root, "carry", "back")
    assert not result.get("failed"), result.get("msg")
    plain.start()
    try:
        assert listing(plain) == after_remapped
        assert {name: volume_state(plain, name) for name in ("vol0", "newvol")} == volumes_remapped
        assert os.stat(root / "data" / "volumes" / "vol0" / "_data" / "new").st_uid == 33
        assert plain.docker("start", "hostnet").returncode == 0  # plain again: it runs
    finally:
        plain.stop()
