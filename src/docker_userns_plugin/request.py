"""Request: the daemon's RequestURI read as its router reads it (percent-escapes, path cleaning,
the /vX.Y prefix, the query string as Go parses it).
"""

from __future__ import annotations

import posixpath
import re
from typing import Dict, List, NamedTuple, Optional, Tuple


class Request(NamedTuple):
    user: str
    method: str  # upper-cased
    uri: str
    path: str  # percent-decoded, cleaned, without the /vX.Y prefix
    version: Optional[str]
    raw_query: str
    headers: Dict[str, str]  # keys lower-cased
    body: Optional[bytes]  # None when the daemon did not forward one


class Unroutable(Exception):
    """The RequestURI cannot be read the way the daemon's router reads it."""


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_ESCAPE = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_VERSIONED = re.compile(r"^/v([0-9.]+)(/.*)$")
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?]*")


def percent_decode(text: str) -> str:
    """Go's strict unescape: a stray % is an error, escapes decode to UTF-8 bytes."""
    if _BAD_ESCAPE.search(text):
        raise Unroutable("invalid percent-escape in %r" % text[:200])
    return _ESCAPE.sub(lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode("utf-8", errors="replace"), text)


def clean_path(path: str) -> str:
    """path.Clean, keeping a trailing slash as the daemon's router does."""
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def split_uri(uri: str) -> Tuple[str, Optional[str], str]:
    """Return (route path, API version or None, raw query) from a RequestURI."""
    absolute = _ABSOLUTE.match(uri)
    if absolute:  # absolute-form request target: the router uses only its path
        uri = uri[absolute.end():] or "/"
    if not uri.startswith("/"):
        raise Unroutable("the request target %r is not a path" % uri[:200])
    raw_path, _, raw_query = uri.partition("?")
    path = clean_path(percent_decode(raw_path))
    version = None
    match = _VERSIONED.match(path)
    if match:
        version, path = match.group(1), match.group(2)
    return path.rstrip("/") or "/", version, raw_query


def parse_query(raw: str) -> Dict[str, str]:
    """Go's url.ParseQuery keeping the first value; a ';' makes Go refuse the whole query."""
    if ";" in raw:
        raise Unroutable("a ';' in the query string")
    query: Dict[str, str] = {}
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key = percent_decode(key.replace("+", " "))
        query.setdefault(key, percent_decode(value.replace("+", " ")))
    return query


def version_less(version: Optional[str], other: str) -> bool:
    """Docker's versions.LessThan: numeric parts, missing or non-numeric parts count as 0."""
    if version is None:
        return False  # no prefix: the daemon's current API version

    def parts(v: str) -> List[int]:
        return [int(p) if p.isdigit() else 0 for p in v.split(".")]

    mine, theirs = parts(version), parts(other)
    width = max(len(mine), len(theirs))
    mine += [0] * (width - len(mine))
    theirs += [0] * (width - len(theirs))
    return mine < theirs
