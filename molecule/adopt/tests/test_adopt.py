"""Hosts in use, adopted and given back: run after the switch (phase "remapped") and again after the removal
with the remapping removed (phase "removed"); each test asserts what must hold in the phase it finds."""

import json

import pytest

from hosttest.fixtures import REFUSAL, SNAPSHOT_DIR, docker_run

RANGE_START = 131072  # the role's dockremap range on these fresh hosts: the first multiple of 65536 from 100000
DB_FACTS = (
    "import hashlib, json, sqlite3\n"
    "digest = hashlib.sha256(open('/data/db.sqlite', 'rb').read()).hexdigest()\n"
    "rows = sqlite3.connect('file:/data/db.sqlite?mode=ro', uri=True).execute('SELECT count(*) FROM t').fetchone()[0]\n"
    "print(json.dumps({'sha256': digest, 'rows': rows}))\n"
)


@pytest.fixture(scope="module")
def phase(host):
    marker = host.file(f"{SNAPSHOT_DIR}/phase")
    return marker.content_string.strip() if marker.exists else "remapped"


@pytest.fixture(scope="module")
def seeded(host):
    return json.loads(host.file(f"{SNAPSHOT_DIR}/seeded.json").content_string)


def evidence(host, name):
    return json.loads(host.file(f"{SNAPSHOT_DIR}/{name}.json").content_string)


def data_dir(phase):
    return "/var/lib/docker/%d.%d" % (RANGE_START, RANGE_START) if phase == "remapped" else "/var/lib/docker"


def inspect(host, name):
    return json.loads(host.check_output("docker inspect %s", name))[0]


def test_remapping_is_on_after_the_switch_and_off_after_the_removal(host, phase):
    options = host.check_output("docker info --format '{{json .SecurityOptions}}'")
    root = host.check_output("docker info --format '{{.DockerRootDir}}'")
    assert ("name=userns" in options) == (phase == "remapped")
    assert root == data_dir(phase)
    if phase == "remapped":
        assert host.file("/etc/subuid").contains("^dockremap:%d:65536$" % RANGE_START)


def test_every_container_image_and_volume_is_there_with_its_name_and_id(host, phase, seeded):
    names = dict(line.split() for line in host.check_output("docker ps --all --no-trunc --format '{{.Names}} {{.ID}}'").splitlines())
    assert names["db"] == seeded["ids"]["db"] and names["hostnet"] == seeded["ids"]["hostnet"]
    images = host.check_output("docker images --format '{{.Repository}}:{{.Tag}}'").split()
    assert {"busybox:local", "python:local", "local/only-here:1"} <= set(images)
    volumes = host.check_output("docker volume ls --quiet").split()
    assert "dbdata" in volumes
    if phase == "removed":  # made while remapped, carried back
        assert "made-remapped" in names and "newvol" in volumes


def test_the_database_container_runs_with_its_configuration(host, phase):
    db = inspect(host, "db")
    assert db["State"]["Running"] is True  # it ran before each switch: the role started it again
    assert db["Config"]["Image"] == "python:local" and db["HostConfig"]["NetworkMode"] == "none"
    [mount] = db["Mounts"]
    assert (mount["Type"], mount["Name"], mount["Destination"]) == ("volume", "dbdata", "/data")
    assert mount["Source"] == data_dir(phase) + "/volumes/dbdata/_data"
    assert db["LogPath"].startswith(data_dir(phase) + "/containers/")
    uid_map = host.check_output("docker exec db python3 -c %s", "print(open('/proc/self/uid_map').read())").split()
    assert uid_map[:2] == (["0", str(RANGE_START)] if phase == "remapped" else ["0", "0"])


def test_the_database_matches_its_checksum(host, phase, seeded):
    facts = json.loads(host.check_output("docker exec db python3 -c %s", DB_FACTS))
    want = seeded["db"] if phase == "remapped" else evidence(host, "remapped")["db"]
    assert facts == want
    if phase == "removed":
        assert facts["rows"] == 1250  # 250 rows written while remapped came back


def test_volume_owners_are_shifted_into_the_range_and_back(host, phase):
    shift = RANGE_START if phase == "remapped" else 0
    volume = data_dir(phase) + "/volumes/dbdata/_data"
    for path, owner in (("db.sqlite", 0), ("server", 70), ("server/owned-by-70", 70)):
        found = host.file("%s/%s" % (volume, path))
        assert (found.uid, found.gid) == (owner + shift, owner + shift), path
    # Inside, the container sees its own ids either way.
    listing = host.check_output("docker exec db python3 -c %s", "import os; s = os.stat('/data/server/owned-by-70'); print(s.st_uid, s.st_gid)")
    assert listing == "70 70"


def test_the_image_no_registry_has_runs_with_its_files(host, phase):
    result = docker_run(host, "local/only-here:1", "sh", "-c", "cat /marker; stat -c %u:%g /owned")
    assert result.rc == 0, result.stderr
    assert result.stdout.split() == ["only", "here", "1234:5678"]


def test_the_host_network_container_is_carried_but_cannot_start_remapped(host, phase):
    hostnet = inspect(host, "hostnet")
    assert hostnet["HostConfig"]["NetworkMode"] == "host"
    result = host.run("docker start hostnet")
    if phase == "remapped":
        assert result.rc != 0 and "cannot share the host's network namespace when user namespaces are enabled" in result.stderr
    else:
        assert result.rc == 0, result.stderr
        host.run("docker stop --time 1 hostnet")


def test_the_preflight_named_it_before_the_switch(host):
    refusal = host.file(f"{SNAPSHOT_DIR}/refusal.txt").content_string
    assert "hostnet" in refusal and "--network host" in refusal and "Nothing was changed" in refusal


def test_the_old_data_directory_stays_untouched_while_remapped(host, phase, seeded):
    if phase == "remapped":
        # The plain data directory keeps the database as it was seeded (the operator removes it when satisfied).
        sha = host.check_output("sha256sum /var/lib/docker/volumes/dbdata/_data/db.sqlite").split()[0]
        assert sha == seeded["db"]["sha256"]
        assert host.file("/var/lib/docker/containers/%s/config.v2.json" % seeded["ids"]["db"]).exists
    else:
        # The remapped one stays too, and what the plain one held before is moved aside, not deleted.
        assert host.file("/var/lib/docker/%d.%d/containers/%s" % (RANGE_START, RANGE_START, seeded["ids"]["db"])).is_directory
        aside = host.check_output("ls -d /var/lib/docker/.docker-userns-carry/replaced-back-*/containers/%s" % seeded["ids"]["db"])
        assert aside


def test_the_carry_logged_its_progress_and_left_no_pending_journal(host, phase):
    log = host.file("/var/lib/docker/.docker-userns-carry/progress.log").content_string
    assert "carry forward /var/lib/docker -> /var/lib/docker/%d.%d: done" % (RANGE_START, RANGE_START) in log
    assert ("carry back /var/lib/docker/%d.%d -> /var/lib/docker: done" % (RANGE_START, RANGE_START) in log) == (phase == "removed")
    journal = json.loads(host.file("/var/lib/docker/.docker-userns-carry/journal.json").content_string)
    assert journal["phase"] == "done" and journal["direction"] == ("forward" if phase == "remapped" else "back")
    assert not host.file("/var/lib/docker/.docker-userns-carry/stage").exists


def test_written_while_remapped_came_back_with_owners_shifted_down(host, phase):
    if phase != "removed":
        assert "newvol" not in host.check_output("docker volume ls --quiet").split()  # the side effect makes it
        return
    result = docker_run(host, "--volume", "newvol:/v", "busybox:local", "stat", "-c", "%u:%g %n", "/v/file")
    assert result.rc == 0 and result.stdout.strip() == "33:33 /v/file"
    assert host.file("/var/lib/docker/volumes/newvol/_data/file").uid == 33


def test_enforcement_matches_the_phase(host, phase, test_image):
    result = docker_run(host, "--userns=host", test_image, "true")
    if phase == "remapped":
        assert result.rc != 0 and REFUSAL in result.stderr
    else:
        assert result.rc == 0, result.stderr


# --- observe mode, before the switch (converge's first play) ------------------------------------------


@pytest.fixture(scope="module")
def observed(host):
    return evidence(host, "observed")


def test_observe_mode_switched_nothing_and_stopped_nothing(observed):
    options, root = observed["info"].rsplit(" ", 1)
    assert "name=userns" not in options and root == "/var/lib/docker"
    started_after, running = observed["db_after"].split()
    assert started_after == observed["db_started_before"] and running == "true"


def test_the_observe_report_names_what_would_break_and_what_would_be_refused(observed):
    report = observed["report"]
    assert report["error"] == "" and report["requests"] > 0
    assert "remap-refuses" in report["would_break"] and "bind-ownership" in report["would_break"]
    assert "host-userns" in report["rules"]
    assert report["counts"]["would-deny"]["host-userns"] >= 1
    assert report["ready"] is False and "would break" in report["verdict"]
    example = report["break_examples"]["remap-refuses"][0]
    assert "--network host" in example["reason"]


def test_the_observe_report_names_what_the_switch_would_hide_with_sizes(observed, seeded):
    inventory = observed["inventory"]
    containers = {c["name"]: c for c in inventory["containers"]}
    assert {"db", "hostnet"} <= set(containers)
    assert any("local/only-here:1" in image["tags"] for image in inventory["images"])
    volumes = {v["name"]: v for v in inventory["volumes"]}
    assert volumes["dbdata"]["size"] > 0 and "db" in volumes["dbdata"]["used_by"]


def test_the_plugins_report_names_the_container_that_could_not_run_remapped(observed):
    assert [entry["name"] for entry in observed["would_break"]] == ["hostnet"]
    assert "--network host" in observed["would_break"][0]["reasons"][0]
