"""The plugin reads bodies the way Go's encoding/json does (pure functions, no sockets)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module  # noqa: F401 (puts src/ on sys.path)
from docker_userns_plugin import gojson
from docker_userns_plugin import schemas as schemas_module


def hc(body: bytes) -> dict:
    return schemas_module.effective_host_config(body)


@pytest.mark.parametrize("key, matches", [
    ("UsernsMode", True),
    ("usernsmode", True),
    ("USERNSMODE", True),
    ("Uſernsmode", True),  # U+017F LATIN SMALL LETTER LONG S folds to s
    ("UsernsMod", False),
    ("UsernsMode ", False),
    ("Us\u0435rnsMode", False),  # Cyrillic e does not fold to e
    ("\u0130", False),
])
def test_go_fold_matches_only_what_go_matches(key, matches):
    assert (gojson.go_fold(key) == "USERNSMODE") is matches


def test_kelvin_sign_folds_to_k():
    assert gojson.go_fold("Networ\u212aMode") == "NETWORKMODE"
    assert gojson.go_fold("\u212a") == "K"


def test_host_config_from_nested_object():
    assert hc(b'{"HostConfig": {"UsernsMode": "host"}}')["UsernsMode"] == "host"


def test_top_level_fields_count_only_without_host_config():
    assert hc(b'{"UsernsMode": "host"}')["UsernsMode"] == "host"
    assert hc(b'{"UsernsMode": "host", "HostConfig": {}}').get("UsernsMode") is None
    assert hc(b'{"HostConfig": {}, "HostConfig": null, "UsernsMode": "host"}')["UsernsMode"] == "host"


def test_last_repeated_key_wins_and_null_keeps_old_value():
    assert hc(b'{"HostConfig": {"UsernsMode": "host", "UsernsMode": ""}}')["UsernsMode"] == ""
    assert hc(b'{"HostConfig": {"UsernsMode": "", "usernsmode": "host"}}')["UsernsMode"] == "host"
    assert hc(b'{"HostConfig": {"UsernsMode": "host", "UsernsMode": null}}')["UsernsMode"] == "host"


def test_repeated_object_is_merged_not_replaced():
    assert hc(b'{"HostConfig": {"UsernsMode": "host"}, "hostconfig": {"Privileged": true}}') == {"UsernsMode": "host", "Privileged": True}


def test_null_object_then_new_object_starts_fresh():
    assert hc(b'{"HostConfig": {"UsernsMode": "host"}, "HostConfig": null, "HostConfig": {}}') == {}


def test_only_the_first_value_counts():
    assert hc(b'{"HostConfig": {}} {"HostConfig": {"UsernsMode": "host"}}') == {}
    assert hc(b' \n{"HostConfig": {"UsernsMode": "host"}}garbage')["UsernsMode"] == "host"


def test_invalid_utf8_inside_strings_is_accepted():
    assert hc(b'{"Labels": {"a": "\xff\xfe"}, "HostConfig": {"UsernsMode": "host"}}')["UsernsMode"] == "host"
    assert hc(b'{"HostConfig": {"UsernsMode": "hos\xff"}}')["UsernsMode"] != "host"


def test_escapes_decode_like_go():
    assert hc(b'{"HostConfig": {"Userns\\u004dode": "\\u0068ost"}}')["UsernsMode"] == "host"


def test_lists_keep_every_element_ever_given():
    got = hc(b'{"HostConfig": {"CapAdd": ["SYS_ADMIN"], "CapAdd": ["NET_ADMIN"]}}')
    assert got["CapAdd"] == ["SYS_ADMIN", "NET_ADMIN"]


def test_numbers_are_never_strings():
    with pytest.raises(gojson.Undecodable):
        hc(b'{"HostConfig": {"UsernsMode": 1}}')
    assert hc(b'{"HostConfig": {"Memory": 1' + b"0" * 5000 + b'}}') == {}


@pytest.mark.parametrize("body", [
    b"",
    b"   ",
    b"{",
    b'{"HostConfig": {"UsernsMode": "host"}',
    b"NaN",
    b'{"a": NaN}',
    b'{"a": Infinity}',
    b'\xef\xbb\xbf{"Image": "x"}',  # Go refuses a byte-order mark
    b'{"a": "\x01"}',  # control characters inside strings
    b'{"a": \xd9\xa1}',  # non-ASCII digits
    b'{"HostConfig": "host"}',
    b'{"HostConfig": ["host"]}',
    b'{"HostConfig": {"Privileged": "yes"}}',
    b'{"HostConfig": {"CapAdd": "ALL"}}',
    b"[" * 5000 + b"]" * 5000,
])
def test_what_cannot_be_read_raises_undecodable(body):
    with pytest.raises(gojson.Undecodable):
        hc(body)


def test_every_struct_field_has_a_schema():
    # A struct field without one would make every body that uses it fail to decode (denied).
    schemas = [value for value in vars(schemas_module).values() if isinstance(value, gojson.Schema)]
    fields, seen = [], set()
    while schemas:
        schema = schemas.pop()
        if id(schema) in seen:
            continue
        seen.add(id(schema))
        for field in schema.by_fold.values():
            fields.append(field)
            if field.schema is not None:
                schemas.append(field.schema)
    assert {"HostConfig", "Mounts", "BindOptions", "TaskTemplate"} <= {field.name for field in fields}
    for field in fields:
        if field.kind in ("struct", "ptr", "structs", "structmap"):
            assert isinstance(field.schema, gojson.Schema), field.name
        else:
            assert field.schema is None, field.name


def test_a_struct_field_without_a_schema_is_an_error_not_a_skip():
    broken = gojson.Schema([gojson.Field("HostConfig", "ptr")])
    with pytest.raises(TypeError, match="HostConfig"):
        gojson.go_decode_struct(broken, gojson.parse_go_json(b'{"HostConfig": {"UsernsMode": "host"}}'), {})
