"""Unit tests of plugins/modules/docker_userns_daemon_json.py: pure helpers, then main() against real temp files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conftest_modules import load_module, run_module

mod = load_module("docker_userns_daemon_json")

PLUGIN = "deny-userns-mode-host"


# ---- pure helpers ---------------------------------------------------------------


def test_parse_empty_file_is_empty_config():
    assert mod.parse_daemon_json("  \n") == {}


def test_parse_invalid_json_names_line_and_column():
    with pytest.raises(mod.DaemonJsonError, match=r"not valid JSON.*line 2, column 1"):
        mod.parse_daemon_json('{"a": 1,\n}', "/etc/docker/daemon.json")


def test_parse_refuses_non_object():
    with pytest.raises(mod.DaemonJsonError, match="must hold a JSON object"):
        mod.parse_daemon_json("[1, 2]")


def test_parse_refuses_duplicate_keys():
    with pytest.raises(mod.DaemonJsonError, match="'debug' appears more than once"):
        mod.parse_daemon_json('{"debug": true, "debug": false}')


def test_merge_present_keeps_foreign_keys_and_their_order():
    before = {"log-driver": "journald", "userns-remap": "other", "debug": True}
    after, changes = mod.merge_present(before, "dockremap", PLUGIN, {})
    assert list(after) == ["log-driver", "userns-remap", "debug", "authorization-plugins"]
    assert after["log-driver"] == "journald" and after["debug"] is True
    assert after["userns-remap"] == "dockremap"
    assert len(changes) == 2
    assert before["userns-remap"] == "other", "the input must not be modified"


def test_merge_present_appends_plugin_after_existing_ones():
    after, _ = mod.merge_present({"authorization-plugins": ["opa", "casbin"]}, None, PLUGIN, {})
    assert after["authorization-plugins"] == ["opa", "casbin", PLUGIN]


def test_merge_present_is_idempotent():
    once, changes = mod.merge_present({}, "dockremap", PLUGIN, {"live-restore": True})
    assert changes
    twice, changes = mod.merge_present(once, "dockremap", PLUGIN, {"live-restore": True})
    assert twice == once and changes == []


def test_merge_present_refuses_a_malformed_plugin_list():
    with pytest.raises(mod.DaemonJsonError, match="must be a list"):
        mod.merge_present({"authorization-plugins": "opa"}, None, PLUGIN, {})


def test_merge_present_refuses_managed_keys_in_settings():
    with pytest.raises(mod.DaemonJsonError, match="managed by its own option"):
        mod.merge_present({}, None, None, {"userns-remap": "root"})


def test_merge_absent_removes_only_our_plugin():
    after, changes = mod.merge_absent({"authorization-plugins": ["opa", PLUGIN, "casbin"], "x": 1}, PLUGIN)
    assert after == {"authorization-plugins": ["opa", "casbin"], "x": 1}
    assert changes == ["removed %r from authorization-plugins" % PLUGIN]


def test_merge_absent_drops_an_emptied_list_and_optionally_the_remap():
    before = {"authorization-plugins": [PLUGIN], "userns-remap": "dockremap", "x": 1}
    assert mod.merge_absent(before, PLUGIN)[0] == {"userns-remap": "dockremap", "x": 1}
    assert mod.merge_absent(before, PLUGIN, remove_userns_remap=True)[0] == {"x": 1}


# ---- main() on real files -------------------------------------------------------


def _args(path, **extra):
    args = {"path": str(path), "userns_remap": "dockremap", "authorization_plugin": PLUGIN}
    args.update(extra)
    return args


def test_main_refuses_invalid_json_and_leaves_it_untouched(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": tru}\n')
    result = run_module(mod, capsys, _args(path))
    assert result["failed"] is True
    assert "not valid JSON" in result["msg"] and "line 1" in result["msg"]
    assert path.read_text() == '{"debug": tru}\n'
    assert os.listdir(tmp_path) == ["daemon.json"], "no temp file or backup is left behind"


def test_main_merges_and_keeps_foreign_keys(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"log-opts": {"max-size": "10m"}, "authorization-plugins": ["opa"]}')
    result = run_module(mod, capsys, _args(path, settings={"live-restore": True}))
    assert result["changed"] is True
    on_disk = json.loads(path.read_text())
    assert on_disk == {
        "log-opts": {"max-size": "10m"},
        "authorization-plugins": ["opa", PLUGIN],
        "userns-remap": "dockremap",
        "live-restore": True,
    }
    assert result["config"] == on_disk


def test_main_second_run_changes_nothing_and_does_not_rewrite(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    assert run_module(mod, capsys, _args(path))["changed"] is True
    mtime = path.stat().st_mtime_ns
    result = run_module(mod, capsys, _args(path))
    assert result["changed"] is False and result["changes"] == []
    assert path.stat().st_mtime_ns == mtime


def test_main_missing_file_is_created_0644(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    result = run_module(mod, capsys, _args(path))
    assert result["changed"] is True and result["existed"] is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert json.loads(path.read_text()) == {"userns-remap": "dockremap", "authorization-plugins": [PLUGIN]}


def test_main_absent_on_missing_file_changes_nothing(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    result = run_module(mod, capsys, _args(path, state="absent", remove_userns_remap=True))
    assert result["changed"] is False
    assert not path.exists()


def test_main_check_mode_reports_but_does_not_write(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run_module(mod, capsys, _args(path), check_mode=True)
    assert result["changed"] is True
    assert path.read_text() == '{"debug": true}'


def test_main_diff_only_in_diff_mode(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    assert "diff" not in run_module(mod, capsys, _args(path), check_mode=True)
    result = run_module(mod, capsys, _args(path), check_mode=True, diff=True)
    assert result["diff"]["before"] == '{"debug": true}'
    assert json.loads(result["diff"]["after"]) == {
        "debug": True, "userns-remap": "dockremap", "authorization-plugins": [PLUGIN]
    }


def test_main_keeps_mode_and_makes_a_backup(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    path.chmod(0o600)
    result = run_module(mod, capsys, _args(path, backup=True))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    backup = result["backup_file"]
    assert os.path.dirname(backup) == str(tmp_path)
    assert Path(backup).read_text() == '{"debug": true}'


def test_main_absent_removes_plugin_and_remap_but_keeps_foreign_keys(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"userns-remap": "dockremap", "authorization-plugins": ["opa", PLUGIN], "debug": True}))
    result = run_module(mod, capsys, _args(path, state="absent", remove_userns_remap=True))
    assert result["changed"] is True
    assert json.loads(path.read_text()) == {"authorization-plugins": ["opa"], "debug": True}


def test_main_failed_validation_leaves_file_untouched(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    path.write_text('{"debug": true}')
    result = run_module(mod, capsys, _args(path, validate="false %s", backup=True))
    assert result["failed"] is True and "failed validation" in result["msg"]
    assert path.read_text() == '{"debug": true}'
    assert os.listdir(tmp_path) == ["daemon.json"]


def test_main_validation_sees_the_new_content(tmp_path, capsys):
    path = tmp_path / "daemon.json"
    # The validator only passes when the candidate file names our plugin.
    result = run_module(mod, capsys, _args(path, validate="grep -q %s %%s" % PLUGIN))
    assert result["changed"] is True and "failed" not in result
