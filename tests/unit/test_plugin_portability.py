"""The plugin is copied onto hosts as one file: Python 3.8 syntax, standard library only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from plugin_module import PLUGIN_PATH

SOURCE = PLUGIN_PATH.read_text()


def test_parses_as_python_3_8():
    ast.parse(SOURCE, feature_version=(3, 8))


def test_imports_only_the_standard_library():
    imported = set()
    for node in ast.walk(ast.parse(SOURCE)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported, "no imports found: the test would prove nothing"
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_uses_no_api_newer_than_3_8():
    # The few newer conveniences that are easy to reach for by habit.
    for newer in (".removeprefix(", ".removesuffix(", "zip(strict", "| None", "functools.cache("):
        assert newer not in SOURCE, newer
