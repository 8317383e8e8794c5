# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Subordinate id ranges (/etc/subuid, /etc/subgid) and the ids of the accounts and groups NSS knows.

Shared by docker_userns_subid_range, which chooses a new range, and docker_userns_host_info,
which checks the remap user's existing ones for the role's preflight.

Docker maps container id N to the N-th id of the remap user's ranges. A range that holds the uid
of an account (or the gid of a group) known to the host makes a container user that account on
the host: its files, its sudo rights, its groups. "Known" means known to NSS, so LDAP, sssd and
winbind count, not only /etc/passwd. Two ways to ask NSS, both used:

- enumeration (``getent passwd``, ``getent group``: Python's getpwall/getgrall): files, and the
  backends that enumerate; it names every account that shares an id, and the accounts whose
  primary group has no group entry;
- a lookup of every id of the range by number (getpwuid/getgrgid): backends that do not
  enumerate (sssd by default, winbind) answer these too. 65536 lookups take a second or two with
  files alone and much longer with nss-systemd or a directory (docs/role.md, "Id ranges").
"""

from __future__ import annotations

import grp
import pwd
from typing import Callable, Dict, Iterable, List, Optional, Tuple

MAX_ID = 2 ** 32 - 1  # ids are 32-bit; (uid_t)-1 is reserved
SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"


class SubidError(ValueError):
    """The file cannot be read or changed safely, or no range fits."""


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


def overlaps(start_a, count_a, start_b, count_b):
    return start_a < start_b + count_b and start_b < start_a + count_a


def ranges_of(parsed, names):
    """The (start, count) entries whose name is one of ``names``, in file order.

    Docker reads both files by the remap user's name or uid (not by its group's name)."""
    return [(entry[1], entry[2]) for _line, entry in parsed if entry and entry[0] in names]


def _round_up(value, align):
    return -(-value // align) * align


# ---- what NSS knows ------------------------------------------------------------------------


def _enumerate_uids():
    listed: Dict[int, List[str]] = {}
    for account in pwd.getpwall():
        listed.setdefault(account.pw_uid, []).append("user %s (uid %d)" % (account.pw_name, account.pw_uid))
    return listed


def _enumerate_gids():
    listed: Dict[int, List[str]] = {}
    for group in grp.getgrall():
        listed.setdefault(group.gr_gid, []).append("group %s (gid %d)" % (group.gr_name, group.gr_gid))
    for account in pwd.getpwall():
        if account.pw_gid not in listed:  # a primary group with no group entry of its own
            listed.setdefault(account.pw_gid, []).append("the primary group (gid %d) of user %s" % (account.pw_gid, account.pw_name))
    return listed


def _lookup_uid(uid):
    try:
        account = pwd.getpwuid(uid)
    except (KeyError, OverflowError):
        return None
    return "user %s (uid %d)" % (account.pw_name, uid)


def _lookup_gid(gid):
    try:
        group = grp.getgrgid(gid)
    except (KeyError, OverflowError):
        return None
    return "group %s (gid %d)" % (group.gr_name, gid)


class KnownIds:
    """The ids one NSS database knows: ``uid`` (passwd) or ``gid`` (group, and accounts' primary groups).

    ``lookup_each_id`` false leaves out the lookups by number (enumeration alone: fast, but blind to
    backends that do not enumerate). ``enumerate_ids`` and ``lookup`` replace NSS, for tests."""

    def __init__(self, kind, lookup_each_id=True, enumerate_ids=None, lookup=None):
        if kind not in ("uid", "gid"):
            raise ValueError("kind must be uid or gid, not %r" % (kind,))
        self.kind = kind
        self.lookup_each_id = lookup_each_id
        self._enumerate: Callable[[], Dict[int, List[str]]] = enumerate_ids or (_enumerate_uids if kind == "uid" else _enumerate_gids)
        self._lookup: Callable[[int], Optional[str]] = lookup or (_lookup_uid if kind == "uid" else _lookup_gid)
        self._listed: Optional[Dict[int, List[str]]] = None
        self.lookups = 0  # lookups by number made so far

    def listed(self):
        """{id: [what]} of every id NSS enumerates (read once)."""
        if self._listed is None:
            self._listed = self._enumerate()
        return self._listed

    def listed_within(self, start, count):
        """The enumerated ids in [start, start + count), sorted."""
        return sorted(known for known in self.listed() if start <= known < start + count)

    def within(self, start, count):
        """[(id, what)] of every id in [start, start + count) that NSS knows, sorted by id."""
        found = [(known, what) for known in self.listed_within(start, count) for what in self.listed()[known]]
        if self.lookup_each_id:
            listed = self.listed()
            for number in range(start, start + count):
                if number in listed:
                    continue
                self.lookups += 1
                what = self._lookup(number)
                if what is not None:
                    found.append((number, what))
        return sorted(found)


def known_in_ranges(known, ranges):
    """[(id, container id, what)] for the ids ``known`` holds in ``ranges``, [(start, count)] in map order.

    The container id is the id a container sees: ranges are mapped one after the other from 0."""
    found: List[Tuple[int, int, str]] = []
    offset = 0
    for start, count in ranges:
        found.extend((number, offset + number - start, what) for number, what in known.within(start, count))
        offset += count
    return found


# ---- a new range -------------------------------------------------------------------------


def find_free_start(ranges, count, min_id, align=1, known=None):
    """Lowest start >= ``min_id``, a multiple of ``align``, such that [start, start + count) overlaps
    none of ``ranges`` ((owner, start, count) entries) and holds no id ``known`` (a KnownIds) knows.

    Each clash moves the start past it, so every id is looked up at most once per range tried."""
    taken: Iterable[Tuple[str, int, int]] = ranges
    start = _round_up(max(min_id, 0), max(align, 1))
    while start + count - 1 <= MAX_ID - 1:
        ends = [s + c for _owner, s, c in taken if overlaps(start, count, s, c)]
        if ends:
            start = _round_up(max(ends), align)
            continue
        if known is not None:
            listed = known.listed_within(start, count)
            if listed:
                start = _round_up(listed[-1] + 1, align)
                continue
            found = known.within(start, count)
            if found:
                start = _round_up(found[-1][0] + 1, align)
                continue
        return start
    raise SubidError("no free range of %d ids at or above %d" % (count, min_id))
