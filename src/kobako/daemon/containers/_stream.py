"""Relaying a hijacked client connection to a shim stream, with Docker's detach keys.

Docker detaches on the server: with a tty, the attach (or exec) stdin is scanned for the detach
sequence (default Ctrl-P Ctrl-Q, or the ``detachKeys`` of the request); when it is seen, the
stream is closed and the process keeps running with its stdin still open.  Without a tty stdin
is passed through untouched (it may be binary), as moby ``container/stream/attach.go`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from kobako.errors import InvalidArgument

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
# moby pkg/term ASCII: ctrl-@ is 0, ctrl-a 1 ... ctrl-z 26, then ctrl-[ ctrl-\ ctrl-] ctrl-^ ctrl-_
_CTRL = ["ctrl-@", *(f"ctrl-{chr(c)}" for c in range(ord("a"), ord("z") + 1)),
         "ctrl-[", "ctrl-\\", "ctrl-]", "ctrl-^", "ctrl-_"]


def parse_detach_keys(keys: str | None) -> bytes:
    """Docker's ``--detach-keys`` ("ctrl-p,ctrl-q", "ctrl-a,x") as bytes; InvalidArgument if bad."""
    if not keys:
        keys = DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            out += key.encode()
        elif key.lower() in _CTRL:
            out.append(_CTRL.index(key.lower()))
        elif key == "DEL":
            out.append(127)
        else:
            raise InvalidArgument(f"Invalid detach keys ({keys}) provided: Unknown character: '{key}'")
    return bytes(out)


class EscapeScanner:
    """moby's EscapeProxy: holds back a partial match, flushes it on a mismatch."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0  # how many bytes of keys the held-back input matches

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the whole sequence was typed (detach)."""
        out = bytearray()
        for b in data:
            if b == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.matched = 0
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[: self.matched]
                self.matched = 0
                if b == self.keys[0]:
                    self.matched = 1
                    continue
            out.append(b)
        return bytes(out), False


async def relay(creader: Any, cwriter: asyncio.StreamWriter, sreader: asyncio.StreamReader,
                swriter: asyncio.StreamWriter, *, stdin: bool, detach_keys: bytes | None = None) -> bool:
    """Copy until the shim ends the stream; True if the client detached with ``detach_keys``.

    The client's half-close becomes the shim's half-close (stdin EOF).  With ``detach_keys``
    (a tty), stdin is scanned and the relay ends as soon as the sequence is seen.
    """
    scanner = EscapeScanner(detach_keys) if detach_keys and stdin else None
    detached = asyncio.Event()

    async def up() -> None:
        try:
            while True:
                data = await creader.read(65536)
                if not data:
                    break
                if not stdin:
                    continue
                if scanner is not None:
                    data, hit = scanner.feed(data)
                    if data:
                        swriter.write(data)
                        await swriter.drain()
                    if hit:
                        detached.set()
                        return
                    continue
                swriter.write(data)
                await swriter.drain()
            if swriter.can_write_eof():
                swriter.write_eof()
        except (ConnectionError, OSError):
            pass

    async def down() -> None:
        try:
            while True:
                data = await sreader.read(65536)
                if not data:
                    break
                cwriter.write(data)
                await cwriter.drain()
        except (ConnectionError, OSError):
            pass

    up_task = asyncio.create_task(up())
    down_task = asyncio.create_task(down())
    detach_task = asyncio.create_task(detached.wait())
    try:
        await asyncio.wait({down_task, detach_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (up_task, down_task, detach_task):
            t.cancel()
        for t in (up_task, down_task, detach_task):
            with contextlib.suppress(asyncio.CancelledError):
                await t
    return detached.is_set()
