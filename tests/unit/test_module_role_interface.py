"""The role's interface stays consistent: defaults, argument_specs, README table, symlinks."""

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


def test_role_links_are_relative_and_reach_the_one_canonical_copy():
    links = {
        ROLE / "files" / "docker_userns_enforcement_plugin.py": ROOT / "files" / "docker_userns_enforcement_plugin.py",
        ROLE / "library" / "docker_daemon_json.py": ROOT / "library" / "docker_daemon_json.py",
        ROLE / "library" / "subid_range.py": ROOT / "library" / "subid_range.py",
    }
    for link, target in links.items():
        assert link.is_symlink(), link
        assert not os.path.isabs(os.readlink(link)), link
        assert link.resolve() == target.resolve(), link
