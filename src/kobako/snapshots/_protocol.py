"""The snapshotter role and its records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from kobako.mount import Mount

Kind = Literal["active", "committed", "view"]


@dataclass(frozen=True, slots=True)
class Info:
    """What ``stat`` returns about one snapshot."""

    key: str
    kind: Kind
    parent: str | None
    created: float
    id: int


class Snapshotter(Protocol):
    """Filesystem snapshots keyed by name, after containerd ``core/snapshots/snapshotter.go``.

    Lifecycle of a layer unpack::

        mounts = s.prepare("extract-<random>-<chainid>", parent=<parent chain id or None>)
        apply_layer(layer, s.upper_dir(key), overlay=s.overlay)   # or mount `mounts` and write
        s.commit("<chainid>", "extract-<random>-<chainid>")        # active → committed, key renamed

    A container rootfs is ``prepare(container_id, parent=<top chain id>)``: an *active* (writable)
    snapshot whose mounts the runtime performs; ``remove(container_id)`` drops it. ``view(key,
    parent)`` is the read-only variant (inspection, export). Committed snapshots are immutable
    and may be parents; ``remove`` refuses a snapshot that still has children (``Conflict``).
    ``prepare``/``view`` on an existing key raise ``SnapshotExists``; ``commit`` to an existing
    name raises ``SnapshotExists`` too, which lets concurrent unpackers of the same layer race
    safely: the loser removes its active snapshot and uses the winner's.

    ``overlay`` says how whiteouts must be applied into ``upper_dir``: as overlayfs whiteouts
    (0/0 char devices, opaque xattrs) or by deleting from a full copy of the parent.
    """

    name: str
    overlay: bool

    def prepare(self, key: str, parent: str | None = None) -> list[Mount]: ...
    def view(self, key: str, parent: str | None = None) -> list[Mount]: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def commit(self, name: str, key: str) -> None: ...
    def remove(self, key: str) -> None: ...
    def stat(self, key: str) -> Info: ...
    def list(self) -> list[Info]: ...
    def exists(self, key: str) -> bool: ...
    def upper_dir(self, key: str) -> Path: ...
