"""The build context as it arrives: a tar stream indexed on the fly, never extracted.

dockerd's legacy builder untars the whole context to a directory before the first step; the
5,000-file benchmark context then costs 5,000 file creations (and as many removals) on every
build, cached or not. Here the request body goes to an unnamed temporary file (``O_TMPFILE``:
nothing to clean up after a crash, and a short-lived file usually never reaches the disk) while
``ContextReceiver`` parses the tar headers and hashes each member's bytes as they pass. The result
is a ``TarTree``: the same read-only view ``LayerTree`` gives of a directory (``lstat``,
``listdir``, ``resolve``, ``walk``, ``open``, ``readlink``, ``file_digest``), answered from the
index, with file data read from the spool at its offset. A COPY's cache key is then computed
from the index alone (digests already known), and a COPY that misses reads its files straight
from the spool into the layer tar.

Accepted bodies, as dockerd accepts them: a tar (ustar, pax, GNU long names), a gzip or zstd
compressed tar (decompressed into a second spool when the body is complete), or a bare
Dockerfile (any body that is not a tar), which becomes ``Dockerfile``. Member names are cleaned
lexically (``..`` never climbs above the root); a hard link shares its target's data and
metadata; a later member replaces an earlier one of the same name.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from kobako.build._tree import LayerTree, split
from kobako.errors import InvalidArgument

_BLOCK = 512
_READ = 1 << 20
_TYPES = {
    b"0": stat.S_IFREG, b"\0": stat.S_IFREG, b"7": stat.S_IFREG, b"2": stat.S_IFLNK, b"3": stat.S_IFCHR,
    b"4": stat.S_IFBLK, b"5": stat.S_IFDIR, b"6": stat.S_IFIFO,
}


class ContextError(InvalidArgument):
    """The request body is not a build context kobako can read."""


class TarStat:
    """What ``os.lstat`` would say of an extracted member (the fields the builder reads)."""

    __slots__ = ("st_mode", "st_uid", "st_gid", "st_size", "st_mtime", "st_rdev", "offset", "digest", "linkname")

    def __init__(self, mode: int, uid: int = 0, gid: int = 0, size: int = 0, mtime: float = 0, rdev: int = 0,
                 offset: int = 0, digest: str = "", linkname: str = "") -> None:
        self.st_mode = mode
        self.st_uid = uid
        self.st_gid = gid
        self.st_size = size
        self.st_mtime = mtime
        self.st_rdev = rdev
        self.offset = offset
        self.digest = digest
        self.linkname = linkname


def _num(field: bytes) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * len(field) - 8)) if field[0] == 0xFF else value
    text = field.split(b"\0", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ContextError(f"invalid tar header: bad number {text!r}") from None


def _str(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        sp = data.find(b" ", pos)
        if sp < 0:
            break
        try:
            length = int(data[pos:sp])
        except ValueError:
            raise ContextError("invalid tar header: bad pax record") from None
        if length <= 0:
            raise ContextError("invalid tar header: bad pax record")
        record = data[sp + 1:pos + length - 1]
        key, eq, value = record.partition(b"=")
        if eq:
            out[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def looks_like_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _compressed(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd"


class _Indexer:
    """Parses a plain tar stream fed in pieces; ``entries`` maps cleaned names to ``TarStat``."""

    def __init__(self, spool_fd: int) -> None:
        self.fd = spool_fd
        self.pos = 0  # stream offset of the next byte fed
        self.entries: dict[str, TarStat] = {}
        self.children: dict[str, dict[str, None]] = {"": {}}
        self.now = int(time.time())
        self.root = TarStat(stat.S_IFDIR | 0o755, mtime=self.now)
        self._head = bytearray()
        self._left = 0  # data bytes of the current member still to come
        self._pad = 0
        self._hash: hashlib._Hash | None = None  # type: ignore[name-defined]
        self._collect: bytearray | None = None  # pax / GNU long-name data
        self._member: tuple[str, TarStat] | None = None
        self._ext_kind = b""
        self._pax: dict[str, str] = {}
        self._global: dict[str, str] = {}
        self._long_name: str | None = None
        self._long_link: str | None = None
        self.done = False

    # -- feeding -------------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        _write_all(self.fd, data)
        mv = memoryview(data)
        i, n = 0, len(mv)
        while i < n and not self.done:
            if self._left:
                take = min(self._left, n - i)
                piece = mv[i:i + take]
                if self._hash is not None:
                    self._hash.update(piece)
                elif self._collect is not None:
                    self._collect += piece
                i += take
                self._left -= take
                if not self._left:
                    self._end_member()
            elif self._pad:
                take = min(self._pad, n - i)
                i += take
                self._pad -= take
            else:
                take = min(_BLOCK - len(self._head), n - i)
                self._head += mv[i:i + take]
                i += take
                if len(self._head) == _BLOCK:
                    block, self._head = bytes(self._head), bytearray()
                    self._header(block, self.pos + i)
        self.pos += n

    def _header(self, block: bytes, data_offset: int) -> None:
        if block == bytes(_BLOCK):
            self.done = True  # end of archive (what follows is ignored, as tar readers do)
            return
        chksum = _num(block[148:156])
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if chksum != unsigned and chksum != unsigned - 256 * sum(1 for b in block if b > 127):
            raise ContextError("invalid tar header: checksum mismatch (is the build context a tar stream?)")
        typeflag = block[156:157]
        size = _num(block[124:136])
        if typeflag in (b"x", b"g", b"L", b"K"):
            self._ext_kind = typeflag
            self._collect = bytearray()
            self._start_data(size)
            if not size:
                self._end_member()
            return
        if typeflag == b"S":
            raise ContextError("sparse files in the build context are not supported")
        name = _str(block[0:100])
        if block[257:263] == b"ustar\0":
            prefix = _str(block[345:500])
            if prefix:
                name = prefix + "/" + name
        linkname = _str(block[157:257])
        pax = {**self._global, **self._pax}
        self._pax = {}
        if self._long_name is not None:
            name, self._long_name = self._long_name, None
        if self._long_link is not None:
            linkname, self._long_link = self._long_link, None
        name = pax.get("path", name)
        linkname = pax.get("linkpath", linkname)
        if any(k.startswith("GNU.sparse.") for k in pax):
            raise ContextError("sparse files in the build context are not supported")
        if "size" in pax:
            size = int(pax["size"])
        mtime: float = _num(block[136:148])
        if "mtime" in pax:
            try:
                mtime = float(pax["mtime"])
            except ValueError:
                pass
        uid = int(pax["uid"]) if "uid" in pax else _num(block[108:116])
        gid = int(pax["gid"]) if "gid" in pax else _num(block[116:124])
        mode = _num(block[100:108]) & 0o7777
        rel = "/".join(split(name))
        if typeflag == b"1":
            self._hard_link(rel, linkname)
            self._start_data(0)
            return
        kind = _TYPES.get(typeflag, stat.S_IFREG)  # unknown types read as regular files, as tar readers do
        rdev = os.makedev(_num(block[329:337]), _num(block[337:345])) if kind in (stat.S_IFCHR, stat.S_IFBLK) else 0
        data_size = size if kind == stat.S_IFREG else 0
        st = TarStat(kind | mode, uid, gid, data_size, mtime, rdev, data_offset, "",
                     linkname if kind == stat.S_IFLNK else "")
        if kind == stat.S_IFREG:
            self._hash = hashlib.sha256()
            self._member = (rel, st)
            self._start_data(size)
            if not size:
                self._end_member()
            return
        self._add(rel, st)
        self._start_data(0)  # only regular files carry data

    def _start_data(self, size: int) -> None:
        self._left = size
        self._pad = -size % _BLOCK

    def _end_member(self) -> None:
        if self._hash is not None:
            assert self._member is not None
            rel, st = self._member
            st.digest = self._hash.hexdigest()
            self._hash = self._member = None
            self._add(rel, st)
            return
        if self._collect is not None:
            data, self._collect = bytes(self._collect), None
            kind, self._ext_kind = self._ext_kind, b""
            if kind == b"x":
                self._pax = _pax(data)
            elif kind == b"g":
                self._global.update(_pax(data))
            elif kind == b"L":
                self._long_name = _str(data)
            elif kind == b"K":
                self._long_link = _str(data)

    def _hard_link(self, rel: str, linkname: str) -> None:
        target = self.entries.get("/".join(split(linkname)))
        if target is None or not stat.S_ISREG(target.st_mode):
            raise ContextError(f"invalid build context: hard link {rel!r} to {linkname!r}, "
                               "which is not a regular file earlier in the archive")
        self._add(rel, target)

    def _add(self, rel: str, st: TarStat) -> None:
        if not rel:
            return  # the context's root ("./"): kept as a new directory would be, 0755 root
        parts = rel.split("/")
        parent = ""
        for comp in parts[:-1]:
            path = f"{parent}/{comp}" if parent else comp
            cur = self.entries.get(path)
            if cur is None or not stat.S_ISDIR(cur.st_mode):
                self._put(parent, comp, path, TarStat(stat.S_IFDIR | 0o755, mtime=self.now))
            parent = path
        old = self.entries.get(rel)
        if old is not None and stat.S_ISDIR(old.st_mode) and stat.S_ISDIR(st.st_mode):
            self.entries[rel] = st  # a directory seen again: new metadata, same content
            return
        self._put(parent, parts[-1], rel, st)

    def _put(self, parent: str, name: str, path: str, st: TarStat) -> None:
        old = self.entries.get(path)
        if old is not None and stat.S_ISDIR(old.st_mode):
            self._drop_under(path)
        self.entries[path] = st
        self.children[parent][name] = None
        if stat.S_ISDIR(st.st_mode):
            self.children.setdefault(path, {})

    def _drop_under(self, path: str) -> None:
        for name in self.children.pop(path, {}):
            sub = f"{path}/{name}"
            if sub in self.children:
                self._drop_under(sub)
            self.entries.pop(sub, None)

    def finish(self) -> None:
        if self._left or self._head or self._collect is not None:
            raise ContextError("invalid build context: the tar stream ends inside a member (unexpected EOF)")


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    mv = memoryview(data)
    while mv:
        mv = mv[os.write(fd, mv):]


class TarTree(LayerTree):
    """A read-only tree over an indexed tar spool (see the module docstring)."""

    def __init__(self, fd: int, entries: dict[str, TarStat], children: dict[str, dict[str, None]],
                 root: TarStat) -> None:
        self.fd = -1
        super().__init__([])
        self.fd = fd
        self.entries = entries
        self.children = children
        self.root = root

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self.entries)

    def _get(self, rel: str) -> TarStat | None:
        st = self.entries.get(rel)  # paths from walk/resolve are clean already: one dict lookup
        if st is not None:
            return st
        path = "/".join(split(rel))
        return self.entries.get(path) if path else self.root

    def host_path(self, rel: str) -> str | None:
        return None  # nothing is extracted

    def lstat(self, rel: str) -> TarStat | None:  # type: ignore[override]
        return self._get(rel)

    def listdir(self, rel: str) -> list[str]:
        names = self.children.get("/".join(split(rel)))
        return sorted(names) if names else []

    def readlink(self, rel: str) -> str:
        st = self._get(rel)
        if st is None or not stat.S_ISLNK(st.st_mode):
            raise OSError(22, "Invalid argument", rel)
        return st.linkname

    def open(self, rel: str) -> io.BufferedIOBase:
        st = self._get(rel)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(2, "No such file", rel)
        return _Slice(self.fd, st.offset, st.st_size)

    def read_bytes(self, rel: str) -> bytes:
        with self.open(rel) as f:
            return f.read()

    def file_digest(self, rel: str) -> str:
        st = self._get(rel)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise FileNotFoundError(2, "No such file", rel)
        return st.digest


class _Slice(io.RawIOBase):
    """A read-only file over ``size`` bytes of ``fd`` at ``offset`` (``os.pread``: no shared position)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd, self._start, self._size, self._pos = fd, offset, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + pos)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        left = self._size - self._pos
        if n is None or n < 0 or n > left:
            n = left
        if n <= 0:
            return b""
        data = os.pread(self._fd, n, self._start + self._pos)
        if len(data) < n:  # pread of a regular file returns less only at its end
            while len(data) < n:
                more = os.pread(self._fd, n - len(data), self._start + self._pos + len(data))
                if not more:
                    raise ContextError("build context spool is shorter than its index")
                data += more
        self._pos += n
        return data

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class ContextReceiver:
    """Feed the request body with ``feed``; ``finish`` returns the ``TarTree`` (spool included)."""

    def __init__(self, tmp: Path | str) -> None:
        self._tmp = str(tmp)
        self._fd = _spool(self._tmp)
        self._open = True
        self._mode = ""  # "" until the first 512 bytes decide: "tar", "compressed", "file"
        self._head = bytearray()
        self._indexer: _Indexer | None = None
        self.size = 0

    def feed_many(self, pieces: Iterable[bytes]) -> None:
        for p in pieces:
            self.feed(p)

    def feed(self, data: bytes) -> None:
        self.size += len(data)
        if not self._mode:
            self._head += data
            if len(self._head) < _BLOCK:
                return
            data, self._head = bytes(self._head), bytearray()
            self._decide(data)
        if self._indexer is not None:
            self._indexer.feed(data)
        else:
            _write_all(self._fd, data)

    def _decide(self, head: bytes) -> None:
        if _compressed(head):
            self._mode = "compressed"
        elif looks_like_tar(head):
            self._mode = "tar"
            self._indexer = _Indexer(self._fd)
        else:
            self._mode = "file"

    def finish(self) -> TarTree:
        try:
            if not self._mode:
                head, self._head = bytes(self._head), bytearray()
                if _compressed(head):
                    self._mode = "compressed"
                    _write_all(self._fd, head)
                elif head:
                    self._decide(head)
                    if self._indexer is not None:
                        self._indexer.feed(head)
                    else:
                        _write_all(self._fd, head)
            if self._mode == "compressed":
                return self._decompress()
            if self._indexer is not None:
                self._indexer.finish()
                return self._tree(self._fd, self._indexer)
            if self._mode == "file":  # a bare Dockerfile
                ix = _Indexer(-1)
                ix._add("Dockerfile", TarStat(stat.S_IFREG | 0o644, size=self.size, mtime=ix.now,
                                              digest=_fd_digest(self._fd, self.size)))
                return self._tree(self._fd, ix)
            return self._tree(self._fd, _Indexer(-1))  # an empty body: an empty context
        except BaseException:
            self.abort()
            raise

    def _tree(self, fd: int, ix: _Indexer) -> TarTree:
        self._open = False  # the tree owns the spool's descriptor now
        return TarTree(fd, ix.entries, ix.children, ix.root)

    def _decompress(self) -> TarTree:
        from kobako.snapshots import open_layer

        os.lseek(self._fd, 0, os.SEEK_SET)
        plain = tempfile.TemporaryFile(dir=self._tmp, prefix="ctx-")  # noqa: SIM115
        try:
            with open(self._fd, "rb", closefd=False) as raw, open_layer(raw) as stream:
                head = stream.read(_BLOCK)
                if not looks_like_tar(head) and head.strip(b"\0"):
                    raise ContextError("invalid build context: the compressed body is not a tar archive")
                ix = _Indexer(plain.fileno())
                ix.feed(head)
                while data := stream.read(_READ):
                    ix.feed(data)
                ix.finish()
        except (OSError, EOFError, ValueError) as exc:
            plain.close()
            raise ContextError(f"invalid build context: {exc}") from None
        except BaseException:
            plain.close()
            raise
        self.abort()
        fd = os.dup(plain.fileno())
        plain.close()
        return TarTree(fd, ix.entries, ix.children, ix.root)

    def abort(self) -> None:
        if self._open:
            self._open = False
            os.close(self._fd)


def _spool(tmp: str) -> int:
    """An unnamed file in ``tmp`` (``O_TMPFILE``: it vanishes with its descriptor, whatever happens),
    made with one ``open`` (``tempfile`` costs ~0.1 ms more, and a build receives one per request)."""
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_TMPFILE
    for attempt in range(2):
        try:
            return os.open(tmp, flags, 0o600)
        except FileNotFoundError:
            if attempt:
                raise
            os.makedirs(tmp, exist_ok=True)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR):
                raise
            break  # a filesystem (or kernel) without O_TMPFILE
    f = tempfile.TemporaryFile(dir=tmp, prefix="ctx-")  # noqa: SIM115 - its descriptor is kept
    try:
        return os.dup(f.fileno())
    finally:
        f.close()


def _fd_digest(fd: int, size: int) -> str:
    h = hashlib.sha256()
    off = 0
    while off < size:
        data = os.pread(fd, min(_READ, size - off), off)
        if not data:
            break
        h.update(data)
        off += len(data)
    return h.hexdigest()


def receive_file(path: str | os.PathLike[str], tmp: Path | str) -> TarTree:
    """The ``TarTree`` of a context body saved in a file."""
    rc = ContextReceiver(tmp)
    with open(path, "rb") as f:
        while data := f.read(_READ):
            rc.feed(data)
    return rc.finish()
