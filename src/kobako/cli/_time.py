"""The docker CLI's ``--since``/``--until`` conversion (moby ``api/types/time.GetTimestamp``).

A Go duration (``10m``, ``1h30m``) means that long before now and gives whole unix seconds;
an RFC 3339 time or date (local time when it has no zone) gives ``secs.nanos``; a unix
timestamp is passed through. The daemon receives unix seconds only.
"""

from __future__ import annotations

import datetime as _dt
import re
import time

_DURATION = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_UNIX = re.compile(r"^-?\d+(\.\d+)?$")


def parse_duration(value: str) -> float | None:
    """Seconds in a Go duration string, or None if it is not one."""
    s = value
    sign = -1.0 if s.startswith("-") else 1.0
    s = s.lstrip("+-")
    if not s:
        return None
    if s == "0":
        return 0.0
    total, pos = 0.0, 0
    for m in _DURATION.finditer(s):
        if m.start() != pos or m.group(1) in ("", "."):
            return None
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    return sign * total if pos == len(s) and pos else None


def get_timestamp(value: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    d = parse_duration(value)
    if d is not None and value != "0":
        return str(int(now - d))
    if "-" in value or "T" in value or ":" in value:
        text = value.replace("z", "Z")
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        frac = ""
        m = re.search(r"\.(\d+)", text)
        if m:
            frac = m.group(1)
            text = text[: m.start()] + text[m.end():]
        try:
            t = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"failed to parse value as time or duration: \"{value}\"") from None
        if t.tzinfo is None:
            t = t.replace(tzinfo=_dt.datetime.now().astimezone().tzinfo)
        return f"{int(t.timestamp())}.{int(frac[:9].ljust(9, '0')) if frac else 0:09d}"
    if _UNIX.match(value):
        return value
    raise ValueError(f"failed to parse value as time or duration: \"{value}\"")


def format_nano(ns: int) -> str:
    """Go's ``jsonmessage.RFC3339NanoFixed`` in local time (``Z`` in UTC)."""
    secs, frac = divmod(ns, 1_000_000_000)
    lt = time.localtime(secs)
    off = lt.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + f".{frac:09d}" + zone
