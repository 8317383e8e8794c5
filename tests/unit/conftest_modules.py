"""Helpers for the unit tests of the Ansible modules in plugins/modules/.

Loads a module file by path (the real file, as the collection ships it; library/ only links to
it) and runs its main() the way Ansible does: arguments through ansible.module_utils.testing.patch_module_args, result from the JSON
the module prints before it exits. The modules import their shared code the collection's way
(ansible_collections.docker_hardening.userns.plugins.module_utils), which resolves here to this
work tree's plugins/module_utils/, as Ansible's collection loader resolves it on a controller.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "plugins" / "modules"
MODULE_UTILS = ROOT / "plugins" / "module_utils"
COLLECTION_PACKAGE = "ansible_collections.docker_hardening.userns"


def _collection_packages():
    """Register the collection's packages down to plugins.module_utils (the work tree's)."""
    import ansible_collections  # the `ansible` package's collections: a namespace package  # noqa: F401

    paths = {"docker_hardening": [], "docker_hardening.userns": [str(ROOT)], "docker_hardening.userns.plugins": [str(ROOT / "plugins")],
             "docker_hardening.userns.plugins.module_utils": [str(MODULE_UTILS)]}
    for name, path in paths.items():
        full = "ansible_collections." + name
        if full not in sys.modules:
            package = types.ModuleType(full)
            package.__path__ = path
            sys.modules[full] = package


_collection_packages()


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


def nss_stand_in(monkeypatch, module, listed=(), unlisted=()):
    """Replace NSS for ``module`` (its KnownIds): ``listed`` are (kind, id, what) entries that NSS
    enumerates, ``unlisted`` ones that only a lookup by number finds (sssd or winbind without
    enumeration). Returns the KnownIds objects the module made, for their lookup counts."""
    from ansible_collections.docker_hardening.userns.plugins.module_utils.docker_userns_subids import KnownIds

    made = []

    def known_ids(kind, lookup_each_id=True):
        enumerated: dict = {}
        for entry_kind, number, what in listed:
            if entry_kind == kind:
                enumerated.setdefault(number, []).append(what)
        answers = {number: what for entry_kind, number, what in [*listed, *unlisted] if entry_kind == kind}
        made.append(KnownIds(kind, lookup_each_id, enumerate_ids=lambda: enumerated, lookup=answers.get))
        return made[-1]

    monkeypatch.setattr(module, "KnownIds", known_ids)
    return made
