"""The reviewed table itself (src/docker_userns_plugin/table_*.py): every check names a rule that
exists, route names are unique, every kind is one the rules know, no struct names a field twice;
and every label the documentation prints for a refused field is the one the plugin's refusal
prints, and lets that field through in allow_fields.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import plugin_module
from docker_userns_plugin import config as config_module
from docker_userns_plugin import policy
from docker_userns_plugin import table_types as tt
from docker_userns_plugin.gojson import go_fold
from docker_userns_plugin.request import split_uri
from docker_userns_plugin.review import field_label
from docker_userns_plugin.routes import REVIEWED_ROUTES, classify
from docker_userns_plugin.table_container_types import CREATE_BODY
from test_plugin_opt_ins import NoContainers

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import gen_threat_model as gen

PACKAGE = Path(plugin_module.PACKAGE_PATH)
VERDICT_KINDS = {tt.ALLOWED, tt.CHECK, tt.ONE_OF, tt.REFUSE, tt.STRUCT, tt.LIST, tt.MAP}
ROUTE_KINDS = {value for name, value in vars(tt).items() if name.isupper() and isinstance(value, str)} - VERDICT_KINDS


def denial_names(*globs: str) -> Set[str]:
    """The rule names the plugin's denials carry, read from its sources ("host-%s": one per namespace)."""
    names: Set[str] = set()
    for pattern in globs:
        for path in sorted(PACKAGE.glob(pattern)):
            for name in re.findall(r'Denial\(\s*"([a-z0-9%-]+)"', path.read_text()):
                names.update(name % ns for ns in config_module.HOST_NAMESPACES) if "%s" in name else names.add(name)
    return names


RULES = denial_names("rules_*.py")


def composites(verdict: tt.Verdict, path: str = "") -> Iterator[Tuple[str, tt.Verdict]]:
    """(path, verdict) of a verdict and everything below it."""
    yield path, verdict
    for name, field in verdict.fields:
        yield from composites(field, (path + "." if path else "") + name if name else path + "[]")


def every_verdict() -> Iterator[Tuple[tt.RouteReview, str, tt.Verdict]]:
    for route in REVIEWED_ROUTES:
        for name, verdict in route.query:
            yield route, "?" + name, verdict
        if route.body is not None:
            for path, verdict in composites(route.body):
                yield route, path, verdict


def test_the_rules_are_read_from_the_sources():
    # The denial names this file compares with: the well-known ones must be among them.
    assert {"host-userns", "bind-source", "runtime-hooks", "host-pid", "device-grant"} <= RULES
    assert not any("%" in name for name in RULES)


def test_every_check_names_a_rule_that_exists():
    unknown = sorted({(route.name, path, v.rule) for route, path, v in every_verdict() if v.rule and v.rule not in RULES})
    assert not unknown, "checks naming no rule of rules_*.py: %s" % unknown


def test_every_check_names_its_rule_and_only_checks_and_maps_name_one():
    for route, path, verdict in every_verdict():
        if verdict.kind == tt.CHECK:
            assert verdict.rule, (route.name, path)
        else:
            assert not verdict.rule or verdict.kind == tt.MAP, (route.name, path, verdict.kind)


def test_route_names_are_unique():
    names = [route.name for route in REVIEWED_ROUTES]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert all(re.fullmatch(r"[a-z][a-z0-9-]*", n) for n in names), "a name allow_fields labels and anchors can carry"


def test_every_route_kind_is_a_kind_of_table_types():
    assert {"container-create", "refused", "other"} <= ROUTE_KINDS
    unknown = sorted({(route.name, route.kind) for route in REVIEWED_ROUTES if route.kind not in ROUTE_KINDS})
    assert not unknown


def test_every_verdict_is_of_a_known_kind_and_gives_a_reason():
    for route, path, verdict in every_verdict():
        assert verdict.kind in VERDICT_KINDS, (route.name, path)
        assert verdict.reason or verdict.kind == tt.STRUCT, (route.name, path)  # merged structs carry the parts' reasons
        if verdict.kind == tt.ONE_OF:
            assert [v for v in verdict.values if v], (route.name, path)
    for route in REVIEWED_ROUTES:
        assert route.reason and route.action and route.method, route.name


def test_no_struct_lists_a_field_twice():
    for route, path, verdict in every_verdict():
        if verdict.kind != tt.STRUCT:
            continue
        names = [name for name, _v in verdict.fields]
        assert len(names) == len(set(names)), (route.name, path, names)
        # Go matches a JSON key to a field by its fold: two names of one fold would hide one of them.
        folds = [go_fold(name) for name in names]
        assert len(folds) == len(set(folds)), (route.name, path, sorted(n for n in names if folds.count(go_fold(n)) > 1))
        assert verdict.by_fold is not None and len(verdict.by_fold) == len(names)


def test_no_route_lists_a_query_parameter_twice():
    for route in REVIEWED_ROUTES:
        names = [name for name, _v in route.query]
        assert len(names) == len(set(names)), route.name


def test_merged_refuses_a_field_in_two_parts():
    with pytest.raises(ValueError, match="Image is in two embedded structs"):
        tt.merged("x", tt.struct("", {"Image": tt.allow("a")}), tt.struct("", {"Image": tt.allow("b")}))


def test_the_create_body_holds_hostconfig_and_its_fields_at_the_top_level():
    # The documentation collapses these top-level fields into one row: they must be HostConfig's own.
    fields = dict(CREATE_BODY.fields)
    host_config = fields["HostConfig"]
    assert all(fields[name] is verdict for name, verdict in host_config.fields)


# ---- The labels the documentation prints are the plugin's --------------------------------------


def concrete_path(route: tt.RouteReview) -> str:
    path = re.sub(r"\((?:\.\*|\.\+|\[\^/\]\+)\)", "x1", route.pattern)
    assert "(" not in path and "\\" not in path, route.pattern
    return path


def body_with(path: str, value: Any) -> Any:
    """The JSON value that sets this path (HostConfig.Mounts[].Type, PortBindings{}[].HostIp) to value."""
    if not path:
        return value
    head = re.match(r"\[\]|\{\}|\.?([^.\[{]+)", path)
    assert head is not None, path
    rest = path[head.end():]
    if head.group(0) == "[]":
        return [body_with(rest, value)]
    if head.group(0) == "{}":
        return {"k1": body_with(rest, value)}
    return {head.group(1): body_with(rest, value)}


def refused_fields() -> Iterator[Tuple[tt.RouteReview, str, tt.Verdict]]:
    """Every refused or limited parameter and field, with its path as the documentation shows it."""
    for route in REVIEWED_ROUTES:
        for path, verdict in gen.every_verdict(route):
            if verdict.kind in (tt.REFUSE, tt.ONE_OF):
                yield route, path, verdict


def decide(route: tt.RouteReview, path: str, allow_fields: List[str]) -> policy.Decision:
    value = "zz-not-listed"
    method = "GET" if route.method == "*" else route.method
    uri = "/v1.47" + concrete_path(route)
    headers: Dict[str, str] = {"Content-Type": "application/json"}
    body = None
    if path.startswith("?"):
        uri += "?%s=%s" % (path[1:], value)
        headers["Content-Length"] = "0"
    else:
        body = json.dumps(body_with(path, value)).encode()
    payload: Dict[str, Any] = {"User": "", "RequestMethod": method, "RequestUri": uri, "RequestHeaders": headers}
    if body is not None:
        payload["RequestBody"] = base64.b64encode(body).decode()
    config = config_module.validate_config({"allow_fields": allow_fields})
    decision, request = policy.decide(payload, config, NoContainers())
    assert request is not None and classify(request._replace(path=split_uri(uri)[0])).reviewed == route, (route.name, uri)
    return decision


@pytest.mark.parametrize("route, path, verdict", list(refused_fields()),
                         ids=["%s:%s" % (r.name, p or "(body)") for r, p, _v in refused_fields()])
def test_a_refused_field_is_refused_with_the_label_the_documentation_prints_and_allow_fields_lifts_it(route, path, verdict):
    label = field_label(route, gen.label_path(path))
    assert "allow_fields: %s" % gen.code(label) in gen.render_row(route, gen.Row(path, verdict, "", ""))
    decision = decide(route, path, [])
    assert (decision.allow, decision.rule) == (False, "refused-field"), decision
    assert '"%s"' % label in decision.message
    lifted = decide(route, path, [label])
    assert lifted.rule != "refused-field", lifted


def test_there_are_refused_fields_to_test():
    assert len(list(refused_fields())) >= 20
