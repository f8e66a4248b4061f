"""TLS for a server connection, with half-close kept (what asyncio's own TLS transport cannot do).

asyncio's SSL transport shuts the whole connection down when the client sends ``close_notify``,
and drops what the server writes after it.  The docker CLI sends exactly that when it is done
with stdin on a hijacked attach (Go's ``tls.Conn.CloseWrite``), while the container's output has
still to come.  So TLS is done here with an ``ssl.SSLObject`` over memory BIOs and the plain bytes
are relayed through a unix socket pair to the ordinary HTTP connection handler: a ``close_notify``
becomes a ``write_eof`` on the pair (the handler sees stdin end and keeps writing), and the
handler's own end of output becomes our ``close_notify``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

log = logging.getLogger("kobako.api")

_CHUNK = 64 * 1024
HANDSHAKE_TIMEOUT = 10.0

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve_tls(ctx: ssl.SSLContext, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    handler: Handler, limit: int) -> None:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_side=True)
    peer = writer.get_extra_info("peername")

    async def flush() -> None:
        data = outgoing.read()
        if data:
            writer.write(data)
            await writer.drain()

    try:
        await asyncio.wait_for(_handshake(tls, incoming, reader, flush), HANDSHAKE_TIMEOUT)
    except (ssl.SSLError, ConnectionError, TimeoutError, asyncio.IncompleteReadError) as exc:
        with contextlib.suppress(Exception):
            await flush()  # the alert, so the client knows why
        log.info("API: TLS handshake from %s refused: %s", peer, getattr(exc, "reason", None) or exc or "timeout")
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        ireader, iwriter = await asyncio.open_unix_connection(sock=ours, limit=limit)
        creader, cwriter = await asyncio.open_unix_connection(sock=theirs, limit=limit)
    except BaseException:
        ours.close()
        theirs.close()
        raise
    conn = asyncio.create_task(handler(creader, cwriter))
    up = asyncio.create_task(_upstream(tls, incoming, reader, iwriter, flush))
    try:
        await _downstream(tls, ireader, flush)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(conn), 5)
    finally:
        up.cancel()
        conn.cancel()
        await asyncio.gather(up, conn, return_exceptions=True)
        iwriter.close()


async def _handshake(tls: ssl.SSLObject, incoming: ssl.MemoryBIO, reader: asyncio.StreamReader,
                     flush: Callable[[], Awaitable[None]]) -> None:
    while True:
        try:
            tls.do_handshake()
            await flush()
            return
        except ssl.SSLWantReadError:
            await flush()
            data = await reader.read(_CHUNK)
            if not data:
                raise ConnectionResetError("the client closed the connection during the handshake")
            incoming.write(data)


async def _upstream(tls: ssl.SSLObject, incoming: ssl.MemoryBIO, reader: asyncio.StreamReader,
                    iwriter: asyncio.StreamWriter, flush: Callable[[], Awaitable[None]]) -> None:
    """Client → handler: decrypt; close_notify (or TCP EOF) becomes a half-close."""
    try:
        data = b""  # first, what came in with the end of the handshake
        while True:
            if data:
                incoming.write(data)
            plain, closed = _read_all(tls)
            await flush()  # TLS 1.3 session tickets, key updates
            if plain:
                iwriter.write(plain)
                await iwriter.drain()
            if closed:
                break
            data = await reader.read(_CHUNK)
            if not data:
                break
        if iwriter.can_write_eof():
            iwriter.write_eof()
    except (ssl.SSLError, ConnectionError) as exc:
        log.debug("API: TLS read failed: %s", exc)
        iwriter.close()


def _read_all(tls: ssl.SSLObject) -> tuple[bytes, bool]:
    out: list[bytes] = []
    while True:
        try:
            chunk = tls.read(_CHUNK)
        except ssl.SSLWantReadError:
            return b"".join(out), False
        except ssl.SSLZeroReturnError:
            return b"".join(out), True
        if not chunk:
            return b"".join(out), True
        out.append(chunk)


async def _downstream(tls: ssl.SSLObject, ireader: asyncio.StreamReader,
                      flush: Callable[[], Awaitable[None]]) -> None:
    """Handler → client: encrypt; the handler's end of output becomes close_notify."""
    try:
        while True:
            data = await ireader.read(_CHUNK)
            if not data:
                break
            tls.write(data)
            await flush()
        with contextlib.suppress(ssl.SSLError):
            tls.unwrap()
        await flush()
    except (ssl.SSLError, ConnectionError) as exc:
        log.debug("API: TLS write failed: %s", exc)
