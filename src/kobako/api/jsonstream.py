"""JSON-lines progress messages (moby ``api/types/jsonstream/message.go``).

Every line is one JSON object ending in ``\\r\\n``, the way the daemon's stream
formatter writes them for pull, push, build, load and import.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _quote  # what json.dumps uses for a str
from typing import Any


def message_line(obj: dict[str, Any]) -> bytes:
    """Any progress message object as one line."""
    return json.dumps(obj, separators=(",", ":")).encode() + b"\r\n"


_line = message_line


def stream_line(text: str) -> bytes:
    """``{"stream": text}``: build output (text usually ends in a newline). The bytes
    ``message_line`` would give, with the string encoder alone (a build writes several per step)."""
    return b'{"stream":' + _quote(text).encode() + b"}\r\n"


def status_line(
    status: str,
    id: str | None = None,
    progress: str | None = None,
    *,
    current: int | None = None,
    total: int | None = None,
) -> bytes:
    """``{"status", "id", "progress", "progressDetail": {"current", "total"}}``."""
    obj: dict[str, Any] = {"status": status}
    if id is not None:
        obj["id"] = id
    if current is not None or total is not None:
        detail: dict[str, int] = {}
        if current is not None:
            detail["current"] = current
        if total is not None:
            detail["total"] = total
        obj["progressDetail"] = detail
    if progress is not None:
        obj["progress"] = progress
    return _line(obj)


def error_line(message: str, code: int | None = None) -> bytes:
    """An error in a progress stream: ``errorDetail`` plus the legacy ``error`` string."""
    detail: dict[str, Any] = {"message": message}
    if code is not None:
        detail["code"] = code
    return _line({"errorDetail": detail, "error": message})


def aux_line(obj: Any) -> bytes:
    """``{"aux": obj}``: e.g. ``{"ID": "sha256:..."}`` at the end of a build."""
    return _line({"aux": obj})
