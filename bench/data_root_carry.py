#!/usr/bin/env python3
"""Benchmark: the data-root carry (plugins/modules/docker_userns_data_root.py) against `cp -a` of the same data.

A Docker data directory laid out as Docker lays it out is made under /var/tmp (the file system a host's
/var/lib/docker is usually on): --layers image layers, each a copy of --tree (by default the Python standard
library of the Python running this: thousands of small files, symlinks, a realistic image layer), one container
and --volumes volumes of --volume-mib MiB each in 16 MiB files of random data, plus one sparse 1 GiB database
file with 32 MiB of data in it. Then, --runs times, warm (the first cp -a is not counted):
  - cp -a of the same directories (overlay2, containers, volumes, image) -> cp_a_s, and cp -a followed by sync
    (the carry has its copy on disk before it renames it into place) -> cp_a_sync_s
  - the carry forward, owners shifted, everything compared byte for byte afterwards -> carry_s, carry_ratio
  - the same without the comparison (verify: false) -> carry_noverify_s, carry_noverify_ratio
Medians; ratios are carry / cp -a (and / cp -a with sync). Prints `name: value` lines. Needs root (it chowns, makes devices).
Usage: python3 bench/data_root_carry.py [--layers 4] [--volumes 2] [--volume-mib 256] [--runs 3] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parent.parent
MODULE = REPO / "plugins" / "modules" / "docker_userns_data_root.py"
START = 300000
USER = "due-bench-carry"


def load_module() -> Any:
    spec = importlib.util.spec_from_file_location("docker_userns_data_root", MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Failed(Exception):
    pass


class FakeModule:
    """What run() needs of AnsibleModule."""

    def __init__(self, params: Dict[str, Any]):
        self.params = params
        self.check_mode = False
        self._diff = False

    def fail_json(self, **result: Any) -> None:
        raise Failed(result.get("msg"))


def make_source(root: Path, tree: Path, layers: int, volumes: int, volume_mib: int) -> Dict[str, int]:
    """A plain data directory: image layers copied from ``tree``, a container, volumes of random data."""
    for rel, mode in (("", 0o710), ("overlay2", 0o710), ("overlay2/l", 0o700), ("containers", 0o710), ("volumes", 0o701)):
        (root / rel).mkdir(mode=mode, parents=True, exist_ok=True)
    layerdb = root / "image" / "overlay2" / "layerdb"
    for n in range(layers):
        layer = "%064x" % (n + 1)
        chain = layerdb / "sha256" / ("%064x" % (1000 + n))
        chain.mkdir(parents=True)
        (chain / "cache-id").write_text(layer)
        (root / "overlay2" / layer).mkdir(mode=0o710)
        subprocess.run(["cp", "-a", str(tree), str(root / "overlay2" / layer / "diff")], check=True)
        (root / "overlay2" / layer / "link").write_text("L%d" % n)
        os.symlink("../%s/diff" % layer, root / "overlay2" / "l" / ("L%d" % n))
    container = "c" * 64
    (root / "containers" / container / "mounts").mkdir(parents=True)
    (root / "containers" / container / "config.v2.json").write_text(json.dumps({
        "Name": "/db", "Driver": "overlay2", "LogPath": "%s/containers/%s/%s-json.log" % (root, container, container)}))
    (root / "containers" / container / "hostname").write_text("db\n")
    chunk = os.urandom(16 << 20)
    for n in range(volumes):
        data = root / "volumes" / ("vol%d" % n) / "_data"
        data.mkdir(parents=True)
        for i in range(max(1, volume_mib // 16)):
            (data / ("f%03d" % i)).write_bytes(chunk[i % 7:] + chunk[:i % 7])
    sparse = root / "volumes" / "vol0" / "_data" / "db.sqlite"
    with open(sparse, "wb") as handle:
        for i in range(32):
            handle.seek(i * (32 << 20))
            handle.write(chunk[: 1 << 20])
        handle.truncate(1 << 30)
    du = subprocess.run(["du", "-s", "--block-size=1", str(root)], capture_output=True, text=True, check=True).stdout.split()[0]
    files = sum(len(names) for _dir, _dirs, names in os.walk(root))
    return {"bytes": int(du), "files": files}


def carry(mod: Any, root: Path, verify: bool) -> float:
    params = {"data_root": str(root), "remap_user": USER, "direction": "forward", "action": "carry", "reserve_mb": 256,
              "verify": verify, "progress_log": None, "docker_pidfile": str(root / "none.pid"), "planned_count": 0}
    started = time.monotonic()
    result = mod.run(FakeModule(params))
    seconds = time.monotonic() - started
    assert result["changed"] and result["verified"]["entries"] > 0, result
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=sysconfig.get_paths()["stdlib"], help="the tree each image layer copies (default %(default)s)")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--volumes", type=int, default=2)
    parser.add_argument("--volume-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the carry chowns files and makes devices", file=sys.stderr)
        return 2
    mod = load_module()
    work = Path(tempfile.mkdtemp(prefix="due-bench-carry-", dir="/var/tmp"))
    try:
        for name in ("subuid", "subgid"):
            (work / name).write_text("%s:%d:65536\n" % (USER, START))
        mod.SUBUID, mod.SUBGID = str(work / "subuid"), str(work / "subgid")
        root = work / "docker"
        size = make_source(root, Path(args.tree), args.layers, args.volumes, args.volume_mib)
        parts = [str(root / name) for name in ("overlay2", "containers", "volumes", "image")]
        target = root / ("%d.%d" % (START, START))
        copy = work / "cp-a"
        copy.mkdir()
        subprocess.run(["cp", "-a", *parts, str(copy)], check=True)  # warm-up, not counted
        cp_s: List[float] = []
        cp_sync_s: List[float] = []
        carry_s: List[float] = []
        noverify_s: List[float] = []
        for _run in range(args.runs):
            for into in (cp_s, cp_sync_s):
                shutil.rmtree(copy)
                copy.mkdir()
                os.sync()
                started = time.monotonic()
                subprocess.run(["cp", "-a", *parts, str(copy)], check=True)
                if into is cp_sync_s:
                    os.sync()  # on disk, as the carry has it before its rename
                into.append(time.monotonic() - started)
            for verify, into in ((True, carry_s), (False, noverify_s)):
                shutil.rmtree(target, ignore_errors=True)
                shutil.rmtree(root / mod.CARRY_DIR, ignore_errors=True)
                os.sync()
                into.append(carry(mod, root, verify))
        cp_median, cp_sync_median, carry_median, noverify_median = (statistics.median(v) for v in (cp_s, cp_sync_s, carry_s, noverify_s))
        print("carry_data_mib: %.0f" % (size["bytes"] / 1048576))
        print("carry_data_files: %d" % size["files"])
        print("cp_a_s: %.2f" % cp_median)
        print("cp_a_sync_s: %.2f" % cp_sync_median)
        print("carry_s: %.2f" % carry_median)
        print("carry_ratio: %.2f" % (carry_median / cp_median))
        print("carry_ratio_to_cp_sync: %.2f" % (carry_median / cp_sync_median))
        print("carry_noverify_s: %.2f" % noverify_median)
        print("carry_noverify_ratio: %.2f" % (noverify_median / cp_median))
        print("carry_noverify_ratio_to_cp_sync: %.2f" % (noverify_median / cp_sync_median))
        print("carry_mib_s: %.0f" % (size["bytes"] / 1048576 / carry_median))
        print("each run (s): cp -a %s, cp -a and sync %s, carry %s, carry without verify %s" % tuple(
            " ".join("%.2f" % v for v in values) for values in (cp_s, cp_sync_s, carry_s, noverify_s)))
    finally:
        if args.keep:
            print("kept: %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
