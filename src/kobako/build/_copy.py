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
                line += " -> " + os.readlink(src.tree.host_path(rel))  # type: ignore[arg-type]
            elif stat.S_ISREG(st.st_mode):
                line += " " + _file_digest(src.tree.host_path(rel))  # type: ignore[arg-type]
            h.update(line.encode() + b"\n")
    return "sha256:" + h.hexdigest()


# -- the layer ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Owner:
    uid: int
    gid: int


class LayerWriter:
    """Collects entries for one layer (parents first, each path once) and writes the tar."""

    def __init__(self, image: LayerTree, out: IO[bytes]) -> None:
        self.image = image
        self.tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.dirs: set[str] = set()
        self.now = int(time.time())

    def close(self) -> None:
        self.tf.close()

    def parents(self, path: str) -> None:
        parts = split(path)
        for k in range(1, len(parts)):
            self.directory("/".join(parts[:k]), None, None, None)

    def directory(self, path: str, mode: int | None, owner: Owner | None, mtime: int | None) -> None:
        if path in self.dirs or not path:
            return
        self.dirs.add(path)
        existing = self.image.lstat(path)
        info = tarfile.TarInfo(path)
        info.type = tarfile.DIRTYPE
        if existing is not None and stat.S_ISDIR(existing.st_mode) and mode is None:
            info.mode = stat.S_IMODE(existing.st_mode)
            info.uid, info.gid, info.mtime = existing.st_uid, existing.st_gid, int(existing.st_mtime)
        else:
            info.mode = 0o755 if mode is None else mode
            info.uid, info.gid = (owner.uid, owner.gid) if owner else (0, 0)
            info.mtime = self.now if mtime is None else mtime
        self.tf.addfile(info)

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None = None) -> None:
        self.parents(info.name)
        if info.isdir():
            self.dirs.add(info.name)
        info.uname = info.gname = ""
        self.tf.addfile(info, data)


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


def _tar_info(name: str, st: os.stat_result, owner: Owner, chmod: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = chmod if chmod is not None and not stat.S_ISLNK(st.st_mode) else stat.S_IMODE(st.st_mode)
    info.uid, info.gid = owner.uid, owner.gid
    info.mtime = int(st.st_mtime)
    return info


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
    info = _tar_info(name, st, owner, chmod)
    host = tree.host_path(rel)
    assert host is not None
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        w.add(info)
    elif stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(host)
        w.add(info)
    elif stat.S_ISREG(st.st_mode):
        info.size = st.st_size
        with open(host, "rb") as f:
            w.add(info, f)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
        w.add(info)
    # sockets and device nodes are not copied


def _file_entry(w: LayerWriter, src: Source, target: str, owner: Owner | None, chmod: int | None) -> None:
    if src.tree is not None:
        st = src.stat()
        assert st is not None
        _entry(w, src.tree, src.path, st, target, _own(src, st, owner), chmod)
        return
    info = tarfile.TarInfo(target)
    info.mode = chmod if chmod is not None else src.mode
    info.uid, info.gid = (owner.uid, owner.gid) if owner else (0, 0)
    info.mtime = src.mtime or w.now
    if src.data is not None:
        info.size = len(src.data)
        w.add(info, io.BytesIO(src.data))
    else:
        assert src.file is not None
        info.size = os.path.getsize(src.file)
        with open(src.file, "rb") as f:
            w.add(info, f)


def is_archive(path: str) -> bool:
    with open(path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


def _extract(w: LayerWriter, src: Source, base: str, owner: Owner | None) -> None:
    """ADD of a local tar: its entries re-rooted under ``base`` (names cleaned, never above it)."""
    path = src.tree.host_path(src.path) if src.tree is not None else src.file
    assert path is not None
    try:
        with tarfile.open(path, mode="r:*") as tf:
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
