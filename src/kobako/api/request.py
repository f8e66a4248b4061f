"""The request a route handler receives."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kobako import API_VERSION
from kobako.errors import InvalidArgument

# Docker's httputils.BoolValue: anything else present is true.
_FALSE = frozenset({"", "0", "no", "false", "none"})


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.44"`` → ``(1, 44)``; raises ValueError on anything else."""
    return tuple(int(part) for part in version.split("."))


async def _no_stream() -> AsyncIterator[bytes]:
    return
    yield  # pragma: no cover - makes this an async generator


@dataclass(frozen=True, slots=True, eq=False)
class Request:
    """One HTTP request, routed.

    ``path`` has the ``/vX.Y`` prefix stripped and ``api_version`` holds ``"X.Y"``
    (None when the path was unversioned).  ``body`` is the whole body, except on
    routes added with ``stream_body=True``: there it is ``b""`` and the body is
    read with ``async for chunk in req.stream()``.
    """

    method: str
    path: str
    api_version: str | None = None
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    target: str = ""
    _body_stream: Callable[[], AsyncIterator[bytes]] | None = field(default=None, repr=False)

    # -- body ---------------------------------------------------------------
    def stream(self) -> AsyncIterator[bytes]:
        """The body as chunks: the streamed upload, or ``body`` in one chunk."""
        if self._body_stream is not None:
            return self._body_stream()
        return _one_chunk(self.body)

    def json(self, expect: type | tuple[type, ...] = dict) -> Any:
        """The body decoded as JSON; InvalidArgument when it is empty, invalid or not ``expect``."""
        if not self.body.strip():
            raise InvalidArgument("invalid JSON: request body is empty")
        try:
            value = json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidArgument(f"invalid JSON: {exc}") from exc
        if not isinstance(value, expect):
            want = expect.__name__ if isinstance(expect, type) else " or ".join(t.__name__ for t in expect)
            got = "null" if value is None else type(value).__name__
            names = {"dict": "object", "list": "array", "str": "string", "int": "number"}
            want = names.get(want, want)
            article = "an" if want[0] in "aeiou" else "a"
            raise InvalidArgument(f"invalid JSON: expected {article} {want}, got {names.get(got, got)}")
        return value

    def json_or_none(self, expect: type | tuple[type, ...] = dict) -> Any:
        """Like :meth:`json`, but None for an empty body (or a literal ``null``)."""
        if not self.body.strip() or self.body.strip() == b"null":
            return None
        return self.json(expect)

    # -- query --------------------------------------------------------------
    def q(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default

    def qlist(self, name: str) -> list[str]:
        return list(self.query.get(name, ()))

    def qbool(self, name: str, default: bool = False) -> bool:
        """Docker's boolean: absent → default; "", "0", "no", "false", "none" → False; else True."""
        value = self.q(name)
        if value is None:
            return default
        return value.strip().lower() not in _FALSE

    def qint(self, name: str, default: int | None = None) -> int | None:
        value = self.q(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid value for {name}: {value!r} is not an integer") from None

    def qjson(self, name: str, default: Any = None) -> Any:
        """A JSON-valued query parameter such as ``filters``."""
        value = self.q(name)
        if value is None or value == "":
            return default
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"invalid JSON in query parameter {name}: {exc}") from exc

    # -- versions -----------------------------------------------------------
    @property
    def effective_version(self) -> str:
        """The client's API version, or the server's for unversioned paths."""
        return self.api_version or API_VERSION

    def version_before(self, version: str) -> bool:
        """True when the client asked for an API version older than ``version``."""
        return version_tuple(self.effective_version) < version_tuple(version)


async def _one_chunk(body: bytes) -> AsyncIterator[bytes]:
    if body:
        yield body
