"""Fixtures for molecule/upstream's tests: molecule/default's, imported (molecule.yml puts
molecule/default/tests on PYTHONPATH), and the figures for tools/upstream-engines.sh's table."""

import json
import os
from pathlib import Path

import pytest

from test_bypasses import class_results, generated_results, probe_results  # noqa: F401  fixtures for this directory's tests
from test_forky_buildx_compose import container_builder  # noqa: F401  a fixture for this directory's tests

RESULTS = os.environ.get("UPSTREAM_ENGINE_RESULTS", "")


@pytest.fixture(scope="session")
def record():
    """record(key, value): a figure for tools/upstream-engines.sh's table, written at once to the JSON
    file UPSTREAM_ENGINE_RESULTS names (so a failing test still leaves what came before it)."""
    figures = {}

    def put(key, value):
        figures[key] = value
        if RESULTS:
            Path(RESULTS).write_text(json.dumps(figures, indent=1, sort_keys=True))
    return put


@pytest.fixture(scope="module")
def engine(host):
    """The version the host's dockerd reports."""
    return host.check_output("docker version --format '{{.Server.Version}}'")
