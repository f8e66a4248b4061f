"""One HTTP/1.1 connection: h11 on asyncio streams, one request at a time, keep-alive.

    read request ──► route ──► read body (or hand it over as a stream) ──► handler
        ▲                                                                   │
        └── start_next_cycle ◄── Response | StreamResponse (chunked)  ◄─────┤
                                 Hijack: raw 101/200 head, then the handler ┘ owns the socket
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import h11

from kobako.api._hijack import HijackReader
from kobako.api.httpstatus import is_known, status_for
from kobako.api.request import Request
from kobako.api.response import FileResponse, Hijack, Response, StreamResponse, json_response
from kobako.api.versioning import check_version, split_version, standard_headers
from kobako.errors import InvalidArgument

if TYPE_CHECKING:
    from kobako.api.router import Router

log = logging.getLogger("kobako.api")

READ_SIZE = 64 * 1024
MAX_HEADER_BYTES = 1024 * 1024
DRAIN_LIMIT = 1024 * 1024  # unread body we discard to keep a connection alive after an early reply
LINGER_SECONDS = 1.0


class _BodyTooLarge(Exception):
    pass


class _FileBody:
    """Stands for a file body in h11's bookkeeping: only its length matters."""

    __slots__ = ("n",)

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n


def _reason(status: int) -> bytes:
    if status == 101:
        return b"UPGRADED"
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class Connection:
    def __init__(
        self,
        router: Router,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        server_header: str,
        max_body: int,
        versioned: bool = True,
    ) -> None:
        self.router = router
        self.reader = reader
        self.writer = writer
        self.max_body = max_body
        self.versioned = versioned
        self.std_headers = standard_headers(server_header)
        self.h = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._headers: dict[str, str] = {}

    # -- transport -------------------------------------------------------------
    async def _next_event(self) -> Any:
        while True:
            event = self.h.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.h.they_are_waiting_for_100_continue:
                await self._send(h11.InformationalResponse(status_code=100, headers=self.std_headers))
            self.h.receive_data(await self.reader.read(READ_SIZE))

    async def _send(self, event: Any) -> None:
        data = self.h.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()

    # -- main loop -------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                event = await self._next_event()
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    return
                assert isinstance(event, h11.Request), event
                keep_alive = await self._handle(event)
            except h11.RemoteProtocolError as exc:
                await self._protocol_error(exc)
                return
            if not keep_alive or self.h.our_state is not h11.DONE or self.h.their_state is not h11.DONE:
                return
            self.h.start_next_cycle()

    async def _protocol_error(self, exc: h11.RemoteProtocolError) -> None:
        log.debug("malformed HTTP request: %s", exc)
        if self.h.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            with contextlib.suppress(h11.LocalProtocolError, ConnectionError):
                resp = json_response({"message": f"malformed HTTP request: {exc}"}, exc.error_status_hint)
                await self._send_response(resp, "GET", close=True)

    async def _handle(self, event: h11.Request) -> bool:
        method = event.method.decode("ascii")
        target = event.target.decode("latin-1")
        parts = urlsplit(target)
        headers: dict[str, str] = {}
        for name, value in event.headers:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self._headers = headers
        version, path = split_version(parts.path) if self.versioned else (None, parts.path)
        try:
            check_version(version)
        except InvalidArgument as exc:
            return await self._early_reply(json_response({"message": str(exc)}, 400), method)
        match = self.router.match(method, path)
        if match.route is None:
            if match.allowed:
                resp = json_response({"message": f"method {method} not allowed for {path}"}, 405,
                                     {"Allow": ", ".join(match.allowed)})
            else:
                resp = json_response({"message": "page not found"}, 404)
            return await self._early_reply(resp, method)
        body = b""
        if not match.route.stream_body:
            try:
                body = await self._read_body()
            except _BodyTooLarge:
                return await self._early_reply(self._too_large(), method)
        req = Request(
            method=method,
            path=path,
            api_version=version,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers=headers,
            params=match.params,
            body=body,
            target=target,
            _body_stream=self._body_stream if match.route.stream_body else None,
        )
        try:
            result = await match.route.handler(req)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a response
            result = self._error_response(req, exc)
        status = getattr(result, "status", 101)
        log.debug("%s %s %s", method, target, status)
        if isinstance(result, Hijack):
            await self._hijack(req, result)
            return False
        if isinstance(result, StreamResponse):
            return await self._send_stream(result, method)
        if isinstance(result, FileResponse):
            return await self._send_file(result, method)
        if self.h.their_state is not h11.DONE:  # a streamed upload the handler did not read
            return await self._early_reply(result, method)
        await self._send_response(result, method)
        return True

    # -- request bodies --------------------------------------------------------
    def _declared_length(self) -> int | None:
        """The request's Content-Length (None when chunked); h11 has already validated it."""
        value = self._headers.get("content-length")
        return int(value.split(",")[0]) if value else None

    async def _read_body(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        length = self._declared_length()
        if length is not None and length > self.max_body:
            raise _BodyTooLarge
        while True:
            event = await self._next_event()
            if isinstance(event, h11.EndOfMessage):
                return b"".join(chunks)
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self.max_body:
                    raise _BodyTooLarge
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("connection closed before the request body ended")

    async def _body_stream(self) -> AsyncIterator[bytes]:
        while self.h.their_state is h11.SEND_BODY:
            try:
                event = await self._next_event()
            except h11.RemoteProtocolError as exc:
                raise InvalidArgument(f"malformed request body: {exc}") from exc
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            elif isinstance(event, h11.ConnectionClosed):
                raise InvalidArgument("connection closed before the request body ended")

    def _too_large(self) -> Response:
        return json_response(
            {"message": f"request body too large: the limit is {self.max_body} bytes"}, 413
        )

    async def _early_reply(self, resp: Response, method: str) -> bool:
        """Answer before (all of) the body was read: drain a small rest, else reply and close."""
        if self.h.their_state is h11.SEND_BODY and not self.h.they_are_waiting_for_100_continue:
            length = self._declared_length()
            if length is not None and length <= DRAIN_LIMIT:
                with contextlib.suppress(_BodyTooLarge):
                    saved, self.max_body = self.max_body, DRAIN_LIMIT
                    try:
                        await self._read_body()
                    finally:
                        self.max_body = saved
        if self.h.their_state is h11.DONE:
            await self._send_response(resp, method)
            return True
        await self._send_response(resp, method, close=True)
        await self._linger()
        return False

    async def _linger(self) -> None:
        """Half-close, then discard what the client still sends for a moment, so the
        kernel does not answer its unread body with a reset that eats our reply."""
        with contextlib.suppress(OSError, RuntimeError):
            if self.writer.can_write_eof():
                self.writer.write_eof()
        with contextlib.suppress(asyncio.TimeoutError, OSError):
            async with asyncio.timeout(LINGER_SECONDS):
                while await self.reader.read(READ_SIZE):
                    pass

    # -- responses ---------------------------------------------------------------
    def _error_response(self, req: Request, exc: Exception) -> Response:
        status = status_for(exc)
        if not is_known(exc):
            log.error("%s %s: unhandled error", req.method, req.target, exc_info=exc)
        elif status >= 500:
            log.warning("%s %s: %s", req.method, req.target, exc)
        if status == 304:
            return Response(304, b"", {}, None)
        return json_response({"message": str(exc) or type(exc).__name__}, status)

    def _head(self, content_type: str | None, extra: Any, *, close: bool = False) -> list[tuple[str, str]]:
        headers = list(self.std_headers)
        if content_type:
            headers.append(("Content-Type", content_type))
        items: Sequence[tuple[str, str]] = list(extra.items()) if hasattr(extra, "items") else list(extra)
        names = {n.lower() for n, _ in items}
        headers = [(n, v) for n, v in headers if n.lower() not in names] + list(items)
        if close:
            headers.append(("Connection", "close"))
        return headers

    async def _send_response(self, resp: Response, method: str, *, close: bool = False) -> None:
        no_body = resp.status in (204, 304) or resp.status < 200
        headers = self._head(None if no_body else resp.content_type, resp.headers, close=close)
        if not no_body:
            headers.append(("Content-Length", str(len(resp.body))))
        await self._send(h11.Response(status_code=resp.status, headers=headers, reason=_reason(resp.status)))
        if resp.body and not no_body and method != "HEAD":
            await self._send(h11.Data(data=resp.body))
        await self._send(h11.EndOfMessage())

    async def _send_stream(self, resp: StreamResponse, method: str) -> bool:
        """Headers, then the body's chunks, relayed in this task (no task per response: a short
        stream, such as a cached build's, then ends without extra event-loop rounds). When the whole
        request has been read, a watcher reads ahead meanwhile; if the client goes away it cancels
        this task, which ends the body (and so, e.g., the build it relays)."""
        headers = self._head(resp.content_type, resp.headers)
        body = resp.body
        try:
            # Headers first, before the iterator is awaited: `wait` and `events` rely on it.
            await self._send(h11.Response(status_code=resp.status, headers=headers, reason=_reason(resp.status)))
            if method == "HEAD":
                await self._send(h11.EndOfMessage())
                return self.h.their_state is h11.DONE
            watcher = None
            me = asyncio.current_task()
            gone = False
            pumping = True

            def left(task: asyncio.Task[None]) -> None:
                nonlocal gone
                if pumping and not task.cancelled() and me is not None:  # not once the body has ended
                    gone = True
                    me.cancel()

            if self.h.their_state is h11.DONE:
                watcher = asyncio.create_task(self._watch_disconnect())
                watcher.add_done_callback(left)
            try:
                try:
                    await self._pump(body)
                finally:
                    pumping = False
                    if watcher is not None:
                        watcher.remove_done_callback(left)
                        watcher.cancel()
            except asyncio.CancelledError:
                if not gone:
                    raise
                if me is not None:
                    me.uncancel()
                await self._reap(watcher)
                return False
            except Exception as exc:  # noqa: BLE001 - the body failed: abort the response
                if not isinstance(exc, ConnectionError):
                    log.error("streamed response failed", exc_info=exc)
                await self._reap(watcher)
                return False
            await self._send(h11.EndOfMessage())  # before the watcher is reaped: the client has it sooner
            await self._reap(watcher)
            return self.h.their_state is h11.DONE
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    @staticmethod
    async def _reap(watcher: asyncio.Task[None] | None) -> None:
        """Wait for a cancelled watcher to stop reading (the next request reads the same stream)."""
        if watcher is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    async def _send_file(self, resp: FileResponse, method: str) -> bool:
        """Head through h11, then the body by ``loop.sendfile`` on the transport; h11 accounts for
        the bytes through a placeholder ``Data`` whose ``len`` is the count (its sendfile recipe)."""
        try:
            headers = self._head(resp.content_type, resp.headers)
            headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
            headers.append(("Content-Length", str(resp.count)))
            await self._send(h11.Response(status_code=resp.status, headers=headers, reason=_reason(resp.status)))
            if method != "HEAD" and resp.count > 0:
                placeholder = _FileBody(resp.count)
                for piece in self.h.send_with_data_passthrough(h11.Data(data=placeholder)) or []:
                    if piece is not placeholder:
                        self.writer.write(piece)
                await self.writer.drain()
                loop = asyncio.get_running_loop()
                sent = await loop.sendfile(self.writer.transport, resp.file, resp.offset, resp.count)
                if sent != resp.count:
                    raise ConnectionError(f"file ended after {sent} of {resp.count} bytes")
            await self._send(h11.EndOfMessage())
            return self.h.their_state is h11.DONE
        except (ConnectionError, OSError) as exc:
            log.debug("file response aborted: %s", exc)
            return False
        finally:
            resp.file.close()

    async def _pump(self, body: Any) -> None:
        async for chunk in body:
            if chunk:
                await self._send(h11.Data(data=chunk))

    async def _watch_disconnect(self) -> None:
        """While streaming, read ahead: bytes are kept for the next request; EOF means the client left."""
        while True:
            data = await self.reader.read(READ_SIZE)
            self.h.receive_data(data)
            if not data:
                return

    async def _hijack(self, req: Request, hijack: Hijack) -> None:
        if "upgrade" in req.headers:
            head = ["HTTP/1.1 101 UPGRADED", f"Content-Type: {hijack.content_type}",
                    "Connection: Upgrade", "Upgrade: tcp"]
        else:  # old clients: 200 then raw bytes, no framing
            head = ["HTTP/1.1 200 OK", f"Content-Type: {hijack.content_type}"]
        head += [f"{n}: {v}" for n, v in self._head(None, hijack.headers)]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()
        prefix, _closed = self.h.trailing_data
        try:
            await hijack.handler(HijackReader(prefix, self.reader), self.writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("%s %s: hijacked handler failed", req.method, req.target)
        with contextlib.suppress(Exception):
            await self.writer.drain()
