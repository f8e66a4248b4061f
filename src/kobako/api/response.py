"""What a route handler returns: Response, StreamResponse or Hijack."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

if TYPE_CHECKING:
    import asyncio

    from kobako.api._hijack import HijackReader

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
MULTIPLEXED = "application/vnd.docker.multiplexed-stream"
RAW_STREAM = "application/vnd.docker.raw-stream"


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response, sent with a Content-Length."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = TEXT


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``obj`` as JSON, newline-terminated like Go's json.Encoder."""
    body = json.dumps(obj, separators=(",", ":")).encode() + b"\n"
    return Response(status, body, headers or {}, JSON)


def no_content() -> Response:
    return Response(204, b"", {}, None)


@dataclass(frozen=True, slots=True)
class StreamResponse:
    """A response whose body is produced over time, sent chunked and flushed per chunk.

    The headers go out before the iterator is first awaited, so a client sees the
    status at once (``wait`` relies on that).  If the client goes away, the iterator
    is closed (``aclose()``), so ``finally`` blocks in an async generator run.
    """

    body: AsyncIterable[bytes]
    content_type: str = JSON
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileResponse:
    """``count`` bytes of an open file from ``offset``, sent with a Content-Length and, on a plain
    socket, by the kernel (``loop.sendfile``: no copy through Python, no thread hop per chunk); under
    TLS asyncio falls back to reads and writes. The server closes ``file`` when it is done."""

    file: BinaryIO
    offset: int
    count: int
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


HijackHandler = Callable[["HijackReader", "asyncio.StreamWriter"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Hijack:
    """Take over the connection (attach, exec start).

    The server answers ``101 UPGRADED`` (or ``200 OK`` to a client that did not ask
    to upgrade), then awaits ``handler(reader, writer)`` with the raw streams: the
    reader yields the bytes the client sent after its request and returns b"" once
    the client half-closes; the writer stays usable until the handler returns,
    after which the server closes the connection.
    """

    handler: HijackHandler
    content_type: str = MULTIPLEXED
    headers: Mapping[str, str] = field(default_factory=dict)
