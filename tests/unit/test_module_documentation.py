"""Every module in plugins/modules/ documents what it returns, and its EXAMPLES call it by its
fully qualified name: each module's main() runs the way Ansible runs it (conftest_modules), in
the situations that make it return each of its keys, and the keys are compared with RETURN.

A new module in plugins/modules/ fails here until RUNS below says how to run it.
"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from conftest_modules import MODULES, load_module, nss_stand_in, run_module

COLLECTION = "docker_hardening.userns"
# Keys Ansible itself adds to, or that every module may put in, a result; not documented per module.
COMMON_KEYS = {"changed", "failed", "msg", "diff", "invocation", "warnings", "deprecations", "skipped"}
MODULE_NAMES = sorted(path.stem for path in MODULES.glob("*.py"))


def runs_of_daemon_json(module, tmp_path, monkeypatch, capsys):
    path = tmp_path / "daemon.json"
    args = {"path": str(path), "userns_remap": "dockremap", "authorization_plugin": "deny-userns-mode-host"}
    results = [run_module(module, capsys, args, check_mode=True, diff=True),  # no file yet
               run_module(module, capsys, args, diff=True)]  # creates it
    path.write_text('{"debug": true}')
    results.append(run_module(module, capsys, dict(args, backup=True, settings={"live-restore": True})))
    results.append(run_module(module, capsys, args))  # nothing to change
    results.append(run_module(module, capsys, dict(args, state="absent", remove_userns_remap=True, backup=True)))
    path.write_text('{"debug": true}')
    results.append(run_module(module, capsys, dict(args, validate="false %s")))  # validation fails
    path.write_text('{"debug": tru}')
    results.append(run_module(module, capsys, args))  # not JSON
    return results


def runs_of_subid_range(module, tmp_path, monkeypatch, capsys):
    nss_stand_in(monkeypatch, module)  # this machine's NSS would take seconds per run (65536 lookups)
    path = tmp_path / "subuid"
    args = {"path": str(path), "name": "dockremap"}
    results = [run_module(module, capsys, args, check_mode=True, diff=True),  # no file yet
               run_module(module, capsys, args)]  # creates it
    path.write_text("alice:100000:65536\n")
    results.append(run_module(module, capsys, dict(args, backup=True), diff=True))
    results.append(run_module(module, capsys, args))  # nothing to change
    results.append(run_module(module, capsys, dict(args, state="absent", backup=True)))
    path.write_text("alice:x:1\n")
    results.append(run_module(module, capsys, args))  # a line that is not name:start:count
    return results


def runs_of_host_info(module, tmp_path, monkeypatch, capsys):
    # This machine's own dockerd, users and kernel; no daemon answers at DOCKER_HOST (a live one
    # is in tests/integration/test_host_info_module.py).
    # A stand-in nvidia-ctk for the toolkit's version (no GPU host here).
    monkeypatch.setenv("DOCKER_HOST", "unix://%s" % (tmp_path / "no-daemon.sock"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nvidia-ctk").write_text("#!/bin/sh\necho 'NVIDIA Container Toolkit CLI version 1.17.8'\n")
    (bindir / "nvidia-ctk").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bindir, os.environ["PATH"]))
    nss_stand_in(monkeypatch, module, listed=[("uid", 100000, "user alice (uid 100000)")])
    (tmp_path / "subuid").write_text("nobody:100000:65536\n")
    monkeypatch.setattr(module, "SUBUID", str(tmp_path / "subuid"))
    monkeypatch.setattr(module, "SUBGID", str(tmp_path / "subgid"))
    return [run_module(module, capsys, {}, check_mode=True),
            run_module(module, capsys, {"remap_user": "nobody", "docker_socket": str(tmp_path / "none.sock"),
                                        "count_objects": False, "nvidia_toolkit": True})]


def runs_of_decisions(module, tmp_path, monkeypatch, capsys):
    # This machine has no journald: journalctl answers with nothing; without journalctl on PATH;
    # and a stand-in journalctl that prints two lines the plugin wrote (a real journal is read in
    # the Molecule scenario audit_then_enforce).
    results = [run_module(module, capsys, {"since": "-1h"}, check_mode=True)]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    results.append(run_module(module, capsys, {}))
    lines = [json.dumps({"time": "2026-11-29T18:25:50+0000", "event": "decision", "decision": "would-deny", "rule": "host-userns",
                         "reason": "userns=host is not allowed", "mode": "audit", "user": "", "method": "POST",
                         "path": "/v1.41/containers/create?name=web", "target": None, "name": "web", "image": "busybox"}),
             json.dumps({"time": "2026-11-29T18:25:51+0000", "event": "decision", "decision": "allow", "rule": "", "reason": "",
                         "mode": "audit", "user": "", "method": "GET", "path": "/_ping"})]
    (tmp_path / "journal").write_text("\n".join(lines) + "\n")
    journalctl = bindir / "journalctl"
    journalctl.write_text("#!/bin/sh\nexec /bin/cat %s\n" % (tmp_path / "journal"))
    journalctl.chmod(0o755)
    results.append(run_module(module, capsys, {"since": "-1h", "examples": 1}))
    results.append(run_module(module, capsys, {"examples": -1}))  # refused
    return results


def runs_of_data_root(module, tmp_path, monkeypatch, capsys):
    # A data directory laid out as Docker lays it out (test_module_data_root builds it), a remap range of its own.
    from test_module_data_root import REMAP_USER, START, data_root
    for name in ("subuid", "subgid"):
        (tmp_path / name).write_text("%s:%d:65536\n" % (REMAP_USER, START))
    monkeypatch.setattr(module, "SUBUID", str(tmp_path / "subuid"))
    monkeypatch.setattr(module, "SUBGID", str(tmp_path / "subgid"))
    root = data_root(tmp_path / "docker")
    args = {"data_root": str(root), "remap_user": REMAP_USER, "reserve_mb": 1, "docker_pidfile": str(tmp_path / "none.pid")}
    results = [run_module(module, capsys, args, check_mode=True),  # the inventory
               run_module(module, capsys, dict(args, action="carry"), diff=True),  # carries forward
               run_module(module, capsys, dict(args, action="abort")),  # nothing to abort
               run_module(module, capsys, dict(args, action="carry", direction="back", reserve_mb=1 << 40))]  # too little space
    return results


RUNS = {
    "docker_userns_data_root": runs_of_data_root,
    "docker_userns_decisions": runs_of_decisions,
    "docker_userns_daemon_json": runs_of_daemon_json,
    "docker_userns_subid_range": runs_of_subid_range,
    "docker_userns_host_info": runs_of_host_info,
}


def test_every_module_has_runs_here():
    assert MODULE_NAMES and sorted(RUNS) == MODULE_NAMES


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_return_documents_every_key_the_module_returns(name, tmp_path, monkeypatch, capsys):
    module = load_module(name)
    documented = yaml.safe_load(module.RETURN)
    results = RUNS[name](module, tmp_path, monkeypatch, capsys)
    returned = set()
    for result in results:
        undocumented = set(result) - COMMON_KEYS - set(documented)
        assert not undocumented, "%s returns %s, which RETURN does not document: %s" % (name, sorted(undocumented), json.dumps(result)[:500])
        returned |= set(result)
    # Not on this machine: the file's SELinux context, which Ansible adds only where SELinux is on.
    possible_here = {key for key, doc in documented.items() if "SELinux" not in str(doc.get("returned"))}
    assert possible_here <= returned, "%s documents %s, which no run returned" % (name, sorted(possible_here - returned))
    assert any(result.get("failed") for result in results) or name == "docker_userns_host_info", "no run of %s failed" % name


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_what_return_calls_always_is_in_every_result(name, tmp_path, monkeypatch, capsys):
    module = load_module(name)
    always = {key for key, doc in yaml.safe_load(module.RETURN).items() if doc.get("returned") == "always"}
    for result in RUNS[name](module, tmp_path, monkeypatch, capsys):
        if not result.get("failed"):
            assert always <= set(result), "%s did not return %s: %s" % (name, sorted(always - set(result)), json.dumps(result)[:500])


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_documentation_is_yaml_that_names_the_module(name):
    # ansible-doc and the sanity tests refuse a module whose DOCUMENTATION does not parse (a line
    # ending in "word:" inside a list item turns it into a mapping key).
    documentation = yaml.safe_load(load_module(name).DOCUMENTATION)
    assert documentation["module"] == name
    assert documentation["short_description"] and documentation["description"] and documentation["options"]


@pytest.mark.parametrize("name", MODULE_NAMES)
def test_examples_call_the_module_by_its_fully_qualified_name(name):
    module = load_module(name)
    tasks = yaml.safe_load(module.EXAMPLES)
    assert tasks
    calls = [task for task in tasks if any(key.split(".")[-1] == name for key in task)]
    assert calls, "no example calls %s" % name
    for task in calls:
        assert COLLECTION + "." + name in task, "an example calls %s by another name: %s" % (name, task)
