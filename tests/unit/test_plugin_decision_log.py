"""The plugin's decision log lines say what each request was about (for the decision report):
the container, exec or plugin in the route and, for a create, the image and the name."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import config as config_module
from docker_userns_plugin import plugin_service


def decide_and_log(capfd, method, uri, body=None, headers=None, **config):
    """One AuthZReq through Plugin.authz_request, as the transport calls it; the line it logged."""
    payload = {"User": "", "RequestMethod": method, "RequestUri": uri, "RequestHeaders": headers or {}}
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        payload["RequestBody"] = base64.b64encode(raw).decode()
    server = plugin_service.Plugin(config_module.validate_config(config), None, "test")
    answer = json.loads(server.authz_request(json.dumps(payload).encode()))
    lines = capfd.readouterr().err.splitlines()
    assert len(lines) <= 1, lines
    return answer, (json.loads(lines[0]) if lines else None)


def test_a_refused_create_names_its_image_and_container_name(capfd):
    body = {"Image": "registry.example/app:1.2", "HostConfig": {"UsernsMode": "host"}}
    answer, line = decide_and_log(capfd, "POST", "/v1.41/containers/create?name=web-1", body)
    assert answer["Allow"] is False
    assert line["decision"] == "deny" and line["rule"] == "host-userns"
    assert line["image"] == "registry.example/app:1.2" and line["name"] == "web-1"
    assert "target" not in line  # a create's route names no container


def test_a_would_deny_create_in_audit_mode_names_them_too(capfd):
    # The daemon reads keys case-insensitively, and Image sits beside the HostConfig fields.
    body = {"image": "busybox:local", "UsernsMode": "host"}
    answer, line = decide_and_log(capfd, "POST", "/containers/create", body, mode="audit")
    assert answer["Allow"] is True
    assert (line["decision"], line["rule"], line["mode"]) == ("would-deny", "host-userns", "audit")
    assert line["image"] == "busybox:local" and line["name"] == ""


def test_a_refused_request_on_a_container_names_the_container(capfd):
    body = {"Binds": ["/:/host"]}
    answer, line = decide_and_log(capfd, "POST", "/v1.23/containers/db-primary/start", body)
    assert answer["Allow"] is False and line["rule"] == "api-version"
    assert line["target"] == "db-primary" and "image" not in line


def test_a_refused_plugin_operation_names_the_plugin(capfd):
    _answer, line = decide_and_log(capfd, "POST", "/plugins/vieux%2Fsshfs:latest/enable", mode="audit")
    assert line["decision"] == "would-deny" and line["rule"] == "managed-plugins"
    assert line["target"] == "vieux/sshfs:latest"


def test_an_unreadable_create_body_is_still_logged_with_an_empty_image(capfd):
    for body in (b'{"Image": 7, "HostConfig": {"UsernsMode": 7}}', b'{"Image": "busybox", "HostConfig": '):
        answer, line = decide_and_log(capfd, "POST", "/containers/create?name=x", body)
        assert answer["Allow"] is False and line["rule"] == "unreadable-body"
        assert line["image"] == "" and line["name"] == "x"


def test_an_allowed_create_logged_with_log_allowed_skips_the_body(capfd):
    _answer, line = decide_and_log(capfd, "POST", "/containers/create?name=ok", {"Image": "busybox"}, log_allowed=True)
    assert line["decision"] == "allow" and line["name"] == "ok" and "image" not in line


def test_an_unreadable_request_is_logged_without_what_it_was_about(capfd):
    answer, line = decide_and_log(capfd, "POST", "/containers/%zz/create")
    assert answer["Allow"] is False and line["rule"] == "unreadable-request"
    assert "target" not in line and "image" not in line and "name" not in line


def test_long_references_are_cut_so_the_line_stays_valid_json(capfd):
    body = {"Image": "i" * 5000, "HostConfig": {"UsernsMode": "host"}}
    _answer, line = decide_and_log(capfd, "POST", "/containers/create?name=" + "n" * 5000, body)
    assert len(line["image"]) == 200 and len(line["name"]) == 100
