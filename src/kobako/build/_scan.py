"""One directory level of a build context: entries sorted by name with their lstat, through ``posix``
(not ``os``: ``kobako build`` imports this on every run, and ``os`` costs ~2 ms of its start-up).
Shared by ``kobako build``'s walk and ``DockerIgnore.walk_stat``."""

from __future__ import annotations

import posix

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

S_IFMT, S_IFDIR = 0o170000, 0o040000


def scan(rel_dir: str, full: str) -> Iterator[tuple[str, str, posix.stat_result]]:
    """(relative path, full path, lstat) of each entry of ``full``, by name; an unreadable directory
    gives nothing, an entry gone since the listing is skipped."""
    try:
        with posix.scandir(full) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        yield (f"{rel_dir}/{entry.name}" if rel_dir else entry.name), entry.path, st


def walk_all(root: str, rel_dir: str = "") -> Iterator[tuple[str, posix.stat_result]]:
    """Every path under ``root`` with its lstat, directories before their content, sorted by name."""
    for rel, full, st in scan(rel_dir, root):
        yield rel, st
        if (st.st_mode & S_IFMT) == S_IFDIR:
            yield from walk_all(full, rel)
