"""Read-only views of a root filesystem for COPY/ADD, without mounting anything.

``LayerTree(dirs)`` merges overlay layer directories (top first) the way overlayfs does:
a 0/0 character device is a whiteout, a directory with ``trusted.overlay.opaque=y`` hides
the lower layers' content, and an upper non-directory hides everything below it. A plain
directory (the build context, a copy-snapshotter tree) is a ``LayerTree`` of one.

Paths are ``/``-separated and relative to the root. ``resolve`` follows symlinks *inside*
the root (an absolute target or a ``..`` past the top stays at the root), so nothing outside
the tree is ever read: the rule that keeps COPY inside the build context.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from typing import BinaryIO

from kobako.errors import InvalidArgument
from kobako.mount import Mount

MAX_SYMLINKS = 40
_OPAQUE = "trusted.overlay.opaque"


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, _OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _nofollow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def split(rel: str) -> list[str]:
    """Components of ``rel``, lexically cleaned; ``..`` never climbs above the root."""
    out: list[str] = []
    for comp in rel.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if out:
                out.pop()
            continue
        out.append(comp)
    return out


class LayerTree:
    def __init__(self, dirs: list[str]) -> None:
        self.dirs = [os.fspath(d) for d in dirs]
        self.overlay = len(self.dirs) > 1

    @classmethod
    def from_mounts(cls, mounts: list[Mount]) -> LayerTree:
        """The layers of a snapshotter's read-only mounts (a bind, or overlay lowerdirs)."""
        dirs: list[str] = []
        for m in mounts:
            if m.type == "bind":
                dirs.append(m.source)
            elif m.type == "overlay":
                for opt in m.options:
                    if opt.startswith("lowerdir="):
                        dirs.extend(opt[len("lowerdir="):].split(":"))
        return cls(dirs)

    # -- one layer ----------------------------------------------------------------------------
    def _state(self, layer: str, parts: list[str]) -> tuple[str, str]:
        """("absent" | "hidden" | "entry", host path) for ``parts`` in one layer."""
        path = layer
        for k, comp in enumerate(parts):
            parent = path
            path = os.path.join(path, comp)
            try:
                st = os.lstat(path)
            except (FileNotFoundError, NotADirectoryError):
                return ("hidden" if k > 0 and self.overlay and _opaque(parent) else "absent"), path
            if self.overlay and _whiteout(st):
                return "hidden", path
            if k < len(parts) - 1 and not stat.S_ISDIR(st.st_mode):
                return "hidden", path  # a file or symlink here hides the lower directories
        return "entry", path

    # -- lookups --------------------------------------------------------------------------------
    def host_path(self, rel: str) -> str | None:
        """The host path of the top-most entry at ``rel`` (no symlink followed), or None."""
        parts = split(rel)
        for layer in self.dirs:
            state, path = self._state(layer, parts)
            if state == "entry":
                return path
            if state == "hidden":
                return None
        return None

    def lstat(self, rel: str) -> os.stat_result | None:
        path = self.host_path(rel)
        return os.lstat(path) if path is not None else None

    def readlink(self, rel: str) -> str:
        host = self.host_path(rel)
        if host is None:
            raise FileNotFoundError(2, "No such file or directory", rel)
        return os.readlink(host)

    def open(self, rel: str) -> BinaryIO:
        """The content of the regular file at ``rel`` (no symlink followed)."""
        host = self.host_path(rel)
        if host is None:
            raise FileNotFoundError(2, "No such file or directory", rel)
        return open(host, "rb", opener=_nofollow)  # noqa: SIM115

    def file_digest(self, rel: str) -> str:
        """SHA-256 (hex) of the regular file at ``rel``."""
        h = hashlib.sha256()
        with self.open(rel) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    def listdir(self, rel: str) -> list[str]:
        parts = split(rel)
        seen: set[str] = set()
        names: list[str] = []
        for layer in self.dirs:
            state, path = self._state(layer, parts)
            if state == "hidden":
                break
            if state == "absent":
                continue
            if not os.path.isdir(path) or os.path.islink(path):
                break
            for name in os.listdir(path):
                if name in seen:
                    continue
                seen.add(name)
                if self.overlay and _whiteout(os.lstat(os.path.join(path, name))):
                    continue
                names.append(name)
            if self.overlay and parts and _opaque(path):
                break
        return sorted(names)

    def resolve(self, rel: str, *, follow_last: bool = True) -> str:
        """``rel`` with every symlink expanded inside the root; missing tail components are kept."""
        todo = split(rel)
        done: list[str] = []
        links = 0
        while todo:
            comp = todo.pop(0)
            if comp == "..":
                if done:
                    done.pop()
                continue
            cand = "/".join([*done, comp])
            st = self.lstat(cand)
            if st is not None and stat.S_ISLNK(st.st_mode) and (todo or follow_last):
                links += 1
                if links > MAX_SYMLINKS:
                    raise InvalidArgument(f"too many levels of symbolic links: {rel}")
                target = self.readlink(cand)
                if target.startswith("/"):
                    done = []
                todo = [c for c in target.split("/") if c not in ("", ".")] + todo
                continue
            done.append(comp)
        return "/".join(done)

    def walk(self, rel: str) -> Iterator[tuple[str, os.stat_result]]:
        """(path, lstat) of ``rel`` and everything under it, parents first, sorted."""
        st = self.lstat(rel)
        if st is None:
            return
        yield rel, st
        if stat.S_ISDIR(st.st_mode):
            for name in self.listdir(rel):
                yield from self.walk(f"{rel}/{name}" if rel else name)
