"""tools/gen_threat_model.py: the reviewed API rendered from a tiny fake table, the blocks it
writes into other documents, --write and --check; and that the committed documents are what the
real table renders (as `make lint` checks, part threat-model).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import gen_threat_model as gen

from docker_userns_plugin import config as plugin_config
from docker_userns_plugin import table_types as tt
from test_reviewed_table import ROUTE_KINDS, denial_names

ROOT = Path(__file__).resolve().parents[2]

SHARED = tt.struct("a shared part", {"Size": tt.allow("how big")})
INNER = tt.struct("the inner part", {
    "Mode": tt.one_of(("", "quiet", "loud"), "the daemon knows only these"),
    "Hook": tt.refuse("the daemon would run it as real root", since="1.44"),
})
BODY = tt.merged("a thing to make", tt.struct("", {
    "Name": tt.allow("its name"),
    "Inner": INNER,
    "Binds": tt.check("bind-source", "host paths"),
    "Parts": tt.list_of(SHARED),
    "More": tt.list_of(SHARED, "more parts"),
    "Labels": tt.map_of(tt.allow("text")),
    "Nets": tt.map_of(tt.struct("an endpoint", {"Opts": tt.check("network-options", "options")}), "networks", rule="network-mode"),
}), INNER)
FAKE = [
    tt.route("thing-create", "POST", "/containers/create", tt.CONTAINER_CREATE, "create", "makes a thing",
             {"name": tt.allow("the name"), "from": tt.refuse("a URL the daemon fetches", since="1.41")}, body=BODY),
    tt.route("thing-copy", "POST", "/commit", tt.OTHER, "commit", "makes another thing", body=BODY),
    tt.route("thing-list", "GET", "/images/json", tt.OTHER, "list", "reads its own state", {"all": tt.allow("all")}),
    tt.route("thing-debug", "*", "/debug/(.*)", tt.REFUSED, "debug", "shows the daemon's memory"),
    tt.route("thing-push", "POST", "/images/(.*)/push", tt.OTHER, "push", "uploads", body=tt.allow("credentials"),
             body_unseen_ok="credentials only"),
]


@pytest.fixture(scope="module")
def document() -> str:
    return gen.render_reviewed_api(FAKE, "9.8.7")


def rows_of(document: str, route: str) -> list:
    section = document.split("#### %s\n" % route, 1)[1].split("\n#### ", 1)[0].split("\n### ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `")]


def test_routes_are_grouped_by_router_in_the_tables_order(document):
    headings = re.findall(r"^###? .*$|^#### .*$", document.split("## Routes", 1)[1], re.M)
    assert headings == ["### The container router", "#### thing-create", "#### thing-copy", "### The image router",
                        "#### thing-list", "### The debug routes", "#### thing-debug", "### The image router", "#### thing-push"]


def test_the_top_says_what_verdicts_mean_and_how_to_open_a_field(document):
    assert "(version 9.8.7)" in document and "5 routes" in document
    assert "**What is not listed is refused.**" in document and "**Zero values pass.**" in document
    assert "`container-create:HostConfig.CgroupParent`" in document  # how a label is made
    for opening in gen.OPENINGS:
        assert "| `%s` (`%s`) |" % (opening.key, opening.variable) in document
    for kind in gen.KINDS:
        assert "| `%s` |" % kind in document


def test_a_route_says_its_request_kind_rules_and_what_the_daemon_does(document):
    section = document.split("#### thing-create\n", 1)[1]
    assert section.startswith("\n`POST /containers/create`, kind [`container-create`](#route-kinds). What the daemon does: makes a thing.")
    assert "one it does not forward to the plugin is refused (`unseen-body`)" in section.split("####", 1)[0]
    push = document.split("#### thing-push\n", 1)[1]
    assert "A body the daemon does not forward is let through: credentials only." in push
    assert "rules on the route: `refused-route`" in document.split("#### thing-debug\n", 1)[1].split("####")[0]


def test_query_parameters_and_fields_with_verdict_rule_values_reason_label_and_version(document):
    rows = rows_of(document, "thing-create")
    assert rows[0] == "| `?name` | allow | the name |  |"
    assert rows[1] == "| `?from` | **refuse** | a URL the daemon fetches. allow_fields: `thing-create:?from` | 1.41 |"
    assert "| `Binds` | check: `bind-source` | host paths |  |" in rows
    assert "| `Inner.Mode` | one of: `quiet`, `loud` | the daemon knows only these. allow_fields: `thing-create:Inner.Mode` |  |" in rows
    assert "| `Inner.Hook` | **refuse** | the daemon would run it as real root. allow_fields: `thing-create:Inner.Hook` | 1.44 |" in rows


def test_list_and_map_elements_are_marked_and_labels_leave_the_marks_out(document):
    rows = rows_of(document, "thing-create")
    assert "| `Parts[]` | struct | a shared part |  |" in rows
    assert "| `Parts[].Size` | allow | how big |  |" in rows
    assert "| `Labels{}` | allow | text |  |" in rows
    assert "| `Nets` | map, keys: check `network-mode` | networks |  |" in rows
    assert "| `Nets{}.Opts` | check: `network-options` | options |  |" in rows


def test_a_part_rendered_before_is_one_row_that_points_to_it(document):
    rows = rows_of(document, "thing-create")
    assert "| `More[]` | struct | a shared part; its fields as `Parts[]` of [thing-create](#thing-create) |  |" in rows
    assert not any(row.startswith("| `More[].Size`") for row in rows)
    copy = rows_of(document, "thing-copy")
    assert copy == ["| `(body)` | struct | a thing to make; its fields as `(body)` of [thing-create](#thing-create) |  |"]


def test_an_embedded_structs_fields_at_the_top_level_are_one_row(document):
    rows = rows_of(document, "thing-create")
    assert not any(row.startswith(("| `Mode`", "| `Hook`")) for row in rows)
    embedded = [row for row in document.split("#### thing-create\n", 1)[1].split("####", 1)[0].splitlines()
                if row.startswith("| every field of")]
    assert embedded == ["| every field of `Inner`, at the top level | as under `Inner` | the body also takes each field of "
                        "`Inner` at its own top level (Go promotes an embedded struct's fields); each is judged as there, "
                        "and its label is `thing-create:FIELD` | |"]


def test_routes_without_parameters_say_so_and_refused_routes_list_none(document):
    assert "No query parameters" not in document.split("#### thing-debug\n", 1)[1].split("###", 1)[0]
    assert rows_of(document, "thing-list") == ["| `?all` | allow | all |  |"]


def test_the_summary_lists_routes_by_verdict():
    summary = gen.render_summary(FAKE)
    assert "It knows 5 routes" in summary
    assert "**Refused as a whole:** [thing-debug](reviewed-api.md#thing-debug) (`* /debug/(.*)`): shows the daemon's memory." in summary
    # ?from, Inner.Hook and Hook at the top level; Inner.Mode and Mode.
    assert ("| [thing-create](reviewed-api.md#thing-create) | `POST /containers/create` |  | `bind-source`, `network-mode`, "
            "`network-options` | 3 refused, 2 limited |") in summary
    assert "| [thing-copy](reviewed-api.md#thing-copy) | `POST /commit` |  |" in summary
    assert "**Reviewed, every parameter and field allowed:** [thing-list](reviewed-api.md#thing-list), [thing-push](reviewed-api.md#thing-push)." in summary


def test_replace_block_keeps_the_rest_and_refuses_a_file_without_markers(tmp_path):
    begin, end = gen.SUMMARY_MARKERS
    text = "# T\n\nbefore\n%s\nold\n%s\nafter\n" % (begin, end)
    assert gen.replace_block(text, "new\n", gen.SUMMARY_MARKERS, tmp_path) == "# T\n\nbefore\n%s\nnew\n%s\nafter\n" % (begin, end)
    with pytest.raises(SystemExit, match="no markers"):
        gen.replace_block("# T\n", "new\n", gen.SUMMARY_MARKERS, tmp_path)


def test_write_then_check_and_check_finds_a_difference(tmp_path, monkeypatch, capsys):
    api, threat, plugin = tmp_path / "reviewed-api.md", tmp_path / "threat-model.md", tmp_path / "plugin.md"
    threat.write_text("# Threat model\n\n%s\n%s\n\nmore\n" % gen.SUMMARY_MARKERS)
    plugin.write_text("# Plugin\n\n%s\n%s\n" % gen.OPT_IN_MARKERS)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    monkeypatch.setattr(gen, "REVIEWED_API", api)
    monkeypatch.setattr(gen, "THREAT_MODEL", threat)
    monkeypatch.setattr(gen, "PLUGIN_DOC", plugin)
    monkeypatch.setattr(gen, "REVIEWED_ROUTES", FAKE)
    assert gen.main(["--check"]) == 1  # reviewed-api.md missing, the blocks empty
    assert gen.main(["--write"]) == 0
    assert gen.main(["--check"]) == 0
    assert "#### thing-create" in api.read_text() and "[thing-debug](reviewed-api.md#thing-debug)" in threat.read_text()
    assert threat.read_text().endswith("\n\nmore\n") and "| `allow_gpus` (`docker_userns_allow_gpus`) |" in plugin.read_text()
    api.write_text(api.read_text().replace("makes a thing", "makes anything"))
    capsys.readouterr()
    assert gen.main(["--check"]) == 1
    assert "reviewed-api.md differs from what the reviewed table renders" in capsys.readouterr().err


def test_an_unknown_router_is_an_error_to_fix_in_the_generator():
    with pytest.raises(SystemExit, match="ROUTERS"):
        gen.router_of(tt.route("x", "GET", "/newthings/json", tt.OTHER, "list", "reads"))


# ---- What the generator knows beside the table --------------------------------------------------

RULE_NAMES = denial_names("rules_*.py", "review.py", "policy.py")


def test_the_kinds_are_the_kinds_of_table_types_and_name_rules_that_exist():
    assert set(gen.KINDS) == ROUTE_KINDS
    for kind in gen.KINDS.values():
        assert kind.meaning and set(kind.rules) <= RULE_NAMES, kind
    assert set(gen.ROUTE_RULES) <= {route.name for route in gen.REVIEWED_ROUTES}
    assert all(set(rules) <= RULE_NAMES for rules in gen.ROUTE_RULES.values())


def test_every_key_that_lets_more_through_has_its_cost_and_its_role_variable():
    keys = [opening.key for opening in gen.OPENINGS]
    assert len(keys) == len(set(keys))
    openers = {key for key in plugin_config.DEFAULT_CONFIG if key.startswith(("allow", "engine_fixes", "nvidia_toolkit"))}
    assert openers == set(keys), "a config key that lets more through without a cost sentence, or one that is gone"
    defaults = yaml.safe_load((ROOT / "roles" / "docker_userns" / "defaults" / "main.yml").read_text())
    for opening in gen.OPENINGS:
        assert opening.opens and opening.cost and opening.rules, opening.key
        assert set(opening.rules) <= RULE_NAMES, opening.key
        assert opening.variable in defaults, opening.variable


def test_every_rule_the_documents_name_is_in_the_rules_table_of_plugin_md():
    text = (ROOT / "docs" / "plugin.md").read_text()
    table = text.split("## Rules", 1)[1].split("\n\n", 2)[1]
    listed = {name for line in table.splitlines() for name in re.findall(r"`([a-z0-9*-]+)`", line.split(" | ", 1)[0])}
    named = {v.rule for route in gen.REVIEWED_ROUTES for _p, v in gen.every_verdict(route) if v.rule}
    named |= {rule for opening in gen.OPENINGS for rule in opening.rules}
    named |= {rule for route in gen.REVIEWED_ROUTES for rule in gen.route_rules(route)}
    assert named - listed == set(), "rules without a row in docs/plugin.md's Rules table"


def test_the_reviewed_api_documents_anchors_are_unique_and_its_links_land():
    document = gen.render_reviewed_api(gen.REVIEWED_ROUTES, plugin_config.VERSION)
    anchors = [re.sub(r"[^a-z0-9 _-]", "", heading.lower()).replace(" ", "-")
               for heading in re.findall(r"^#+ (.*)$", document, re.M)]
    routes = [route.name for route in gen.REVIEWED_ROUTES]
    assert len(set(anchors) & set(routes)) == len(routes)
    assert len([a for a in anchors if a in routes]) == len(routes), "a route's anchor is taken twice"
    for target in set(re.findall(r"\]\(#([a-z0-9_-]+)\)", document)):
        assert target in anchors, target
    summary = gen.render_summary(gen.REVIEWED_ROUTES)
    for target in set(re.findall(r"\]\(reviewed-api\.md#([a-z0-9_-]+)\)", summary)):
        assert target in anchors, target


def test_the_committed_documents_are_what_the_table_renders():
    # The same check as `make lint` (tools/test.sh, part threat-model).
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_threat_model.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
