"""Snapshots of filesystem trees keyed by name (containerd ``core/snapshots``), and layer tars.

``OverlaySnapshotter`` stacks overlayfs layers; ``CopySnapshotter`` is the fallback that keeps a
full copy per snapshot. ``apply_layer`` extracts a layer tar safely with whiteouts and
``diff_layer`` turns an overlay upper dir back into one.
"""

from __future__ import annotations

from kobako.snapshots._copy import CopySnapshotter
from kobako.snapshots._diff import diff_layer
from kobako.snapshots._layer import apply_layer, check_member, open_layer
from kobako.snapshots._overlay import OverlaySnapshotter
from kobako.snapshots._probe import default_snapshotter, overlay_supported
from kobako.snapshots._protocol import Info, Kind, Snapshotter
from kobako.snapshots._streams import CountingReader, ExactSizeReader

__all__ = [
    "CopySnapshotter",
    "CountingReader",
    "ExactSizeReader",
    "Info",
    "Kind",
    "OverlaySnapshotter",
    "Snapshotter",
    "apply_layer",
    "check_member",
    "default_snapshotter",
    "diff_layer",
    "open_layer",
    "overlay_supported",
]
