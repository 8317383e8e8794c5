#!/usr/bin/python
# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Ansible module: merge the keys this project manages into Docker's daemon.json."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_userns_daemon_json
short_description: Merge user namespace remapping and an authorization plugin into Docker's daemon.json
description:
  - Reads an existing C(daemon.json), changes only the keys it manages and writes it back.
    Every other key is kept as it was, and the order of C(authorization-plugins) is kept.
  - Refuses to touch a file that is not a valid JSON object (or that has a key twice), and says what is wrong and where.
  - Writes atomically (a temporary file in the same directory, then a rename), keeps mode and owner of an
    existing file, optionally keeps a backup and validates the new content with a command before it is installed.
  - Changes are decided on the parsed content, so a file that already holds the wanted values is never rewritten,
    whatever its formatting.
options:
  path:
    description: Path of daemon.json.
    type: path
    default: /etc/docker/daemon.json
  state:
    description:
      - C(present) sets O(userns_remap), adds O(authorization_plugin) and sets O(settings).
      - C(absent) removes O(authorization_plugin) (and the C(authorization-plugins) key when it becomes empty),
        and removes C(userns-remap) when O(remove_userns_remap=true). O(settings) is ignored.
    type: str
    choices: [present, absent]
    default: present
  userns_remap:
    description: Value for C(userns-remap) (C(user) or C(user:group)). Left alone when not given.
    type: str
  authorization_plugin:
    description: Name of an authorization plugin to add to (or remove from) C(authorization-plugins).
    type: str
  settings:
    description: Further top-level keys to set when O(state=present), for example C(live-restore).
    type: dict
    default: {}
  remove_userns_remap:
    description: With O(state=absent), also remove C(userns-remap).
    type: bool
    default: false
  validate:
    description:
      - Command that checks the new content before it is installed; C(%s) is replaced by the temporary file.
        For example C(dockerd --validate --config-file %s) (Docker 23 and later).
    type: str
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
- name: Ensure Docker remaps container root and consults the enforcement plugin
  docker_hardening.userns.docker_userns_daemon_json:
    userns_remap: dockremap
    authorization_plugin: deny-userns-mode-host
    settings:
      live-restore: true
    validate: dockerd --validate --config-file %s
    backup: true

- name: Ensure Docker no longer consults the enforcement plugin and no longer remaps
  docker_hardening.userns.docker_userns_daemon_json:
    state: absent
    authorization_plugin: deny-userns-mode-host
    remove_userns_remap: true
"""

RETURN = r"""
changes:
  description: What was (or in check mode, would be) changed, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["set userns-remap to 'dockremap'", "added 'deny-userns-mode-host' to authorization-plugins"]
config:
  description: The resulting configuration (in check mode, the one that would be written).
  returned: always
  type: dict
  sample: {"log-opts": {"max-size": "10m"}, "userns-remap": "dockremap", "authorization-plugins": ["deny-userns-mode-host"]}
path:
  description: Path of daemon.json, as given in O(path).
  returned: always
  type: str
  sample: /etc/docker/daemon.json
backup_file:
  description: Path of the backup of the previous file.
  returned: when the file existed, changed and O(backup=true), not in check mode
  type: str
  sample: /etc/docker/daemon.json.12345.2026-11-24@10:00:00~
existed:
  description: Whether the file existed before.
  returned: always
  type: bool
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
  sample: 92
secontext:
  description: SELinux context of the file after the run.
  returned: when the file exists after the run and SELinux is on
  type: str
  sample: system_u:object_r:container_config_t:s0
rc:
  description: Exit status of the O(validate) command.
  returned: when the validation failed
  type: int
stdout:
  description: Standard output of the O(validate) command.
  returned: when the validation failed
  type: str
stderr:
  description: Standard error of the O(validate) command.
  returned: when the validation failed
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule

# The collection's module_utils, or, in the standalone role, the copy its module_utils/ holds.
try:
    from ansible_collections.docker_hardening.userns.plugins.module_utils.docker_userns_files import read_text, replace_text, text_diff
except ImportError:
    from ansible.module_utils.docker_userns_files import read_text, replace_text, text_diff

USERNS_KEY = "userns-remap"
AUTHZ_KEY = "authorization-plugins"


class DaemonJsonError(ValueError):
    """The existing content cannot be merged safely."""


# ---- pure helpers (no Ansible, unit-tested directly) -------------------------


def _refuse_duplicate_keys(pairs):
    # Go keeps the last of two equal keys; a merge would silently pick one. Refuse instead.
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DaemonJsonError("key %r appears more than once" % key)
        seen[key] = value
    return seen


def parse_daemon_json(text, path="daemon.json"):
    """Return the configuration in ``text`` as a dict; an empty file is an empty configuration."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as err:
        raise DaemonJsonError(
            "%s is not valid JSON: %s (line %d, column %d); fix or remove it, nothing was changed"
            % (path, err.msg, err.lineno, err.colno)
        ) from None
    except DaemonJsonError as err:
        raise DaemonJsonError("%s: %s; fix it by hand, nothing was changed" % (path, err)) from None
    if not isinstance(data, dict):
        raise DaemonJsonError(
            "%s must hold a JSON object, found %s; nothing was changed" % (path, type(data).__name__)
        )
    return data


def render_daemon_json(config):
    return json.dumps(config, indent=2, ensure_ascii=False) + "\n"


def _authorization_plugins(config, path):
    plugins = config.get(AUTHZ_KEY, [])
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise DaemonJsonError("%s: %r must be a list of plugin names; nothing was changed" % (path, AUTHZ_KEY))
    return plugins


def merge_present(config, userns_remap=None, authorization_plugin=None, settings=None, path="daemon.json"):
    """Return (new_config, changes) with our keys set; every other key and its position is kept."""
    new = dict(config)
    changes = []
    if userns_remap is not None and new.get(USERNS_KEY) != userns_remap:
        new[USERNS_KEY] = userns_remap
        changes.append("set %s to %r" % (USERNS_KEY, userns_remap))
    if authorization_plugin is not None:
        plugins = _authorization_plugins(config, path)
        if authorization_plugin not in plugins:
            new[AUTHZ_KEY] = plugins + [authorization_plugin]
            changes.append("added %r to %s" % (authorization_plugin, AUTHZ_KEY))
    for key, value in (settings or {}).items():
        if key in (USERNS_KEY, AUTHZ_KEY):
            raise DaemonJsonError("%r is managed by its own option, not by settings" % key)
        if key not in new or new[key] != value:
            new[key] = value
            changes.append("set %s to %s" % (key, json.dumps(value)))
    return new, changes


def merge_absent(config, authorization_plugin=None, remove_userns_remap=False, path="daemon.json"):
    """Return (new_config, changes) with our plugin (and optionally the remapping) removed."""
    new = dict(config)
    changes = []
    if authorization_plugin is not None and AUTHZ_KEY in config:
        plugins = _authorization_plugins(config, path)
        if authorization_plugin in plugins:
            remaining = [p for p in plugins if p != authorization_plugin]
            if remaining:
                new[AUTHZ_KEY] = remaining
            else:
                del new[AUTHZ_KEY]
            changes.append("removed %r from %s" % (authorization_plugin, AUTHZ_KEY))
    if remove_userns_remap and USERNS_KEY in new:
        del new[USERNS_KEY]
        changes.append("removed %s" % USERNS_KEY)
    return new, changes


# ---- worker --------------------------------------------------------------------


def ensure_daemon_json(module):
    params = module.params
    path = params["path"]
    existed, before_text = read_text(path)

    try:
        before = parse_daemon_json(before_text, path)
        if params["state"] == "present":
            after, changes = merge_present(
                before, params["userns_remap"], params["authorization_plugin"], params["settings"], path
            )
        else:
            after, changes = merge_absent(before, params["authorization_plugin"], params["remove_userns_remap"], path)
    except DaemonJsonError as err:
        module.fail_json(msg=str(err), path=path)

    result = {"changed": bool(changes), "changes": changes, "config": after, "path": path, "existed": existed}
    if module._diff:
        result["diff"] = text_diff(path, existed, before_text, render_daemon_json(after) if changes else before_text)
    if not changes or module.check_mode:
        return result

    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        module.fail_json(msg="directory of %s does not exist; is Docker installed?" % path)
    backup_file = replace_text(module, path, render_daemon_json(after), existed, params["backup"], params["validate"])
    if backup_file:
        result["backup_file"] = backup_file
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", default="/etc/docker/daemon.json"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            userns_remap=dict(type="str"),
            authorization_plugin=dict(type="str"),
            settings=dict(type="dict", default={}),
            remove_userns_remap=dict(type="bool", default=False),
            validate=dict(type="str"),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**ensure_daemon_json(module))


if __name__ == "__main__":
    main()
