"""The daemon's own root work on host paths: bind sources it creates, volumes it fills (copy-up).

Host paths are real ones, made in a temporary directory with the owners and modes each case
needs (the tests run as root); what the daemon would answer about containers and volumes comes
from the fake daemon of test_plugin_containers. The same classes against a real dockerd are in
tests/integration/test_root_work.py and in the Molecule scenarios.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from docker_userns_plugin import daemon_lookup, host_paths, lookups
from test_plugin_containers import FakeDaemon, authz, inspect, verdict

NOBODY = 65534


@pytest.fixture
def tree(tmp_path):
    """A root-only tree: root/ (0755 root), root/srv/data (not empty), root/srv/empty, a user's
    home (nobody's), a sticky world-writable tmp with a root entry and a user entry."""
    base = tmp_path / "host"
    for directory in ("srv/data", "srv/empty", "home/user/project/sub", "tmp/rootdir", "tmp/userdir"):
        (base / directory).mkdir(parents=True)
    (base / "srv/data/file").write_text("x")
    (base / "home/user/project/file").write_text("x")
    for path in ("home/user", "home/user/project", "home/user/project/sub", "tmp/userdir"):
        os.chown(base / path, NOBODY, NOBODY)
    os.chmod(base / "tmp", 0o1777)
    os.symlink(str(base / "srv"), base / "home/user/link")  # a symlink in a directory its user owns
    os.symlink(str(base / "srv"), base / "srvlink")  # a symlink only root can change
    os.chmod(tmp_path, 0o755)
    return base


def create(host_config, **config):
    return authz("POST", "/v1.45/containers/create?name=web", {"Image": "busybox", "HostConfig": host_config})


def decide(host_config, daemon=None, **config):
    return verdict(create(host_config), daemon or FakeDaemon(), **config)


# --- bind sources the daemon would create ---------------------------------------------------------


def test_an_existing_bind_source_only_root_can_change_is_allowed(tree):
    for source in ("srv/data", "srv/empty", "srvlink/data", "tmp/rootdir", "home/user"):
        assert decide({"Binds": ["%s/%s:/x" % (tree, source)]}).allow, source


@pytest.mark.parametrize("bind", ["-v", "--mount type=bind,create-mountpoint"])
def test_a_missing_bind_source_is_refused(tree, bind):
    source = str(tree / "srv/new")
    host_config = {"Binds": [source + ":/x"]} if bind == "-v" else \
        {"Mounts": [{"Type": "bind", "Source": source, "Target": "/x", "BindOptions": {"CreateMountpoint": True}}]}
    decision = decide(host_config)
    assert not decision.allow and decision.rule == "bind-source"
    assert "does not exist" in decision.message and "create it first" in decision.message
    assert not (tree / "srv/new").exists()


@pytest.mark.parametrize("source, who", [
    ("home/user/project", "user nobody (who owns"),  # its user could remove it
    ("home/user/project/sub", "user nobody (who owns"),  # or replace a directory on the way
    ("home/user/link/data", "user nobody (who owns"),  # or the symlink on the way
    ("tmp/userdir", "user nobody (who owns the entry in the sticky directory"),
])
def test_a_bind_source_someone_besides_root_could_remove_or_replace_is_refused(tree, source, who):
    decision = decide({"Binds": ["%s/%s:/x" % (tree, source)]})
    assert not decision.allow and decision.rule == "bind-source"
    assert who in decision.message and "--mount type=bind,source=" in decision.message


def test_the_same_path_with_mount_which_never_creates_it_is_allowed(tree):
    source = str(tree / "home/user/project/sub")
    assert decide({"Mounts": [{"Type": "bind", "Source": source, "Target": "/x"}]}).allow
    missing = str(tree / "home/user/none")  # the daemon refuses it itself, and never creates it
    assert decide({"Mounts": [{"Type": "bind", "Source": missing, "Target": "/x"}]}).allow


def test_a_group_or_world_writable_directory_on_the_way_is_refused(tree):
    os.chmod(tree / "srv", 0o775)
    decision = decide({"Binds": ["%s/srv/data:/x" % tree]})
    assert not decision.allow and "group root (which may write" in decision.message
    os.chmod(tree / "srv", 0o757)
    assert "every user (" in decide({"Binds": ["%s/srv/data:/x" % tree]}).message


def test_the_source_is_cleaned_as_the_daemon_cleans_it(tree):
    """path.Clean: "..", "." and repeated slashes are resolved on the text, not on the disk."""
    assert decide({"Binds": ["%s//srv/./empty/../data/:/x" % tree]}).allow
    decision = decide({"Binds": ["%s/home/user/link/../../../srv/new:/x" % tree]})  # = srv/new: missing
    assert not decision.allow and "does not exist" in decision.message


@pytest.mark.parametrize("source", ["/", "/var", "/var/lib/docker", "/var/lib/docker/100000.100000/volumes/v/_data"])
def test_a_bind_that_shows_docker_s_data_directory_is_refused(source):
    for host_config in ({"Binds": [source + ":/x:ro"]}, {"Mounts": [{"Type": "bind", "Source": source, "Target": "/x"}]}):
        decision = decide(host_config)
        assert not decision.allow and decision.rule == "bind-source"
        assert "Docker's data directory /var/lib/docker/100000.100000" in decision.message


def test_a_mount_source_the_daemon_would_read_as_relative_is_refused():
    decision = decide({"Mounts": [{"Type": "bind", "Source": "\\etc\\cron.d", "Target": "/x"}]})
    assert not decision.allow and "relative to its own working directory" in decision.message


def test_volumes_from_takes_over_binds_that_the_daemon_then_creates(tree):
    """--volumes-from copies the other container's binds without their "never create" flag."""
    user_path = str(tree / "home/user/project")
    other = inspect(0x31, "other", mounts=[{"Type": "bind", "Source": user_path, "Destination": "/p"}])
    other["HostConfig"]["Mounts"] = [{"Type": "bind", "Source": user_path, "Target": "/p"}]
    daemon = FakeDaemon([other])
    assert daemon.container("other").creating_binds == ()  # its own --mount bind never creates
    decision = decide({"VolumesFrom": ["other:ro"]}, daemon)
    assert not decision.allow and "--volumes-from other" in decision.message and "user nobody" in decision.message
    root_only = inspect(0x32, "data", mounts=[{"Type": "bind", "Source": str(tree / "srv/data"), "Destination": "/d"}])
    assert decide({"VolumesFrom": ["data"]}, FakeDaemon([root_only])).allow
    assert decide({"VolumesFrom": ["nosuch"]}, FakeDaemon()).allow  # the daemon refuses it


def test_start_restart_and_cp_check_the_binds_again(tree):
    """A -v source removed after create would be created again at the next start."""
    gone = str(tree / "srv/gone")
    box = inspect(0x33, "box", binds=[gone + ":/g"], mounts=[{"Type": "bind", "Source": gone, "Destination": "/g"}])
    daemon = FakeDaemon([box])
    for method, uri in (("POST", "/containers/box/start"), ("POST", "/containers/box/restart"),
                        ("GET", "/containers/box/archive?path=/g")):
        decision = verdict(authz(method, uri, headers={"Content-Length": "0"}), daemon, allow_copy_through_host_mounts=True)
        assert not decision.allow and decision.rule == "bind-source" and "does not exist" in decision.message, uri
    (tree / "srv/gone").mkdir()
    assert verdict(authz("POST", "/containers/box/start", headers={"Content-Length": "0"}), daemon).allow


def test_a_mount_bind_that_vanished_is_left_to_the_daemon_at_start(tree):
    gone = str(tree / "srv/gone")
    box = inspect(0x34, "box", mounts=[{"Type": "bind", "Source": gone, "Destination": "/g"}])
    box["HostConfig"]["Mounts"] = [{"Type": "bind", "Source": gone, "Target": "/g"}]
    assert verdict(authz("POST", "/containers/box/start", headers={"Content-Length": "0"}), FakeDaemon([box])).allow


def test_creates_without_binds_or_volumes_ask_nothing():
    daemon = FakeDaemon()
    assert decide({"NetworkMode": "none", "Tmpfs": {"/t": ""}}, daemon).allow
    assert daemon.lookups == [] and daemon.questions == []


# --- volumes the daemon fills with the image's files (copy-up) -------------------------------------


def volumes(**named):
    return {name: (driver, options) for name, (driver, options) in named.items()}


def test_new_and_unused_named_volumes_are_filled_and_held_until_the_daemon_answers():
    daemon = FakeDaemon(volumes=volumes(kept=("local", {})))
    decision = decide({"Binds": ["fresh:/a", "kept:/b", "/anonymous"], "Mounts": [{"Type": "volume", "Target": "/c"}]}, daemon)
    assert decision.allow and decision.holds == ("fresh", "kept")


def test_a_volume_another_running_container_writes_is_refused_unless_nocopy():
    daemon = FakeDaemon(volumes=volumes(shared=("local", {})),
                        volume_users={"shared": [("writer", "running", True), ("idle", "exited", True)]})
    decision = decide({"Binds": ["shared:/data"]}, daemon)
    assert not decision.allow and decision.rule == "volume-copy"
    assert "container writer can write into it right now" in decision.message and "nocopy" in decision.message
    assert decide({"Binds": ["shared:/data:nocopy"]}, daemon).allow
    assert decide({"Mounts": [{"Type": "volume", "Source": "shared", "Target": "/d", "VolumeOptions": {"NoCopy": True}}]}, daemon).allow
    readers = FakeDaemon(volumes=volumes(shared=("local", {})), volume_users={"shared": [("reader", "running", False)]})
    assert decide({"Binds": ["shared:/data"]}, readers).allow


@pytest.mark.parametrize("case, expected", [
    ("empty", "which is empty"),
    ("missing", "which is missing"),
    ("user", "user nobody"),
    ("full", None),
])
def test_a_volume_that_binds_a_host_directory_is_filled_only_when_it_is_full_and_root_s(tree, case, expected):
    device = {"empty": tree / "srv/empty", "missing": tree / "srv/missing", "user": tree / "home/user/project",
              "full": tree / "srv/data"}[case]
    daemon = FakeDaemon(volumes=volumes(bound=("local", {"type": "none", "o": "bind", "device": str(device)})))
    decision = decide({"Binds": ["bound:/data"]}, daemon)
    if expected is None:
        assert decision.allow and decision.holds == ()  # only root can change it: nothing to hold
    else:
        assert not decision.allow and decision.rule == "volume-copy" and expected in decision.message
        assert decide({"Binds": ["bound:/data:nocopy"]}, daemon).allow


def test_a_volume_made_with_the_container_is_judged_by_the_options_it_is_made_with(tree):
    mount = {"Type": "volume", "Source": "made", "Target": "/d", "VolumeOptions": {"DriverConfig": {
        "Name": "local", "Options": {"type": "none", "o": "bind", "device": str(tree / "srv/empty")}}}}
    decision = decide({"Mounts": [mount]})
    assert not decision.allow and "binds the host directory %s" % (tree / "srv/empty") in decision.message
    # An existing volume of that name is used as it is: the request's options are ignored.
    assert decide({"Mounts": [mount]}, FakeDaemon(volumes=volumes(made=("local", {})))).allow
    anonymous = dict(mount, Source="")
    assert not decide({"Mounts": [anonymous]}).allow


def test_a_volume_that_mounts_a_device_is_refused_before_anything_is_copied():
    daemon = FakeDaemon(volumes=volumes(disk=("local", {"type": "ext4", "device": "/dev/sdb1"})))
    decision = decide({"Binds": ["disk:/d"]}, daemon)
    assert not decision.allow and decision.rule == "volume-options"


@pytest.mark.parametrize("host_config", [
    {"Binds": ["remote:/d"]},
    {"Mounts": [{"Type": "volume", "Source": "new", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Name": "sshfs"}}}]},
    {"Binds": ["/anonymous"], "VolumeDriver": "sshfs"},
])
def test_volumes_the_plugin_cannot_look_into_are_not_filled(host_config):
    daemon = FakeDaemon(volumes=volumes(disk=("local", {"type": "ext4", "device": "/dev/sdb1"}), remote=("sshfs", {})))
    decision = decide(host_config, daemon, allowed_legacy_plugins=["sshfs"])  # past the driver-name rule
    assert not decision.allow and decision.rule == "volume-copy"


def test_a_volume_being_filled_can_be_neither_mounted_nor_started_with():
    daemon = FakeDaemon([inspect(0x35, "racer", mounts=[{"Type": "volume", "Name": "filling", "Destination": "/f"}])],
                        volumes=volumes(filling=("local", {})), held=["filling"])
    for host_config in ({"Binds": ["filling:/x:nocopy"]}, {"Binds": ["filling:/x"]}):
        decision = decide(host_config, daemon)
        assert not decision.allow and "copying an image's files into it for another container" in decision.message
    for method, uri, body in (("POST", "/containers/racer/start", None), ("POST", "/containers/racer/restart", None),
                              ("PUT", "/containers/racer/archive?path=/f", b"tar")):
        decision = verdict(authz(method, uri, body, {"Content-Length": "0" if body is None else "3"}), daemon)
        assert not decision.allow and decision.rule == "volume-copy" and "its volume filling" in decision.message, uri
    assert verdict(authz("POST", "/containers/racer/stop", headers={"Content-Length": "0"}), daemon).allow


def test_holds_end_with_the_daemon_s_answer_to_that_request_or_in_time(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    holds = daemon_lookup.Holds()
    holds.place("POST", "/containers/create?name=a", ("v",))
    holds.place("POST", "/containers/create?name=a", ("w",))
    assert holds.held("v") and holds.held("w") and not holds.held("x")
    holds.release("POST", "/containers/create?name=b")
    assert holds.held("v")
    holds.release("POST", "/containers/create?name=a")
    assert not holds.held("v") and holds.held("w")
    holds.place("POST", "/x", ("late",))
    clock[0] += daemon_lookup.HOLD_TIMEOUT + 1
    assert not holds.held("late") and not holds.held("w")


def test_inspect_host_path_follows_symlinks_like_the_kernel(tree):
    os.symlink("../../srv/./data", tree / "tmp/rootdir/rel")
    where = host_paths.inspect_host_path(str(tree / "tmp/rootdir/rel"))
    assert where.exists and where.is_dir and not where.empty and where.root_only and where.changeable_by == ""
    os.symlink("loop", tree / "srv/loop")
    with pytest.raises(lookups.LookupFailed):
        host_paths.inspect_host_path(str(tree / "srv/loop"))
    assert not host_paths.inspect_host_path(str(tree / "srv/data/file/below")).exists  # a file on the way
    assert host_paths.inspect_host_path(str(tree / "srv/empty")).empty
    assert Path(tree / "srv/data/file").exists() and not host_paths.inspect_host_path(str(tree / "srv/data/file")).is_dir


def test_a_subpath_of_a_volume_that_binds_a_full_directory_is_judged_by_the_subpath(tree):
    """--mount ...,volume-subpath=sbin of a volume binding /usr/local: the daemon fills /usr/local/sbin."""
    daemon = FakeDaemon(volumes=volumes(usrlocal=("local", {"type": "none", "o": "bind", "device": str(tree / "srv")})))
    mount = {"Type": "volume", "Source": "usrlocal", "Target": "/x", "VolumeOptions": {"Subpath": "empty"}}
    decision = decide({"Mounts": [mount]}, daemon)
    assert not decision.allow and "binds the host directory %s, which is empty" % (tree / "srv/empty") in decision.message
    assert decide({"Mounts": [dict(mount, VolumeOptions={"Subpath": "data"})]}, daemon).allow
    assert decide({"Mounts": [dict(mount, VolumeOptions={"Subpath": "empty", "NoCopy": True})]}, daemon).allow
