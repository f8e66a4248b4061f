"""Talking to a kobako (or Docker) daemon over the Engine API.

Stdlib only, and lean: the CLI imports this at start-up, and every command pays for it.  HTTP/1.1
in ``_http`` (not http.client), sockets from ``_socket`` (not socket), JSON through ``_jsonc`` (not
json, which imports re), no ``typing`` at run time, and the hijack code only when a command attaches.

    client = Client()                       # $KOBAKO_HOST, $DOCKER_HOST or unix:///run/kobako/kobako.sock
    client.json("GET", "/containers/json", query={"all": True})
    for obj in client.jsonlines("POST", "/images/create", query={"fromImage": "alpine"}): ...
    conn = client.hijack("POST", f"/containers/{cid}/attach", query={"stream": 1, "stdout": 1})
    for stream, data in demux(conn): ...
"""

from __future__ import annotations

from kobako.client._client import Client, encode_query, stream_error
from kobako.client._errors import ClientError, DaemonError, DaemonUnreachable
from kobako.client._http import IncompleteRead
from kobako.client._transport import DEFAULT_HOST, resolve_host

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

    from kobako.client._hijack import HijackedConnection

__all__ = [
    "DEFAULT_HOST", "Client", "ClientError", "DaemonError", "DaemonUnreachable",
    "HijackedConnection", "IncompleteRead", "demux", "encode_query", "resolve_host", "stream_error",
]


def __getattr__(name: str) -> Any:
    if name == "HijackedConnection":  # imported by Client.hijack, when a command attaches
        from kobako.client._hijack import HijackedConnection

        return HijackedConnection
    raise AttributeError(f"module 'kobako.client' has no attribute {name!r}")


def demux(reader: Any) -> Iterator[tuple[int, bytes]]:
    """``(stream, payload)`` pairs from stdcopy-framed bytes.

    ``reader`` is anything with ``recv(n)`` or ``read(n)`` (a HijackedConnection, a
    file) or an iterable of byte chunks (``Client.stream(...)``).
    """
    from kobako.api.stdcopy import StdcopyDecoder

    decoder = StdcopyDecoder()
    for chunk in _chunks(reader):
        yield from decoder.feed(chunk)
    decoder.close()


def _chunks(reader: Any) -> Iterable[bytes]:
    read = getattr(reader, "recv", None) or getattr(reader, "read", None)
    if read is None:
        yield from reader
        return
    while True:
        data = read(65536)
        if not data:
            return
        yield data
