#!/usr/bin/env python3
"""Record the state the role could touch on a test host, as JSON.

usage: host-snapshot.py OUTPUT.json

Every file, link and directory under /etc, /usr/local and /opt (type, mode,
owner, sha256 or link target), plus the main pid of docker.service (so a
restart shows) and the plugin sockets. Two snapshots that compare equal mean
nothing the role manages changed in between: the check-mode test relies on it.
"""

import hashlib
import json
import os
import stat
import subprocess
import sys

ROOTS = ("/etc", "/usr/local", "/opt")


def describe(path):
    st = os.lstat(path)
    entry = {"mode": oct(stat.S_IMODE(st.st_mode)), "uid": st.st_uid, "gid": st.st_gid}
    if stat.S_ISLNK(st.st_mode):
        entry["link"] = os.readlink(path)
    elif stat.S_ISREG(st.st_mode):
        with open(path, "rb") as f:
            entry["sha256"] = hashlib.sha256(f.read()).hexdigest()
    elif stat.S_ISDIR(st.st_mode):
        entry["type"] = "dir"
    else:
        entry["type"] = "other"
    return entry


def files():
    found = {}
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                found[path] = describe(path)
    return found


def docker_main_pid():
    result = subprocess.run(
        ["systemctl", "show", "--property=MainPID", "--value", "docker.service"],
        capture_output=True, text=True, check=False)
    return result.stdout.strip()


def plugin_sockets():
    directory = "/run/docker/plugins"
    return sorted(os.listdir(directory)) if os.path.isdir(directory) else []


def main():
    snapshot = {"files": files(), "docker_main_pid": docker_main_pid(),
                "plugin_sockets": plugin_sockets()}
    os.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)
    with open(sys.argv[1], "w") as f:
        json.dump(snapshot, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
