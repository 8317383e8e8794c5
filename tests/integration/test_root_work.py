"""The daemon's own root work, on a real Docker 20.10 (Debian 12's docker.io) with the plugin.

First what the daemon does when nothing refuses it (the plugin in audit mode): it creates a
missing -v source owned by the remapped root, and gives an empty root-only host directory that a
volume binds to the remapped root when it fills the volume. Then, enforcing, the bypass probe's
rootwork and engine classes: every attempt refused, nothing escapes, every control accepted; and
docker cp, which Debian 12 leaves exposed to CVE-2026-41568/42306, refused with a way that works.
Each test makes what it uses, so it passes alone or in any order.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import bypass_probe
from harness import TEST_IMAGE, remove_tree, short_tempdir

DENIED = 403


def unique(prefix: str) -> str:
    return "due-%s-%s" % (prefix, uuid.uuid4().hex[:8])


def ok(result: subprocess.CompletedProcess) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def remapped_root(dockerd) -> int:
    """The host uid of the containers' root (the start of dockremap's range)."""
    pid = ok(dockerd.docker("inspect", "-f", "{{.State.Pid}}", ok(dockerd.docker(
        "run", "-d", "--network", "none", TEST_IMAGE, "sleep", "60")).decode().strip())).decode().strip()
    return int(open("/proc/%s/uid_map" % pid).read().split()[1])


def test_without_the_plugin_the_daemon_creates_missing_sources_and_re_owns_empty_directories(dockerd, configured):
    """Audit mode: the plugin logs would-deny and lets through; what the daemon then does."""
    base = short_tempdir("due-rw-")
    root_uid = remapped_root(dockerd)
    missing = base / "missing" / "system-generators"
    empty = base / "empty"
    empty.mkdir(mode=0o700)
    empty.chmod(0o700)
    volume = unique("bound")
    configured({"mode": "audit"})
    try:
        ok(dockerd.docker("run", "--rm", "--network", "none", "-v", "%s:/x" % missing, TEST_IMAGE, "touch", "/x/generator"))
        assert missing.is_dir() and missing.stat().st_uid == root_uid and (missing / "generator").exists()
        ok(dockerd.docker("volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=%s" % empty, volume))
        ok(dockerd.docker("run", "--rm", "--network", "none", "-v", "%s:/bin" % volume, TEST_IMAGE, "/bin/busybox", "true"))
        assert empty.stat().st_uid == root_uid and (empty / "busybox").exists()  # was root's, 0700
    finally:
        dockerd.docker("volume", "rm", volume)
        remove_tree(base)


def test_the_rootwork_probe_finds_nothing_and_every_control_works(dockerd):
    results = bypass_probe.probe_rootwork(dockerd.socket, TEST_IMAGE)
    assert len(results) == 9 and [r for r in results if r["escaped"]] == []
    for result in results:
        assert result["attempt"]["status"] == DENIED and "authorization denied by plugin" in result["attempt"]["message"], result
        if result["control"] is not None:
            assert result["control"]["status"] in (201, 204), result
    messages = {r["case"]: r["attempt"]["message"] for r in results}
    assert "does not exist" in messages["-v source that does not exist"]
    assert "user nobody" in messages["-v source that a user could remove or replace"]
    assert "which is empty" in messages["copy-up into a volume that binds an empty root-only directory"]
    assert "can write into it right now" in messages["copy-up into a volume another running container writes"]
    assert "without asking any authorization plugin" in messages["make this host a swarm node"]


def test_docker_cp_is_refused_on_this_engine_and_the_way_it_names_works(dockerd, tmp_path):
    name = unique("cp")
    ok(dockerd.docker("run", "-d", "--network", "none", "--name", name, TEST_IMAGE, "sleep", "600"))
    try:
        source = tmp_path / "in.txt"
        source.write_text("data\n")
        refused = dockerd.docker("cp", str(source), "%s:/tmp/" % name)
        assert refused.returncode != 0
        refused = dockerd.docker("cp", "%s:/etc/hostname" % name, str(tmp_path / "out"))
        assert b"CVE-2026-41568" in refused.stderr and b"CVE-2026-42306" in refused.stderr
        assert b"docker exec -i CONTAINER tar -x -C DIR < files.tar" in refused.stderr
        tar = subprocess.run(["tar", "-C", str(tmp_path), "-c", "in.txt"], capture_output=True, check=True).stdout
        ok(dockerd.docker("exec", "-i", name, "tar", "-x", "-C", "/tmp", input=tar))
        assert ok(dockerd.docker("exec", name, "cat", "/tmp/in.txt")) == b"data\n"
    finally:
        dockerd.docker("rm", "-f", name)


def test_the_engine_probe_on_docker_20_10_as_it_is_and_with_the_copy_fixes_recorded(dockerd, copy_fixed, configured):
    configured({})  # Debian 12's package as it is: no fix recorded
    results = bypass_probe.probe_engine(dockerd.socket, TEST_IMAGE)
    assert len(results) == 4 and [r for r in results if r["escaped"]] == []
    for result in results:
        assert result["attempt"]["status"] == DENIED and "CVE-2026-41568" in result["attempt"]["message"], result
    configured(copy_fixed)
    by_case = {r["case"]: r for r in bypass_probe.probe_engine(dockerd.socket, TEST_IMAGE)}
    assert [r for r in by_case.values() if r["escaped"]] == []
    assert by_case["docker cp out of a container"]["attempt"]["status"] == 200
    assert by_case["docker cp into a container"]["attempt"]["status"] == 200
    # Docker 20.10 decompresses on the host (not CVE-2026-41567): allowed, and the image's xz never ran.
    xz = by_case["docker cp of an xz archive into a container whose image ships an xz"]
    assert xz["attempt"]["status"] != DENIED and not xz["escaped"]
    as_user = by_case["docker cp -a into a container that sets a user and ships a getent"]
    assert as_user["attempt"]["status"] == DENIED and "docker-cp-a-user" in as_user["attempt"]["message"]


def test_a_container_s_bind_source_removed_after_create_is_not_made_again_at_start(dockerd):
    base = short_tempdir("due-rw-")
    source = base / "data"
    source.mkdir()
    name = unique("vanish")
    ok(dockerd.docker("create", "--network", "none", "--name", name, "-v", "%s:/data" % source, TEST_IMAGE, "true"))
    try:
        os.rmdir(source)
        refused = dockerd.docker("start", name)
        assert refused.returncode != 0 and b"does not exist" in refused.stderr
        assert not source.exists()
        source.mkdir()
        ok(dockerd.docker("start", name))
    finally:
        dockerd.docker("rm", "-f", name)
        remove_tree(base)
