"""Unit tests of plugins/modules/docker_userns_data_root.py: the id arithmetic, then carries of a data directory
laid out as Docker lays it out (measured on Docker 20.10 and 26.1), made of real files in a temporary directory
(run as root: owners, devices, trusted.* attributes and capabilities need it).

A real daemon reading what was carried: tests/integration/test_data_root_carry.py and molecule/adopt.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest_modules import load_module, run_module

mod = load_module("docker_userns_data_root")

START = 300000  # the remap range of these tests: 300000-365535 (not a range of this machine)
REMAP_USER = "due-test-carry"
IMAGE = "a" * 64
CONTAINER = "c" * 64
LAYER = "1" * 64
RW = "2" * 64
INIT = RW + "-init"
MTIME = 1_600_000_000_123_456_789


@pytest.fixture(autouse=True)
def as_root():
    if os.geteuid() != 0:
        pytest.fail("these tests make files with other owners, devices and trusted.* attributes: run them as root")


@pytest.fixture
def subids(tmp_path, monkeypatch):
    for name in ("subuid", "subgid"):
        (tmp_path / name).write_text("someone:100000:65536\n%s:%d:65536\n" % (REMAP_USER, START))
    monkeypatch.setattr(mod, "SUBUID", str(tmp_path / "subuid"))
    monkeypatch.setattr(mod, "SUBGID", str(tmp_path / "subgid"))


# ---- ids, ACLs, capabilities, paths -----------------------------------------------------------------


def test_ranges_are_read_as_docker_reads_them_by_uid_first_then_name_in_file_order():
    text = "other:1:2\nbob:500000:10\n# comment\nbob:600000:20\n1234:700000:5\nbad line\n"
    assert mod.parse_subid(text, None, "bob") == [(500000, 10), (600000, 20)]
    assert mod.parse_subid(text, 1234, "bob") == [(700000, 5)]
    assert mod.parse_subid(text, None, "nobody-here") == []


def test_an_id_map_of_several_ranges_counts_container_ids_on_from_one_range_to_the_next():
    ids = mod.IdMap([(500000, 10), (400000, 20)])
    assert ids.root == 500000 and ids.size == 30
    assert [ids.to_host(i) for i in (0, 9, 10, 29, 30)] == [500000, 500009, 400000, 400019, None]
    assert [ids.to_container(h) for h in (500000, 400019, 499999, 0)] == [0, 29, None, None]


def test_back_host_root_stays_root_and_other_ids_outside_the_range_have_no_place():
    ids = mod.IdMap([(START, 65536)])
    back = mod.Shift(ids, ids, forward=False)
    assert (back.uid(0), back.uid(START + 5), back.uid(1000)) == (0, 5, None)
    forward = mod.Shift(ids, ids, forward=True)
    assert (forward.uid(0), forward.uid(65535), forward.uid(65536)) == (START, START + 65535, None)


def acl(*entries) -> bytes:
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)


def test_an_acl_has_its_named_users_and_groups_shifted_and_nothing_else():
    value = acl((1, 7, 0xFFFFFFFF), (2, 6, 1000), (4, 5, 0xFFFFFFFF), (8, 4, 2000), (0x10, 7, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF))
    shifted = mod.shift_acl(value, lambda u: u + START, lambda g: g + START)
    assert shifted == acl((1, 7, 0xFFFFFFFF), (2, 6, 1000 + START), (4, 5, 0xFFFFFFFF), (8, 4, 2000 + START), (0x10, 7, 0xFFFFFFFF),
                          (0x20, 0, 0xFFFFFFFF))
    assert mod.shift_acl(value, lambda u: None, lambda g: g) is None
    assert mod.shift_acl(b"\x02\x00", lambda u: u, lambda g: g) == b"\x02\x00"  # not an ACL: left to the kernel


def cap_v2(permitted: int = 1 << 13, effective: bool = True) -> bytes:
    return struct.pack("<IIIII", 0x02000000 | int(effective), permitted, 0, 0, 0)


def test_a_v2_capability_set_becomes_v3_of_the_remapped_root_and_back_again():
    ids = mod.IdMap([(START, 65536)])
    forward, back = mod.Shift(ids, ids, True), mod.Shift(ids, ids, False)
    v3 = mod.shift_capability(cap_v2(), forward.uid)
    assert v3 is not None and len(v3) == 24 and struct.unpack_from("<I", v3)[0] == 0x03000001
    assert mod.capability_rootid(v3) == START and v3[4:20] == cap_v2()[4:20]
    assert mod.shift_capability(v3, back.uid) == cap_v2()
    # A set a container wrote for a user namespace of its own (root id 1000 inside) keeps v3.
    nested = struct.pack("<IIIIII", 0x03000000, 1 << 13, 0, 0, 0, 1000)
    assert mod.capability_rootid(mod.shift_capability(nested, forward.uid) or b"") == START + 1000
    # Back, a v2 set of a remapped layer (Docker 20.10 writes v2 when it unpacks an image) stays v2.
    assert mod.shift_capability(cap_v2(), back.uid) == cap_v2()
    assert mod.shift_capability(struct.pack("<IIIIII", 0x03000000, 1, 0, 0, 0, 70000), forward.uid) is None
    assert mod.shift_capability(b"\x01\x02", forward.uid) == b"\x01\x02"


def test_the_paths_of_a_containers_config_name_the_new_data_directory():
    config = {"LogPath": "/d/containers/x/x-json.log", "HostsPath": "/d/containers/x/hosts", "Image": "sha256:1",
              "MountPoints": {"/data": {"Source": "/d/volumes/v/_data"}, "/bind": {"Source": "/d/other"}}, "Args": ["/d/containers"]}
    out = mod.rewrite_paths(config, "/d", "/d/300000.300000")
    assert out["LogPath"] == "/d/300000.300000/containers/x/x-json.log"
    assert out["MountPoints"]["/data"]["Source"] == "/d/300000.300000/volumes/v/_data"
    assert out["MountPoints"]["/bind"]["Source"] == "/d/other" and out["Args"] == ["/d/containers"]
    assert mod.rewrite_paths(out, "/d/300000.300000", "/d") == config


# ---- a data directory as Docker lays it out -------------------------------------------------------


def put(path: Path, data: bytes = b"", mode: int = 0o644, owner=(0, 0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chown(path, *owner)
    os.chmod(path, mode)
    os.utime(path, ns=(MTIME, MTIME))
    return path


def mkdir(path: Path, mode: int = 0o755, owner=(0, 0)) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, *owner)
    os.chmod(path, mode)
    return path


def container_tree(diff: Path, owner=(0, 0), shift: int = 0) -> None:
    """The content of a layer or a volume: every kind of file a container's tree holds."""
    own = (owner[0] + shift, owner[1] + shift)
    mkdir(diff, 0o755, own)
    put(diff / "etc" / "passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644, own)
    mkdir(diff / "etc", 0o755, own)
    put(diff / "bin" / "tool", b"\x7fELF" + os.urandom(5000), 0o4755, own)  # setuid
    mkdir(diff / "bin", 0o755, own)
    put(diff / "bin" / "pinger", b"\x7fELF ping", 0o755, own)
    os.setxattr(diff / "bin" / "pinger", "security.capability", mod.shift_capability(cap_v2(), lambda u: u + shift) or b"")
    put(diff / "home" / "app" / "data", b"app data", 0o640, (1000 + shift, 2000 + shift))
    mkdir(diff / "home" / "app", 0o2770, (1000 + shift, 2000 + shift))
    mkdir(diff / "home", 0o755, own)
    os.setxattr(diff / "home" / "app" / "data", "system.posix_acl_access",
                acl((1, 6, 0xFFFFFFFF), (2, 6, 1001 + shift), (4, 4, 0xFFFFFFFF), (8, 4, 2001 + shift), (0x10, 6, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)))
    os.setxattr(diff / "home" / "app", "system.posix_acl_default",
                acl((1, 7, 0xFFFFFFFF), (2, 7, 1002 + shift), (4, 5, 0xFFFFFFFF), (0x10, 7, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)))
    os.setxattr(diff / "home" / "app" / "data", "user.note", b"kept")
    os.link(diff / "home" / "app" / "data", diff / "home" / "app" / "data.hardlink")
    sparse = diff / "var" / "db.sqlite"
    sparse.parent.mkdir(parents=True, exist_ok=True)
    with open(sparse, "wb") as handle:
        handle.seek(8 << 20)
        handle.write(b"middle")
        handle.truncate(16 << 20)  # a trailing hole too
    os.chown(sparse, 999 + shift, 999 + shift)
    os.symlink("../etc/passwd", diff / "bin" / "link")
    os.lchown(diff / "bin" / "link", *own)
    os.mknod(diff / "removed", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # an overlay whiteout
    os.chown(diff / "removed", *own)
    mkdir(diff / "opaque", 0o755, own)
    os.setxattr(diff / "opaque", "trusted.overlay.opaque", b"y")
    os.mkfifo(diff / "fifo", 0o600)
    os.chown(diff / "fifo", *own)
    for path in sorted(diff.rglob("*"), reverse=True):
        os.utime(path, ns=(MTIME, MTIME), follow_symlinks=False)
    os.utime(diff, ns=(MTIME, MTIME))


def data_root(root: Path, shift: int = 0) -> Path:
    """A Docker data directory with one image (one layer), one container using it (writable and init layers, a
    volume) and one volume; ``shift`` > 0 lays it out as Docker does in a remapped one."""
    group = shift  # the remapped root's group on Docker's traversal directories, 0 when plain
    mkdir(root, 0o710, (0, group))
    mkdir(root / "overlay2", 0o710, (0, group))
    mkdir(root / "overlay2" / "l", 0o700)
    mkdir(root / "containers", 0o710, (0, group))
    mkdir(root / "volumes", 0o701)
    chain = "sha256:" + "d" * 64
    imagedb = root / "image" / "overlay2"
    put(imagedb / "imagedb" / "content" / "sha256" / IMAGE, json.dumps({"rootfs": {"type": "layers", "diff_ids": [chain]}}).encode(), 0o600)
    put(imagedb / "repositories.json", json.dumps({"Repositories": {"local/unique": {"local/unique:1": "sha256:" + IMAGE}}}).encode(), 0o600)
    put(imagedb / "layerdb" / "sha256" / ("d" * 64) / "cache-id", LAYER.encode())
    put(imagedb / "layerdb" / "sha256" / ("d" * 64) / "diff", chain.encode())
    put(imagedb / "layerdb" / "mounts" / CONTAINER / "mount-id", RW.encode())
    put(imagedb / "layerdb" / "mounts" / CONTAINER / "init-id", INIT.encode())
    for layer, short, lower in ((LAYER, "SHORTA", ""), (INIT, "SHORTB", "l/SHORTA"), (RW, "SHORTC", "l/SHORTB:l/SHORTA")):
        mkdir(root / "overlay2" / layer, 0o710, (0, group))
        put(root / "overlay2" / layer / "link", short.encode())
        if lower:
            put(root / "overlay2" / layer / "lower", lower.encode())
        os.symlink("../%s/diff" % layer, root / "overlay2" / "l" / short)
    container_tree(root / "overlay2" / LAYER / "diff", shift=shift)
    mkdir(root / "overlay2" / RW / "diff", 0o755, (shift, shift))
    put(root / "overlay2" / RW / "diff" / "written", b"by the container", 0o600, (33 + shift, 33 + shift))
    mkdir(root / "overlay2" / RW / "work" / "work", 0o000, (shift, shift))
    os.chmod(root / "overlay2" / RW / "work", 0o700)
    os.chown(root / "overlay2" / RW / "work", shift, shift)
    mkdir(root / "overlay2" / INIT / "diff" / "etc", 0o755, (shift, shift))
    os.symlink("/proc/mounts", root / "overlay2" / INIT / "diff" / "etc" / "mtab")  # Docker leaves it to host root
    mkdir(root / "overlay2" / unused_layer(), 0o710)  # build cache: no image or container uses it
    put(root / "overlay2" / unused_layer() / "diff" / "cache", b"x" * 10000)
    where = str(root)
    cdir = root / "containers" / CONTAINER
    mkdir(cdir, 0o710, (0, group))
    mkdir(cdir / "mounts", 0o710, (0, group))
    mkdir(cdir / "checkpoints", 0o700)
    config = {"ID": CONTAINER, "Name": "/db", "Driver": "overlay2", "Image": "sha256:" + IMAGE, "Config": {"Image": "local/unique:1"},
              "State": {"Running": True}, "LogPath": "%s/containers/%s/%s-json.log" % (where, CONTAINER, CONTAINER),
              "HostsPath": "%s/containers/%s/hosts" % (where, CONTAINER),
              "MountPoints": {"/data": {"Type": "volume", "Name": "dbvol", "Source": "%s/volumes/dbvol/_data" % where}}}
    put(cdir / "config.v2.json", json.dumps(config, separators=(",", ":")).encode(), 0o600)
    put(cdir / "hostconfig.json", b'{"NetworkMode":"none"}', 0o644)
    put(cdir / ("%s-json.log" % CONTAINER), b'{"log":"hello\\n"}\n', 0o640)
    for name in ("hostname", "hosts", "resolv.conf"):
        put(cdir / name, b"db\n", 0o644, (shift, shift))
    for volume in ("dbvol", "e" * 64):
        mkdir(root / "volumes" / volume, 0o701)
        container_tree(root / "volumes" / volume / "_data", shift=shift)
    put(root / "volumes" / "metadata.db", b"bolt", 0o600)
    put(root / "network" / "files" / "local-kv.db", b"bolt", 0o644)
    os.chmod(root / "network", 0o750)
    os.chmod(root / "network" / "files", 0o750)
    return root


def unused_layer() -> str:
    return "9" * 64


def tree_state(root: Path, skip=()) -> dict:
    """Everything the carry must keep, per path: type, mode, owner, size, mtime, link target, device, xattrs,
    blocks (sparseness), the content's digest and which paths share an inode."""
    state = {}
    inodes: dict = {}
    for path in sorted([root, *root.rglob("*")]):
        rel = str(path.relative_to(root))
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        st = os.lstat(path)
        entry = {"mode": st.st_mode, "owner": (st.st_uid, st.st_gid), "mtime": st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else None}
        if stat.S_ISLNK(st.st_mode):
            entry["target"] = os.readlink(path)
        else:
            entry["xattrs"] = {name: os.getxattr(path, name, follow_symlinks=False).hex() for name in sorted(os.listxattr(path, follow_symlinks=False))}
        if stat.S_ISCHR(st.st_mode):
            entry["rdev"] = st.st_rdev
        if stat.S_ISREG(st.st_mode):
            entry["size"] = st.st_size
            entry["blocks"] = st.st_blocks
            entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
            inodes.setdefault(st.st_ino, []).append(rel)
            entry["links"] = st.st_nlink
        state[rel] = entry
    for paths in inodes.values():
        for rel in paths:
            state[rel]["same_inode_as"] = paths
    return state


def carry(capsys, root: Path, **args):
    params = dict({"data_root": str(root), "remap_user": REMAP_USER, "action": "carry", "reserve_mb": 1,
                   "docker_pidfile": str(root.parent / "no-docker.pid")}, **args)
    check_mode = params.pop("check_mode", False)
    diff = params.pop("diff", False)
    return run_module(mod, capsys, params, check_mode=check_mode, diff=diff)


REMAPPED = "%d.%d" % (START, START)


def test_the_inventory_lists_what_the_switch_would_hide_with_sizes_and_changes_nothing(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    before = tree_state(root)
    result = carry(capsys, root, action="inventory")
    assert not result.get("failed") and result["changed"] is False
    inventory = result["inventory"]
    assert [(i["id"], i["tags"]) for i in inventory["images"]] == [("sha256:" + IMAGE, ["local/unique:1"])]
    assert inventory["images"][0]["size"] > 0
    [container] = inventory["containers"]
    assert (container["name"], container["image"], container["running"], container["volumes"]) == ("db", "local/unique:1", True, ["dbvol"])
    assert sorted((v["name"], v["anonymous"], v["used_by"]) for v in inventory["volumes"]) == [("dbvol", False, ["db"]), ("e" * 64, True, [])]
    assert inventory["not_carried"]["unused_layers"] == 1 and inventory["not_carried"]["unused_layer_bytes"] >= 10000
    assert result["space"]["enough"] and result["space"]["needed_bytes"] == inventory["bytes"] > 0
    assert result["target"] == str(root / REMAPPED) and result["target_inventory"] is None and result["problems"] == []
    assert tree_state(root) == before


def expected_after_forward(state: dict) -> dict:
    """The plain tree's state as the remapped one must show it."""
    out = {}
    for rel, entry in state.items():
        entry = dict(entry)
        parts = rel.split("/")
        content = (parts[0] == "overlay2" and len(parts) > 2 and parts[2] in ("diff", "work")) or (parts[0] == "volumes" and len(parts) > 2)
        own_file = parts[0] == "containers" and len(parts) == 3 and parts[2] in ("hostname", "hosts", "resolv.conf")
        if content or own_file:
            entry["owner"] = (entry["owner"][0] + START, entry["owner"][1] + START)
        if rel in (".", "overlay2", "containers") or (parts[0] in ("overlay2", "containers") and len(parts) == 2 and parts[1] != "l") \
                or (parts[0] == "containers" and parts[2:] == ["mounts"]):
            entry["owner"] = (0, START)
        out[rel] = entry
    return out


def comparable(state: dict) -> dict:
    """Without what a carry changes on purpose: config.v2.json's paths, the xattrs that hold ids (checked apart)."""
    out = {}
    for rel, entry in state.items():
        entry = dict(entry)
        if rel.endswith("config.v2.json"):
            entry.pop("sha256")
            entry.pop("size")
            entry.pop("blocks")
        xattrs = dict(entry.get("xattrs", {}))
        for name in ("security.capability", "system.posix_acl_access", "system.posix_acl_default"):
            xattrs.pop(name, None)
        entry["xattrs"] = xattrs
        out[rel] = entry
    return out


CARRIED = ["image", "overlay2/" + LAYER, "overlay2/" + RW, "overlay2/" + INIT, "containers", "volumes/dbvol", "volumes/" + "e" * 64,
           "volumes/metadata.db", "network/files/local-kv.db"]


def carried_part(state: dict) -> dict:
    return {rel: entry for rel, entry in state.items() if any(rel == c or rel.startswith(c + "/") for c in CARRIED)}


def test_forward_carries_everything_with_owners_shifted_and_every_attribute_kept(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    plain = tree_state(root)
    result = carry(capsys, root)
    assert not result.get("failed"), result.get("msg")
    assert result["changed"] is True and result["pending"] is None and result["moved_aside"] == ""
    target = root / REMAPPED
    remapped = tree_state(target)
    want = expected_after_forward(carried_part(plain))
    assert comparable(carried_part(remapped)) == comparable(want)
    # Docker's traversal directories, as Docker 20.10 and 26.1 make them in a remapped data directory.
    for rel, mode in ((".", 0o710), ("overlay2", 0o710), ("containers", 0o710), ("overlay2/" + RW, 0o710), ("containers/%s/mounts" % CONTAINER, 0o710)):
        assert (stat.S_IMODE(remapped[rel]["mode"]), remapped[rel]["owner"]) == (mode, (0, START)), rel
    assert remapped["overlay2/l"]["owner"] == (0, 0) and remapped["volumes"]["mode"] & 0o777 == 0o701
    assert sorted(os.listdir(target / "overlay2" / "l")) == ["SHORTA", "SHORTB", "SHORTC"]  # not the unused layer's
    assert not (target / "overlay2" / unused_layer()).exists()
    diff = "overlay2/%s/diff" % LAYER
    # Sparse: 16 MiB with 6 bytes of data stays a few blocks; holes and setuid kept; a hard link stays one.
    assert remapped[diff + "/var/db.sqlite"]["size"] == 16 << 20 and remapped[diff + "/var/db.sqlite"]["blocks"] <= 64
    assert remapped[diff + "/bin/tool"]["mode"] & 0o7777 == 0o4755
    assert remapped[diff + "/home/app/data"]["same_inode_as"] == [diff + "/home/app/data", diff + "/home/app/data.hardlink"]
    assert stat.S_ISCHR(remapped[diff + "/removed"]["mode"]) and remapped[diff + "/removed"]["rdev"] == 0
    assert remapped[diff + "/opaque"]["xattrs"]["trusted.overlay.opaque"] == b"y".hex()
    # ACL entries and the capability's root id shifted; the capability survived the chown.
    acl_value = bytes.fromhex(remapped[diff + "/home/app/data"]["xattrs"]["system.posix_acl_access"])
    assert sorted(mod.acl_ids(acl_value)) == [("gid", 2001 + START), ("uid", 1001 + START)]
    default_acl = bytes.fromhex(remapped[diff + "/home/app"]["xattrs"]["system.posix_acl_default"])
    assert sorted(mod.acl_ids(default_acl)) == [("uid", 1002 + START)]
    assert mod.capability_rootid(bytes.fromhex(remapped[diff + "/bin/pinger"]["xattrs"]["security.capability"])) == START
    # Paths in config.v2.json name the remapped data directory; the source keeps its own.
    config = json.loads((target / "containers" / CONTAINER / "config.v2.json").read_text())
    assert config["LogPath"].startswith(str(target) + "/containers/") and config["MountPoints"]["/data"]["Source"] == str(target / "volumes/dbvol/_data")
    assert tree_state(root, skip=(REMAPPED, mod.CARRY_DIR)) == plain  # the source is untouched
    assert "done" in Path(result["progress_log"]).read_text()
    assert result["carried"]["hardlinks"] >= 3 and result["verified"]["files"] > 0


def test_getcap_and_the_kernel_read_the_capability_as_the_remapped_roots(tmp_path, subids, capsys):
    getcap = shutil.which("getcap")
    if getcap is None:
        pytest.fail("getcap (libcap2-bin) is needed: it shows how the kernel reads the carried capability")
    root = data_root(tmp_path / "docker")
    assert not carry(capsys, root).get("failed")
    out = subprocess.run([getcap, "-n", str(root / REMAPPED / "overlay2" / LAYER / "diff" / "bin" / "pinger")], capture_output=True, text=True).stdout
    assert "cap_net_raw=ep" in out and "[rootid=%d]" % START in out


def test_back_restores_the_plain_tree_exactly_and_carries_what_was_written_while_remapped(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    plain = tree_state(root)
    assert not carry(capsys, root).get("failed")
    remapped_volume = root / REMAPPED / "volumes" / "dbvol" / "_data"
    put(remapped_volume / "written-while-remapped", b"new", 0o600, (START + 70, START + 70))
    os.utime(remapped_volume, ns=(MTIME, MTIME))
    result = carry(capsys, root, direction="back")
    assert not result.get("failed"), result.get("msg")
    back = tree_state(root, skip=(REMAPPED, mod.CARRY_DIR))
    new_file = "volumes/dbvol/_data/written-while-remapped"
    assert back.pop(new_file)["owner"] == (70, 70)
    assert comparable(carried_part(back)) == comparable(carried_part(plain))
    for rel in carried_part(plain):  # the attributes that hold ids come back exactly too
        assert back[rel].get("xattrs") == plain[rel].get("xattrs"), rel
    # What was at the plain root is moved aside, not lost; the remapped root stays as it was.
    assert (Path(result["moved_aside"]) / "containers" / CONTAINER).is_dir()
    assert (root / REMAPPED / "containers" / CONTAINER).is_dir()


def test_a_second_run_changes_nothing_and_check_mode_and_diff_say_what_a_first_would_do(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    checked = carry(capsys, root, check_mode=True, diff=True)
    assert checked["changed"] is True and not (root / REMAPPED).exists() and not (root / mod.CARRY_DIR).exists()
    assert json.loads(checked["diff"]["after"]) == {"containers": 1, "images": 1, "volumes": 2}
    assert not carry(capsys, root).get("failed")
    again = carry(capsys, root)
    assert again["changed"] is False and "carried" not in again


def test_ids_the_range_cannot_hold_stop_the_carry_before_anything_is_copied(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    put(root / "volumes" / "dbvol" / "_data" / "too-high", b"x", 0o644, (70000, 0))
    os.setxattr(root / "volumes" / "dbvol" / "_data" / "etc" / "passwd", "system.posix_acl_access",
                acl((1, 6, 0xFFFFFFFF), (2, 6, 90000), (4, 4, 0xFFFFFFFF), (0x10, 6, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)))
    result = carry(capsys, root)
    assert result.get("failed") and result["msg"].startswith("Nothing was copied")
    assert "too-high is owned by 70000:0" in result["msg"] and "(container ids 0-65535)" in result["msg"]
    assert "etc/passwd has an ACL" in result["msg"]
    assert not (root / REMAPPED).exists() and not (root / mod.CARRY_DIR / "stage").exists()


def test_a_mount_point_in_the_source_stops_the_carry_but_not_the_inventory(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    merged = root / "overlay2" / RW / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(merged)], check=True)
    try:
        listed = carry(capsys, root, action="inventory")  # Docker runs: its running containers' layers are mounted
        result = carry(capsys, root)
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    assert listed["problems"] == [] and not listed.get("failed")
    assert result.get("failed") and "merged is a mount point" in result["msg"]


def test_not_enough_space_stops_the_carry_and_says_how_much_is_needed(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    result = carry(capsys, root, reserve_mb=1 << 40)
    assert result.get("failed") and "must stay free" in result["msg"] and result["space"]["enough"] is False
    assert not (root / mod.CARRY_DIR / "stage").exists()


def test_the_carry_refuses_while_docker_runs(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    fake = tmp_path / "dockerd"
    shutil.copy("/bin/sleep", fake)
    proc = subprocess.Popen([str(fake), "60"])
    try:
        for _ in range(200):  # until the child has exec'd: before that, /proc/PID/comm is still python's
            if Path("/proc/%d/comm" % proc.pid).read_text().strip() == "dockerd":
                break
            time.sleep(0.01)
        (tmp_path / "docker.pid").write_text(str(proc.pid))
        result = carry(capsys, root, docker_pidfile=str(tmp_path / "docker.pid"))
    finally:
        proc.kill()
        proc.wait()
    assert result.get("failed") and "Docker runs (pid %d" % proc.pid in result["msg"]
    assert not (root / REMAPPED).exists()


class Interrupt(Exception):
    pass


def interrupt_after(monkeypatch, name: str, calls: int):
    """Make ``mod.<name>`` (or a method given as Class.method) raise once it was called ``calls`` times."""
    owner, attr = (getattr(mod, name.split(".")[0]), name.split(".")[1]) if "." in name else (mod, name)
    real = getattr(owner, attr)
    count = {"n": 0}

    def wrapped(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupt(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, attr, wrapped)


def run_interrupted(monkeypatch, capsys, root, name, calls, **args):
    with monkeypatch.context() as patch:
        interrupt_after(patch, name, calls)
        with pytest.raises(Interrupt):
            carry(capsys, root, **args)
    capsys.readouterr()


def test_an_interrupted_copy_resumes_keeping_what_was_done_and_docker_never_sees_a_half_copy(tmp_path, subids, capsys, monkeypatch):
    root = data_root(tmp_path / "docker")
    plain = tree_state(root)
    monkeypatch.setattr(mod, "SYNC_SECONDS", 0)  # record every unit as it is done
    run_interrupted(monkeypatch, capsys, root, "Copier.copy_unit", 4)
    assert not (root / REMAPPED).exists()  # where Docker reads: nothing yet
    journal = json.loads((root / mod.CARRY_DIR / "journal.json").read_text())
    assert journal["phase"] == "copying" and len(journal["units"]) == 4
    assert carry(capsys, root, action="inventory")["pending"] == {"direction": "forward", "phase": "copying"}
    result = carry(capsys, root)
    assert not result.get("failed"), result.get("msg")
    assert result["carried"]["resumed_units"] == 4 and result["carried"]["units"] == len(CARRIED) - 4
    assert comparable(carried_part(tree_state(root / REMAPPED))) == comparable(expected_after_forward(carried_part(plain)))


def test_a_part_that_changed_since_the_interruption_is_copied_again(tmp_path, subids, capsys, monkeypatch):
    root = data_root(tmp_path / "docker")
    monkeypatch.setattr(mod, "SYNC_SECONDS", 0)
    run_interrupted(monkeypatch, capsys, root, "Copier.copy_unit", 6)
    done = json.loads((root / mod.CARRY_DIR / "journal.json").read_text())["units"]
    changed = next(name for name in done if name.startswith("volumes/"))
    put(root / changed / "_data" / "late", b"written after the interruption", 0o644)  # Docker ran in between
    result = carry(capsys, root)
    assert not result.get("failed"), result.get("msg")
    assert result["carried"]["resumed_units"] == len(done) - 1
    assert (root / REMAPPED / changed / "_data" / "late").read_bytes() == b"written after the interruption"


def test_an_interrupted_swap_is_undone_and_done_again(tmp_path, subids, capsys, monkeypatch):
    root = data_root(tmp_path / "docker")
    plain = tree_state(root)
    assert not carry(capsys, root).get("failed")
    # Back swaps several directories one by one: stop after the third rename.
    run_interrupted(monkeypatch, capsys, root, "Carry.swap_one", 3, direction="back")
    journal = json.loads((root / mod.CARRY_DIR / "journal.json").read_text())
    assert journal["phase"] == "swapping" and len(journal["swaps"]) == 3
    result = carry(capsys, root, direction="back")
    assert not result.get("failed"), result.get("msg")
    assert comparable(carried_part(tree_state(root, skip=(REMAPPED, mod.CARRY_DIR)))) == comparable(carried_part(plain))


def test_abort_rolls_an_interrupted_carry_back(tmp_path, subids, capsys, monkeypatch):
    root = data_root(tmp_path / "docker")
    before = tree_state(root)
    run_interrupted(monkeypatch, capsys, root, "Copier.copy_unit", 2)
    assert (root / mod.CARRY_DIR / "stage").exists()
    checked = carry(capsys, root, action="abort", check_mode=True)
    assert checked["changed"] is True and (root / mod.CARRY_DIR / "stage").exists()
    aborted = carry(capsys, root, action="abort")
    assert aborted["changed"] is True and not (root / mod.CARRY_DIR / "stage").exists()
    assert carry(capsys, root, action="abort")["changed"] is False
    assert tree_state(root, skip=(mod.CARRY_DIR,)) == before


def test_a_full_disk_rolls_the_carry_back_and_leaves_the_source(tmp_path, subids, capsys, monkeypatch):
    root = data_root(tmp_path / "docker")

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mod, "copy_data", full)
    result = carry(capsys, root)
    assert result.get("failed") and "rolled back" in result["msg"]
    assert not (root / mod.CARRY_DIR / "stage").exists() and not (root / REMAPPED).exists()
    assert json.loads((root / mod.CARRY_DIR / "journal.json").read_text())["phase"] == "aborted"


def test_what_sat_at_the_target_is_moved_aside_and_named(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    data_root(root / REMAPPED, shift=START)  # remapped once before, with data of its own
    result = carry(capsys, root)
    assert not result.get("failed"), result.get("msg")
    assert result["target_inventory"] == {"containers": 1, "images": 1, "volumes": 2}
    assert (Path(result["moved_aside"]) / REMAPPED / "containers" / CONTAINER / "config.v2.json").is_file()


def test_a_remapped_tree_as_docker_makes_it_goes_back_with_host_roots_entries_kept_as_roots(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    remapped = data_root(root / REMAPPED, shift=START)
    assert os.lstat(remapped / "overlay2" / INIT / "diff" / "etc" / "mtab").st_uid == 0
    result = carry(capsys, root, direction="back")
    assert not result.get("failed"), result.get("msg")
    back = tree_state(root, skip=(REMAPPED, mod.CARRY_DIR))
    assert back["overlay2/%s/diff/etc/mtab" % INIT]["owner"] == (0, 0)
    assert back["overlay2/%s/diff/home/app/data" % LAYER]["owner"] == (1000, 2000)
    assert back["containers/%s/hosts" % CONTAINER]["owner"] == (0, 0) and back["."]["owner"] == (0, 0)


def test_a_second_carry_while_one_runs_is_refused(tmp_path, subids, capsys):
    root = data_root(tmp_path / "docker")
    holder = subprocess.Popen(["python3", "-c", "import fcntl, os, sys, time; os.makedirs(sys.argv[1], exist_ok=True); "
                               "fd = os.open(sys.argv[1] + '/lock', os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX); "
                               "print('held', flush=True); time.sleep(60)", str(root / mod.CARRY_DIR)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        result = carry(capsys, root)
    finally:
        holder.kill()
        holder.wait()
    assert result.get("failed") and "Another carry runs" in result["msg"] and not (root / REMAPPED).exists()


def test_the_comparison_reads_no_holes_yet_finds_a_changed_byte_and_data_where_a_hole_was(tmp_path):
    src = tmp_path / "src"
    with open(src, "wb") as handle:
        handle.seek(4 << 20)
        handle.write(b"data")
        handle.truncate(8 << 20)
    same = tmp_path / "same"
    with open(same, "wb") as handle:  # zeros written where the source has holes: the same bytes
        handle.write(src.read_bytes())
    mod.same_content(str(src), str(same))
    changed = bytearray(src.read_bytes())
    changed[(4 << 20) + 1] ^= 1
    (tmp_path / "changed").write_bytes(bytes(changed))
    with pytest.raises(mod.CarryError, match="differs"):
        mod.same_content(str(src), str(tmp_path / "changed"))
    filled = bytearray(src.read_bytes())
    filled[100] = 7
    (tmp_path / "filled").write_bytes(bytes(filled))
    with pytest.raises(mod.CarryError, match="holds data where its source has a hole"):
        mod.same_content(str(src), str(tmp_path / "filled"))
