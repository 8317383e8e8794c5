"""The remap user's id ranges against real NSS: glibc, nsswitch.conf, accounts made with useradd and
groupadd, and a backend that answers lookups by number but does not enumerate, as sssd does by
default (nss/nss_nonenum.c, built here with gcc).

The modules run as Ansible runs them (ad hoc, AnsiballZ), from the standalone role's library/ and
module_utils/, inside a private mount namespace whose /etc is an overlay of the real one: the
accounts, nsswitch.conf, /etc/subuid and /etc/subgid written there vanish with the namespace, and
the machine's own are never touched. Needs root and gcc (tools/setup.sh installs it).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "docker_userns"

# The accounts the namespace's /etc gets, on top of the machine's own.
ACCOUNTS = """
groupadd -g 100000 olduser
useradd -M -N -g 100000 -u 100000 -s /bin/false olduser
groupadd -g 131072 aligngrp
useradd -M -N -g 131072 -u 131072 -s /bin/false alignuser
"""


@pytest.fixture(scope="module")
def nss_module(tmp_path_factory):
    if os.geteuid() != 0 or not shutil.which("gcc") or not shutil.which("unshare"):
        # A failure, not a skip: `make test` runs as root and tools/setup.sh installs gcc.
        pytest.fail("these tests need root (a mount namespace), unshare and gcc (tools/setup.sh installs gcc)")
    libdir = tmp_path_factory.mktemp("nss-lib")
    subprocess.run(["gcc", "-shared", "-fPIC", "-Wall", "-Werror", "-o", str(libdir / "libnss_nonenum.so.2"),
                    str(Path(__file__).with_name("nss") / "nss_nonenum.c")], check=True)
    return libdir


def in_namespace(nss_module, tmp_path, commands, subuid="", subgid=""):
    """Run shell ``commands`` in a private mount namespace with the test accounts and NSS (a fresh /etc
    overlay each time); return stdout."""
    layer = Path(tempfile.mkdtemp(dir=tmp_path))
    upper, work = layer / "upper", layer / "work"
    upper.mkdir()
    work.mkdir()
    setup = "\n".join([
        "mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc" % (upper, work),
        "printf 'passwd: files nonenum\\ngroup: files nonenum\\n' > /etc/nsswitch.conf",
        ACCOUNTS,
        "printf %s > /etc/subuid" % shlex.quote(subuid),
        "printf %s > /etc/subgid" % shlex.quote(subgid),
        "export LD_LIBRARY_PATH=%s" % nss_module,
    ])
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", setup + "\n" + commands],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def run_role_module(nss_module, tmp_path, module, args, **files):
    """One module of the standalone role, ad hoc on localhost in the namespace: its result."""
    env = {"ANSIBLE_LIBRARY": str(ROLE / "library"), "ANSIBLE_MODULE_UTILS": str(ROLE / "module_utils"),
           "ANSIBLE_COLLECTIONS_PATH": "/nonexistent", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1", "ANSIBLE_STDOUT_CALLBACK": "json",
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": "/nonexistent"}
    command = "%s %s -c local -i localhost, -e ansible_python_interpreter=/usr/bin/python3 -m %s -a %s localhost" % (
        " ".join("%s=%s" % (key, shlex.quote(value)) for key, value in env.items()),
        shlex.quote(str(Path(sys.executable).with_name("ansible"))), module, shlex.quote(json.dumps(args)))
    out = in_namespace(nss_module, tmp_path, command + " || true", **files)
    return json.loads(out)["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_the_namespace_has_accounts_nss_lists_and_one_it_only_finds_by_number(nss_module, tmp_path):
    out = in_namespace(nss_module, tmp_path, "getent passwd | cut -d: -f1,3; echo ---; getent passwd 200005; getent group 200007; "
                                             "echo ---; getent passwd 100000 || echo outside-has-no-olduser")
    listed, found, _ = out.split("---\n")
    assert "olduser:100000" in listed.split() and "alignuser:131072" in listed.split()
    assert "nonenum" not in listed  # the backend does not enumerate
    assert found.split() == ["nonenum-user:x:200005:200005::/nonexistent:/bin/false", "nonenum-group:x:200007:"]
    # Outside the namespace none of it exists.
    assert subprocess.run(["getent", "passwd", "olduser"], capture_output=True).returncode == 2


def test_a_new_range_holds_no_id_nss_knows(nss_module, tmp_path):
    # 131072, the first multiple of 65536 from 100000, holds alignuser (listed); 196608 holds uid
    # 200005 (found only by number); 262144 is free. The same for the gids.
    for path in ("/etc/subuid", "/etc/subgid"):
        result = run_role_module(nss_module, tmp_path, "docker_userns_subid_range", {"path": path, "name": "dockremap"})
        assert not result.get("failed"), result
        assert result["changed"] is True and result["start"] == 262144 and result["known_ids_checked"] == 2 * 65536
    blind = run_role_module(nss_module, tmp_path, "docker_userns_subid_range",
                            {"path": "/etc/subuid", "name": "dockremap", "lookup_each_id": False})
    assert blind["start"] == 196608, "without lookups by number the account only sssd would know is missed"


def test_an_existing_range_that_holds_an_account_is_refused_naming_it(nss_module, tmp_path):
    result = run_role_module(nss_module, tmp_path, "docker_userns_subid_range", {"path": "/etc/subuid", "name": "dockremap"},
                             subuid="dockremap:100000:65536\n")
    assert result.get("failed") is True, result
    assert "user olduser (uid 100000) as container id 0" in result["msg"] and "nothing was changed" in result["msg"]


def test_host_info_names_the_accounts_and_groups_in_the_remap_ranges(nss_module, tmp_path):
    files = {"subuid": "dockremap:100000:65536\n", "subgid": "dockremap:100000:65536\ndockremap:196608:65536\n"}
    result = run_role_module(nss_module, tmp_path, "docker_userns_host_info", {"remap_user": "dockremap", "count_objects": False}, **files)
    assert not result.get("failed"), result
    found = [(entry["kind"], entry["id"], entry["container_id"], entry["what"]) for entry in result["remap_range_ids"]]
    assert found == [("uid", 100000, 0, "user olduser (uid 100000)"), ("uid", 131072, 31072, "user alignuser (uid 131072)"),
                     ("gid", 100000, 0, "group olduser (gid 100000)"), ("gid", 131072, 31072, "group aligngrp (gid 131072)"),
                     ("gid", 200007, 65536 + 200007 - 196608, "group nonenum-group (gid 200007)")]
    assert [(r["file"], r["start"]) for r in result["remap_ranges"]] == [("/etc/subuid", 100000), ("/etc/subgid", 100000), ("/etc/subgid", 196608)]
    listed_only = run_role_module(nss_module, tmp_path, "docker_userns_host_info",
                                  {"remap_user": "dockremap", "count_objects": False, "lookup_each_id": False}, **files)
    assert [entry["id"] for entry in listed_only["remap_range_ids"]] == [100000, 131072, 100000, 131072]
