"""``GET /containers/{id}/changes`` and container sizes, computed on directory trees.

``overlay_changes`` follows moby ``pkg/archive/changes.go`` ``changes()`` with
``overlayDeletedFile``: walk the upper dir; a 0/0 char device is a deletion, an opaque
directory that hides a lower one is reported deleted (its entries then come as additions),
an entry present in a lower layer is a modification (a directory only if its size, mode or
mtime differ), anything else an addition; the parent of an added or deleted entry is
reported modified. ``tree_changes`` is the copy snapshotter's case (moby ``ChangesDirs``):
two full trees compared by stat. Both return entries in walk order (sorted per directory).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

MODIFIED, ADDED, DELETED = 0, 1, 2
KIND_LETTER = {MODIFIED: "C", ADDED: "A", DELETED: "D"}
OPAQUE_XATTR = "trusted.overlay.opaque"

Change = tuple[str, int]


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    sa, na = divmod(a.st_mtime_ns, 1_000_000_000)
    sb, nb = divmod(b.st_mtime_ns, 1_000_000_000)
    return sa == sb and (na == nb or na == 0 or nb == 0)


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _walk(root: str) -> list[tuple[str, os.stat_result]]:
    """(``/rel/path``, lstat) of every entry under ``root``, parents first, names sorted."""
    out: list[tuple[str, os.stat_result]] = []

    def visit(d: str, rel: str) -> None:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            return
        for name in names:
            p = os.path.join(d, name)
            st = _lstat(p)
            if st is None:
                continue
            out.append((rel + "/" + name, st))
            if stat.S_ISDIR(st.st_mode):
                visit(p, rel + "/" + name)

    visit(root, "")
    return out


def overlay_changes(upper: str | Path, lowers: Sequence[str | Path]) -> list[Change]:
    upper = os.fspath(upper)
    lowers = [os.fspath(x) for x in lowers]
    changes: list[Change] = []
    changed_dirs: set[str] = set()
    for path, st in _walk(upper):
        full = upper + path
        is_dir = stat.S_ISDIR(st.st_mode)
        kind = ADDED
        if _is_whiteout(st) or (is_dir and _is_opaque(full) and any(_lstat(lw + path) for lw in lowers)):
            kind = DELETED
        else:
            for lw in lowers:
                try:
                    lst = os.stat(lw + path)
                except OSError:
                    continue
                if is_dir and stat.S_ISDIR(lst.st_mode) and st.st_size == lst.st_size and \
                        st.st_mode == lst.st_mode and _same_time(st, lst):
                    kind = -1  # an unchanged directory: only a parent of changes
                else:
                    kind = MODIFIED
                break
        if kind == -1:
            continue
        if is_dir:
            changed_dirs.add(path)
        if kind in (ADDED, DELETED):
            parent = os.path.dirname(path)
            if parent != "/" and parent not in changed_dirs:
                changes.append((parent, MODIFIED))
                changed_dirs.add(parent)
        changes.append((path, kind))
    return changes


def _differs(old: os.stat_result, new: os.stat_result) -> bool:
    ident = (old.st_mode, old.st_uid, old.st_gid, old.st_rdev)
    if ident != (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    if stat.S_ISDIR(new.st_mode):
        return False
    return not _same_time(old, new) or old.st_size != new.st_size


def tree_changes(new: str | Path, old: str | Path | None) -> list[Change]:
    """Changes that turn tree ``old`` (None: empty) into tree ``new``."""
    changes: list[Change] = []

    def visit(rel: str, nd: str, od: str | None) -> bool:
        start = len(changes)
        try:
            names = set(os.listdir(nd))
        except OSError:
            names = set()
        try:
            old_names = set(os.listdir(od)) if od is not None else set()
        except OSError:
            old_names = set()
        for name in sorted(names | old_names):
            path = rel + "/" + name
            nst = _lstat(os.path.join(nd, name)) if name in names else None
            ost = _lstat(os.path.join(od, name)) if od is not None and name in old_names else None
            if nst is None:
                if ost is not None:
                    changes.append((path, DELETED))
                continue
            if ost is None:
                changes.append((path, ADDED))
                if stat.S_ISDIR(nst.st_mode):
                    visit(path, os.path.join(nd, name), None)
                continue
            marked = _differs(ost, nst)
            if marked:
                changes.append((path, MODIFIED))
            if stat.S_ISDIR(nst.st_mode):
                sub_od = os.path.join(od, name) if od is not None and stat.S_ISDIR(ost.st_mode) else None
                pos = len(changes)
                if visit(path, os.path.join(nd, name), sub_od) and not marked:
                    changes.insert(pos, (path, MODIFIED))
        return len(changes) > start

    visit("", os.fspath(new), os.fspath(old) if old is not None else None)
    return changes


def apparent_size(root: str | Path) -> int:
    """Bytes of the files under ``root`` (directories not counted, hard links once), as moby's
    ``directory.Size`` computes a container's SizeRw."""
    seen: set[int] = set()
    total = 0
    for dirpath, _dirs, files in os.walk(os.fspath(root)):
        for name in files:
            st = _lstat(os.path.join(dirpath, name))
            if st is None or st.st_size == 0 or st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            total += st.st_size
    return total


def changes_size(root: str | Path, changes: Sequence[Change]) -> int:
    """Bytes of the added and modified non-directories (moby ``ChangesSize``)."""
    total = 0
    seen: set[int] = set()
    for path, kind in changes:
        if kind == DELETED:
            continue
        st = _lstat(os.fspath(root) + path)
        if st is None or stat.S_ISDIR(st.st_mode) or st.st_ino in seen:
            continue
        seen.add(st.st_ino)
        total += st.st_size
    return total
