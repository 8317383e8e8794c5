"""Differential test: the plugin's verdict against what the real daemon does.

Hypothesis generates container-create bodies with the tricks Go's encoding/json allows (key
case and Unicode folding, repeated keys, repeated and null objects, top-level HostConfig
fields, escapes, invalid UTF-8, trailing data, sizes up to just under the 1 MiB the daemon
forwards). Each goes through the daemon with the plugin in audit mode, so the daemon always
acts; the plugin's would-deny must equal whether the daemon really made a container with a
host user namespace.
"""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import TEST_IMAGE

AUDIT = {"mode": "audit", "log_allowed": True}


@pytest.fixture(scope="module")
def audit_plugin(plugin):
    plugin.reconfigure(AUDIT)
    yield plugin
    plugin.reconfigure({})


FOLDS = {"s": ["s", "S", "\u017f"], "k": ["k", "K", "\u212a"]}


@st.composite
def spelled(draw, name: str) -> str:
    """One of the spellings Go's case-insensitive key matching accepts for name."""
    out = []
    for ch in name:
        options = FOLDS.get(ch.lower(), [ch.lower(), ch.upper()])
        out.append(draw(st.sampled_from(options)))
    return "".join(out)


def js(value) -> str:
    return json.dumps(value, ensure_ascii=False)


# "host" is weighted up: it must survive later keys, nulls and merges often enough to matter.
userns_values = st.sampled_from(["host", "host", "host", "host", "", "private", "HOST", "host ", None])


@st.composite
def host_config_object(draw) -> str:
    members = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["userns", "userns", "userns", "other"]))
        if kind == "userns":
            members.append("%s: %s" % (js(draw(spelled("UsernsMode"))), js(draw(userns_values))))
        else:
            members.append("%s: %s" % (js(draw(spelled("Memory"))), "0"))
    return "{%s}" % ", ".join(members)


@st.composite
def create_body(draw) -> bytes:
    members = ["%s: %s" % (js(draw(spelled("Image"))), js(TEST_IMAGE)), '"Cmd": ["true"]']
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["hostconfig", "hostconfig", "hostconfig", "null", "toplevel", "toplevel", "label"]))
        if kind == "hostconfig":
            members.append("%s: %s" % (js(draw(spelled("HostConfig"))), draw(host_config_object())))
        elif kind == "null":
            members.append("%s: null" % js(draw(spelled("HostConfig"))))
        elif kind == "toplevel":
            members.append("%s: %s" % (js(draw(spelled("UsernsMode"))), js(draw(userns_values))))
        else:
            members.append('"Labels": {"k": %s}' % js(draw(st.text(max_size=8))))
    members = draw(st.permutations(members))
    body = ("{%s}" % ", ".join(members)).encode("utf-8")
    if draw(st.booleans()):
        body = body.replace(b'"k"', b'"\xff\xfek"', 1)  # invalid UTF-8 inside a string
    size = draw(st.sampled_from([0, 0, 0, 4096, 200_000, 1_000_000]))
    if size:
        body = body[:-1] + b', "Domainname": "' + b"x" * size + b'"}'
    trailing = draw(st.sampled_from([b"", b"", b" ", b"\n{\"HostConfig\": {\"UsernsMode\": \"host\"}}", b" garbage"]))
    return body + trailing


def plugin_verdict(plugin, container: str) -> dict:
    records = [r for r in plugin.log_records() if r.get("event") == "decision" and ("name=%s" % container) in r.get("path", "")]
    assert len(records) == 1, records
    return records[0]


def run_through_the_daemon(dockerd, plugin, body) -> str:
    """Send one create body; return what the daemon did with it ("host", "not-host", "rejected")
    after checking that the plugin's verdict matches."""
    container = "diff-%s" % uuid.uuid4().hex[:12]
    status, answer = dockerd.api("POST", "/v1.41/containers/create?name=%s" % container, body, {"Content-Type": "application/json"})
    made_host = False
    if status == 201:
        _status, inspect = dockerd.api("GET", "/containers/%s/json" % container)
        made_host = json.loads(inspect)["HostConfig"]["UsernsMode"] == "host"
        dockerd.api("DELETE", "/containers/%s?force=1" % container)
    verdict = plugin_verdict(plugin, container)
    would_deny = verdict["decision"] == "would-deny"
    assert verdict["rule"] in ("", "host-userns"), (body[:300], verdict)
    assert would_deny == made_host, (body[:300], status, answer[:300], verdict)
    return "host" if made_host else "not-host" if status == 201 else "rejected"


def test_would_deny_equals_daemon_made_host_userns_container(dockerd, audit_plugin):
    # The outcomes are counted in this test, for this test's bodies: the check below does not
    # depend on another test having run first.
    outcomes = {"host": 0, "not-host": 0, "rejected": 0}

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=create_body())
    def differential(body):
        outcomes[run_through_the_daemon(dockerd, audit_plugin, body)] += 1

    differential()
    print("differential outcomes:", outcomes)
    # Guards against generating only one kind of body, which would prove little.
    assert outcomes["host"] >= 10 and outcomes["not-host"] >= 10, outcomes
