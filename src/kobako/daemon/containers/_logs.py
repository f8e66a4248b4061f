"""Reading json-file logs for ``GET /containers/{id}/logs`` (tail, since, until, follow, timestamps)."""

from __future__ import annotations

import asyncio
import json
import os
import struct
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from ._record import parse_rfc3339

STREAMS = {"stdout": 1, "stderr": 2}


def _frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


def parse_since(value: str | None) -> float:
    """Docker's since/until: unix seconds with optional fraction (the CLI converts durations)."""
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        return parse_rfc3339(value)


class LogOptions:
    def __init__(self, *, stdout: bool, stderr: bool, follow: bool, tail: str, since: str | None,
                 until: str | None, timestamps: bool, tty: bool) -> None:
        self.streams = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
        self.follow = follow
        self.tail = -1 if tail in ("", "all", None) else max(0, int(tail))
        self.since = parse_since(since)
        self.until = parse_since(until)
        self.timestamps = timestamps
        self.tty = tty

    def render(self, entry: dict[str, Any]) -> bytes | None:
        stream = entry.get("stream", "stdout")
        if stream not in self.streams:
            return None
        t = entry.get("time", "")
        if self.since or self.until:
            ts = parse_rfc3339(t)
            if self.since and ts < self.since:
                return None
            if self.until and ts > self.until:
                return None
        data = entry.get("log", "").encode()
        if self.timestamps:
            data = t.encode() + b" " + data
        return data if self.tty else _frame(STREAMS.get(stream, 1), data)


def _entries(lines: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    for line in lines:
        try:
            yield json.loads(line)
        except ValueError:
            continue


def _files(path: Path) -> list[Path]:
    rotated = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:] or 0)
                     if p.suffix[1:].isdigit() else 0)
    return [p for p in rotated if p.suffix[1:].isdigit()] + [path]


def read_existing(path: Path, opts: LogOptions) -> tuple[list[bytes], int]:
    """Everything logged so far (after tail/since/until), and the offset reached in the live file."""
    out: deque[bytes] | list[bytes] = deque(maxlen=opts.tail) if opts.tail >= 0 else []
    offset = 0
    for f in _files(path):
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            continue
        if f == path:
            end = data.rfind(b"\n") + 1
            data = data[:end]
            offset = end
        for entry in _entries(iter(data.splitlines())):
            chunk = opts.render(entry)
            if chunk is not None:
                out.append(chunk)
    return list(out), offset


async def follow(path: Path, offset: int, opts: LogOptions,
                 still_running: Callable[[], bool], changed: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
    """New entries from ``offset`` until the container stops; polls the file at 50 ms."""
    buf = b""
    while True:
        running = still_running()
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < offset:  # rotated: start at the beginning of the new file
                    offset = 0
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        if data:
            offset += len(data)
            buf += data
            *lines, buf = buf.split(b"\n")
            for entry in _entries(iter(lines)):
                chunk = opts.render(entry)
                if chunk is not None:
                    if opts.until and parse_rfc3339(entry.get("time", "")) > opts.until:
                        return
                    yield chunk
        if not running:
            return
        try:
            await asyncio.wait_for(changed(), 0.05)
        except TimeoutError:
            pass
