"""Go's JSON: read a request body the way the Go daemon's encoding/json does.

Go matches object keys to struct fields case-insensitively with Unicode simple folding
(U+017F folds to s, U+212A KELVIN SIGN to k), lets the last of repeated keys win, merges an
object given twice into the first, ignores unknown keys and data after the first value, and
reads invalid UTF-8 inside strings as U+FFFD. Python's json keeps every key in order
(object_pairs_hook) and stops after one value (raw_decode); the Go rules are applied on top.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, NamedTuple, Optional, Tuple


class Undecodable(Exception):
    """The body cannot be read as the daemon would read it; the reason is for the client."""


class Pairs(List[Tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicates kept."""


class Number(str):
    """A JSON number, kept as its text: no field the rules read is a number, and huge
    integers must not cost time (or hit Python's int-size limit)."""


def reject_constant(name: str) -> Any:
    raise ValueError("%s is not JSON" % name)


_DECODER = json.JSONDecoder(object_pairs_hook=Pairs, parse_constant=reject_constant, parse_int=Number, parse_float=Number)
_WHITESPACE = " \t\n\r"


def parse_go_json(body: bytes) -> Any:
    """Return the first JSON value of body, objects as Pairs; raise Undecodable."""
    text = body.decode("utf-8", errors="replace")
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, _end = _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError) as err:
        # RecursionError: nesting deeper than Python's stack; Go allows 10000 levels.
        raise Undecodable("the body is not JSON the plugin can read (%s)" % (str(err)[:120] or type(err).__name__)) from None
    return value


def go_fold(key: str) -> str:
    """The fold key Go's encoding/json compares: ASCII upper-cased, and the two non-ASCII
    letters whose simple-fold orbit holds an ASCII letter mapped onto it."""
    if key.isascii():
        return key.upper()
    return key.replace("\u017f", "S").replace("\u212a", "K").upper()


class Field(NamedTuple):
    name: str
    kind: str  # "string", "bool", "strings", "stringmap", "struct", "ptr", "structs", "structmap"
    schema: Optional[Schema] = None


class Schema:
    """The subset of a Go struct's JSON fields that the rules read; the rest are skipped as Go
    skips unknown keys."""

    def __init__(self, fields: List[Field]):
        self.by_fold = {go_fold(f.name): f for f in fields}

    def field(self, key: str) -> Optional[Field]:
        return self.by_fold.get(go_fold(key))


class TypeMismatch(Exception):
    """A value of the wrong JSON type for its Go field: the daemon refuses such a request."""


def go_decode_struct(schema: Schema, obj: Any, into: Dict[str, Any]) -> Dict[str, Any]:
    """Decode obj into the dict `into` as Go decodes a JSON object into an existing struct.

    Scalars: last value wins, null leaves the old value. Pointer to struct: null sets it to
    None, an object is merged into the existing struct (or a new one). Slices are kept as the
    union of every element ever given: Go reuses a slice's backing array when a key repeats,
    so the exact outcome depends on capacities; the union is the safe over-approximation.
    """
    if not isinstance(obj, Pairs):
        raise TypeMismatch("expected a JSON object")
    for key, value in obj:
        field = schema.field(key)
        if field is None:
            continue
        _decode_field(field, value, into)
    return into


def _struct_schema(field: Field) -> Schema:
    if field.schema is None:  # a mistake in the tables below (a unit test looks for one); any error denies
        raise TypeError("the %s field %s has no schema" % (field.kind, field.name))
    return field.schema


def _decode_field(field: Field, value: Any, into: Dict[str, Any]) -> None:
    name, kind = field.name, field.kind
    if kind == "string":
        if isinstance(value, str) and not isinstance(value, Number):
            into[name] = value
        elif value is not None:
            raise TypeMismatch("%s must be a string" % name)
    elif kind == "bool":
        if isinstance(value, bool):
            into[name] = value
        elif value is not None:
            raise TypeMismatch("%s must be true or false" % name)
    elif kind in ("ptr", "struct"):
        if value is None:
            if kind == "ptr":
                into[name] = None
            return
        target = into.get(name)
        if target is None:
            target = into[name] = {}
        go_decode_struct(_struct_schema(field), value, target)
    elif kind == "stringmap":  # map[string]string: keys exact (no folding), merged, last one wins
        if value is None:
            return
        if not isinstance(value, Pairs):
            raise TypeMismatch("%s must be an object" % name)
        mapping = into.setdefault(name, {})
        for key, element in value:
            if element is not None and (not isinstance(element, str) or isinstance(element, Number)):
                raise TypeMismatch("%s values must be strings" % name)
            mapping[key] = element or ""
    elif kind == "structmap":  # map[string]*struct: keys exact, each value decoded anew, last one wins
        if value is None:
            return
        if not isinstance(value, Pairs):
            raise TypeMismatch("%s must be an object" % name)
        structs = into.setdefault(name, {})
        for key, element in value:
            structs[key] = None if element is None else go_decode_struct(_struct_schema(field), element, {})
    elif kind in ("strings", "structs"):
        if value is None:
            return
        if not isinstance(value, list):
            raise TypeMismatch("%s must be a list" % name)
        seen = into.setdefault(name, [])
        for element in value:
            if element is None:
                continue
            if kind == "strings":
                if not isinstance(element, str) or isinstance(element, Number):
                    raise TypeMismatch("%s must be a list of strings" % name)
                seen.append(element)
            else:
                seen.append(go_decode_struct(_struct_schema(field), element, {}))


def decode_body(schema: Schema, body: bytes, what: str) -> Dict[str, Any]:
    """Decode a body into the fields of schema; raise Undecodable."""
    try:
        return go_decode_struct(schema, parse_go_json(body), {})
    except TypeMismatch as err:
        raise Undecodable("the %s does not match the Docker API types: %s" % (what, err)) from None
