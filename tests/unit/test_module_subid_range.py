"""Unit tests of plugins/modules/docker_userns_subid_range.py: pure helpers, then main() against real temp files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest_modules import load_module, run_module

mod = load_module("docker_userns_subid_range")


# ---- pure helpers ---------------------------------------------------------------


def test_parse_refuses_a_malformed_line_and_names_it():
    with pytest.raises(mod.SubidError, match=r"line 2 is not name:start:count: 'bob:x:1'"):
        mod.parse_subid("alice:100000:65536\nbob:x:1\n", "/etc/subuid")


def test_free_start_is_min_id_in_an_empty_file():
    assert mod.find_free_start([], 65536, 100000) == 100000


def test_free_start_skips_existing_ranges_and_uses_a_gap():
    ranges = [("a", 100000, 65536), ("b", 300000, 65536)]
    assert mod.find_free_start(ranges, 65536, 100000) == 165536
    assert mod.find_free_start(ranges, 200000, 100000) == 365536


def test_free_start_ignores_ranges_below_min_id():
    assert mod.find_free_start([("low", 1000, 1000)], 10, 100000) == 100000


def test_free_start_fails_when_id_space_is_exhausted():
    with pytest.raises(mod.SubidError, match="no free range"):
        mod.find_free_start([("all", 100000, 2 ** 32 - 100000)], 65536, 100000)


def test_present_keeps_an_existing_sufficient_entry():
    parsed = mod.parse_subid("dockremap:231072:65536\n")
    lines, start, total = mod.ensure_present(parsed, "dockremap", 65536, 100000)
    assert lines == ["dockremap:231072:65536"] and (start, total) == (231072, 65536)


def test_present_refuses_a_too_small_entry():
    with pytest.raises(mod.SubidError, match="has 1000 ids but needs 65536"):
        mod.ensure_present(mod.parse_subid("dockremap:100000:1000\n"), "dockremap", 65536, 100000)


def test_present_refuses_an_entry_overlapping_another_user():
    parsed = mod.parse_subid("alice:100000:65536\ndockremap:120000:65536\n")
    with pytest.raises(mod.SubidError, match="overlaps the range 100000\\+65536 of alice"):
        mod.ensure_present(parsed, "dockremap", 65536, 100000)


def test_new_range_overlaps_nothing():
    parsed = mod.parse_subid("alice:100000:65536\nbob:165536:1\n")
    lines, start, _ = mod.ensure_present(parsed, "dockremap", 65536, 100000)
    assert start == 165537
    assert lines[-1] == "dockremap:165537:65536"


# ---- main() on real files -------------------------------------------------------


def test_main_adds_a_range_keeping_other_lines(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\n\nbob:165536:65536\n")
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["changed"] is True and result["start"] == 231072
    assert path.read_text() == "alice:100000:65536\n\nbob:165536:65536\ndockremap:231072:65536\n"


def test_main_is_idempotent(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536")  # no final newline: still no change needed for alice
    run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    content = path.read_text()
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["changed"] is False
    assert path.read_text() == content


def test_main_missing_file_is_created_0644(tmp_path, capsys):
    path = tmp_path / "subgid"
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["changed"] is True
    assert path.read_text() == "dockremap:100000:65536\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_main_check_mode_and_diff(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\n")
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["after"] == "alice:100000:65536\ndockremap:165536:65536\n"
    assert path.read_text() == "alice:100000:65536\n"
    assert "diff" not in run_module(mod, capsys, {"path": str(path), "name": "dockremap"}, check_mode=True)


def test_main_refuses_malformed_file_untouched(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("alice:100000\n")
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["failed"] is True and "line 1" in result["msg"]
    assert path.read_text() == "alice:100000\n"
    assert os.listdir(tmp_path) == ["subuid"]


def test_main_absent_removes_every_line_of_the_user_and_keeps_mode(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("dockremap:100000:65536\nalice:165536:65536\ndockremap:231072:65536\n")
    path.chmod(0o600)
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap", "state": "absent", "backup": True})
    assert result["changed"] is True
    assert path.read_text() == "alice:165536:65536\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Path(result["backup_file"]).read_text().count("dockremap") == 2
    assert run_module(mod, capsys, {"path": str(path), "name": "dockremap", "state": "absent"})["changed"] is False
