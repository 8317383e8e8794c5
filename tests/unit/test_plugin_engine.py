"""The engine's known vulnerabilities: which ones each version has, what the plugin refuses on
it, and the fixes a package carries without changing the version (config engine_fixes).

Versions are what GET /version reports: upstream builds ("29.5.1"), Debian's ("26.1.5+dfsg1").
The version guard against a stand-in daemon is in tests/integration/test_engine_versions.py;
against the real Docker 20.10, 26.1 and 28.5, in tests/integration and Molecule.
"""

from __future__ import annotations

import pytest

from docker_userns_plugin import config as config_module
from docker_userns_plugin import engine, lookups
from test_plugin_containers import FakeDaemon, authz, inspect, verdict

ALL = {v.id for v in engine.KNOWN_VULNERABILITIES}
COPY = {"CVE-2026-41568", "CVE-2026-42306"}
BODIES = {"CVE-2026-34040", "CVE-2024-41110"}
BUILDKIT = {"CVE-2026-33747", "CVE-2026-33748"}


def open_ids(version, fixes=None):
    config = config_module.validate_config({"engine_fixes": fixes} if fixes else {})
    return {v.id for v in engine.open_vulnerabilities(version, config)}


@pytest.mark.parametrize("version, expected", [
    ("20.10.24", COPY | BODIES | BUILDKIT | {"docker-cp-a-user", "CVE-2026-33997"}),  # decompresses on the host
    ("20.10.24+dfsg1", COPY | BODIES | BUILDKIT | {"docker-cp-a-user", "CVE-2026-33997"}),
    ("24.0.0", ALL),
    ("24.0.9", ALL),
    ("25.0.5", ALL),
    ("25.0.6", ALL - {"CVE-2024-41110"}),
    ("25.0.16", {"CVE-2026-41567", "CVE-2026-41568", "CVE-2026-42306", "docker-cp-a-user"} | BUILDKIT),
    ("25.0.17", {"docker-cp-a-user"} | BUILDKIT),
    ("26.1.4", ALL),
    ("26.1.5", ALL - {"CVE-2024-41110"}),
    ("26.1.5+dfsg1", ALL - {"CVE-2024-41110"}),
    ("27.1.0", ALL),
    ("27.1.1", ALL - {"CVE-2024-41110"}),
    ("28.5.2", ALL - {"CVE-2024-41110"}),
    ("29.3.0", ALL - {"CVE-2024-41110"}),
    ("29.3.1", {"CVE-2026-41567", "CVE-2026-41568", "CVE-2026-42306", "docker-cp-a-user"}),
    ("29.5.0", {"CVE-2026-41567", "CVE-2026-41568", "CVE-2026-42306", "docker-cp-a-user"}),
    ("29.5.1", {"docker-cp-a-user"}),
    ("29.7.0", set()),
    ("30.0.0", set()),
    ("dev", ALL),  # a version the plugin cannot read has them all
    ("", ALL),
])
def test_each_version_has_its_known_vulnerabilities(version, expected):
    assert open_ids(version) == expected


def test_fixes_a_package_carries_count_for_the_version_they_were_read_for_only():
    trixie = {"version": "26.1.5+dfsg1", "fixed": ["CVE-2026-41567", "CVE-2026-41568", "CVE-2026-42306", "CVE-2026-34040",
                                                   "CVE-2026-33997", "CVE-2026-33747", "CVE-2026-33748", "CVE-2024-41110"]}
    assert open_ids("26.1.5+dfsg1", trixie) == {"docker-cp-a-user"}  # no fix names it: Debian 13 still runs getent
    assert open_ids("26.1.5", trixie) == ALL - {"CVE-2024-41110"}  # another build of 26.1.5: upstream's
    assert open_ids("27.5.1", trixie) == ALL - {"CVE-2024-41110"}  # upgraded since the role ran: assume upstream


@pytest.mark.parametrize("fixes", [
    [], "x", {"version": "1"}, {"fixed": []}, {"version": "", "fixed": []}, {"version": "1", "fixed": [1]},
    {"version": "1", "fixed": [], "extra": 1},
])
def test_engine_fixes_must_name_the_version_and_the_fixes(fixes):
    with pytest.raises(config_module.ConfigError, match="engine_fixes"):
        config_module.validate_config({"engine_fixes": fixes})


# --- what is refused on which engine -------------------------------------------------------------

BOX = inspect(0x51, "box")
USER_BOX = dict(inspect(0x52, "userbox"), Config={"User": "1000:1000"})
CP = [("GET", "/containers/box/archive?path=/etc"), ("HEAD", "/containers/box/archive?path=/etc"),
      ("PUT", "/containers/box/archive?path=/tmp")]


def on(version, *containers):
    return FakeDaemon(list(containers) or [BOX, USER_BOX], version=version)


def cp(method, uri, daemon, **config):
    body = {"Resource": "/etc"} if uri.endswith("/copy") else (b"tar" if method == "PUT" else None)
    headers = {"Content-Type": "application/json" if uri.endswith("/copy") else "application/x-tar", "Content-Length": "3"}
    return verdict(authz(method, uri, body, headers), daemon, **config)


@pytest.mark.parametrize("method, uri", CP)
@pytest.mark.parametrize("version", ["20.10.24+dfsg1", "24.0.9", "28.5.2", "29.5.0"])
def test_docker_cp_is_refused_where_its_mount_setup_races(method, uri, version):
    decision = cp(method, uri, on(version))
    assert not decision.allow and decision.rule == "engine-vulnerability"
    assert "CVE-2026-41568" in decision.message and "CVE-2026-42306" in decision.message
    assert "Fixed in Docker 29.5.1" in decision.message and version in decision.message
    assert "docker exec -i CONTAINER tar -x" in decision.message


@pytest.mark.parametrize("method, uri", CP)
def test_docker_cp_works_where_it_is_fixed(method, uri):
    assert cp(method, uri, on("29.7.2")).allow
    fixed = {"version": "20.10.24+dfsg1", "fixed": sorted(COPY)}
    assert cp(method, uri, on("20.10.24+dfsg1"), engine_fixes=fixed).allow  # 20.10 decompresses on the host


def test_copying_into_a_container_is_refused_where_the_daemon_runs_its_decompressors():
    fixed: dict = {"version": "26.1.5+dfsg1", "fixed": sorted(COPY)}
    decision = cp("PUT", "/containers/box/archive?path=/tmp", on("26.1.5+dfsg1"), engine_fixes=fixed)
    assert not decision.allow and "CVE-2026-41567" in decision.message and "xz or unpigz" in decision.message
    assert cp("GET", "/containers/box/archive?path=/tmp", on("26.1.5+dfsg1"), engine_fixes=fixed).allow
    fixed["fixed"].append("CVE-2026-41567")
    assert cp("PUT", "/containers/box/archive?path=/tmp", on("26.1.5+dfsg1"), engine_fixes=fixed).allow


@pytest.mark.parametrize("query, refused", [
    ("copyUIDGID=1", True), ("copyUIDGID=true", True), ("copyUIDGID=off", True), ("copy%55IDGID=1", True),
    ("copyUIDGID=+yes+", True), ("copyUIDGID=0&copyUIDGID=1", False), ("copyUIDGID=1&copyUIDGID=0", True),
    ("copyUIDGID=0", False), ("copyUIDGID=false", False), ("copyUIDGID=None", False), ("", False),
])
def test_cp_a_into_a_container_with_a_user_is_refused_before_29_7(query, refused):
    decision = cp("PUT", "/containers/userbox/archive?path=/tmp&" + query, on("29.5.1"))
    assert decision.allow is not refused
    if refused:
        assert "docker-cp-a-user" in decision.message and "runs as user 1000:1000" in decision.message
        assert "chown" in decision.message
    assert cp("PUT", "/containers/box/archive?path=/tmp&" + query, on("29.5.1")).allow  # no user: remapped owners
    assert cp("PUT", "/containers/userbox/archive?path=/tmp&" + query, on("29.7.0")).allow


def test_a_parameter_the_daemon_does_not_read_is_refused_all_the_same():
    # Go reads query keys case-sensitively, so the daemon ignores copyuidgid; unreviewed, it is refused.
    decision = cp("PUT", "/containers/userbox/archive?path=/tmp&copyuidgid=1", on("29.7.2"))
    assert (decision.allow, decision.rule) == (False, "unreviewed") and "archive-write:?copyuidgid" in decision.message


def test_cp_parameters_in_a_form_body_are_refused():
    decision = verdict(authz("PUT", "/containers/box/archive?path=/tmp", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Content-Length": "20"}), on("29.7.2"))
    assert not decision.allow and decision.rule == "unseen-body" and "form body" in decision.message


def test_allowed_plugins_are_not_installed_where_their_privileges_are_checked_wrongly():
    config = {"allowed_plugins": ["vieux/sshfs"]}
    pull = authz("POST", "/plugins/pull?remote=vieux/sshfs", [], {"Content-Type": "application/json", "Content-Length": "2"})
    decision = verdict(pull, on("29.3.0"), **config)
    assert not decision.allow and "CVE-2026-33997" in decision.message and "Fixed in Docker 29.3.1" in decision.message
    assert verdict(pull, on("29.3.1"), **config).allow
    assert verdict(authz("POST", "/plugins/vieux/sshfs:latest/enable"), on("29.3.0"), **config).allow


@pytest.mark.parametrize("uri, buildkit", [
    ("/v1.41/build?version=2&t=x", True), ("/grpc", True), ("/session", False), ("/build?t=x", False),
    ("/build?version=1", False),
])
def test_buildkit_builds_are_refused_where_buildkit_reaches_outside_its_state(uri, buildkit):
    decision = verdict(authz("POST", uri, headers={"Content-Type": "application/x-tar"}), on("29.3.0"))
    assert decision.allow is not buildkit
    if buildkit:
        assert "CVE-2026-33747" in decision.message and "DOCKER_BUILDKIT=0" in decision.message
    assert verdict(authz("POST", uri, headers={"Content-Type": "application/x-tar"}), on("29.3.1")).allow


def test_a_build_version_the_daemon_does_not_know_is_refused():
    decision = verdict(authz("POST", "/build?version=2.0", headers={"Content-Type": "application/x-tar"}), on("29.7.2"))
    assert (decision.allow, decision.rule) == (False, "refused-field") and "'1' or '2'" in decision.message


def test_the_build_version_cannot_hide_in_a_form_body():
    decision = verdict(authz("POST", "/build", headers={"Content-Type": "application/x-www-form-urlencoded"}), on("29.7.2"))
    assert not decision.allow and decision.rule == "unseen-body"


def test_a_hidden_body_is_refused_on_every_engine_and_named_where_the_engine_hides_it():
    big = authz("POST", "/containers/create", headers={"Content-Type": "application/json", "Content-Length": "1048576"})
    old = verdict(big, on("29.3.0"))
    assert not old.allow and old.rule == "unseen-body" and "CVE-2026-34040" in old.message
    chunked = verdict(authz("POST", "/containers/create", headers={"Content-Type": "application/json"}), on("26.1.4"))
    assert "CVE-2024-41110" in chunked.message
    new = verdict(big, on("29.7.2"))
    assert not new.allow and new.rule == "unseen-body" and "CVE-" not in new.message


def test_an_engine_that_cannot_be_asked_its_version_fails_closed():
    class Silent(FakeDaemon):
        def engine_version(self):
            raise lookups.LookupFailed("cannot ask the Docker daemon (test)")
    decision = cp("GET", "/containers/box/archive?path=/etc", Silent([BOX]))
    assert not decision.allow and decision.rule == "lookup-failed"
    big = authz("POST", "/containers/create", headers={"Content-Type": "application/json", "Content-Length": "1048576"})
    assert verdict(big, Silent()).rule == "unseen-body"  # refused all the same, without the note


def test_requests_about_none_of_this_never_ask_the_version():
    daemon = on("20.10.24")
    for method, uri in (("GET", "/containers/json"), ("POST", "/containers/box/stop"), ("POST", "/containers/box/exec"),
                        ("GET", "/images/json"), ("POST", "/build?t=x")):
        body = {"Cmd": ["true"]} if uri.endswith("exec") else None
        verdict(authz(method, uri, body, {"Content-Type": "application/json", "Content-Length": "0" if body is None else "9"}), daemon)
    assert "version" not in daemon.questions


def test_a_buildx_fallback_to_a_builder_container_says_why_where_buildkit_is_refused():
    # buildx probes /grpc; refused there, it starts BuildKit in a container with --userns=host.
    body = {"Image": "moby/buildkit:buildx-stable-1", "HostConfig": {"UsernsMode": "host", "Privileged": True}}
    old = verdict(authz("POST", "/containers/create?name=buildx_buildkit_default", body), on("28.5.2"))
    assert old.rule == "host-userns" and "userns=host is not allowed" in old.message
    assert "refuses BuildKit builds" in old.message and "DOCKER_BUILDKIT=0" in old.message and "CVE-2026-33747" in old.message
    assert "docker buildx use default" in old.message  # for an explicit docker-container builder, still true
    new = verdict(authz("POST", "/containers/create?name=buildx_buildkit_mybuilder0", body), on("29.7.2"))
    assert "docker buildx use default" in new.message and "refuses BuildKit" not in new.message
