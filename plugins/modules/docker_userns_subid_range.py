#!/usr/bin/python
# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Ansible module: give a user a subordinate id range in /etc/subuid or /etc/subgid."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_userns_subid_range
short_description: Ensure a user has a subordinate id range in /etc/subuid or /etc/subgid
description:
  - Manages the C(name:start:count) lines of one subordinate id file (C(/etc/subuid) or C(/etc/subgid)).
  - With O(state=present), a user whose existing ranges hold at least O(count) ids keeps them unchanged;
    a user without a range gets the lowest free range of O(count) ids at or above O(min_id) that overlaps
    no existing range. A user whose ranges are too small, or overlap another user's range, is an error
    to fix by hand (moving a range would change the owner of every remapped file).
  - With O(state=absent), removes every line of the user.
  - Refuses to touch a file with a line that is not C(name:start:count), and names the line.
  - Lines of other users are kept, in their order. Writes atomically and keeps mode and owner.
options:
  path:
    description: The file to manage, C(/etc/subuid) or C(/etc/subgid).
    type: path
    required: true
  name:
    description: User (or group) name the range belongs to.
    type: str
    required: true
  count:
    description: Number of ids the user needs.
    type: int
    default: 65536
  min_id:
    description: Lowest id a new range may start at.
    type: int
    default: 100000
  state:
    description: Whether the user has a range (C(present)) or none (C(absent)).
    type: str
    choices: [present, absent]
    default: present
  backup:
    description: Keep a timestamped copy of the old file next to it before it is changed.
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
author:
  # No GitHub handle: the project has none (validate-modules wants one, or !UNKNOWN).
  - docker-userns-enforcement project !UNKNOWN
"""

EXAMPLES = r"""
- name: Ensure dockremap has 65536 subordinate uids
  docker_hardening.userns.docker_userns_subid_range:
    path: /etc/subuid
    name: dockremap

- name: Ensure dockremap has no subordinate gids any more
  docker_hardening.userns.docker_userns_subid_range:
    path: /etc/subgid
    name: dockremap
    state: absent
"""

RETURN = r"""
path:
  description: The file, as given in O(path).
  returned: always
  type: str
  sample: /etc/subuid
start:
  description: First id of the user's range (of its first line when it has several).
  returned: O(state=present)
  type: int
  sample: 100000
count:
  description: Number of ids the user has, all its lines together.
  returned: O(state=present)
  type: int
  sample: 65536
backup_file:
  description: Path of the backup of the previous file.
  returned: when the file existed, changed and O(backup=true), not in check mode
  type: str
  sample: /etc/subuid.12345.2026-11-24@10:00:00~
uid:
  description: Owner id of the file after the run (Ansible adds the file's attributes to a result with RV(path)).
  returned: when the file exists after the run
  type: int
  sample: 0
gid:
  description: Group id of the file after the run.
  returned: when the file exists after the run
  type: int
  sample: 0
owner:
  description: Owner name of the file after the run.
  returned: when the file exists after the run
  type: str
  sample: root
group:
  description: Group name of the file after the run.
  returned: when the file exists after the run
  type: str
  sample: root
mode:
  description: Permissions of the file after the run, in octal.
  returned: when the file exists after the run
  type: str
  sample: "0644"
state:
  description: Kind of O(path) after the run (C(file), or C(link), C(hard), C(directory)).
  returned: when the file exists after the run
  type: str
  sample: file
size:
  description: Size of the file after the run, in bytes.
  returned: when the file exists after the run
  type: int
  sample: 23
secontext:
  description: SELinux context of the file after the run.
  returned: when the file exists after the run and SELinux is on
  type: str
  sample: system_u:object_r:etc_t:s0
"""

import os
import tempfile
from typing import List, Optional, Tuple

from ansible.module_utils.basic import AnsibleModule

MAX_ID = 2 ** 32 - 1  # ids are 32-bit; (uid_t)-1 is reserved
NEW_FILE_MODE = 0o644


class SubidError(ValueError):
    """The file cannot be changed safely."""


# ---- pure helpers (no Ansible, unit-tested directly) -------------------------


def parse_subid(text, path="subid file"):
    """Return a list of (line, entry) with entry (name, start, count) or None for a blank line."""
    parsed: List[Tuple[str, Optional[Tuple[str, int, int]]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            parsed.append((line, None))
            continue
        fields = line.strip().split(":")
        if len(fields) != 3 or not fields[0] or not fields[1].isdigit() or not fields[2].isdigit():
            raise SubidError(
                "%s line %d is not name:start:count: %r; fix it by hand, nothing was changed" % (path, number, line)
            )
        parsed.append((line, (fields[0], int(fields[1]), int(fields[2]))))
    return parsed


def _overlaps(start_a, count_a, start_b, count_b):
    return start_a < start_b + count_b and start_b < start_a + count_a


def find_free_start(ranges, count, min_id):
    """Lowest start >= min_id such that [start, start+count) overlaps none of ``ranges``."""
    candidates = sorted({min_id} | {start + size for owner, start, size in ranges if start + size >= min_id})
    for start in candidates:
        if start + count - 1 > MAX_ID - 1:
            break
        if not any(_overlaps(start, count, s, c) for owner, s, c in ranges):
            return start
    raise SubidError("no free range of %d ids at or above %d" % (count, min_id))


def ensure_present(parsed, name, count, min_id, path="subid file"):
    """Return (new_lines, start, total) for a user who must own at least ``count`` ids."""
    entries = [entry for line, entry in parsed if entry]
    own = [e for e in entries if e[0] == name]
    others = [e for e in entries if e[0] != name]
    for _owner, start, size in own:
        for other, other_start, other_size in others:
            if _overlaps(start, size, other_start, other_size):
                raise SubidError(
                    "%s: the range %d+%d of %s overlaps the range %d+%d of %s; fix it by hand"
                    % (path, start, size, name, other_start, other_size, other)
                )
    lines = [line for line, entry in parsed]
    if own:
        total = sum(size for owner, start, size in own)
        if total < count:
            raise SubidError(
                "%s: %s has %d ids but needs %d; enlarge or remove its lines by hand" % (path, name, total, count)
            )
        return lines, own[0][1], total
    start = find_free_start(entries, count, min_id)
    return lines + ["%s:%d:%d" % (name, start, count)], start, count


def ensure_absent(parsed, name):
    return [line for line, entry in parsed if not (entry and entry[0] == name)]


def render(lines):
    return "".join(line + "\n" for line in lines)


# ---- worker --------------------------------------------------------------------


def _write(module, path, content, existed):
    fd, tmp_path = tempfile.mkstemp(prefix=".subid.", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        module.atomic_move(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    if not existed:
        os.chmod(path, NEW_FILE_MODE)


def ensure_subid_range(module):
    params = module.params
    path = params["path"]
    if params["count"] < 1:
        module.fail_json(msg="count must be at least 1")
    existed = os.path.exists(path)
    before = ""
    if existed:
        with open(path, encoding="utf-8") as handle:
            before = handle.read()

    result = {"path": path}
    try:
        parsed = parse_subid(before, path)
        if params["state"] == "present":
            lines, start, total = ensure_present(parsed, params["name"], params["count"], params["min_id"], path)
            result.update(start=start, count=total)
        else:
            lines = ensure_absent(parsed, params["name"])
    except SubidError as err:
        module.fail_json(msg=str(err), path=path)

    # Compare lines, not text, so a missing final newline alone is no change.
    changed = lines != [line for line, entry in parsed]
    after = render(lines) if changed else before
    result["changed"] = changed
    if module._diff:
        result["diff"] = {"before": before, "after": after, "before_header": path, "after_header": path}
    if changed and not module.check_mode:
        if existed and params["backup"]:
            result["backup_file"] = module.backup_local(path)
        _write(module, path, after, existed)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str", required=True),
            count=dict(type="int", default=65536),
            min_id=dict(type="int", default=100000),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**ensure_subid_range(module))


if __name__ == "__main__":
    main()
