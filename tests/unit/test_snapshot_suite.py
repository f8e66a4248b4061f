"""The shared snapshotter suite against CopySnapshotter, plus overlay mount options (no root)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobako.errors import Unsupported
from kobako.mount import Mount
from kobako.snapshots import CopySnapshotter, OverlaySnapshotter, Snapshotter, default_snapshotter
from kobako.snapshots.testsuite import CHECKS, bind_source


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_copy_snapshotter(tmp_path: Path, check: object) -> None:
    s: Snapshotter = CopySnapshotter(tmp_path)
    check(s, bind_source)  # type: ignore[operator]


def test_overlay_mount_shapes(tmp_path: Path) -> None:
    s = OverlaySnapshotter(tmp_path)
    [m] = s.prepare("base", None)
    assert m == Mount("bind", str(tmp_path / "snapshots/1/fs"), ("rbind", "rw"))
    s.commit("l1", "base")
    assert s.view("v1", "l1") == [Mount("bind", str(tmp_path / "snapshots/1/fs"), ("rbind", "ro"))]
    s.prepare("a2", "l1")
    s.commit("l2", "a2")
    [m] = s.prepare("ctr", "l2")
    assert m.type == "overlay"
    assert m.options == (
        f"lowerdir={tmp_path}/snapshots/3/fs:{tmp_path}/snapshots/1/fs",
        f"upperdir={tmp_path}/snapshots/4/fs",
        f"workdir={tmp_path}/snapshots/4/work",
    )
    assert s.mounts("ctr") == [m]
    [v] = s.view("v2", "l2")
    assert v.options == (f"lowerdir={tmp_path}/snapshots/3/fs:{tmp_path}/snapshots/1/fs",)


def test_overlay_too_many_layers(tmp_path: Path) -> None:
    s = OverlaySnapshotter(tmp_path)
    parent = None
    with pytest.raises(Unsupported):
        for i in range(200):
            s.prepare(f"a{i}", parent)
            s.commit(f"c{i}", f"a{i}")
            parent = f"c{i}"
    assert not s.exists(f"a{i}")  # the refused snapshot leaves nothing behind
    assert i > 20


def test_default_snapshotter_picks_something(tmp_path: Path) -> None:
    s = default_snapshotter(tmp_path)
    assert s.name in ("overlayfs", "copy")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("overlay-probe")] == []
