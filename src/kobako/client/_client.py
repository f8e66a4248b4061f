"""A small synchronous Engine API client (stdlib only: the CLI must start fast)."""

from __future__ import annotations

from kobako import API_VERSION, __version__
from kobako.client import _jsonc as _json
from kobako.client._errors import DaemonError
from kobako.client._http import Connection, Response
from kobako.client._transport import parse_host, resolve_host

TYPE_CHECKING = False
if TYPE_CHECKING:  # not at run time: ``typing`` and ``collections.abc`` cost the CLI milliseconds
    from collections.abc import Iterable, Iterator, Mapping
    from typing import IO, Any, Self

    from kobako.client._hijack import HijackedConnection

    Query = Mapping[str, Any] | Iterable[tuple[str, Any]]
    Body = bytes | str | dict[str, Any] | list[Any] | IO[bytes] | Iterable[bytes] | None

_READ = 64 * 1024

# quote_plus: unreserved bytes as they are, space as "+", the rest %-escaped (UTF-8).
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
_QUOTED = [chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in range(256)]
_QUOTED[0x20] = "+"


def _quote(text: str) -> str:
    return "".join([_QUOTED[b] for b in text.encode()])


def encode_query(query: Query | None) -> str:
    """Docker style: bools → "1"/"0", dicts → JSON (filters), lists → repeated keys, None skipped."""
    if not query:
        return ""
    items = query.items() if hasattr(query, "items") else query
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            pairs.append((key, "1" if value else "0"))
        elif isinstance(value, dict):
            pairs.append((key, _json.dumps(value, separators=(",", ":"))))
        elif isinstance(value, (list, tuple)):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in pairs)


def error_message(status: int, body: bytes, reason: str = "") -> str:
    try:
        obj = _json.loads(body)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and isinstance(obj.get("message"), str):
        return str(obj["message"])
    text = body.decode("utf-8", "replace").strip()
    return text or reason or f"HTTP {status}"


class Client:
    """``Client(host)``: host from the argument, $KOBAKO_HOST, $DOCKER_HOST or the default socket.

    Paths are given without the version (``/containers/json``) and sent as ``/v1.50/...``.
    """

    def __init__(self, host: str | None = None, *, timeout: float | None = None,
                 api_version: str = API_VERSION) -> None:
        self.host = resolve_host(host)
        self.address = parse_host(self.host)
        self.timeout = timeout
        self.api_version = api_version
        self._conn: Connection | None = None

    # -- plumbing ---------------------------------------------------------------
    def url(self, path: str, query: Query | None = None) -> str:
        if not path.startswith("/"):
            path = "/" + path
        if self.api_version and not (path.startswith("/v") and path[2:3].isdigit()):
            path = f"/v{self.api_version}{path}"
        qs = encode_query(query)
        return f"{path}?{qs}" if qs else path

    def _prepare(self, body: Body, headers: Mapping[str, str] | None) -> tuple[Any, dict[str, str]]:
        hdrs = {"User-Agent": f"kobako/{__version__}"}
        if isinstance(body, (dict, list)):
            body = _json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        if isinstance(body, bytes):
            hdrs["Content-Length"] = str(len(body))
        elif body is not None:
            hdrs["Transfer-Encoding"] = "chunked"
        hdrs.update(headers or {})
        return body, hdrs

    def _open(self, method: str, path: str, query: Query | None, body: Body,
              headers: Mapping[str, str] | None) -> tuple[Connection, Response]:
        """A response on a fresh connection (for streams, which own their connection)."""
        payload, hdrs = self._prepare(body, headers)
        conn = Connection(self.address, self.timeout)
        try:
            conn.request(method, self.url(path, query), payload, hdrs)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    # -- requests ----------------------------------------------------------------
    def request(self, method: str, path: str, *, query: Query | None = None, body: Body = None,
                headers: Mapping[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on the kept-alive connection: ``(status, headers, body)``."""
        payload, hdrs = self._prepare(body, headers)
        url = self.url(path, query)
        reused = self._conn is not None
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = Connection(self.address, self.timeout)
            try:
                self._conn.request(method, url, payload, hdrs)
                resp = self._conn.getresponse()
                data = resp.read()
            except (BrokenPipeError, ConnectionResetError):  # RemoteDisconnected included
                self.close()
                # A kept-alive connection the daemon had closed: retry once on a new one.
                if attempt or not reused or not isinstance(payload, (bytes, type(None))):
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if resp.will_close:
                self.close()
            return resp.status, dict(resp.headers), data
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, *, query: Query | None = None, body: Body = None,
             headers: Mapping[str, str] | None = None) -> Any:
        """Decoded JSON body (None when empty); DaemonError for a status ≥ 400."""
        status, _, data = self.request(method, path, query=query, body=body, headers=headers)
        if status >= 400:
            raise DaemonError(status, error_message(status, data))
        return _json.loads(data) if data.strip() else None

    def stream(self, method: str, path: str, *, query: Query | None = None, body: Body = None,
               headers: Mapping[str, str] | None = None) -> Iterator[bytes]:
        """Body chunks as they arrive (logs -f, events, wait, pull progress).

        The request is sent (and the status checked) at once; DaemonError for a status ≥ 400.
        """
        conn, resp = self._open(method, path, query, body, headers)
        if resp.status >= 400:
            try:
                raise DaemonError(resp.status, error_message(resp.status, resp.read(), resp.reason))
            finally:
                conn.close()
        return _chunks(conn, resp)

    def jsonlines(self, method: str, path: str, *, query: Query | None = None, body: Body = None,
                  headers: Mapping[str, str] | None = None) -> Iterator[Any]:
        """Decoded JSON objects from a JSON-lines stream (pull, build, events, stats)."""
        return (obj for batch in self.jsonbatches(method, path, query=query, body=body, headers=headers)
                for obj in batch)

    def jsonbatches(self, method: str, path: str, *, query: Query | None = None, body: Body = None,
                    headers: Mapping[str, str] | None = None) -> Iterator[list[Any]]:
        """The objects of a JSON-lines stream, a list per read from the socket: a caller that shows
        them flushes its output once per list, not once per line (a cached build's 37 lines come in
        one read), and still shows each as soon as it arrives."""
        return _jsonbatches(self.stream(method, path, query=query, body=body, headers=headers))

    def hijack(self, method: str, path: str, *, query: Query | None = None, body: Body = None,
               headers: Mapping[str, str] | None = None) -> HijackedConnection:
        """Send an upgrade request (attach, exec start) and return the raw connection."""
        from kobako.client._hijack import open_hijack

        payload, hdrs = self._prepare(body, headers)
        if payload is not None and not isinstance(payload, bytes):
            payload = b"".join(payload if not hasattr(payload, "read") else [payload.read()])
            hdrs.pop("Transfer-Encoding", None)
            hdrs["Content-Length"] = str(len(payload))
        return open_hijack(self.address, self.timeout, method, self.url(path, query), payload, hdrs)

    def ping(self) -> dict[str, str]:
        """``GET /_ping`` (unversioned); the response headers (Api-Version, Swarm...)."""
        conn, resp = Connection(self.address, self.timeout), None
        try:
            conn.request("GET", "/_ping", headers={"User-Agent": f"kobako/{__version__}"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status >= 400:
            raise DaemonError(resp.status, error_message(resp.status, data, resp.reason))
        return dict(resp.headers)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream_error(obj: Any) -> str | None:
    """The error of one JSON-stream message (pull, push, build, load), as the docker CLI reads it:
    ``errorDetail.message``, else ``error``; None for an ordinary message."""
    if not isinstance(obj, dict) or not (obj.get("error") or obj.get("errorDetail")):
        return None
    return str((obj.get("errorDetail") or {}).get("message") or obj.get("error") or "unknown error")


def _chunks(conn: Connection, resp: Response) -> Iterator[bytes]:
    try:
        while True:
            data = resp.read1(_READ)
            if not data:
                return
            yield data
    finally:
        resp.close()
        conn.close()


def _jsonbatches(chunks: Iterator[bytes]) -> Iterator[list[Any]]:
    buf = b""
    for chunk in chunks:
        buf += chunk
        *lines, buf = buf.split(b"\n")
        batch = [_json.loads(line) for line in lines if line.strip()]
        if batch:
            yield batch
    if buf.strip():
        yield [_json.loads(buf)]
