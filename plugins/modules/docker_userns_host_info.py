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
  - With O(find_unremapped), what already runs outside the remapping as real root, which enforcement
    alone does not end. The containers in the host's user namespace (C(--userns=host)), or sharing the
    pid, ipc or network namespace of one (they share its user namespace then). And the enabled managed plugins
    that O(allowed_plugins) does not name.
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
  docker_socket:
    description: The daemon's Unix socket, where the enforcement plugin looks containers up; O(docker_socket) absent skips the check.
    type: path
  find_unremapped:
    description: List the containers and enabled managed plugins that run outside the remapping.
    type: bool
    default: false
  allowed_plugins:
    description: Managed plugins that are allowed (C(vieux/sshfs) means C(docker.io/vieux/sshfs:latest)); not listed.
    type: list
    elements: str
    default: []
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
docker_socket_is_socket:
  description: Whether O(docker_socket) is a Unix socket; null without O(docker_socket).
  returned: always
  type: bool
unremapped_containers:
  description: Containers outside the remapping, with why; empty unless O(find_unremapped).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "f284082c90c5", "name": "rootshell", "running": true, "reason": "runs in the host's user namespace (--userns=host)"}]
unremapped_plugins:
  description: Enabled managed plugins that O(allowed_plugins) does not name; empty unless O(find_unremapped).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "5ea9bf1c05ad", "name": "vieux/sshfs:latest"}]
unremapped_error:
  description: Why the containers or plugins could not be listed; empty when they were.
  returned: always
  type: str
"""

import json
import os
import pwd
import stat

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


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


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


def normalize_plugin_ref(ref):
    """The plugin's own spelling rule: docker.io/library/x -> x, no tag -> :latest."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if ref.startswith(prefix):
            ref = ref[len(prefix):]
            break
    if ref.startswith("library/"):
        ref = ref[len("library/"):]
    if "@" not in ref and ":" not in ref.rsplit("/", 1)[-1]:
        ref += ":latest"
    return ref


NAMESPACE_MODES = (("PidMode", "pid"), ("IpcMode", "ipc"), ("NetworkMode", "network"))


def unremapped_containers(descriptions):
    """The containers of `docker inspect` output that run outside the remapping, with why: the
    same test as the enforcement plugin's (host user namespace, or sharing the pid, ipc or
    network namespace of such a container, which joins its user namespace too)."""
    by_id = {d.get("Id", ""): d for d in descriptions}
    by_name = {(d.get("Name") or "").lstrip("/"): d for d in descriptions}

    def resolve(ref):
        if ref in by_id:
            return by_id[ref]
        if ref in by_name:
            return by_name[ref]
        found = [d for cid, d in by_id.items() if cid.startswith(ref)]
        return found[0] if len(found) == 1 else None

    def reason(description, seen):
        host = description.get("HostConfig") or {}
        if host.get("UsernsMode") == "host":
            return "runs in the host's user namespace (--userns=host)"
        for field, namespace in NAMESPACE_MODES:
            mode = host.get(field) or ""
            joined = resolve(mode[len("container:"):]) if mode.startswith("container:") else None
            if joined is not None and joined.get("Id") not in seen:
                why = reason(joined, seen | {description.get("Id")})
                if why:
                    return "shares the %s namespace of %s, which %s" % (namespace, (joined.get("Name") or "").lstrip("/"), why)
        return None

    found = []
    for description in descriptions:
        why = reason(description, {description.get("Id")})
        if why:
            found.append({"id": description.get("Id", "")[:12], "name": (description.get("Name") or "").lstrip("/"),
                          "running": bool((description.get("State") or {}).get("Running")), "reason": why})
    return found


def unremapped_plugins(plugin_lines, allowed):
    """Enabled managed plugins (`docker plugin ls --format '{{json .}}'`) not in `allowed`."""
    allowed = {normalize_plugin_ref(name) for name in allowed}
    found = []
    for line in plugin_lines:
        plugin = json.loads(line)
        name = plugin.get("Name", "")
        if str(plugin.get("Enabled")).lower() == "true" and normalize_plugin_ref(name) not in allowed:
            found.append({"id": plugin.get("ID", "")[:12], "name": name})
    return found


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


def outside_the_remapping(module, allowed_plugins):
    facts = {"unremapped_containers": [], "unremapped_plugins": [], "unremapped_error": ""}
    rc, out, err = run(module, ["docker", "ps", "--all", "--quiet", "--no-trunc"])
    if rc != 0:
        facts["unremapped_error"] = "docker ps failed: %s" % (err or out).strip()
        return facts
    if out.split():
        rc, inspected, err = run(module, ["docker", "inspect"] + out.split())
        if rc != 0:
            facts["unremapped_error"] = "docker inspect failed: %s" % (err or inspected).strip()
            return facts
        facts["unremapped_containers"] = unremapped_containers(json.loads(inspected))
    rc, out, err = run(module, ["docker", "plugin", "ls", "--format", "{{json .}}"])
    if rc != 0:
        facts["unremapped_error"] = "docker plugin ls failed: %s" % (err or out).strip()
        return facts
    facts["unremapped_plugins"] = unremapped_plugins(out.splitlines(), allowed_plugins)
    return facts


def docker_host_info(module):
    params = module.params
    facts = dockerd_info(module)
    facts.update(daemon_info(module, params["count_objects"]))
    facts.update({"unremapped_containers": [], "unremapped_plugins": [], "unremapped_error": ""})
    if params["find_unremapped"] and facts["docker_answers"]:
        facts.update(outside_the_remapping(module, params["allowed_plugins"]))
    facts["dockerd_flags"] = service_flags(module, params["docker_service"])
    facts["remap_user_uid"] = lookup_uid(params["remap_user"]) if params["remap_user"] else None
    facts["python_executable"] = os.path.isfile(params["python"]) and os.access(params["python"], os.X_OK)
    facts["max_user_namespaces"] = read_max_user_namespaces()
    facts["docker_socket_is_socket"] = is_socket(params["docker_socket"]) if params["docker_socket"] else None
    return facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            docker_service=dict(type="str", default="docker.service"),
            remap_user=dict(type="str"),
            python=dict(type="path", default="/usr/bin/python3"),
            count_objects=dict(type="bool", default=True),
            docker_socket=dict(type="path"),
            find_unremapped=dict(type="bool", default=False),
            allowed_plugins=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    module.exit_json(changed=False, **docker_host_info(module))


if __name__ == "__main__":
    main()
