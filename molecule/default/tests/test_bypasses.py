"""Known bypasses of a naive userns plugin, tried against this host's own Docker (20.10 on
Debian 12, 26.1 on Debian 13, 28.5 on Debian forky): every attempt refused, every control
accepted; then the ways around the remapping that do not create a host-userns container
(containers already outside it, docker cp through host-backed mounts, version spellings, hidden
bodies): nothing escapes."""

import json

import pytest

from hosttest.fixtures import REFUSAL, REMOTE_PROBE, copy_probe


@pytest.fixture(scope="module")
def probe_results(host, test_image):
    return json.loads(host.check_output("python3 %s --image %s", copy_probe(host), test_image))


def test_every_case_was_tried(probe_results):
    assert len(probe_results) >= 10


def test_every_bypass_attempt_is_refused_by_the_plugin(probe_results):
    for result in probe_results:
        attempt = result["attempt"]
        assert attempt["status"] == 403 and REFUSAL in attempt["message"], result
        assert not attempt["host_userns_created"], result


def test_every_control_is_accepted_by_the_daemon(probe_results):
    # Without the host namespace the same bodies create containers: the refusals above are
    # the plugin's, not the daemon rejecting malformed JSON.
    for result in probe_results:
        assert result["control"]["status"] == 201, result


@pytest.fixture(scope="module")
def generated_results(host, probe_results, test_image):
    # probe_results has copied the probe into the host already.
    return json.loads(host.check_output("python3 %s --image %s --generated 150 --seed 7", REMOTE_PROBE, test_image))


def test_no_generated_body_gets_a_host_userns_container(generated_results):
    escaped = [r for r in generated_results if r["host_userns_created"]]
    assert not escaped, escaped[:3]


def test_generated_bodies_were_both_refused_and_created(generated_results):
    # Guards the test above: the corpus must hold bodies the plugin refuses and bodies the
    # daemon accepts, or it proves nothing.
    refused = sum(r["refused_by_plugin"] for r in generated_results)
    created = sum(r["status"] == 201 for r in generated_results)
    assert refused >= 20 and created >= 20, (refused, created)


@pytest.fixture(scope="module")
def class_results(host, probe_results, test_image, outside_containers):
    out = host.check_output(
        "python3 %s --image %s --classes existing,mounts,routes --outside %s --outside-stopped %s --pending-exec %s",
        REMOTE_PROBE, test_image, outside_containers["running"], outside_containers["stopped"], outside_containers["pending_exec"])
    return json.loads(out)


def test_every_class_of_bypass_was_tried(class_results):
    assert {r["class"] for r in class_results} == {"existing", "mounts", "routes"}
    assert len(class_results) == 28


def test_nothing_gets_around_the_remapping(class_results):
    escaped = [r for r in class_results if r["escaped"]]
    assert not escaped, escaped
    for result in class_results:
        # 403 from the plugin, or the daemon's own refusal where this version has no such route
        # (the old copy route) or no such API version (a pre-1.24 start on Docker 26 and later).
        assert not 200 <= result["attempt"]["status"] < 300, result


def test_containers_outside_the_remapping_are_refused_by_the_plugin(class_results):
    for result in class_results:
        if result["class"] == "existing":
            assert result["attempt"]["status"] == 403 and REFUSAL in result["attempt"]["message"], result


def test_the_controls_on_remapped_containers_work(suite, class_results):
    # Debian 12's Docker carries no fix for docker cp's mount-setup races: there the plugin
    # refuses docker cp itself, the controls included (test_root_work.py covers that refusal).
    cp_refused = suite == "bookworm"
    for result in class_results:
        control = result["control"]
        if control is None:
            continue
        # (A HEAD answer has no body to carry the message.)
        if cp_refused and control["status"] == 403 and ("CVE-2026-41568" in control["message"] or result["case"].startswith("HEAD")):
            continue
        assert 200 <= control["status"] < 300 or control["status"] == 101, result
