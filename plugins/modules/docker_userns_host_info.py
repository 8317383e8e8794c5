#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026 docker-userns-enforcement project
# SPDX-License-Identifier: MIT (see LICENSE)
"""Ansible module: read, in one call, what the docker_userns role checks on a Docker host before it changes it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: docker_userns_host_info
short_description: Read what must hold on a Docker host before user namespace enforcement is set up
description:
  - Gathers, in one call, the facts the docker_userns role checks before it changes anything
    (each one used to be its own task, and so its own round trip to the host).
  - The installed C(dockerd) and whether it can validate a configuration file (C(--validate), Docker 23 and later).
  - Whether Docker answers, whether it already remaps user namespaces, and how many containers and images it shows.
  - The flags Docker is started with, from the service's C(ExecStart) and the running daemon's command line.
  - The remap user's uid, whether the Python that runs the plugin is there, and the kernel's limit on user namespaces.
  - Never fails on what it finds and changes nothing. What it cannot read is reported as missing,
    with the error, for the role to explain.
options:
  docker_service:
    description: The systemd service that runs C(dockerd).
    type: str
    default: docker.service
  remap_user:
    description: User name to look up (C(name) or C(name:group)); O(remap_user) absent skips the lookup.
    type: str
  python:
    description: Path of the Python that will run the plugin.
    type: path
    default: /usr/bin/python3
  count_objects:
    description: Count the containers (from C(docker info)) and the images (C(docker images --all)) Docker shows.
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
author:
  # No GitHub handle: the project has none (validate-modules wants one, or !UNKNOWN).
  - docker-userns-enforcement project !UNKNOWN
"""

EXAMPLES = r"""
- name: Read the Docker host
  docker_userns_host_info:
    remap_user: dockremap
  register: docker_host
"""

RETURN = r"""
dockerd_version:
  description: Output of C(dockerd --version); empty when it failed.
  returned: always
  type: str
  sample: Docker version 20.10.24+dfsg1, build 297e128
dockerd_error:
  description: Why C(dockerd --version) failed; empty when it worked.
  returned: always
  type: str
dockerd_validates_config:
  description: Whether C(dockerd) has C(--validate) (Docker 23 and later).
  returned: always
  type: bool
docker_answers:
  description: Whether C(docker info) got an answer from the daemon.
  returned: always
  type: bool
docker_error:
  description: Why C(docker info) failed; empty when it worked.
  returned: always
  type: str
remap_active:
  description: Whether the running daemon remaps user namespaces (C(name=userns) in its security options).
  returned: always
  type: bool
containers:
  description: Number of containers Docker shows, stopped ones included; null when not counted.
  returned: always
  type: int
images:
  description: Number of distinct images Docker shows, intermediate ones included; null when not counted.
  returned: always
  type: int
dockerd_flags:
  description: Flag names (C(--name), without values) on the service's ExecStart and the running daemon's command line.
  returned: always
  type: list
  elements: str
  sample: [--containerd, -H]
remap_user_uid:
  description: The remap user's uid; null when there is no such user (or no O(remap_user)).
  returned: always
  type: int
python_executable:
  description: Whether O(python) exists and is executable.
  returned: always
  type: bool
max_user_namespaces:
  description: The kernel's C(user.max_user_namespaces); null when it cannot be read.
  returned: always
  type: int
"""

import json
import os
import pwd

from ansible.module_utils.basic import AnsibleModule

USERNS_SECURITY_OPTION = "name=userns"


def flag_names(words):
    """The flag names among command-line words: '--userns-remap=x' -> '--userns-remap'; values dropped."""
    return sorted({word.split("=", 1)[0] for word in words if word.startswith("-") and word not in ("-", "--")})


def parse_systemctl_show(text):
    """`systemctl show --property=...` output as a dict (the first '=' splits: values may contain more)."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def parse_docker_info(text):
    """`docker info --format '{{json .}}'` -> (security options, container count)."""
    info = json.loads(text)
    return list(info.get("SecurityOptions") or []), info.get("Containers")


def read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def lookup_uid(user):
    try:
        return pwd.getpwnam(user.split(":", 1)[0]).pw_uid
    except KeyError:
        return None


def read_max_user_namespaces():
    text = read_text("/proc/sys/user/max_user_namespaces")
    try:
        return int(text.strip())
    except (AttributeError, ValueError):
        return None


def run(module, argv):
    """(rc, stdout, stderr); rc 127 when the program is not installed."""
    binary = module.get_bin_path(argv[0])
    if binary is None:
        return 127, "", "%s: command not found" % argv[0]
    return module.run_command([binary] + argv[1:])


def dockerd_info(module):
    rc, out, err = run(module, ["dockerd", "--version"])
    if rc != 0:
        return {"dockerd_version": "", "dockerd_error": (err or out).strip(), "dockerd_validates_config": False}
    help_rc, help_out, help_err = run(module, ["dockerd", "--help"])
    return {"dockerd_version": out.strip(), "dockerd_error": "",
            "dockerd_validates_config": "--validate" in help_out + help_err}


def daemon_info(module, count_objects):
    facts = {"docker_answers": False, "docker_error": "", "remap_active": False, "containers": None, "images": None}
    rc, out, err = run(module, ["docker", "info", "--format", "{{json .}}"])
    if rc != 0:
        facts["docker_error"] = (err or out).strip()
        return facts
    try:
        security_options, containers = parse_docker_info(out)
    except ValueError as error:
        facts["docker_error"] = "cannot read the output of docker info: %s" % error
        return facts
    facts.update(docker_answers=True, remap_active=any(USERNS_SECURITY_OPTION in option for option in security_options))
    if count_objects:
        facts["containers"] = containers
        rc, out, err = run(module, ["docker", "images", "--all", "--quiet"])
        facts["images"] = len(set(out.split())) if rc == 0 else None
    return facts


def service_flags(module, service):
    """Flags from the unit's ExecStart (drop-ins included) and from the running daemon's command line."""
    rc, out, err = run(module, ["systemctl", "show", "--property=ExecStart", "--property=MainPID", service])
    properties = parse_systemctl_show(out) if rc == 0 else {}
    words = properties.get("ExecStart", "").split()
    main_pid = properties.get("MainPID", "0")
    if main_pid.isdigit() and int(main_pid) > 0:
        words += (read_text("/proc/%s/cmdline" % main_pid) or "").split("\0")
    return flag_names(words)


def docker_host_info(module):
    params = module.params
    facts = dockerd_info(module)
    facts.update(daemon_info(module, params["count_objects"]))
    facts["dockerd_flags"] = service_flags(module, params["docker_service"])
    facts["remap_user_uid"] = lookup_uid(params["remap_user"]) if params["remap_user"] else None
    facts["python_executable"] = os.path.isfile(params["python"]) and os.access(params["python"], os.X_OK)
    facts["max_user_namespaces"] = read_max_user_namespaces()
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            docker_service=dict(type="str", default="docker.service"),
            remap_user=dict(type="str"),
            python=dict(type="path", default="/usr/bin/python3"),
            count_objects=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **docker_host_info(module))


if __name__ == "__main__":
    main()
