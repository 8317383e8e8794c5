"""The role's interface stays consistent: defaults, argument_specs, README table, module links."""

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


def test_readme_variable_table_matches_argument_specs():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_role_docs.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


MODULE_NAMES = ("docker_userns_daemon_json", "docker_userns_decisions", "docker_userns_host_info", "docker_userns_subid_range")


def test_role_links_are_relative_and_reach_the_one_canonical_copy():
    # plugins/modules/ holds the real files (the collection's tooling skips symlinked modules);
    # library/ and the standalone role's library/ link to them, files/ holds the plugin.
    links = {ROLE / "files" / "docker_userns_enforcement_plugin.py": ROOT / "files" / "docker_userns_enforcement_plugin.py"}
    for name in MODULE_NAMES:
        links[ROLE / "library" / (name + ".py")] = ROOT / "plugins" / "modules" / (name + ".py")
        links[ROOT / "library" / (name + ".py")] = ROOT / "plugins" / "modules" / (name + ".py")
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
