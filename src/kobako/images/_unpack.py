"""Unpacking layers into snapshots keyed by chain id (containerd ``rootfs.ApplyLayers``)."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from kobako.errors import DigestMismatch, SnapshotExists
from kobako.images._manifest import chain_ids
from kobako.snapshots import CountingReader, apply_layer, open_layer

if TYPE_CHECKING:
    from kobako.content import LocalContentStore
    from kobako.snapshots import Snapshotter


def _committed(snapshotter: Snapshotter, key: str) -> bool:
    return snapshotter.exists(key) and snapshotter.stat(key).kind == "committed"


def unpack_layers(
    content: LocalContentStore, snapshotter: Snapshotter, layers: list[dict[str, Any]], diffs: list[str]
) -> dict[str, int]:
    """Apply each missing layer on top of its parent chain; return {diff id: unpacked size}.

    Each layer goes into a fresh active snapshot ``extract-<random>-<chain id>`` and is
    committed as ``<chain id>``; the diff id is computed while extracting and must match the
    config's. Two unpackers racing on a layer both extract; the loser's commit raises
    ``SnapshotExists`` and it drops its copy. On any failure the active snapshot is removed.
    """
    sizes: dict[str, int] = {}
    parent: str | None = None
    for layer, diff, chain in zip(layers, diffs, chain_ids(diffs)):
        if _committed(snapshotter, chain):
            parent = chain
            continue
        key = f"extract-{secrets.token_hex(6)}-{chain}"
        snapshotter.prepare(key, parent)
        try:
            with content.open(layer["digest"]) as blob, open_layer(blob) as tar:
                reader = CountingReader(tar)
                size = apply_layer(reader, snapshotter.upper_dir(key), overlay=snapshotter.overlay)
            if reader.digest() != diff:
                raise DigestMismatch(diff, reader.digest())
            sizes[diff] = size
            try:
                snapshotter.commit(chain, key)
            except SnapshotExists:
                snapshotter.remove(key)
        except BaseException:
            if snapshotter.exists(key):
                snapshotter.remove(key)
            raise
        parent = chain
    return sizes
