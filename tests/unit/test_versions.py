"""One version number for the plugin and the collection (docs/contributing.md, "Versions")."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import plugin_module  # noqa: E402 (sys.path above)


def _galaxy_version():
    return yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]


def _released():
    return set(yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())["releases"])


def _key(version):
    return tuple(int(part) for part in version.split("."))


def test_the_plugin_and_the_collection_have_the_same_version():
    # A host's `docker-userns-enforcement-plugin --version` must name the collection release it came from.
    assert _galaxy_version() == plugin_module.load().VERSION


def test_the_version_is_not_older_than_any_release():
    version = _galaxy_version()
    assert all(_key(version) >= _key(released) for released in _released()), (version, sorted(_released()))


def test_unreleased_changes_wait_for_a_version_not_released_yet():
    # After a release, the version moves on before the next change gets its fragment; otherwise
    # `antsibull-changelog release` would file the change under a version users already have.
    fragments = [p for p in (ROOT / "changelogs" / "fragments").iterdir() if p.suffix in (".yml", ".yaml")]
    if fragments:
        assert _galaxy_version() not in _released(), [p.name for p in fragments]


# Which part of the version a changelog section moves (docs/contributing.md).
MAJOR_SECTIONS = {"breaking_changes", "removed_features"}
MINOR_SECTIONS = {"major_changes", "minor_changes", "deprecated_features"}


def _needed(last, sections):
    major, minor, patch = _key(last)
    if sections & MAJOR_SECTIONS:
        return (major + 1, 0, 0)
    if sections & MINOR_SECTIONS:
        return (major, minor + 1, 0)
    return (major, minor, patch + 1)


def test_the_version_is_as_large_as_the_unreleased_changes_need():
    sections = set()
    for path in (ROOT / "changelogs" / "fragments").iterdir():
        if path.suffix in (".yml", ".yaml"):
            sections |= set(yaml.safe_load(path.read_text()) or {})
    sections -= {"trivial", "release_summary"}
    if not sections:
        return
    last = max(_released(), key=_key)
    assert _key(_galaxy_version()) >= _needed(last, sections), (last, sorted(sections), _galaxy_version())
