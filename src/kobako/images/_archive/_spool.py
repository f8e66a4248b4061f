"""Reading an image archive once, as a stream, without trusting it.

Every regular file is hashed as it passes (its digest) and, when it is compressed, decompressed
on the fly and hashed again (its diff id, if it is a layer). Small files stay in memory; large
ones go straight into content-store writers that are only committed once the whole archive has
been checked, so a bad archive stores nothing.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import lzma
import posixpath
import shutil
import subprocess
import tarfile
import threading
import zlib
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from kobako.errors import InvalidArgument
from kobako.images._archive._common import clean_entry, join_inside

if TYPE_CHECKING:
    from kobako.content import ContentWriter, LocalContentStore

SMALL = 4 << 20  # files up to this size are kept in memory (configs, manifests, small layers)
MEMORY_BUDGET = 128 << 20
MAX_WRITERS = 512
_CHUNK = 1 << 20
_MAX_LINKS = 32


class _Zstd:
    """zstd decompression through the ``zstd`` tool (a thread drains its output into a hash)."""

    def __init__(self, sink: Any) -> None:
        exe = shutil.which("zstd")
        if exe is None:
            raise ValueError("zstd-compressed data needs the zstd tool")
        self._proc = subprocess.Popen([exe, "-dcq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL)
        self._sink = sink
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read(_CHUNK):
            self._sink(chunk)

    def feed(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except BrokenPipeError:
            raise ValueError("invalid zstd data") from None

    def close(self) -> None:
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        self._thread.join()
        if self._proc.wait() != 0:
            raise ValueError("invalid zstd data")

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.close()  # type: ignore[union-attr]
        self._proc.wait()
        self._thread.join()


class DiffHasher:
    """sha256 of the decompressed bytes (gzip, zstd, xz, bzip2 or none, by magic), fed by chunks.

    A decompression error is recorded (``error``), not raised: only a layer needs a diff id.
    """

    def __init__(self) -> None:
        self.kind: str | None = None
        self.error: str | None = None
        self._head = b""
        self._sha = hashlib.sha256()
        self._dec: Any = None
        self._zstd: _Zstd | None = None

    def update(self, data: bytes) -> None:
        if self.error is not None:
            return
        if self.kind is None:
            self._head += data
            if len(self._head) < 6:
                return
            data, self._head = self._head, b""
            self._start(data)
        try:
            self._feed(data)
        except (zlib.error, lzma.LZMAError, OSError, ValueError, EOFError) as exc:
            self._fail(f"cannot decompress ({self.kind}): {exc}")

    def _fail(self, message: str) -> None:
        self.error = message
        if self._zstd is not None:
            self._zstd.kill()
            self._zstd = None

    def _start(self, magic: bytes) -> None:
        if magic[:2] == b"\x1f\x8b":
            self.kind, self._dec = "gzip", zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif magic[:4] == b"\x28\xb5\x2f\xfd":
            self.kind = "zstd"
            try:
                self._zstd = _Zstd(self._sha.update)
            except ValueError as exc:
                self.error = str(exc)
        elif magic[:6] == b"\xfd7zXZ\x00":
            self.kind, self._dec = "xz", lzma.LZMADecompressor()
        elif magic[:3] == b"BZh":
            self.kind, self._dec = "bzip2", bz2.BZ2Decompressor()
        else:
            self.kind = "none"

    def _feed(self, data: bytes) -> None:
        if self.kind == "none":
            self._sha.update(data)
        elif self.kind == "zstd":
            if self._zstd is not None:
                self._zstd.feed(data)
        elif self.kind == "gzip":
            self._gzip(data)
        else:
            while data:
                if self._dec.eof:
                    if data.strip(b"\0"):
                        raise ValueError("trailing data after the compressed stream")
                    return
                self._sha.update(self._dec.decompress(data, _CHUNK))
                data = b""
                while not self._dec.eof and not self._dec.needs_input:
                    self._sha.update(self._dec.decompress(b"", _CHUNK))

    def _gzip(self, data: bytes) -> None:
        while data:
            if self._dec.eof:  # a further gzip member, or the zero padding some writers add
                if not data.strip(b"\0"):
                    return
                self._dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._sha.update(self._dec.decompress(data, _CHUNK))
            data = self._dec.unused_data if self._dec.eof else self._dec.unconsumed_tail

    def finish(self) -> str | None:
        """The diff id, or None (``error`` says why)."""
        if self.kind is None:  # fewer than 6 bytes: not compressed
            self.kind = "none"
            self._sha.update(self._head)
        if self.error is None:
            try:
                if self.kind == "gzip" and not self._dec.eof:
                    raise ValueError("compressed data ends early")
                if self.kind in ("xz", "bzip2") and not self._dec.eof:
                    raise ValueError("compressed data ends early")
                if self._zstd is not None:
                    self._zstd.close()
                    self._zstd = None
            except ValueError as exc:
                self._fail(f"cannot decompress ({self.kind}): {exc}")
        return None if self.error is not None else "sha256:" + self._sha.hexdigest()

    def abort(self) -> None:
        if self._zstd is not None:
            self._zstd.kill()
            self._zstd = None


@dataclass
class Entry:
    """One regular file of the archive, read and hashed."""

    name: str
    size: int
    digest: str
    diff_id: str | None
    compression: str
    diff_error: str | None = None
    data: bytes | None = None
    writer: ContentWriter | None = field(default=None, repr=False)

    def read(self, what: str) -> bytes:
        if self.data is None:
            raise InvalidArgument(f"invalid archive: {what} {self.name!r} is too large ({self.size} bytes)")
        return self.data


class Spool:
    """The archive's files by path (``entries``), plus its symlinks and hard links."""

    def __init__(self, content: LocalContentStore) -> None:
        self.content = content
        self.entries: dict[str, Entry] = {}
        self.symlinks: dict[str, str] = {}
        self.hardlinks: dict[str, str] = {}
        self._memory = 0
        self._writers = 0

    # -- reading ---------------------------------------------------------------------------------
    def read_tar(self, stream: IO[bytes]) -> None:
        current = "(start of archive)"
        try:
            tf = tarfile.open(fileobj=stream, mode="r|")  # noqa: SIM115
            for member in tf:
                current = member.name
                self._add(tf, member)
            # a tar ends with zero blocks; a stream that stops right after a file was cut short
            if tf.fileobj.tell() <= tf.offset:  # type: ignore[union-attr]
                raise InvalidArgument(f"invalid archive: truncated after entry {current!r} "
                                      "(no end-of-archive marker)")
        except tarfile.ReadError as exc:
            if current == "(start of archive)":
                raise InvalidArgument(f"invalid archive: not a tar file ({exc})") from None
            raise InvalidArgument(f"invalid archive: truncated or corrupt at entry {current!r} ({exc})") \
                from None
        except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile) as exc:
            raise InvalidArgument(f"invalid archive: corrupt at entry {current!r} ({exc})") from None

    def _add(self, tf: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = clean_entry(member.name)
        if member.isdir() or not name:
            return
        self._drop(name)
        if member.issym():
            self.symlinks[name] = member.linkname
            return
        if member.islnk():
            self.hardlinks[name] = clean_entry(member.linkname)
            return
        if not member.isreg():
            raise InvalidArgument(f"invalid archive entry {member.name!r}: "
                                  "not a regular file, directory or link")
        src = tf.extractfile(member)
        assert src is not None
        sha = hashlib.sha256()
        diff = DiffHasher()
        small = member.size <= SMALL and self._memory + member.size <= MEMORY_BUDGET
        parts: list[bytes] = []
        writer = None
        if not small:
            if self._writers >= MAX_WRITERS:
                raise InvalidArgument(f"invalid archive: more than {MAX_WRITERS} large files")
            writer = self.content.writer()
            self._writers += 1
        total = 0
        try:
            while chunk := src.read(_CHUNK):
                total += len(chunk)
                sha.update(chunk)
                diff.update(chunk)
                if writer is not None:
                    writer.write(chunk)
                else:
                    parts.append(chunk)
            if total != member.size:
                raise InvalidArgument(f"invalid archive: entry {member.name!r} is truncated "
                                      f"({total} of {member.size} bytes)")
            diff_id = diff.finish()
        except BaseException:
            diff.abort()
            if writer is not None:
                writer.abort()
            raise
        data = b"".join(parts) if writer is None else None
        if data is not None:
            self._memory += len(data)
        self.entries[name] = Entry(name, total, "sha256:" + sha.hexdigest(), diff_id, diff.kind or "none",
                                   diff.error, data, writer)

    def _drop(self, name: str) -> None:
        """A later entry of the same name replaces an earlier one (as extraction would)."""
        old = self.entries.pop(name, None)
        if old is not None and old.writer is not None:
            old.writer.abort()
        self.symlinks.pop(name, None)
        self.hardlinks.pop(name, None)

    # -- looking up ------------------------------------------------------------------------------
    def get(self, path: str, what: str) -> Entry:
        """The file at ``path`` (a clean archive path), following links inside the archive."""
        seen = 0
        while True:
            if path in self.entries:
                return self.entries[path]
            if path in self.hardlinks:
                path = self.hardlinks[path]
            else:
                path = self._follow(path, what)
            seen += 1
            if seen > _MAX_LINKS:
                raise InvalidArgument(f"invalid archive: {what} {path!r}: too many levels of links")

    def has(self, path: str) -> bool:
        try:
            self.get(path, path)
        except InvalidArgument:
            return False
        return True

    def _follow(self, path: str, what: str) -> str:
        parts = path.split("/")
        for i in range(len(parts), 0, -1):
            prefix = "/".join(parts[:i])
            if prefix in self.symlinks:
                link = self.symlinks[prefix]
                target = join_inside(posixpath.dirname(prefix), link,
                                     f"invalid archive: symlink {prefix!r} (to {link!r})")
                rest = "/".join(parts[i:])
                return f"{target}/{rest}" if rest else target
            if prefix in self.hardlinks and i < len(parts):
                break
        raise InvalidArgument(f"invalid archive: {what} names {path!r}, which is not in the archive")

    # -- storing ---------------------------------------------------------------------------------
    def commit(self, entry: Entry) -> bool:
        """Put the entry's bytes in the content store; True when the blob was not there before.
        Under a content lease the blob is protected before it is found present (or written)."""
        lease = self.content.current_lease()
        present = not lease.protect([entry.digest]) if lease is not None else self.content.has(entry.digest)
        if present:
            return False
        if entry.writer is not None:
            entry.writer.commit()
        else:
            assert entry.data is not None
            self.content.write(entry.data, entry.digest)
        return True

    def close(self) -> None:
        for entry in self.entries.values():
            if entry.writer is not None:
                entry.writer.abort()
