"""The default deny on this host's real Docker (20.10 on Debian 12, 26.1 on Debian 13, 28.5 on
Debian forky), through the bypass probe's classes drivers, volumeopts, devices, hooks and
unreviewed: every attempt refused by the plugin with the rule the probe names (the plugin's
journal says which rule refused it), nothing escapes, every control works.

Then, with the plugin in audit mode (nothing refused), what each engine does with what the
volumeopts, devices and hooks classes ask: a remapped container writes into a root-owned host
directory through an overlay volume, sees the host's processes through a proc volume and reads
another volume's file through a bind of the data directory; device grants start; --device
/dev/null:FILE shows the host's FILE; Docker 24 and later pass an annotation to the runtime.
(The drivers class stays out of audit mode here: a legacy plugin the daemon has found stays
registered, and once its socket is gone every lookup of an unknown volume name waits on it,
which would slow the later tests on this host.)
"""

import json

import pytest

from hosttest.fixtures import PLUGIN_NAME, PLUGIN_SERVICE, set_plugin_mode

CLASSES = {"drivers": 6, "volumeopts": 5, "devices": 4, "hooks": 4, "unreviewed": 4}
REFUSAL = "authorization denied by plugin %s" % PLUGIN_NAME
UNKNOWN_ROUTE = "an unknown route (GET /v1.41/due-probe/unknown)"
ANNOTATION = "--annotation run.oci.hooks.stdout=/etc/nologin"


@pytest.fixture(scope="module")
def enforced(probe):
    return probe(",".join(CLASSES))


def rule_of(host, message):
    """The rule of the plugin's journalled refusal whose reason the daemon's message carries."""
    rules = []
    for line in host.check_output("journalctl -u %s -o cat --no-pager", PLUGIN_SERVICE).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        reason = record.get("reason", "") if isinstance(record, dict) and record.get("decision") == "deny" else ""
        if reason and (reason[:60] in message or json.dumps(reason[:60])[1:-1] in message):
            rules.append(record["rule"])
    return rules[-1] if rules else None


def test_every_default_deny_case_was_tried(enforced):
    assert {name: sum(r["class"] == name for r in enforced) for name in CLASSES} == CLASSES


def test_nothing_gets_past_the_default_deny(enforced):
    escaped = [r for r in enforced if r["escaped"]]
    assert not escaped, escaped
    assert [r["requests"] for r in enforced if r["class"] == "drivers"] == [[]] * CLASSES["drivers"]  # no stand-in was called


def test_every_attempt_is_refused_by_its_rule(host, enforced):
    for result in enforced:
        attempt = result["attempt"]
        if result["case"] == UNKNOWN_ROUTE:
            # The daemon's router answers a route it does not have before any plugin is asked.
            assert attempt["status"] == 404 and rule_of(host, attempt["message"]) is None, result
            continue
        assert attempt["status"] == 403 and REFUSAL in attempt["message"], result
        assert rule_of(host, attempt["message"]) == result["rule"], result


def test_every_control_works(enforced):
    for result in enforced:
        control = result["control"]
        if control is not None:
            assert control["status"] in (200, 201, 204) and control.get("exit") in (None, 0), result


def test_without_the_plugin_volume_options_device_grants_and_annotations_do_what_they_ask(host, probe, suite):
    set_plugin_mode(host, "audit")
    try:
        by_class = {name: probe(name) for name in ("volumeopts", "devices", "hooks")}
    finally:
        set_plugin_mode(host, "enforce")
    # The host directory written, the host's PID 1 seen, another volume's file read through the data root.
    assert all(r["escaped"] and r["effect"] for r in by_class["volumeopts"]), by_class["volumeopts"]
    assert all(r["escaped"] for r in by_class["devices"]), by_class["devices"]
    assert [r["effect"] for r in by_class["devices"] if "a host file under remapping" in r["case"]] == [True], by_class["devices"]
    # The runtime, GPU and CDI requests fail in the daemon here (no such shim, no NVIDIA or CDI
    # device); an annotation reaches the runtime from Docker 24 on (API 1.43).
    hooks = {r["case"]: r["escaped"] for r in by_class["hooks"]}
    assert hooks == {case: case == ANNOTATION and suite != "bookworm" for case in hooks}, by_class["hooks"]
