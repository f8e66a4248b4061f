"""Reading json-file logs for ``GET /containers/{id}/logs`` (tail, since, until, follow, timestamps)."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from kobako.errors import InvalidArgument

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
        pass
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise InvalidArgument(f"invalid time {value!r}: want unix seconds or RFC 3339") from None


class LogOptions:
    def __init__(self, *, stdout: bool, stderr: bool, follow: bool, tail: str, since: str | None,
                 until: str | None, timestamps: bool, tty: bool) -> None:
        self.streams = {s for s, on in (("stdout", stdout), ("stderr", stderr)) if on}
        self.follow = follow
        # moby: anything but a number means "all"
        self.tail = int(tail) if tail is not None and tail.lstrip("-").isdigit() and int(tail) >= 0 else -1
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


def _successor(path: Path, ino: int) -> Path | None:
    """The file written after the one with inode ``ino`` (None while that one is the live file):
    the rotated files are renamed, so inodes follow a file through ``path`` → ``.1`` → ``.2``."""
    files = _files(path)
    inodes = []
    for f in files:
        try:
            inodes.append(os.stat(f).st_ino)
        except FileNotFoundError:
            inodes.append(-1)
    if inodes and inodes[-1] == ino:
        return None
    if ino in inodes:
        later = files[inodes.index(ino) + 1:]
    else:  # ours was rotated out of existence: every file left is newer
        later = files
    return next((f for f, i in zip(files, inodes, strict=True) if f in later and i != -1), None)


def read_existing(path: Path, opts: LogOptions) -> tuple[list[bytes], int]:
    """Everything logged so far, rotated files first (oldest to newest), and the offset reached
    in the live file.  As moby's json-file reader: ``tail`` picks the last N lines of the log
    (whatever their stream), then streams and since/until filter them."""
    lines: deque[bytes] | list[bytes] = deque(maxlen=opts.tail) if opts.tail >= 0 else []
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
        lines.extend(line for line in data.splitlines() if line.strip())
    out = []
    for entry in _entries(iter(lines)):
        chunk = opts.render(entry)
        if chunk is not None:
            out.append(chunk)
    return out, offset


async def follow(path: Path, offset: int, opts: LogOptions,
                 still_running: Callable[[], bool],
                 changed: Callable[[], Awaitable[None]]) -> AsyncIterator[bytes]:
    """New entries from ``offset`` until the container stops (or ``until`` passes); polls at 50 ms.

    The file being read is kept open: when the shim rotates it (renamed to ``.1``, a new file
    at ``path``), its rest is read, then the next newer file from its start, so no line is lost
    unless the writer rotates a file out of existence between two polls.
    """
    buf = b""
    fh = None
    try:
        while True:
            running = still_running()
            if fh is None:
                try:
                    fh = open(path, "rb")  # noqa: SIM115 - kept open across polls
                    fh.seek(offset)
                except FileNotFoundError:
                    fh = None
            data = b""
            switched = False
            if fh is not None:
                if os.fstat(fh.fileno()).st_size < offset:  # truncated in place (max-file 1)
                    offset = 0
                    fh.seek(0)
                data = fh.read()
                offset += len(data)
                if not data:
                    nxt = _successor(path, os.fstat(fh.fileno()).st_ino)
                    if nxt is not None:  # ours was rotated: finish it, go on with the next newer file
                        data = fh.read()
                        fh.close()
                        fh, offset, switched = None, 0, True
                        try:
                            fh = open(nxt, "rb")  # noqa: SIM115
                        except FileNotFoundError:
                            pass
            if data:
                buf += data
                *lines, buf = buf.split(b"\n")
                for entry in _entries(iter(lines)):
                    if opts.until and parse_rfc3339(entry.get("time", "")) > opts.until:
                        return
                    chunk = opts.render(entry)
                    if chunk is not None:
                        yield chunk
            if switched:
                continue  # a rotated file was finished: read the next one at once
            if not running or (opts.until and time.time() > opts.until):
                return
            try:
                await asyncio.wait_for(changed(), 0.05)
            except TimeoutError:
                pass
    finally:
        if fh is not None:
            fh.close()
