"""The plugin is copied onto hosts as one file: Python 3.8 syntax, standard library only. The
package it is built from keeps to the same, so that the build cannot bring in anything else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from plugin_module import PACKAGE_PATH, PLUGIN_PATH

SOURCES = [PLUGIN_PATH] + sorted(PACKAGE_PATH.glob("*.py"))


@pytest.fixture(params=SOURCES, ids=lambda path: path.name)
def source(request) -> str:
    return request.param.read_text()


def test_parses_as_python_3_8(source):
    ast.parse(source, feature_version=(3, 8))


def test_imports_only_the_standard_library(source):
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported - {"__future__"} <= set(sys.stdlib_module_names)


def test_the_shipped_file_imports_something():
    # Without this, an import-less file would pass the test above and prove nothing.
    assert "import json" in PLUGIN_PATH.read_text()


def test_uses_no_api_newer_than_3_8(source):
    # The few newer conveniences that are easy to reach for by habit.
    for newer in (".removeprefix(", ".removesuffix(", "zip(strict", "| None", "functools.cache("):
        assert newer not in source, newer
