"""Resolving tar entry names inside an extraction root, never escaping it.

Names are cleaned lexically (``/a`` is ``a``; ``a/../../b`` escapes and is refused). Parent
directories are then walked one component at a time; a symlink met on the way is expanded
*as if the root were ``/``* (like a chroot, or Go's securejoin), so ``bin -> usr/bin`` or
``etc -> /host/etc`` stay inside the root and nothing is ever written outside it.
"""

from __future__ import annotations

import os
import stat

from kobako.errors import InvalidArgument

MAX_SYMLINKS = 40


def clean(name: str, *, what: str | None = None) -> list[str]:
    """Components of ``name`` relative to the root; ``InvalidArgument`` if ``..`` escapes it."""
    parts: list[str] = []
    for comp in name.split("/"):
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                raise InvalidArgument(f"invalid tar entry {what or name!r}: path escapes the root")
            parts.pop()
            continue
        parts.append(comp)
    return parts


def link_escapes(entry_parts: list[str], target: str) -> bool:
    """Whether a relative symlink target, read from the entry's directory, leaves the root
    lexically (Docker's breakout check). Absolute targets are read from the root: never."""
    if target.startswith("/"):
        return False
    try:
        clean("/".join([*entry_parts[:-1], target]))
    except InvalidArgument:
        return True
    return False


def resolve_dir(root: str, parts: list[str], *, create: bool, name: str) -> str:
    """The real directory at ``parts`` under ``root`` (symlinks expanded inside the root).

    Missing components are created (mode 0755) when ``create``, else ``InvalidArgument``.
    """
    todo = list(parts)
    done: list[str] = []
    links = 0
    while todo:
        comp = todo.pop(0)
        if comp in ("", "."):
            continue
        if comp == "..":
            if done:
                done.pop()
            continue
        cand = os.path.join(root, *done, comp)
        try:
            st = os.lstat(cand)
        except FileNotFoundError:
            if not create:
                raise InvalidArgument(f"invalid tar entry {name!r}: {'/'.join([*done, comp])} not found") from None
            os.mkdir(cand, 0o755)
            done.append(comp)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise InvalidArgument(f"invalid tar entry {name!r}: too many levels of symbolic links")
            target = os.readlink(cand)
            if target.startswith("/"):
                done = []
            todo = target.split("/") + todo
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidArgument(f"invalid tar entry {name!r}: {'/'.join([*done, comp])} is not a directory")
        done.append(comp)
    return os.path.join(root, *done)
