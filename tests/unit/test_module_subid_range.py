"""Unit tests of plugins/modules/docker_userns_subid_range.py and the range logic it shares
(plugins/module_utils/docker_userns_subids.py): pure helpers, then main() against real temp files,
with a stand-in for NSS (real NSS: tests/integration/test_nss_accounts.py and the Molecule
scenario existing_host)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest_modules import load_module, nss_stand_in, run_module

mod = load_module("docker_userns_subid_range")
from ansible_collections.docker_hardening.userns.plugins.module_utils import docker_userns_subids as subids  # noqa: E402 (conftest_modules registers it)


@pytest.fixture(autouse=True)
def no_accounts(monkeypatch):
    """By default NSS knows no id at all here: main() never asks this machine's NSS."""
    return nss_stand_in(monkeypatch, mod)


def known(kind="uid", listed=(), unlisted=(), lookup_each_id=True):
    """A KnownIds over given ids: ``listed`` {id: name} enumerate, ``unlisted`` only answer lookups."""
    enumerated = {number: ["user %s (uid %d)" % (name, number)] for number, name in dict(listed).items()}
    answers = {number: "user %s (uid %d)" % (name, number) for number, name in {**dict(listed), **dict(unlisted)}.items()}
    return subids.KnownIds(kind, lookup_each_id, enumerate_ids=lambda: enumerated, lookup=answers.get)


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


def test_aligned_start_is_the_first_multiple_of_65536_above_min_id():
    assert mod.find_free_start([], 65536, 100000, align=65536) == 131072
    assert mod.find_free_start([("alice", 100000, 65536)], 65536, 100000, align=65536) == 196608


def test_new_range_skips_the_ids_nss_enumerates_without_looking_each_up():
    ids = known(listed={100000: "legacy", 131072: "alice"})
    assert mod.find_free_start([], 65536, 100000, 65536, ids) == 196608
    assert ids.lookups == 65536  # only the range it returns was looked up id by id


def test_new_range_skips_an_account_only_a_lookup_by_number_finds():
    # sssd without enumeration: getent passwd does not list it, getpwuid(150000) answers.
    ids = known(unlisted={150000: "ldapuser"})
    assert ids.listed() == {}
    assert mod.find_free_start([], 65536, 100000, 65536, ids) == 196608
    assert ids.lookups == 2 * 65536
    blind = known(unlisted={150000: "ldapuser"}, lookup_each_id=False)
    assert mod.find_free_start([], 65536, 100000, 65536, blind) == 131072 and blind.lookups == 0


def test_within_names_every_account_of_an_id_and_looks_each_other_id_up_once():
    enumerated = {131073: ["user a (uid 131073)", "user b (uid 131073)"]}
    asked = []

    def lookup(number):
        asked.append(number)
        return "user c (uid %d)" % number if number == 131080 else None

    ids = subids.KnownIds("uid", enumerate_ids=lambda: enumerated, lookup=lookup)
    assert ids.within(131072, 16) == [(131073, "user a (uid 131073)"), (131073, "user b (uid 131073)"), (131080, "user c (uid 131080)")]
    assert sorted(asked) == [n for n in range(131072, 131088) if n != 131073]


def test_gids_count_groups_and_the_primary_groups_of_accounts(monkeypatch):
    class Account:
        def __init__(self, name, uid, gid):
            self.pw_name, self.pw_uid, self.pw_gid = name, uid, gid

    class Group:
        def __init__(self, name, gid):
            self.gr_name, self.gr_gid = name, gid

    monkeypatch.setattr(subids.pwd, "getpwall", lambda: [Account("alice", 1000, 100000), Account("bob", 1001, 1001)])
    monkeypatch.setattr(subids.grp, "getgrall", lambda: [Group("bob", 1001), Group("staff", 100050)])
    listed = subids.KnownIds("gid", lookup_each_id=False).listed()
    assert listed == {1001: ["group bob (gid 1001)"], 100050: ["group staff (gid 100050)"],
                      100000: ["the primary group (gid 100000) of user alice"]}


def test_known_in_ranges_gives_the_id_a_container_sees():
    ids = known(listed={100000: "alice", 300005: "bob"})
    assert subids.known_in_ranges(ids, [(100000, 10), (300000, 10)]) == [
        (100000, 0, "user alice (uid 100000)"), (300005, 15, "user bob (uid 300005)")]


def test_present_keeps_an_existing_sufficient_entry():
    parsed = mod.parse_subid("dockremap:231072:65536\n")
    lines, start, total, own = mod.ensure_present(parsed, "dockremap", 65536, 100000)
    assert lines == ["dockremap:231072:65536"] and (start, total) == (231072, 65536) and own == [(231072, 65536)]


def test_present_counts_lines_under_the_users_uid_as_its_own():
    # Docker, newuidmap and newgidmap read a user's lines by name or by uid.
    parsed = mod.parse_subid("999:231072:65536\n")
    lines, start, _total, own = mod.ensure_present(parsed, "dockremap", 65536, 100000, aliases=("999",))
    assert lines == ["999:231072:65536"] and start == 231072 and own == [(231072, 65536)]


def test_present_refuses_a_too_small_entry():
    with pytest.raises(mod.SubidError, match="has 1000 ids but needs 65536"):
        mod.ensure_present(mod.parse_subid("dockremap:100000:1000\n"), "dockremap", 65536, 100000)


def test_present_refuses_an_entry_overlapping_another_user():
    parsed = mod.parse_subid("alice:100000:65536\ndockremap:120000:65536\n")
    with pytest.raises(mod.SubidError, match="overlaps the range 100000\\+65536 of alice"):
        mod.ensure_present(parsed, "dockremap", 65536, 100000)


def test_new_range_overlaps_nothing():
    parsed = mod.parse_subid("alice:100000:65536\nbob:165536:1\n")
    lines, start, _, own = mod.ensure_present(parsed, "dockremap", 65536, 100000)
    assert start == 165537 and own == []
    assert lines[-1] == "dockremap:165537:65536"
    _, start, _, _ = mod.ensure_present(parsed, "dockremap", 65536, 100000, align=65536)
    assert start == 196608


# ---- main() on real files -------------------------------------------------------


def test_main_adds_a_range_keeping_other_lines(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\n\nbob:165536:65536\n")
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["changed"] is True and result["start"] == 262144
    assert path.read_text() == "alice:100000:65536\n\nbob:165536:65536\ndockremap:262144:65536\n"


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
    assert path.read_text() == "dockremap:131072:65536\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_main_check_mode_and_diff(tmp_path, capsys):
    path = tmp_path / "subuid"
    path.write_text("alice:100000:65536\n")
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"}, check_mode=True, diff=True)
    assert result["changed"] is True
    assert result["diff"]["after"] == "alice:100000:65536\ndockremap:196608:65536\n"
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


def test_main_new_range_holds_no_account_nss_knows(tmp_path, capsys, monkeypatch):
    made = nss_stand_in(monkeypatch, mod, listed=[("uid", 100000, "user olduser (uid 100000)"), ("uid", 131072, "user alice (uid 131072)")],
                        unlisted=[("uid", 200000, "user ldapuser (uid 200000)")])
    path = tmp_path / "subuid"
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["changed"] is True and result["start"] == 262144
    assert path.read_text() == "dockremap:262144:65536\n"
    assert result["known_ids_checked"] == 2 * 65536 == made[0].lookups


def test_main_subgid_avoids_gids_not_uids(tmp_path, capsys, monkeypatch):
    nss_stand_in(monkeypatch, mod, listed=[("uid", 131072, "user alice (uid 131072)"), ("gid", 131072, "group staff (gid 131072)"),
                                           ("gid", 196608, "group ops (gid 196608)")])
    subgid = tmp_path / "subgid"
    assert run_module(mod, capsys, {"path": str(subgid), "name": "dockremap"})["start"] == 262144
    other = tmp_path / "ranges"  # not named subgid: the uids count, unless known_ids says otherwise
    assert run_module(mod, capsys, {"path": str(other), "name": "dockremap"})["start"] == 196608
    assert run_module(mod, capsys, {"path": str(other), "name": "x", "known_ids": "gid"})["start"] == 262144
    assert run_module(mod, capsys, {"path": str(other), "name": "y", "known_ids": "none", "align": 1})["start"] == 100000


def test_main_refuses_an_existing_range_that_holds_an_account_and_names_it(tmp_path, capsys, monkeypatch):
    # Docker's own `userns-remap: default` gives dockremap 100000+65536; the account came later.
    nss_stand_in(monkeypatch, mod, unlisted=[("uid", 100000, "user alice (uid 100000)"), ("uid", 100033, "user bob (uid 100033)")])
    path = tmp_path / "subuid"
    path.write_text("dockremap:100000:65536\n")
    result = run_module(mod, capsys, {"path": str(path), "name": "dockremap"})
    assert result["failed"] is True
    assert "user alice (uid 100000) as container id 0; user bob (uid 100033) as container id 33" in result["msg"]
    assert "nothing was changed" in result["msg"] and path.read_text() == "dockremap:100000:65536\n"
    # The role checks in its preflight instead (and reports it in audit mode): the range is kept, unread.
    kept = run_module(mod, capsys, {"path": str(path), "name": "dockremap", "check_existing": False})
    assert kept["changed"] is False and kept["start"] == 100000 and kept["known_ids_checked"] == 0
