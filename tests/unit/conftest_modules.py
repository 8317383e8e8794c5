"""Helpers for the unit tests of the Ansible modules in plugins/modules/.

Loads a module file by path (the real file, as the collection ships it; library/ only links to
it) and runs its main() the way Ansible does: arguments through ansible.module_utils.testing.patch_module_args, result from the JSON
the module prints before it exits.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

MODULES = Path(__file__).resolve().parents[2] / "plugins" / "modules"


def load_module(name):
    spec = importlib.util.spec_from_file_location("module_" + name, MODULES / (name + ".py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(module, capsys, args, check_mode=False, diff=False):
    """Run ``module.main()`` with ``args``; return the result dict (``failed`` set on fail_json)."""
    args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(args), pytest.raises(SystemExit):
        module.main()
    return json.loads(capsys.readouterr().out)
