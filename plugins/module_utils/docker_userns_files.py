# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""The way the docker_userns modules change a text file: read it, and replace it whole.

Shared by docker_userns_daemon_json and docker_userns_subid_range. The new content goes to a
temporary file in the target's own directory (same file system, so the rename is atomic), is
checked there when asked, the old file is backed up, then ``module.atomic_move`` puts the new one
in place, keeping the old file's mode and owner; a file that did not exist gets 0644.
"""

from __future__ import annotations

import os
import tempfile

NEW_FILE_MODE = 0o644


def read_text(path):
    """(existed, text): the file's content, or "" when there is no file."""
    if not os.path.exists(path):
        return False, ""
    with open(path, encoding="utf-8") as handle:
        return True, handle.read()


def text_diff(path, existed, before, after):
    """The ``diff`` of a result, as Ansible's file modules give it."""
    return {"before": before if existed else "", "after": after,
            "before_header": path if existed else "%s (absent)" % path, "after_header": path}


def validate_with_command(module, command, tmp_path, path):
    """Run ``command`` with ``%s`` replaced by the temporary file; fail the module when it says no."""
    if "%s" not in command:
        module.fail_json(msg="validate must contain %%s, got %r" % command)
    rc, out, err = module.run_command(command % tmp_path)
    if rc != 0:
        module.fail_json(msg="the new %s failed validation (%s); the file was not changed" % (path, command),
                         rc=rc, stdout=out, stderr=err)


def replace_text(module, path, content, existed, backup=False, validate=None):
    """Put ``content`` at ``path``: temporary file, ``validate`` (a command with %s), backup, rename.

    Returns the backup's path, or None. Nothing is left behind when validation fails."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp_path = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    backup_file = None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        if validate:
            validate_with_command(module, validate, tmp_path, path)
        if existed and backup:
            backup_file = module.backup_local(path)
        module.atomic_move(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
    if not existed:
        os.chmod(path, NEW_FILE_MODE)
    return backup_file
