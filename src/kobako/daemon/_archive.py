"""``GET /images/get`` and ``POST /images/load``: the image archive code runs in a worker thread;
these bridge its blocking file interface to the daemon's async request and response bodies."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

_FLUSH = 1 << 20
_QUEUE = 8


class _BodyReader:
    """A blocking ``read()`` over the request's async body, for the worker thread."""

    def __init__(self, body: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._body = body
        self._loop = loop
        self._buf = b""
        self._eof = False

    async def _next(self) -> bytes | None:
        try:
            return await self._body.__anext__()
        except StopAsyncIteration:
            return None

    def _fill(self) -> bool:
        while not self._buf and not self._eof:
            chunk = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            if chunk is None:
                self._eof = True
            else:
                self._buf = chunk
        return bool(self._buf)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while self._fill():
                parts.append(self._buf)
                self._buf = b""
            return b"".join(parts)
        if not self._fill():
            return b""
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def readable(self) -> bool:
        return True


async def run_load(body: AsyncIterator[bytes], work: Callable[[Any], Any]) -> Any:
    """``work(reader)`` in a thread, reading the request body as a file."""
    loop = asyncio.get_running_loop()
    return await asyncio.to_thread(work, _BodyReader(body, loop))


class _Stopped(BrokenPipeError):
    """The client went away: stop writing."""


class _QueueWriter:
    """A blocking ``write()`` for the worker thread that hands ~1 MiB chunks to the event loop."""

    def __init__(self, queue: asyncio.Queue[Any], loop: asyncio.AbstractEventLoop,
                 stop: threading.Event) -> None:
        self._queue = queue
        self._loop = loop
        self._stop = stop
        self._buf = bytearray()

    def write(self, data: bytes) -> int:
        self._buf += data
        if len(self._buf) >= _FLUSH:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self._buf:
            return
        chunk, self._buf = bytes(self._buf), bytearray()
        fut = asyncio.run_coroutine_threadsafe(self._queue.put(chunk), self._loop)
        while True:
            if self._stop.is_set():
                fut.cancel()
                raise _Stopped("the client went away")
            try:
                fut.result(timeout=0.2)
                return
            except concurrent.futures.TimeoutError:
                continue


async def stream_from_thread(work: Callable[[Any], None]) -> AsyncIterator[bytes]:
    """Run ``work(out)`` in a thread and yield what it writes to ``out``; its exception is
    raised after the last chunk (the response then ends without its final chunk: a truncated
    body the client notices). Closing the iterator (client gone) stops the writer."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=_QUEUE)
    stop = threading.Event()
    done = object()

    def run() -> None:
        out = _QueueWriter(queue, loop, stop)
        try:
            work(out)
            out.flush()
        finally:
            if not stop.is_set():
                asyncio.run_coroutine_threadsafe(queue.put(done), loop)

    fut = loop.run_in_executor(None, run)
    try:
        while True:
            item = await queue.get()
            if item is done:
                break
            yield item
        await fut
    finally:
        stop.set()
        while not queue.empty():  # unblock a writer waiting on a full queue
            queue.get_nowait()
        if not fut.done():
            try:
                await fut
            except _Stopped:
                pass
