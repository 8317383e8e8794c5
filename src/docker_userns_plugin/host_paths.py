"""Host paths: what the daemon will find at a path it creates, re-owns or copies into as real
root. The plugin runs on the host, so it looks itself, as the kernel resolves the path, and notes
who besides root could remove or replace the path, or a directory on the way to it, later.
"""

from __future__ import annotations

import os
import posixpath
import stat
from typing import Optional

from .lookups import HostPath, LookupFailed

MAX_SYMLINKS = 40  # the kernel's limit when it resolves a path


def _who_can_change(directory: str, st: os.stat_result, entry: Optional[os.stat_result]) -> str:
    """Who besides root can rename or remove entries of this directory ("" for nobody): its owner,
    its group and everyone, by its mode; in a sticky directory only the owners of the entry and
    of the directory."""
    mode, owner = st.st_mode, st.st_uid
    writers = []
    if owner != 0:
        writers.append("user %s (who owns %s)" % (_user_name(owner), directory))
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        if mode & stat.S_ISVTX:
            if entry is not None and entry.st_uid != 0:
                writers.append("user %s (who owns the entry in the sticky directory %s)" % (_user_name(entry.st_uid), directory))
        elif mode & stat.S_IWOTH:
            writers.append("every user (%s is writable by all)" % directory)
        else:
            writers.append("group %s (which may write %s)" % (_group_name(st.st_gid), directory))
    return " and ".join(writers)


def _user_name(uid: int) -> str:
    try:
        import pwd
        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        import grp
        return grp.getgrgid(gid).gr_name
    except (ImportError, KeyError):
        return str(gid)


def inspect_host_path(path: str) -> HostPath:
    """Resolve path as the kernel does (symlinks followed, ".." after them) and report what is
    there, and who could remove or replace any entry the resolution went through; raise
    LookupFailed for what cannot be read (the plugin then refuses)."""
    pending = [part for part in path.split("/") if part]
    current, current_st = "/", None
    changeable, links = "", 0
    try:
        current_st = os.stat("/")
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            if part == "..":
                current = posixpath.dirname(current)
                current_st = os.stat(current)
                continue
            entry = posixpath.join(current, part)
            try:
                entry_st = os.lstat(entry)
            except (FileNotFoundError, NotADirectoryError):
                return HostPath(exists=False, changeable_by=changeable)
            changeable = changeable or _who_can_change(current, current_st, entry_st)
            if stat.S_ISLNK(entry_st.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise LookupFailed("%s: too many symbolic links" % path[:200])
                target = os.readlink(entry)
                pending = [p for p in target.split("/") if p] + pending
                if target.startswith("/"):
                    current, current_st = "/", os.stat("/")
                continue
            if pending and not stat.S_ISDIR(entry_st.st_mode):
                return HostPath(exists=False, changeable_by=changeable)
            current, current_st = entry, entry_st
        is_dir = stat.S_ISDIR(current_st.st_mode)
        empty = False
        if is_dir:
            with os.scandir(current) as entries:
                empty = next(entries, None) is None
        root_only = current_st.st_uid == 0 and not current_st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        return HostPath(exists=True, is_dir=is_dir, empty=empty, root_only=root_only, changeable_by=changeable)
    except OSError as err:
        raise LookupFailed("cannot look at %s on the host: %s" % (path[:200], err.strerror or err)) from None
