"""Pure helpers of the registry protocol: pagination, byte ranges, upload ranges."""

from __future__ import annotations

import re
from urllib.parse import quote

from kobako.registry._errors import RegistryError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(\d+|\*))?$")


def paginate(items: list[str], n: int | None, last: str | None) -> tuple[list[str], str | None]:
    """Sorted ``items`` after ``last``, at most ``n``; and the ``last`` for the next page (or None)."""
    if n is not None and n < 0:
        raise RegistryError("PAGINATION_NUMBER_INVALID", f"invalid n: {n}")
    rest = [i for i in items if last is None or i > last]
    if n is None or len(rest) <= n:
        return rest, None
    page = rest[:n]
    return page, (page[-1] if page else None)


def link_header(path: str, n: int, last: str) -> str:
    """``</v2/_catalog?n=2&last=b>; rel="next"`` (RFC 5988, as distribution writes it)."""
    return f'<{path}?n={n}&last={quote(last, safe="")}>; rel="next"'


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b`` → (start, end inclusive); None for no or an ignorable header.

    RANGE_INVALID (416) when the range cannot be satisfied.
    """
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or "," in header:
        return None  # multiple ranges or another unit: serve the whole blob
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise RegistryError("RANGE_INVALID", f"range {header} not satisfiable", status=416)
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size or start > end:
        raise RegistryError("RANGE_INVALID", f"range {header} not satisfiable", status=416)
    return start, end


def parse_content_range(header: str) -> tuple[int, int]:
    """An upload chunk's ``Content-Range: <start>-<end>`` (inclusive)."""
    m = _CONTENT_RANGE.match(header.strip())
    if m is None or int(m.group(2)) < int(m.group(1)):
        raise RegistryError("RANGE_INVALID", f"invalid Content-Range {header!r}", status=416)
    return int(m.group(1)), int(m.group(2))


def upload_range(offset: int) -> str:
    """The ``Range`` header of an upload's status: ``0-<last byte>`` (``0-0`` when empty, as distribution does)."""
    return f"0-{max(offset - 1, 0)}"
