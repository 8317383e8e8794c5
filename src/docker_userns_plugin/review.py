"""Review: the default deny. Every request is held against the reviewed table before any rule
runs: a route the table does not name, a query parameter or body field it does not know with a
non-zero value, and a field the table refuses are refused here, naming the field, the plugin's
version and what to do. Fields the table allows after a check are left to that check's rule.

Zero values pass (null, false, 0, "", [], {}): clients send every field of a struct, most of
them empty, and an empty value asks the daemon for nothing. Every occurrence of a key counts:
Go merges an object given twice, so each one is reviewed.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Optional, Tuple

from .config import VERSION
from .context import Denial
from .gojson import Number, Pairs, parse_go_json
from .request import Request, Unroutable, percent_decode
from .table_types import LIST, MAP, ONE_OF, REFUSE, STRUCT, RouteReview, Verdict

HOW_TO_ALLOW = ("an administrator who has reviewed it can allow it with allow_fields: [%s] in the plugin's config "
                "(docker_userns_allow_fields)")


def is_zero(value: Any) -> bool:
    """Whether a JSON value asks for nothing: null, false, 0, "", [] or {}."""
    if value is None or value is False:
        return True
    if isinstance(value, Number):
        try:
            return float(value) == 0.0
        except ValueError:
            return False
    return value in ("", []) if isinstance(value, (str, list)) else False


def query_pairs(raw: str) -> Iterator[Tuple[str, str]]:
    """Every key and value of a query string, repeats included, decoded as Go decodes them."""
    if ";" in raw:
        raise Unroutable("a ';' in the query string")
    for part in raw.split("&"):
        if part:
            key, _, value = part.partition("=")
            yield percent_decode(key.replace("+", " ")), percent_decode(value.replace("+", " "))


def review_request(request: Request, reviewed: RouteReview, config_allowed: List[str]) -> Optional[Denial]:
    """The first query parameter or body field of this request that the table does not let
    through, as a Denial; None when everything is known and allowed (or left to a check)."""
    known = dict(reviewed.query)
    for key, value in query_pairs(request.raw_query):
        verdict = known.get(key)
        if value and (verdict is None or verdict.kind == REFUSE or (verdict.kind == ONE_OF and value not in verdict.values)):
            denial = _refusal(reviewed, "?" + key, "?" + key, verdict, config_allowed)
            if denial:
                return denial
    if reviewed.body is not None and request.body:
        return _review_value(reviewed, reviewed.body, parse_go_json(request.body), "", "", config_allowed)
    return None


def _review_value(reviewed: RouteReview, verdict: Verdict, value: Any, path: str, label: str,
                  config_allowed: List[str]) -> Optional[Denial]:
    if is_zero(value):
        return None
    kind = verdict.kind
    if kind == REFUSE or (kind == ONE_OF and value not in verdict.values):
        return _refusal(reviewed, path, label, verdict, config_allowed)
    if kind == STRUCT:
        if not isinstance(value, Pairs):
            return None  # the daemon refuses a struct that is not an object; nothing is asked of it
        for key, element in value:
            found = verdict.field(key)
            name = found[0] if found else key
            where, what = (path + "." if path else "") + name, (label + "." if label else "") + name
            if found is None:
                if not is_zero(element):
                    denial = _refusal(reviewed, where, what, None, config_allowed)
                    if denial:
                        return denial
                continue
            denial = _review_value(reviewed, found[1], element, where, what, config_allowed)
            if denial:
                return denial
    elif kind == LIST and isinstance(value, list):
        for index, element in enumerate(value):
            denial = _review_value(reviewed, verdict.element, element, "%s[%d]" % (path, index), label, config_allowed)
            if denial:
                return denial
    elif kind == MAP and isinstance(value, Pairs):
        for key, element in value:
            denial = _review_value(reviewed, verdict.element, element, "%s[%s]" % (path, key[:64]), label, config_allowed)
            if denial:
                return denial
    return None  # allow, check (the named rule judges it), or a shape the daemon refuses itself


def field_label(reviewed: RouteReview, label: str) -> str:
    """How allow_fields names a field: the route's name, then the field's path without indices."""
    return "%s:%s" % (reviewed.name, label)


def _refusal(reviewed: RouteReview, path: str, label: str, verdict: Optional[Verdict], config_allowed: List[str]) -> Optional[Denial]:
    name = field_label(reviewed, label)
    if name in config_allowed:
        return None
    where = "%s %s" % (reviewed.action, path) if path.startswith("?") else "%s: %s" % (reviewed.action, path)
    if verdict is not None and verdict.kind == ONE_OF:
        return Denial("refused-field", "%s may only be %s: %s. %s" % (where, " or ".join(repr(v) for v in verdict.values if v),
                      verdict.reason, "Change it; or " + HOW_TO_ALLOW % '"%s"' % name))
    if verdict is None:
        return Denial("unreviewed", "%s is not a parameter or field that this plugin (version %s) has reviewed, and it refuses "
                      "what it has not reviewed: the daemon may act on it as real root. Leave it out, or upgrade the plugin if "
                      "the client is newer; %s" % (where, VERSION, HOW_TO_ALLOW % '"%s"' % name))
    return Denial("refused-field", "%s is not allowed: %s. Leave it out; or %s" % (where, verdict.reason, HOW_TO_ALLOW % '"%s"' % name))
