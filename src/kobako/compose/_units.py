"""Go-style durations (``1m30s``) and docker byte sizes (``512m``) as compose files write them."""

from __future__ import annotations

from kobako.compose._errors import ComposeError

_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024 ** 2, "mb": 1024 ** 2, "g": 1024 ** 3,
               "gb": 1024 ** 3, "t": 1024 ** 4, "tb": 1024 ** 4}


def parse_duration(value: object, where: str) -> float:
    """Seconds from ``"1m30s"``, ``"500ms"``, ``"10s"`` (a bare number is seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text:
        raise ComposeError(f"{where}: invalid duration {value!r}")
    total, i = 0.0, 0
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    while i < len(text):
        j = i
        while j < len(text) and (text[j].isdigit() or text[j] == "."):
            j += 1
        k = j
        while k < len(text) and not (text[k].isdigit() or text[k] == "."):
            k += 1
        number, unit = text[i:j], text[j:k]
        if not number or unit not in _DURATION_UNITS:
            raise ComposeError(f"{where}: invalid duration {value!r}")
        try:
            total += float(number) * _DURATION_UNITS[unit]
        except ValueError:
            raise ComposeError(f"{where}: invalid duration {value!r}") from None
        i = k
    return sign * total


def parse_bytes(value: object, where: str) -> int:
    """Bytes from ``512m``, ``1g``, ``1024`` (binary units, as docker's RAMInBytes)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    j = 0
    while j < len(text) and (text[j].isdigit() or text[j] == "."):
        j += 1
    number, unit = text[:j], text[j:].strip()
    if not number or unit not in _SIZE_UNITS:
        raise ComposeError(f"{where}: invalid size {value!r}")
    try:
        return int(float(number) * _SIZE_UNITS[unit])
    except ValueError:
        raise ComposeError(f"{where}: invalid size {value!r}") from None


def format_duration(seconds: float) -> str:
    """A duration as Go prints one (``1m30s``, ``500ms``, ``10s``), for ``config`` output."""
    if seconds == 0:
        return "0s"
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:g}ms"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    out = ""
    if h:
        out += f"{int(h)}h"
    if h or m:
        out += f"{int(m)}m"
    return out + f"{s:g}s"
