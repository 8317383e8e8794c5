"""Fuzz: arbitrary bytes and JSON never make the policy raise, and never allow a request that
could carry settings when its body could not be parsed."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import config as config_module
from docker_userns_plugin import gojson, plugin_service, policy, schemas

CONFIG = config_module.validate_config({})
AUDIT = config_module.validate_config({"mode": "audit"})

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)
setting_uris = st.sampled_from([
    "/containers/create", "/v1.41/containers/create?name=x", "/v1.23/containers/abc/start",
    "/services/create", "/plugins/pull?remote=x", "/containers/json", "/_ping",
])


def payload(uri: str, body: bytes) -> dict:
    return {"RequestMethod": "POST", "RequestUri": uri, "RequestBody": base64.b64encode(body).decode()}


def parseable(body: bytes) -> bool:
    try:
        schemas.effective_host_config(body)
        return True
    except gojson.Undecodable:
        return False


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=300))
def test_arbitrary_create_bodies_never_raise_and_unparseable_is_denied(body):
    decision, _request = policy.decide(payload("/containers/create", body), CONFIG)
    if not parseable(body):
        assert not decision.allow


@settings(max_examples=300, deadline=None)
@given(value=json_values, uri=setting_uris)
def test_arbitrary_json_bodies_never_raise(value, uri):
    body = json.dumps(value).encode()
    decision, _request = policy.decide(payload(uri, body), CONFIG)
    assert decision.decision in ("allow", "deny")
    if uri.startswith("/containers/create") and not isinstance(value, dict):
        assert not decision.allow


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_arbitrary_authz_payloads_never_raise(value):
    for config in (CONFIG, AUDIT):
        decision, _request = policy.decide(value, config)
        if not isinstance(value, dict):
            assert not decision.allow


@settings(max_examples=200, deadline=None)
@given(uri=st.text(max_size=60), method=st.sampled_from(["POST", "GET", "post", "PUT", ""]))
def test_arbitrary_request_lines_never_raise(uri, method):
    policy.decide({"RequestMethod": method, "RequestUri": uri}, CONFIG)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_authz_request_bytes_never_crash_the_handler(data):
    server = plugin_service.Plugin(CONFIG, None, "fuzz")
    answer = server.authz_request(data)
    decoded = json.loads(answer)
    assert decoded["Allow"] is False or data.strip().startswith(b"{")
