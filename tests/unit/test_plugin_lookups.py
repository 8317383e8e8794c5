"""The plugin's daemon lookup: what it caches (facts of a full container ID, which never change)
and what it never caches (names and prefixes, which can point elsewhere at any time).

A fake API object stands in for the daemon's HTTP answers; the real client is exercised against
a real dockerd in tests/integration/test_existing_containers.py.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import config as config_module
from docker_userns_plugin import containers, daemon_api, daemon_lookup, lookups, plugin_service

A, B = "a1" * 32, "b2" * 32


def description(cid, name, userns=""):
    return {"Id": cid, "Name": "/" + name, "HostConfig": {"UsernsMode": userns}, "Mounts": []}


class FakeAPI(daemon_api.DockerAPI):
    """The daemon's API answering from a table (path -> (status, value)), recording what was asked."""

    def __init__(self, answers):
        super().__init__("/nonexistent/docker.sock")
        self.answers = answers
        self.asked: list = []

    def get(self, path):
        self.asked.append(unquote(path))
        return self.answers.get(unquote(path), (404, None))


def test_full_ids_are_cached_names_are_not():
    api = FakeAPI({"/containers/web/json": (200, description(A, "web")), "/containers/%s/json" % A: (200, description(A, "web"))})
    lookup = daemon_lookup.DaemonLookup(api)
    assert getattr(lookup.container("web"), "id", None) == A
    assert getattr(lookup.container("web"), "id", None) == A
    assert api.asked == ["/containers/web/json"] * 2  # a name is asked every time
    assert getattr(lookup.container(A), "id", None) == A  # known by ID from the name's answer
    assert api.asked == ["/containers/web/json"] * 2


def test_no_cache_when_disabled():
    api = FakeAPI({"/containers/%s/json" % A: (200, description(A, "web"))})
    lookup = daemon_lookup.DaemonLookup(api, cache=False)
    lookup.container(A)
    lookup.container(A)
    assert len(api.asked) == 2


def test_a_404_is_none_and_is_not_cached():
    api = FakeAPI({})
    lookup = daemon_lookup.DaemonLookup(api)
    assert lookup.container(A) is None and lookup.container(A) is None
    assert len(api.asked) == 2


def test_a_hex_name_hiding_another_container_s_id_prefix_is_refused():
    # "b2b2" names container A, and is also the beginning of container B's ID: once A loses the
    # name, the daemon would resolve "b2b2" to B.
    filters = "/containers/json?all=1&filters=" + json.dumps({"id": ["b2b2"]})
    api = FakeAPI({"/containers/b2b2/json": (200, description(A, "b2b2")), filters: (200, [{"Id": B}, {"Id": A}])})
    with pytest.raises(lookups.LookupFailed, match="also the beginning of container b2b2b2b2b2b2's ID"):
        daemon_lookup.DaemonLookup(api).container("b2b2")


def test_a_hex_name_with_no_other_container_behind_it_is_fine():
    filters = "/containers/json?all=1&filters=" + json.dumps({"id": ["cafe"]})
    api = FakeAPI({"/containers/cafe/json": (200, description(A, "cafe")), filters: (200, [{"Id": A}])})
    assert getattr(daemon_lookup.DaemonLookup(api).container("cafe"), "id", None) == A


def test_an_id_prefix_or_a_non_hex_name_needs_no_extra_question():
    api = FakeAPI({"/containers/a1a1/json": (200, description(A, "x")), "/containers/web-1/json": (200, description(B, "web-1"))})
    lookup = daemon_lookup.DaemonLookup(api)
    lookup.container("a1a1")
    lookup.container("web-1")
    assert api.asked == ["/containers/a1a1/json", "/containers/web-1/json"]


def test_exec_to_container_is_cached_by_exact_exec_id():
    api = FakeAPI({"/exec/e1/json": (200, {"ID": "e1", "ContainerID": A})})
    lookup = daemon_lookup.DaemonLookup(api)
    assert lookup.exec_container_id("e1") == A and lookup.exec_container_id("e1") == A
    assert api.asked == ["/exec/e1/json"]


def test_an_exec_without_container_fails_closed():
    api = FakeAPI({"/exec/e1/json": (200, {"ID": "e1"})})
    with pytest.raises(lookups.LookupFailed):
        daemon_lookup.DaemonLookup(api).exec_container_id("e1")


def test_volumes_are_cached_per_container_using_them():
    api = FakeAPI({"/volumes/v": (200, {"Name": "v", "Driver": "local", "Options": {"o": "bind", "device": "/etc", "type": "none"}})})
    lookup = daemon_lookup.DaemonLookup(api)
    assert getattr(lookup.volume("v", A), "options", {}).get("device") == "/etc"
    lookup.volume("v", A)
    lookup.volume("v", B)  # another container: the volume may have been made again since
    assert api.asked == ["/volumes/v", "/volumes/v"]


def test_unexpected_answers_fail_closed():
    api = FakeAPI({"/containers/x/json": (200, ["not", "an", "object"]), "/volumes/v": (200, "text")})
    with pytest.raises(lookups.LookupFailed):
        daemon_lookup.DaemonLookup(api).container("x")
    with pytest.raises(lookups.LookupFailed):
        daemon_lookup.DaemonLookup(api).volume("v", A)


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(daemon_lookup, "CACHE_SIZE", 3)
    ids = ["%064x" % n for n in range(5)]
    api = FakeAPI({"/containers/%s/json" % i: (200, description(i, "c%s" % i[-1])) for i in ids})
    lookup = daemon_lookup.DaemonLookup(api)
    for i in ids:
        lookup.container(i)
    assert len(lookup.containers) == 3 and ids[0] not in lookup.containers


def test_a_reload_starts_with_an_empty_cache(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{}")
    server = plugin_service.Plugin(config_module.load_config(str(config)), str(config), "test")
    server.lookup.containers[A] = containers.container_from_inspect(description(A, "web"))
    server.reload()
    assert not server.lookup.containers


def test_exempt_users_switch_the_cache_off():
    server = plugin_service.Plugin(config_module.validate_config({"exempt_users": ["admin"]}), None, "test")
    assert server.lookup.use_cache is False


# --- the small HTTP client's response reader (the real daemon's answers: tests/integration) -----


def read(raw: bytes):
    return daemon_api.read_response(io.BufferedReader(io.BytesIO(raw)))


def test_reads_a_content_length_body_and_keeps_the_connection():
    assert read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nApi-Version: 1.41\r\n\r\n{}rest") == (200, b"{}", False)


def test_reads_a_chunked_body_with_trailers():
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;x=y\r\n:1}\r\n0\r\nTrailer: t\r\n\r\n"
    assert read(raw) == (200, b'{"a":1}', False)


def test_a_body_without_length_runs_to_the_end_and_closes():
    assert read(b"HTTP/1.0 404 Not Found\r\n\r\nnot found") == (404, b"not found", True)
    assert read(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")[2] is True


@pytest.mark.parametrize("raw", [
    b"",
    b"garbage\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    b"HTTP/1.1 200 OK\r\nContent-Le",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
])
def test_broken_answers_are_errors(raw):
    with pytest.raises(daemon_api._Broken):
        read(raw)


def test_oversized_answers_fail_closed(monkeypatch):
    monkeypatch.setattr(daemon_api, "MAX_LOOKUP_BYTES", 10)
    with pytest.raises(lookups.LookupFailed, match="larger than"):
        read(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n" + b"x" * 11)
    with pytest.raises(lookups.LookupFailed, match="larger than"):
        read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n")


def test_quote_keeps_only_unreserved_characters():
    assert daemon_api.quote("web/db") == "web%2Fdb"
    assert daemon_api.quote("a b?c#%") == "a%20b%3Fc%23%25"
    assert daemon_api.quote("caf\u00e9") == "caf%C3%A9"
