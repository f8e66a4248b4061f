"""Just enough HTTP/1.1 for the Engine API client, over a socket from :func:`connect`.

Not ``http.client``: it imports ``ssl`` and the ``email`` package, some 40 ms of every CLI
command.  Requests carry a Content-Length (bytes) or a chunked body (a file or an iterable of
bytes).  A response's body is read whole (``read()``) or as it arrives (``read1()``, iteration):
a chunked body is decoded incrementally, each chunk handed over as soon as it is in, which
``logs -f``, ``wait`` and ``events`` rely on.  The head parser serves hijacked connections too.
"""

from __future__ import annotations

from kobako.client._errors import ClientError, DaemonError
from kobako.client._transport import Address, connect

TYPE_CHECKING = False
if TYPE_CHECKING:  # not at run time: ``typing`` and ``collections.abc`` cost the CLI milliseconds
    from collections.abc import Iterable, Iterator, Mapping
    from typing import Any

    from kobako.client._transport import Socket

_READ = 64 * 1024
_MAX_LINE = 64 * 1024
_MAX_HEADERS = 256
_HEX = frozenset(b"0123456789abcdefABCDEF")
_BODYLESS_OK = ("POST", "PUT", "PATCH")  # methods that get "Content-Length: 0" when sent without a body


def malformed(what: str) -> DaemonError:
    return DaemonError(502, f"malformed response from the daemon: {what}")


class RemoteDisconnected(ConnectionResetError):
    """The daemon closed the connection before answering (typically a stale kept-alive one)."""


class IncompleteRead(ClientError):
    """The connection ended inside a response body; ``partial`` holds what that read got."""

    def __init__(self, partial: bytes, expected: int | None = None) -> None:
        more = f", {expected} more expected" if expected is not None else ""
        message = f"the daemon closed the connection mid-response ({len(partial)} bytes read{more})"
        super().__init__(message)
        self.args = (message,)
        self.partial = partial
        self.expected = expected

    def __str__(self) -> str:
        return str(self.args[0])

    def __repr__(self) -> str:
        return f"IncompleteRead({self.args[0]!r})"


_compat: list[type[IncompleteRead]] = []


def incomplete_read(partial: bytes, expected: int | None = None) -> IncompleteRead:
    """An IncompleteRead that is also an ``http.client.IncompleteRead``, as this client raised before.

    ``http.client`` is imported on this error path only.
    """
    if not _compat:
        import http.client

        bases = (IncompleteRead, http.client.IncompleteRead)
        _compat.append(type("IncompleteRead", bases, {"__module__": __name__}))  # type: ignore[arg-type]
    return _compat[0](partial, expected)


class Reader:
    """Buffered reads from a socket.  Bytes past one response stay for the next (or the hijacker)."""

    __slots__ = ("_buf", "_pos", "sock")

    def __init__(self, sock: Socket) -> None:
        self.sock = sock
        self._buf = b""
        self._pos = 0

    def _fill(self) -> bool:
        data = self.sock.recv(_READ)
        if not data:
            return False
        self._buf = self._buf[self._pos :] + data if self._pos < len(self._buf) else data
        self._pos = 0
        return True

    def readline(self) -> bytes:
        """A line with its ``\\n`` (after CR or not); what is left, without one, at EOF."""
        scanned = 0
        while True:
            end = self._buf.find(b"\n", self._pos + scanned)
            if end >= 0:
                line = self._buf[self._pos : end + 1]
                self._pos = end + 1
                return line
            scanned = len(self._buf) - self._pos
            if scanned > _MAX_LINE:
                raise malformed("header too long")
            if not self._fill():
                return self.take()

    def read1(self, n: int) -> bytes:
        """Up to ``n`` buffered bytes, else what one ``recv`` brings; b"" at EOF."""
        if self._pos >= len(self._buf) and not self._fill():
            return b""
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        return data

    def take(self) -> bytes:
        """Everything buffered (for a hijack: the stream bytes that came with the head)."""
        data = self._buf[self._pos :]
        self._buf, self._pos = b"", 0
        return data


def read_head(reader: Reader) -> tuple[str, int, str, dict[str, str]]:
    """``(version, status, reason, headers)``; header names lowercased, repeats joined by ", "."""
    line = reader.readline()
    if not line:
        raise RemoteDisconnected("the daemon closed the connection before answering")
    text = line.decode("latin-1").rstrip("\r\n")
    version, _, rest = text.partition(" ")
    code, _, reason = rest.partition(" ")
    if not (version.startswith("HTTP/1.") and len(code) == 3 and code.isascii() and code.isdigit()):
        raise malformed(repr(text[:200]))
    headers: dict[str, str] = {}
    name = ""
    for _ in range(_MAX_HEADERS + 1):
        line = reader.readline()
        if not line.endswith(b"\n"):
            raise malformed("the connection closed inside the response head")
        if line in (b"\r\n", b"\n"):
            return version, int(code), reason.strip(), headers
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and name:  # obsolete line folding
            headers[name] = f"{headers[name]} {text.strip()}".strip()
            continue
        name, sep, value = text.partition(":")
        name = name.strip().lower()
        if not sep or not name:
            raise malformed(f"bad header line {text[:200]!r}")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    raise malformed("too many headers")


def encode_head(method: str, target: str, headers: Mapping[str, str]) -> bytes:
    """A request line and headers; bytes a request target may not hold are %-escaped."""
    if not (target.isascii() and target.isprintable() and " " not in target):
        target = "".join(c if "!" <= c <= "~" else "".join(f"%{b:02X}" for b in c.encode()) for c in target)
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"invalid header {name!r}: {value!r}")
        lines.append(f"{name}: {value}")
    lines += ["", ""]
    return "\r\n".join(lines).encode("latin-1")


class Response:
    """A response's status and headers, then its body: ``read()``, ``read1(n)`` or iteration.

    ``will_close``: the connection cannot carry another request after this response.
    """

    def __init__(self, reader: Reader, method: str = "GET") -> None:
        while True:
            version, status, reason, headers = read_head(reader)
            if not 100 <= status < 200 or status == 101:
                break  # 100 Continue and other interim responses come before the real one
        self._reader = reader
        self.version, self.status, self.reason, self.headers = version, status, reason, headers
        tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
        self.will_close = "close" in tokens if version != "HTTP/1.0" else "keep-alive" not in tokens
        self._chunked = False
        self._after_chunk = False  # a chunk's data has been read: its CRLF comes before the next size
        self._left: int | None = 0  # bytes left in the body (or in the current chunk); None: until close
        self._done = False
        te = headers.get("transfer-encoding")
        if method == "HEAD" or status in (204, 304) or status < 200:
            self._done = True
            self.will_close = self.will_close or status == 101
        elif te is not None:
            self._chunked = te.rsplit(",", 1)[-1].strip().lower() == "chunked"
            if not self._chunked:
                self._left, self.will_close = None, True
        elif "content-length" in headers:
            self._left = _content_length(headers["content-length"])
            self._done = self._left == 0
        else:
            self._left, self.will_close = None, True

    def read1(self, n: int = _READ) -> bytes:
        """Up to ``n`` bytes of the body as soon as any arrive; b"" at its end."""
        if self._done or n <= 0:
            return b""
        if self._chunked and not self._left:
            self._left = self._next_chunk()
            if not self._left:
                self._done = True
                return b""
        data = self._reader.read1(n if self._left is None else min(n, self._left))
        if self._left is None:
            self._done = not data
            return data
        if not data:
            self._abort()
            raise incomplete_read(b"", None if self._chunked else self._left)
        self._left -= len(data)
        self._done = not self._left and not self._chunked
        return data

    def read(self) -> bytes:
        """The rest of the body."""
        parts: list[bytes] = []
        try:
            while data := self.read1(_READ):
                parts.append(data)
        except IncompleteRead as exc:
            raise incomplete_read(b"".join(parts), exc.expected) from None
        return b"".join(parts)

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read1(_READ):
            yield data

    def close(self) -> None:
        if not self._done:
            self._abort()

    def _abort(self) -> None:
        self._done = self.will_close = True

    def _line(self) -> bytes:
        line = self._reader.readline()
        if not line.endswith(b"\n"):
            self._abort()
            raise incomplete_read(b"")
        return line

    def _next_chunk(self) -> int:
        """The next chunk's size (its extensions ignored); 0 after the last one and its trailers."""
        if self._after_chunk and self._line() not in (b"\r\n", b"\n"):
            self._abort()
            raise malformed("chunk data longer than its size")
        self._after_chunk = True
        line = self._line()
        size = line.split(b";", 1)[0].strip()
        if not size or not _HEX.issuperset(size):
            self._abort()
            raise malformed(f"bad chunk size line {line[:100]!r}")
        if int(size, 16) == 0:
            while self._line() not in (b"\r\n", b"\n"):
                pass  # trailer fields
            return 0
        return int(size, 16)


def _content_length(value: str) -> int:
    values = {v.strip() for v in value.split(",")}
    length = values.pop()
    if values or not (length.isascii() and length.isdigit()):
        raise malformed(f"bad Content-Length {value!r}")
    return int(length)


class Connection:
    """An HTTP/1.1 connection to ``addr``: opened by the first request, kept alive for the next."""

    def __init__(self, addr: Address, timeout: float | None) -> None:
        self.addr = addr
        self.timeout = timeout
        self.sock: Socket | None = None
        self._reader: Reader | None = None
        self._method = "GET"

    def request(self, method: str, target: str, body: Any = None,
                headers: Mapping[str, str] | None = None) -> None:
        """Send a request; ``body``: bytes (Content-Length), a file or an iterable of bytes (chunked)."""
        hdrs = dict(headers or {})
        names = {k.lower() for k in hdrs}
        if "host" not in names:
            hdrs = {"Host": self.addr.http_host, **hdrs}
        if isinstance(body, str):
            body = body.encode()
        if body is None:
            if method in _BODYLESS_OK and not names & {"content-length", "transfer-encoding"}:
                hdrs["Content-Length"] = "0"
        elif isinstance(body, (bytes, bytearray, memoryview)):
            if "content-length" not in names:
                hdrs["Content-Length"] = str(len(body))
        elif "transfer-encoding" not in names:
            hdrs["Transfer-Encoding"] = "chunked"
        head = encode_head(method, target, hdrs)
        if self.sock is None:
            self.sock = connect(self.addr, self.timeout)
            self._reader = Reader(self.sock)
        self._method = method
        sock = self.sock
        if body is None:
            sock.sendall(head)
        elif isinstance(body, (bytes, bytearray, memoryview)):
            if len(body) <= _READ:
                sock.sendall(head + bytes(body))
            else:
                sock.sendall(head)
                sock.sendall(body)
        else:
            sock.sendall(head)
            for piece in _pieces(body):
                if piece:  # an empty chunk would end the body
                    sock.sendall(b"%X\r\n%s\r\n" % (len(piece), piece))
            sock.sendall(b"0\r\n\r\n")

    def getresponse(self) -> Response:
        if self._reader is None:
            raise RuntimeError("getresponse() before request()")
        return Response(self._reader, self._method)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = self._reader = None


def _pieces(body: Any) -> Iterable[bytes]:
    read = getattr(body, "read", None)
    if read is not None:
        while data := read(_READ):
            yield data.encode() if isinstance(data, str) else data
        return
    for piece in body:
        yield piece.encode() if isinstance(piece, str) else piece
