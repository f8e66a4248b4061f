"""Docker's json-file log format, written by the shim.

One JSON object per line: ``{"log": "hello\\n", "stream": "stdout", "time": "<RFC 3339, ns>"}``.
Output is cut at newlines; a line longer than 16 KiB is written in pieces (each without the
newline), as dockerd does. With ``max_size`` the file rotates to ``<path>.1`` … ``<path>.N-1``.
"""

from __future__ import annotations

import json
import os
import time

MAX_LINE = 16 * 1024


def rfc3339_nano(ns: int | None = None) -> str:
    if ns is None:
        ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class JsonFileLog:
    def __init__(self, path: str, max_size: int = 0, max_files: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size
        self._partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial.pop(stream, b"") + data
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[: nl + 1], buf[nl + 1 :]
            while len(line) > MAX_LINE:
                self._emit(stream, line[:MAX_LINE])
                line = line[MAX_LINE:]
            self._emit(stream, line)
        while len(buf) >= MAX_LINE:
            self._emit(stream, buf[:MAX_LINE])
            buf = buf[MAX_LINE:]
        if buf:
            self._partial[stream] = buf

    def flush(self) -> None:
        """Write out the unterminated tail of each stream (at container exit)."""
        for stream, buf in list(self._partial.items()):
            if buf:
                self._emit(stream, buf)
        self._partial.clear()

    def _emit(self, stream: str, chunk: bytes) -> None:
        line = json.dumps(
            {"log": chunk.decode("utf-8", "replace"), "stream": stream, "time": rfc3339_nano()},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode() + b"\n"
        if self.max_size and self._size + len(line) > self.max_size and self._size > 0:
            self._rotate()
        os.write(self._fd, line)
        self._size += len(line)

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_files > 1:
            for i in range(self.max_files - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                if os.path.exists(src):
                    os.replace(src, f"{self.path}.{i}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0

    def close(self) -> None:
        self.flush()
        os.close(self._fd)
