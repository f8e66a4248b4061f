"""``LayerSink``: a layer tar written to it goes gzipped into the content store as it comes (build
steps, ``import``, ``commit``, ``bootstrap`` through ``store_layer``).

No spool file in between: the diff id (SHA-256 of the tar) is hashed on the way, the gzip stream
is written by the content store's writer (which hashes, fsyncs and renames it into place at
``commit``).

dockerd keeps its local layers uncompressed, so every second spent compressing is a second kobako's
build, import or commit is slower than Docker's. Deflate at level 1 still runs at only
≈ 20 MB/s on incompressible data here (the 50 MB COPY benchmark spent 2.5 s of 3.7 in zlib), so
the sink decides per 1 MiB segment: it deflates a few 4 KiB samples of the segment, and a segment
that would not shrink by a sixth is written as *stored* deflate blocks (a copy), the others are
deflated at the sink's level (1 for builds, Docker's 6 for imports and commits). Each segment's compressor ends with a sync flush (byte-aligned, not final),
so the segments concatenate into one valid raw deflate stream, closed by an empty final block and
wrapped in a gzip header and trailer (CRC-32, size) written here: the result is one ordinary
gzip member that any reader accepts.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from kobako.content import LocalContentStore
    from kobako.images._build import StoredLayer

BUILD_GZIP_LEVEL = 1
SEGMENT = 1 << 20
_SAMPLE = 4096
_STORED_MAX = 0xFFFF
_WORTH = 5 / 6  # deflate a segment whose samples shrink below this fraction
# gzip header: magic, deflate, no flags, mtime 0, XFL 4 ("fastest"), OS 255 (unknown), as GzipFile writes
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x04\xff"
_FINAL = b"\x03\x00"  # an empty final block (fixed Huffman): what zlib's Z_FINISH writes for no input


def _worth_deflating(seg: memoryview, level: int) -> bool:
    n = len(seg)
    if n <= 3 * _SAMPLE:
        samples = [seg]
    else:
        samples = [seg[:_SAMPLE], seg[n // 2:n // 2 + _SAMPLE], seg[n - _SAMPLE:]]
    raw = packed = 0
    for s in samples:
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
        packed += len(c.compress(s)) + len(c.flush())
        raw += len(s)
    return packed < raw * _WORTH


class LayerSink:
    """A writable file: ``write`` the uncompressed layer tar, then ``commit`` (or ``abort``)."""

    def __init__(self, content: LocalContentStore, level: int = BUILD_GZIP_LEVEL) -> None:
        self._writer = content.writer()
        self._level = level
        self._hash = hashlib.sha256()
        self._crc = 0
        self._buf = bytearray()
        self.count = 0
        self.stored = 0  # bytes written as stored blocks (for tests and curiosity)
        self._writer.write(_HEADER)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        n = len(data)
        self._hash.update(data)
        self._crc = zlib.crc32(data, self._crc)
        self.count += n
        self._buf += data
        if len(self._buf) >= SEGMENT:
            buf, self._buf = self._buf, bytearray()
            mv = memoryview(buf)
            full = len(buf) - len(buf) % SEGMENT
            for off in range(0, full, SEGMENT):
                self._segment(mv[off:off + SEGMENT])
            self._buf += mv[full:]
            mv.release()
        return n

    def _segment(self, seg: memoryview) -> None:
        if not len(seg):
            return
        if _worth_deflating(seg, self._level):
            c = zlib.compressobj(self._level, zlib.DEFLATED, -15)
            self._writer.write(c.compress(seg) + c.flush(zlib.Z_SYNC_FLUSH))
            return
        self.stored += len(seg)
        parts: list[bytes | memoryview] = []
        for off in range(0, len(seg), _STORED_MAX):
            block = seg[off:off + _STORED_MAX]
            n = len(block)
            parts.append(struct.pack("<BHH", 0, n, n ^ 0xFFFF))
            parts.append(block)
        self._writer.write(b"".join(parts))

    def flush(self) -> None:
        pass

    def commit(self) -> StoredLayer:
        if self._buf:
            buf, self._buf = self._buf, bytearray()
            self._segment(memoryview(buf))
        self._writer.write(_FINAL + struct.pack("<II", self._crc & 0xFFFFFFFF, self.count & 0xFFFFFFFF))
        from kobako.images._build import StoredLayer

        digest = self._writer.commit()
        return StoredLayer(str(digest), self._writer.size, "sha256:" + self._hash.hexdigest(), self.count)

    def abort(self) -> None:
        self._writer.abort()
