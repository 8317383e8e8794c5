"""The role's interface stays consistent: defaults, argument_specs, the variable tables, module links."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "docker_userns"


def _specs():
    return yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def test_every_default_is_specified_with_the_same_value():
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    specs = _specs()
    assert sorted(defaults) == sorted(specs), "defaults/main.yml and meta/argument_specs.yml name different variables"
    for name, value in defaults.items():
        assert name.startswith("docker_userns_")
        assert specs[name].get("default") == value, name
        assert specs[name].get("description"), name


def test_variable_tables_match_argument_specs():
    # docs/role.md and the role's README hold the generated table; the top README links to it.
    for path in (ROOT / "docs" / "role.md", ROLE / "README.md"):
        assert "<!-- BEGIN role-variables" in path.read_text(), path
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_role_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


MODULE_NAMES = ("docker_userns_daemon_json", "docker_userns_data_root", "docker_userns_decisions", "docker_userns_host_info",
                "docker_userns_subid_range")
MODULE_UTILS_NAMES = ("docker_userns_files", "docker_userns_subids")


def test_role_links_are_relative_and_reach_the_one_canonical_copy():
    # plugins/modules/ holds the real files (the collection's tooling skips symlinked modules);
    # library/ and the standalone role's library/ link to them, the role's module_utils/ to
    # plugins/module_utils/ (a legacy role's module_utils/ is on the module_utils path), files/ holds the plugin.
    links = {ROLE / "files" / "docker_userns_enforcement_plugin.py": ROOT / "files" / "docker_userns_enforcement_plugin.py"}
    for name in MODULE_NAMES:
        links[ROLE / "library" / (name + ".py")] = ROOT / "plugins" / "modules" / (name + ".py")
        links[ROOT / "library" / (name + ".py")] = ROOT / "plugins" / "modules" / (name + ".py")
    for name in MODULE_UTILS_NAMES:
        links[ROLE / "module_utils" / (name + ".py")] = ROOT / "plugins" / "module_utils" / (name + ".py")
    for link, target in links.items():
        assert link.is_symlink(), link
        assert not os.path.isabs(os.readlink(link)), link
        assert link.resolve() == target.resolve(), link
        assert not target.is_symlink() and target.is_file(), target


def test_every_module_is_linked_and_nothing_else():
    modules = sorted(p.name for p in (ROOT / "plugins" / "modules").glob("*.py"))
    assert modules == sorted(name + ".py" for name in MODULE_NAMES)
    assert sorted(p.name for p in (ROOT / "library").iterdir()) == modules
    assert sorted(p.name for p in (ROLE / "library").iterdir()) == modules
    shared = sorted(p.name for p in (ROOT / "plugins" / "module_utils").glob("*.py"))
    assert shared == sorted(name + ".py" for name in MODULE_UTILS_NAMES)
    assert sorted(p.name for p in (ROLE / "module_utils").iterdir()) == shared


def test_modules_import_shared_code_the_collection_way_with_the_standalone_fallback():
    # In the collection the first import resolves; in the standalone role (whose module_utils/ Ansible
    # puts on the module_utils path) the second. Each shared name comes both ways.
    for path in (ROOT / "plugins" / "modules").glob("*.py"):
        text = path.read_text()
        for name in MODULE_UTILS_NAMES:
            collection = "ansible_collections.docker_hardening.userns.plugins.module_utils.%s import" % name
            standalone = "from ansible.module_utils.%s import" % name
            assert (collection in text) == (standalone in text), (path.name, name)


# ---- meta/main.yml and handlers -------------------------------------------------------------


def _tasks(node):
    """Every task (and handler) in a task file, blocks opened."""
    for task in node or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def test_every_handler_is_named_for_the_role_and_every_notify_reaches_one():
    # Handlers are play-wide and the last one defined under a name wins: a generic name such as
    # "Restart Docker" would be replaced by (or replace) a baseline's handler of the same name.
    handlers = [h["name"] for h in _tasks(yaml.safe_load((ROLE / "handlers" / "main.yml").read_text()))]
    assert handlers and all("docker_userns" in name for name in handlers), handlers
    notified: set = set()
    for path in (ROLE / "tasks").glob("*.yml"):
        for task in _tasks(yaml.safe_load(path.read_text())):
            notify = task.get("notify", [])
            notified.update([notify] if isinstance(notify, str) else notify)
    assert notified and notified <= set(handlers), notified - set(handlers)


def test_internal_facts_carry_the_double_underscore_prefix():
    # What the role sets for itself (register, set_fact, task vars) starts with "__docker_userns_":
    # an inventory or extra variable spelled like a role variable (docker_userns_host ...) can
    # never stand in for it, and it is never mistaken for one of the role's documented variables.
    defaults = set(yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()))
    internal: set = set()
    for path in [*(ROLE / "tasks").glob("*.yml"), ROLE / "handlers" / "main.yml"]:
        for task in _tasks(yaml.safe_load(path.read_text())):
            internal.update([task["register"]] if "register" in task else [])
            internal.update((task.get("ansible.builtin.set_fact") or {}).keys())
            internal.update((task.get("vars") or {}).keys())
    assert internal, "no register or set_fact found: the test reads nothing"
    assert not internal & defaults
    assert sorted(name for name in internal if not name.startswith("__docker_userns_")) == []


def test_the_roles_namespace_is_the_collections():
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())["galaxy_info"]
    assert meta["namespace"] == galaxy["namespace"]


def test_meta_names_exactly_the_debian_suites_molecule_tests():
    configs = [ROOT / ".config" / "molecule" / "config.yml", *sorted((ROOT / "molecule").glob("*/molecule.yml"))]
    tested: set = set()
    for path in configs:
        platforms = yaml.safe_load(path.read_text()).get("platforms") or []
        tested.update(p["image"].split(":", 1)[1] for p in platforms if p["image"].startswith("docker-userns-host:"))
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())["galaxy_info"]["platforms"]
    assert [p["name"] for p in meta] == ["Debian"]
    assert sorted(meta[0]["versions"]) == sorted(tested) and tested, tested
