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
    Both files are read by the user's name (or uid), as Docker and shadow's C(newuidmap) and C(newgidmap) read them.
  - With O(state=present), a user whose existing ranges hold at least O(count) ids keeps them unchanged;
    a user without a range gets the lowest free range of O(count) ids that starts at a multiple of O(align)
    at or above O(min_id), overlaps no existing range and holds no id that the host's accounts or groups use
    (O(known_ids)). A user whose ranges are too small, or overlap another user's range, is an error
    to fix by hand (moving a range would change the owner of every remapped file).
  - The ids the host knows are the ones NSS gives (C(getent passwd), C(getent group)), and, with
    O(lookup_each_id), the answers to a lookup of every id of the range by number, which backends that do not
    enumerate (sssd, winbind) give too. A container's user is the host account whose id its range holds.
  - With O(check_existing), an existing range that holds such an id is an error that names the accounts.
  - With O(state=absent), removes every line of the user.
  - Refuses to touch a file with a line that is not C(name:start:count), and names the line.
  - Lines of other users are kept, in their order. Writes atomically and keeps mode and owner.
options:
  path:
    description: The file to manage, C(/etc/subuid) or C(/etc/subgid).
    type: path
    required: true
  name:
    description: User name the range belongs to. Lines under its uid count as its own too.
    type: str
    required: true
  count:
    description: Number of ids the user needs.
    type: int
    default: 65536
  min_id:
    description: Lowest id a new range may start at (shadow's C(SUB_UID_MIN)).
    type: int
    default: 100000
  align:
    description:
      - A new range starts at a multiple of this number. With 65536, a host id reads as the range's start plus
        the container's own id in its low 16 bits (host uid 132072 is container uid 1000 of the range at 131072).
      - C(1) takes the lowest free id.
    type: int
    default: 65536
  known_ids:
    description:
      - Which ids of the host a new range must not hold. C(uid), the uids of accounts (for C(/etc/subuid));
        C(gid), the gids of groups and of accounts' primary groups (for C(/etc/subgid)); C(none), none.
      - Without it, C(gid) for a file whose name ends in C(subgid), else C(uid).
    type: str
    choices: [uid, gid, none]
  lookup_each_id:
    description:
      - Look up every id of a range by number through NSS, besides the accounts and groups NSS enumerates.
        65536 lookups take about a second with files alone, longer with nss-systemd or a directory service.
    type: bool
    default: true
  check_existing:
    description:
      - Check the user's existing ranges for ids of the host too, and fail naming them. The docker_userns role
        checks them in its preflight and sets this to false.
    type: bool
    default: true
  state:
    description: Whether the user has a range (C(present)) or none (C(absent)).
    type: str
    choices: [present, absent]
    default: present
# backup: the option of Ansible's own file modules, with their description.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.backup
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
known_ids_checked:
  description: How many ids of the range were looked up by number through NSS in this run (besides enumeration).
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

import pwd

from ansible.module_utils.basic import AnsibleModule

# The collection's module_utils, or, in the standalone role, the copy its module_utils/ holds.
try:
    from ansible_collections.docker_hardening.userns.plugins.module_utils.docker_userns_files import read_text, replace_text, text_diff
    from ansible_collections.docker_hardening.userns.plugins.module_utils.docker_userns_subids import (
        KnownIds,
        SubidError,
        find_free_start,
        known_in_ranges,
        overlaps,
        parse_subid,
    )
except ImportError:
    from ansible.module_utils.docker_userns_files import read_text, replace_text, text_diff
    from ansible.module_utils.docker_userns_subids import KnownIds, SubidError, find_free_start, known_in_ranges, overlaps, parse_subid


# ---- pure helpers (no Ansible, unit-tested directly) -------------------------


def owner_names(name):
    """The names a user's lines may carry: its name, and its uid when it exists."""
    try:
        return (name, str(pwd.getpwnam(name).pw_uid))
    except KeyError:
        return (name,)


def ensure_present(parsed, name, count, min_id, path="subid file", align=1, known=None, aliases=()):
    """Return (new_lines, start, total, own) for a user who must own at least ``count`` ids.

    ``own`` is the user's existing (start, count) entries; a new range avoids what ``known`` knows."""
    names = {name, *aliases}
    entries = [entry for line, entry in parsed if entry]
    own = [e for e in entries if e[0] in names]
    others = [e for e in entries if e[0] not in names]
    for _owner, start, size in own:
        for other, other_start, other_size in others:
            if overlaps(start, size, other_start, other_size):
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
        return lines, own[0][1], total, [(start, size) for _owner, start, size in own]
    start = find_free_start(entries, count, min_id, align, known)
    return lines + ["%s:%d:%d" % (name, start, count)], start, count, []


def ensure_absent(parsed, name):
    return [line for line, entry in parsed if not (entry and entry[0] == name)]


def render(lines):
    return "".join(line + "\n" for line in lines)


def refuse_known(path, name, found):
    """The error for existing ranges that hold ids the host knows."""
    return SubidError(
        "%s: the range of %s holds %s; a container's user with that id would be that account on the host. "
        "Move the range (remove %s's lines, then give it a new one) or the account; nothing was changed"
        % (path, name, "; ".join("%s as container id %d" % (what, inside) for _number, inside, what in found), name)
    )


def default_known_ids(path):
    return "gid" if path.rstrip("/").endswith("subgid") else "uid"


# ---- worker --------------------------------------------------------------------


def ensure_subid_range(module):
    params = module.params
    path = params["path"]
    if params["count"] < 1 or params["align"] < 1:
        module.fail_json(msg="count and align must be at least 1")
    existed, before = read_text(path)
    kind = params["known_ids"] or default_known_ids(path)
    known = KnownIds(kind, params["lookup_each_id"]) if kind != "none" else None

    result = {"path": path}
    try:
        parsed = parse_subid(before, path)
        if params["state"] == "present":
            lines, start, total, own = ensure_present(parsed, params["name"], params["count"], params["min_id"], path,
                                                      params["align"], known, owner_names(params["name"]))
            if own and known is not None and params["check_existing"]:
                found = known_in_ranges(known, own)
                if found:
                    raise refuse_known(path, params["name"], found)
            result.update(start=start, count=total, known_ids_checked=known.lookups if known is not None else 0)
        else:
            lines = ensure_absent(parsed, params["name"])
    except SubidError as err:
        module.fail_json(msg=str(err), path=path)

    # Compare lines, not text, so a missing final newline alone is no change.
    changed = lines != [line for line, entry in parsed]
    after = render(lines) if changed else before
    result["changed"] = changed
    if module._diff:
        result["diff"] = text_diff(path, existed, before, after)
    if changed and not module.check_mode:
        backup_file = replace_text(module, path, after, existed, backup=params["backup"])
        if backup_file:
            result["backup_file"] = backup_file
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            name=dict(type="str", required=True),
            count=dict(type="int", default=65536),
            min_id=dict(type="int", default=100000),
            align=dict(type="int", default=65536),
            known_ids=dict(type="str", choices=["uid", "gid", "none"]),
            lookup_each_id=dict(type="bool", default=True),
            check_existing=dict(type="bool", default=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**ensure_subid_range(module))


if __name__ == "__main__":
    main()
