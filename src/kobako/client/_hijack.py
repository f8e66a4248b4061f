"""Hijacked connections (attach, exec start): an HTTP request, then raw bytes both ways."""

from __future__ import annotations

import _socket

from kobako.client._errors import DaemonError
from kobako.client._http import IncompleteRead, Reader, RemoteDisconnected, Response, encode_head
from kobako.client._transport import Address, connect

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Self

    from kobako.client._transport import Socket


class HijackedConnection:
    """The raw socket after ``101 UPGRADED`` (or a legacy ``200 OK``).

    ``initial`` holds bytes that arrived with the response head; ``recv()`` returns
    them first.  ``shutdown_write()`` half-closes: the daemon sees stdin EOF and
    keeps sending output until the process exits.
    """

    def __init__(self, sock: Socket, initial: bytes, status: int, headers: dict[str, str]) -> None:
        self.sock = sock
        self.initial = initial
        self.status = status
        self.headers = headers
        self._pending = initial

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def recv(self, n: int = 65536) -> bytes:
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        return self.sock.recv(n)

    def read(self, n: int = 65536) -> bytes:
        return self.recv(n)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_hijack(addr: Address, timeout: float | None, method: str, url: str,
                body: bytes | None, headers: Mapping[str, str]) -> HijackedConnection:
    from kobako.client._client import error_message

    sock = connect(addr, timeout)
    try:
        hdrs = {"Host": addr.http_host, "Connection": "Upgrade", "Upgrade": "tcp"}
        hdrs.update(headers)
        if body is None:
            hdrs.setdefault("Content-Type", "text/plain")
            hdrs.setdefault("Content-Length", "0")
        sock.sendall(encode_head(method, url, hdrs) + (body or b""))
        reader = Reader(sock)
        try:
            resp = Response(reader, method)
        except RemoteDisconnected as exc:
            raise DaemonError(502, str(exc)) from None
        if resp.status in (101, 200):
            return HijackedConnection(sock, reader.take(), resp.status, resp.headers)
        try:
            data = resp.read()
        except IncompleteRead as exc:
            data = exc.partial
        raise DaemonError(resp.status, error_message(resp.status, data, resp.reason))
    except BaseException:
        sock.close()
        raise
