"""``/events`` query semantics: since/until timestamps and moby's event filters (pure functions).

Filters follow moby ``daemon/events/filter.go``: values of one key are OR'd, keys are AND'd;
``container`` and ``image`` match a full id, an id prefix or a name; ``label`` matches the
actor's attributes (``k`` or ``k=v``); ``event`` (alias ``status``) matches the action, also
the part before ``:`` (``exec_start: sh`` matches ``exec_start``).
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from kobako.errors import InvalidArgument

KNOWN = frozenset({"type", "container", "event", "status", "image", "label", "daemon", "scope", "network",
                   "volume", "plugin", "node", "service", "secret", "config"})
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_timestamp(value: str | None) -> int | None:
    """A since/until value as nanoseconds since the epoch (None when absent).

    Accepts what moby's ``timetypes.ParseTimestamps`` does (``"1700000000"``,
    ``"1700000000.123456789"``, fraction digits scaled to nanoseconds) and RFC 3339.
    """
    if value is None or value == "":
        return None
    value = value.strip()
    secs, dot, frac = value.partition(".")
    if secs.lstrip("-").isdigit() and (not dot or frac.isdigit()):
        ns = int(secs) * 1_000_000_000
        if frac:
            ns += int(frac[:9].ljust(9, "0"))
        return ns
    m = _RFC3339.match(value)
    if not m:
        raise InvalidArgument(f"failed to parse value as time or duration: \"{value}\"")
    day, clock, fraction, zone = m.groups()
    if clock.count(":") == 1:
        clock += ":00"
    base = calendar.timegm(time.strptime(f"{day}T{clock}", "%Y-%m-%dT%H:%M:%S"))
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        hh, mm = int(zone[1:3]), int(zone[-2:])
        base -= sign * (hh * 3600 + mm * 60)
    ns = base * 1_000_000_000
    if fraction:
        ns += int(fraction[1:10].ljust(9, "0"))
    return ns


def normalize_filters(raw: Any) -> dict[str, list[str]]:
    """``{"type": ["container"]}`` or the older ``{"type": {"container": true}}`` → lists."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidArgument("invalid filter: must be a JSON object")
    out: dict[str, list[str]] = {}
    for k, v in raw.items():
        if k not in KNOWN:
            raise InvalidArgument(f"invalid filter '{k}'")
        if isinstance(v, Mapping):
            out[k] = [str(x) for x, on in v.items() if on]
        elif isinstance(v, (list, tuple)):
            out[k] = [str(x) for x in v]
        else:
            out[k] = [str(v)]
    return out


def _strip_tag(ref: str) -> str:
    if ref.startswith("sha256:"):
        return ref
    name, _, tag = ref.rpartition(":")
    return name if name and "/" not in tag else ref


def _fuzzy(values: Sequence[str], *candidates: str) -> bool:
    return any(c and (c == v or c.startswith(v)) for v in values for c in candidates)


def _labels(values: Sequence[str], attrs: Mapping[str, str]) -> bool:
    for v in values:
        k, sep, want = v.partition("=")
        if k not in attrs or (sep and attrs[k] != want):
            return False
    return True


def matches(ev: Mapping[str, Any], filters: Mapping[str, Sequence[str]]) -> bool:
    """Does event ``ev`` (moby's ``events.Message`` shape) pass ``filters``?"""
    actor = ev.get("Actor") or {}
    attrs: Mapping[str, str] = actor.get("Attributes") or {}
    aid = str(actor.get("ID", ""))
    etype = str(ev.get("Type", ""))
    for key, values in filters.items():
        if not values:
            continue
        if key == "type" and etype not in values:
            return False
        if key in ("event", "status"):
            action = str(ev.get("Action", ""))
            if action not in values and action.split(":", 1)[0].strip() not in values:
                return False
        if key == "container":
            if etype != "container" or not _fuzzy(values, aid, attrs.get("name", "")):
                return False
        if key == "image":
            name = attrs.get("name" if etype == "image" else "image", "")
            cands = {aid, name, _strip_tag(aid), _strip_tag(name)} - {""}
            if not cands.intersection(values):
                return False
        if key == "label" and not _labels(values, attrs):
            return False
        if key == "scope" and str(ev.get("scope", "local")) not in values:
            return False
        if key in ("network", "volume", "plugin", "node", "service", "secret", "config"):
            if etype != key or not _fuzzy(values, aid, attrs.get("name", "")):
                return False
    return True
