"""COPY and ADD: resolving sources, hashing them for the cache, writing the layer tar directly.

Docker's destination rules (moby ``builder/dockerfile/copy.go``): a relative destination is
under WORKDIR; a destination ending in ``/`` (or any with several sources) is a directory; a
directory source copies its *content*; a file goes *into* the destination when that ends in
``/`` or already is a directory in the image, else it *is* the destination. Sources are looked
up with symlinks resolved inside their tree, so neither ``..`` nor a symlink reads outside the
build context. The cache key hashes content, mode, owner and link targets, never mtimes.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import posixpath
import stat
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from kobako.build import _tarfmt as tarfmt
from kobako.build._tree import LayerTree, split
from kobako.errors import InvalidArgument

_CHUNK = 1 << 20


class CopyError(InvalidArgument):
    pass


@dataclass(frozen=True, slots=True)
class Source:
    """One source after glob expansion: a path in a tree, inline bytes (heredoc, download), or
    an archive to extract (ADD)."""

    name: str  # the path as given (for messages and the basename)
    tree: LayerTree | None = None
    path: str = ""  # resolved, inside ``tree``
    data: bytes | None = None
    file: str | None = None  # a host file (downloads)
    mode: int = 0o644
    mtime: int = 0
    extract: bool = False
    keep_owner: bool = False  # --from sources keep their owners; context files become 0:0

    def stat(self) -> os.stat_result | None:
        return self.tree.lstat(self.path) if self.tree is not None else None

    def is_dir(self) -> bool:
        st = self.stat()
        return st is not None and stat.S_ISDIR(st.st_mode)


def _has_magic(p: str) -> bool:
    return any(c in p for c in "*?[")


def glob(tree: LayerTree, pattern: str) -> list[str]:
    """Paths in ``tree`` matching ``pattern`` (filepath.Match per component), resolved."""
    parts = split(pattern)
    if not any(_has_magic(p) for p in parts):
        return [tree.resolve("/".join(parts))]
    found = [""]
    for comp in parts:
        nxt: list[str] = []
        for base in found:
            real = tree.resolve(base) if base else ""
            if _has_magic(comp):
                for name in tree.listdir(real):
                    if fnmatch.fnmatchcase(name, comp):
                        nxt.append(f"{real}/{name}" if real else name)
            else:
                nxt.append(f"{real}/{comp}" if real else comp)
        found = nxt
    return sorted(tree.resolve(p) for p in found if tree.lstat(tree.resolve(p)) is not None)


def context_sources(tree: LayerTree, patterns: list[str], excluded: object = None, *,
                    keep_owner: bool = False, what: str = "build context") -> list[Source]:
    out: list[Source] = []
    for pat in patterns:
        matches = glob(tree, pat)
        if _has_magic(pat):
            if not matches:
                raise CopyError(f"lstat {pat}: no source files were specified")
        elif not matches or tree.lstat(matches[0]) is None or (
                excluded is not None and excluded(matches[0])):  # type: ignore[operator]
            clean = "/".join(split(pat)) or "."
            raise CopyError(f"file not found in {what} or excluded by .dockerignore: stat {clean}: "
                            "file does not exist")
        for m in matches:
            if excluded is not None and excluded(m):  # type: ignore[operator]
                continue
            out.append(Source(name=pat, tree=tree, path=m, keep_owner=keep_owner))
    return out


# -- hashing ------------------------------------------------------------------------------------
def _file_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def source_digest(sources: list[Source]) -> str:
    """The cache input of a COPY/ADD: names, types, modes, owners, link targets and contents."""
    h = hashlib.sha256()
    for src in sources:
        h.update(f"\0src {src.name} extract={src.extract}\n".encode())
        if src.data is not None:
            h.update(b"data " + hashlib.sha256(src.data).hexdigest().encode() + f" {src.mode:o}\n".encode())
            continue
        if src.file is not None:
            h.update(b"file " + _file_digest(src.file).encode() + f" {src.mode:o}\n".encode())
            continue
        assert src.tree is not None
        base = src.path
        for rel, st in src.tree.walk(base):
            sub = rel[len(base):].lstrip("/")
            line = f"{sub} {stat.S_IFMT(st.st_mode):o} {stat.S_IMODE(st.st_mode):o} {st.st_uid}:{st.st_gid}"
            if stat.S_ISLNK(st.st_mode):
                line += " -> " + src.tree.readlink(rel)
            elif stat.S_ISREG(st.st_mode):
                line += " " + src.tree.file_digest(rel)
            h.update(line.encode() + b"\n")
    return "sha256:" + h.hexdigest()


# -- the layer ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Owner:
    uid: int
    gid: int


class LayerWriter:
    """Collects entries for one layer (parents first, each path once) and writes the tar.

    Headers come from ``_tarfmt`` and small writes are gathered into ~1 MiB pieces: the
    5,000-file COPY would otherwise spend seconds in ``tarfile`` and in per-write overhead of
    the gzip sink.
    """

    def __init__(self, image: LayerTree, out: IO[bytes]) -> None:
        self.image = image
        self.out = out
        self.dirs: set[str] = set()
        self.now = int(time.time())
        self._buf = bytearray()

    def _put(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data
        if len(self._buf) >= _CHUNK:
            self.out.write(self._buf)
            self._buf = bytearray()

    def close(self) -> None:
        self._buf += tarfmt.END
        self.out.write(self._buf)
        self._buf = bytearray()

    def parents(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if not parent or parent in self.dirs:
            return  # the common case: the previous entry made (or was) this directory
        parts = split(path)
        for k in range(1, len(parts)):
            self.directory("/".join(parts[:k]), None, None, None)

    def directory(self, path: str, mode: int | None, owner: Owner | None, mtime: int | None) -> None:
        if path in self.dirs or not path:
            return
        self.parents(path)  # so that every directory in ``dirs`` has its parents there too
        self.dirs.add(path)
        existing = self.image.lstat(path)
        if existing is not None and stat.S_ISDIR(existing.st_mode) and mode is None:
            self._put(tarfmt.header(path + "/", mode=stat.S_IMODE(existing.st_mode), uid=existing.st_uid,
                                    gid=existing.st_gid, mtime=int(existing.st_mtime), typeflag=tarfmt.DIRTYPE))
        else:
            uid, gid = (owner.uid, owner.gid) if owner else (0, 0)
            self._put(tarfmt.header(path + "/", mode=0o755 if mode is None else mode, uid=uid, gid=gid,
                                    mtime=self.now if mtime is None else mtime, typeflag=tarfmt.DIRTYPE))

    def entry(self, name: str, *, mode: int, owner: Owner, mtime: int, typeflag: bytes = tarfmt.REGTYPE,
              size: int = 0, linkname: str = "", data: IO[bytes] | None = None, devmajor: int = 0,
              devminor: int = 0) -> None:
        """One member; a regular file's ``size`` bytes are read from ``data`` (zero-padded if it
        ends early, as the size is already in the header)."""
        self.parents(name)
        if typeflag == tarfmt.DIRTYPE:
            self.dirs.add(name)
            name += "/"
        self._put(tarfmt.header(name, mode=mode, uid=owner.uid, gid=owner.gid, size=size, mtime=mtime,
                                typeflag=typeflag, linkname=linkname, devmajor=devmajor, devminor=devminor))
        if typeflag != tarfmt.REGTYPE or not size:
            return
        left = size
        while left:
            chunk = data.read(min(left, _CHUNK)) if data is not None else b""
            if not chunk:
                chunk = bytes(min(left, _CHUNK))
            self._put(chunk)
            left -= len(chunk)
        self._put(tarfmt.padding(size))

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None = None) -> None:
        """A member given as a ``TarInfo`` (ADD of a local archive)."""
        self.entry(info.name.rstrip("/"), mode=info.mode, owner=Owner(info.uid, info.gid), mtime=int(info.mtime),
                   typeflag=tarfmt.REGTYPE if info.isreg() else info.type,  # "\0", "7", sparse: plain files
                   size=info.size if info.isreg() else 0, linkname=info.linkname, data=data,
                   devmajor=info.devmajor, devminor=info.devminor)


def dest_path(image: LayerTree, dest: str) -> str:
    """The destination with symlinks of the image resolved (``/bin`` → ``usr/bin``)."""
    parts = split(dest)
    if not parts:
        return ""
    parent = image.resolve("/".join(parts[:-1])) if len(parts) > 1 else ""
    last = f"{parent}/{parts[-1]}" if parent else parts[-1]
    st = image.lstat(last)
    if st is not None and stat.S_ISLNK(st.st_mode):
        return image.resolve(last)
    return last


def write_copy(w: LayerWriter, sources: list[Source], dest: str, dest_is_dir: bool, *,
               owner: Owner | None, chmod: int | None) -> None:
    """Write the COPY/ADD of ``sources`` to ``dest`` (absolute, Docker's rules applied by caller)."""
    base = dest_path(w.image, dest)
    existing = w.image.lstat(base) if base else None
    into_dir = dest_is_dir or not base or (existing is not None and stat.S_ISDIR(existing.st_mode))
    for src in sources:
        if src.extract:
            w.directory(base, None, owner, None) if base else None
            w.parents(base + "/x") if base else None
            _extract(w, src, base, owner)
            continue
        if src.tree is not None and src.is_dir():
            if base:
                w.parents(base)
                st = src.stat()
                assert st is not None
                w.directory(base, chmod if chmod is not None else stat.S_IMODE(st.st_mode),
                            _own(src, st, owner), int(st.st_mtime))
            _tree_entries(w, src, base, owner, chmod)
            continue
        name = posixpath.basename(src.name.rstrip("/")) or "file"
        if src.tree is not None:
            name = posixpath.basename(src.path) or name
        target = f"{base}/{name}".lstrip("/") if into_dir else base
        _file_entry(w, src, target, owner, chmod)


def _own(src: Source, st: os.stat_result, owner: Owner | None) -> Owner:
    if owner is not None:
        return owner
    return Owner(st.st_uid, st.st_gid) if src.keep_owner else Owner(0, 0)


def _tree_entries(w: LayerWriter, src: Source, base: str, owner: Owner | None, chmod: int | None) -> None:
    assert src.tree is not None
    for rel, st in src.tree.walk(src.path):
        sub = rel[len(src.path):].lstrip("/")
        if not sub:
            continue
        name = f"{base}/{sub}" if base else sub
        _entry(w, src.tree, rel, st, name, _own(src, st, owner), chmod)


def _entry(w: LayerWriter, tree: LayerTree, rel: str, st: os.stat_result, name: str, owner: Owner,
           chmod: int | None) -> None:
    fmt = stat.S_IFMT(st.st_mode)
    mode = chmod if chmod is not None and fmt != stat.S_IFLNK else stat.S_IMODE(st.st_mode)
    mtime = int(st.st_mtime)
    if fmt == stat.S_IFREG:
        with tree.open(rel) as f:
            w.entry(name, mode=mode, owner=owner, mtime=mtime, size=st.st_size, data=f)
    elif fmt == stat.S_IFDIR:
        w.entry(name, mode=mode, owner=owner, mtime=mtime, typeflag=tarfmt.DIRTYPE)
    elif fmt == stat.S_IFLNK:
        w.entry(name, mode=mode, owner=owner, mtime=mtime, typeflag=tarfmt.SYMTYPE, linkname=tree.readlink(rel))
    elif fmt == stat.S_IFIFO:
        w.entry(name, mode=mode, owner=owner, mtime=mtime, typeflag=tarfmt.FIFOTYPE)
    # sockets and device nodes are not copied


def _file_entry(w: LayerWriter, src: Source, target: str, owner: Owner | None, chmod: int | None) -> None:
    if src.tree is not None:
        st = src.stat()
        assert st is not None
        _entry(w, src.tree, src.path, st, target, _own(src, st, owner), chmod)
        return
    mode = chmod if chmod is not None else src.mode
    own = owner or Owner(0, 0)
    mtime = src.mtime or w.now
    if src.data is not None:
        w.entry(target, mode=mode, owner=own, mtime=mtime, size=len(src.data), data=io.BytesIO(src.data))
    else:
        assert src.file is not None
        with open(src.file, "rb") as f:
            w.entry(target, mode=mode, owner=own, mtime=mtime, size=os.fstat(f.fileno()).st_size, data=f)


def is_archive_head(head: bytes) -> bool:
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        return is_archive_head(f.read(512))


def _extract(w: LayerWriter, src: Source, base: str, owner: Owner | None) -> None:
    """ADD of a local tar: its entries re-rooted under ``base`` (names cleaned, never above it)."""
    try:
        with (src.tree.open(src.path) if src.tree is not None else open(src.file, "rb")) as raw, \
                tarfile.open(fileobj=raw, mode="r:*") as tf:  # type: ignore[arg-type]
            for member in _members(tf):
                parts = split(member.name)
                if not parts:
                    continue
                name = "/".join([*split(base), *parts])
                member.name = name
                if member.islnk():
                    member.linkname = "/".join([*split(base), *split(member.linkname)])
                if owner is not None:
                    member.uid, member.gid = owner.uid, owner.gid
                if member.isreg() or member.islnk():
                    w.add(member, tf.extractfile(member) if member.isreg() else None)
                elif member.isdir() or member.issym() or member.isfifo():
                    w.add(member)
    except tarfile.TarError as exc:
        raise CopyError(f"ADD {src.name}: invalid archive: {exc}") from exc


def _members(tf: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    yield from tf
