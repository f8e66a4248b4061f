"""The reader half of a hijacked connection."""

from __future__ import annotations

import asyncio


class HijackReader:
    """An asyncio.StreamReader look-alike that first returns the bytes h11 had
    already buffered after the request, then reads the socket.

    ``read()`` returns b"" once the client has shut down its write side
    (half-close); the connection stays writable.
    """

    def __init__(self, prefix: bytes, reader: asyncio.StreamReader) -> None:
        self._prefix = bytearray(prefix)
        self._reader = reader

    async def read(self, n: int = -1) -> bytes:
        """Like StreamReader.read: up to ``n`` bytes, or everything until EOF when ``n < 0``."""
        if not self._prefix:
            return await self._reader.read(n)
        if n < 0:
            return self._take(len(self._prefix)) + await self._reader.read(-1)
        return self._take(n)

    def _take(self, n: int) -> bytes:
        data = bytes(self._prefix[:n])
        del self._prefix[:n]
        return data

    async def readexactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = await self.read(n - len(buf))
            if not chunk:
                raise asyncio.IncompleteReadError(bytes(buf), n)
            buf += chunk
        return bytes(buf)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        idx = self._prefix.find(separator)
        if idx >= 0:
            return self._take(idx + len(separator))
        head = self._take(len(self._prefix))
        try:
            return head + await self._reader.readuntil(separator)
        except asyncio.IncompleteReadError as exc:
            raise asyncio.IncompleteReadError(head + exc.partial, None) from None

    async def readline(self) -> bytes:
        try:
            return await self.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            return exc.partial

    def at_eof(self) -> bool:
        return not self._prefix and self._reader.at_eof()

    def __aiter__(self) -> HijackReader:
        return self

    async def __anext__(self) -> bytes:
        data = await self.read(65536)
        if not data:
            raise StopAsyncIteration
        return data
