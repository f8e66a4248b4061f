"""Small stream helpers: peeking, counting/hashing, zstd decompression."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import threading
from typing import IO, BinaryIO, cast

from kobako.errors import InvalidArgument, Unsupported


class PrefixedReader:
    """Lets a non-seekable stream be peeked at: the peeked bytes are replayed by ``read``."""

    def __init__(self, inner: IO[bytes], *, close_inner: bool = False) -> None:
        self._inner = inner
        self._buf = b""
        self._close_inner = close_inner

    def peek(self, n: int) -> bytes:
        while len(self._buf) < n:
            chunk = self._inner.read(n - len(self._buf))
            if not chunk:
                break
            self._buf += chunk
        return self._buf[:n]

    def read(self, n: int = -1) -> bytes:
        if self._buf:
            if n < 0:
                data, self._buf = self._buf + self._inner.read(), b""
                return data
            data, self._buf = self._buf[:n], self._buf[n:]
            return data
        return self._inner.read(n)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._close_inner:
            self._inner.close()

    def __enter__(self) -> PrefixedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CountingReader:
    """Counts and sha256-hashes everything read through it (a layer's diff id and size)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.count = 0
        self._hash = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n)
        self.count += len(data)
        self._hash.update(data)
        return data

    def drain(self) -> None:
        while self.read(1 << 20):
            pass

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _ProcReader:
    """stdout of a decompressor process fed by a thread; a non-zero exit is an error."""

    def __init__(self, proc: subprocess.Popen[bytes], feeder: threading.Thread) -> None:
        self._proc = proc
        self._feeder = feeder

    def read(self, n: int = -1) -> bytes:
        assert self._proc.stdout is not None
        data = self._proc.stdout.read(n)
        if not data and n != 0:
            self._feeder.join()
            if self._proc.wait() != 0:
                raise InvalidArgument("invalid zstd layer: decompression failed")
        return data

    def __enter__(self) -> _ProcReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def zstd_reader(src: PrefixedReader) -> BinaryIO:
    """Decompress zstd with the ``zstandard`` module when importable, else the ``zstd`` tool."""
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        exe = shutil.which("zstd")
        if exe is None:
            raise Unsupported("zstd-compressed layers need the zstandard module or the zstd tool") from None
    else:
        return cast("BinaryIO", zstandard.ZstdDecompressor().stream_reader(src))
    proc = subprocess.Popen([exe, "-dc"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def feed() -> None:
        assert proc.stdin is not None
        try:
            while chunk := src.read(1 << 20):
                proc.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
            src.close()

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    return cast("BinaryIO", _ProcReader(proc, feeder))


class CountingWriter:
    """Counts and hashes everything written through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self.count = 0
        self._hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self._inner.write(data)
        self.count += len(data)
        self._hash.update(data)
        return len(data)

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class ExactSizeReader:
    """Reads exactly ``size`` bytes of ``f`` (what a tar header promised): zero-padded if the file
    shrank while being read, cut if it grew - a live container's files can change under a walk."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f, self._left = f, size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n) or b"\0" * n
        self._left -= len(data)
        return data
