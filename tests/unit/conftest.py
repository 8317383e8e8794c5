"""Puts tests/ (plugin_module, standin, bypass_probe) and src/ (the plugin's package) on sys.path,
so that every unit test file runs alone as well as with the others."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
for path in (TESTS, TESTS.parent / "src"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
