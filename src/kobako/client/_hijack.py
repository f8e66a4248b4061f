"""Hijacked connections (attach, exec start): an HTTP request, then raw bytes both ways."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Self

from kobako.client._errors import DaemonError
from kobako.client._transport import Address, connect

_MAX_HEAD = 64 * 1024


class HijackedConnection:
    """The raw socket after ``101 UPGRADED`` (or a legacy ``200 OK``).

    ``initial`` holds bytes that arrived with the response head; ``recv()`` returns
    them first.  ``shutdown_write()`` half-closes: the daemon sees stdin EOF and
    keeps sending output until the process exits.
    """

    def __init__(self, sock: socket.socket, initial: bytes, status: int, headers: dict[str, str]) -> None:
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
            self.sock.shutdown(socket.SHUT_WR)
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


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > _MAX_HEAD:
            raise DaemonError(502, "malformed response from the daemon: header too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise DaemonError(502, "the daemon closed the connection before answering")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        raise DaemonError(502, f"malformed response from the daemon: {lines[0]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, parts[2] if len(parts) > 2 else "", headers


def _read_error_body(sock: socket.socket, rest: bytes, headers: dict[str, str]) -> bytes:
    length = headers.get("content-length")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        data = rest
        while not data.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        out, pos = b"", 0
        while True:
            end = data.find(b"\r\n", pos)
            if end < 0:
                return out
            size = int(data[pos:end].split(b";")[0] or b"0", 16)
            if size == 0:
                return out
            out += data[end + 2 : end + 2 + size]
            pos = end + 2 + size + 2
    data = rest
    want = int(length) if length is not None else None
    while want is None or len(data) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data if want is None else data[:want]


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
        lines = [f"{method} {url} HTTP/1.1"] + [f"{k}: {v}" for k, v in hdrs.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
        head, rest = _read_head(sock)
        status, reason, resp_headers = _parse_head(head)
        if status in (101, 200):
            return HijackedConnection(sock, rest, status, resp_headers)
        data = _read_error_body(sock, rest, resp_headers)
        raise DaemonError(status, error_message(status, data, reason))
    except BaseException:
        sock.close()
        raise
