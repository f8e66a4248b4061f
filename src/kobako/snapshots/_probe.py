"""Choosing a snapshotter: overlayfs when the kernel has it and a probe mount works."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from kobako.snapshots._copy import CopySnapshotter
from kobako.snapshots._overlay import OverlaySnapshotter
from kobako.snapshots._protocol import Snapshotter


def overlay_supported(root: Path | str) -> bool:
    """Whether an overlay mount with upper/work dirs on ``root``'s filesystem works here."""
    try:
        with open("/proc/filesystems") as f:
            if not any(line.split()[-1:] == ["overlay"] for line in f):
                return False
    except OSError:
        return False
    if shutil.which("mount") is None:
        return False
    Path(root).mkdir(parents=True, exist_ok=True)
    probe = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=root))
    try:
        for d in ("lower", "upper", "work", "merged"):
            (probe / d).mkdir()
        (probe / "lower" / "f").write_bytes(b"x")
        opts = f"lowerdir={probe / 'lower'},upperdir={probe / 'upper'},workdir={probe / 'work'}"
        done = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", opts, str(probe / "merged")],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            return False
        try:
            ok = (probe / "merged" / "f").read_bytes() == b"x"
            (probe / "merged" / "g").write_bytes(b"y")
        finally:
            subprocess.run(["umount", str(probe / "merged")], capture_output=True, check=False)
        return ok and (probe / "upper" / "g").exists()
    except OSError:
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def default_snapshotter(root: Path | str) -> Snapshotter:
    """``OverlaySnapshotter(root)`` if overlayfs works on ``root``, else ``CopySnapshotter``."""
    if overlay_supported(root):
        return OverlaySnapshotter(root)
    return CopySnapshotter(root)
