"""The shared snapshotter suite on OverlaySnapshotter with real mounts, and a busybox rootfs
unpacked into overlay snapshots. Needs root; leaves nothing mounted."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kobako.content import LocalContentStore
from kobako.images import ImageStore, bootstrap_busybox
from kobako.mount import Mount
from kobako.snapshots import OverlaySnapshotter, apply_layer, overlay_supported
from kobako.snapshots.testsuite import CHECKS, make_tar

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount overlayfs"),
]


@pytest.fixture
def overlay_root(tmp_path: Path) -> Path:
    if not overlay_supported(tmp_path):
        pytest.skip("needs a working overlayfs on the test directory's filesystem")
    return tmp_path


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


@contextmanager
def mounted_at(base: Path, mounts: list[Mount]) -> Iterator[Path]:
    """Perform ``mounts`` on a fresh directory under ``base``; always unmount."""
    [m] = mounts
    target = Path(os.path.join(base, f"mnt-{os.urandom(4).hex()}"))
    target.mkdir()
    if m.type == "bind":
        cmd = ["mount", "-o", ",".join(m.options), m.source, str(target)]
    else:
        cmd = ["mount", "-t", m.type, "-o", ",".join(m.options), m.source, str(target)]
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True, capture_output=True)
        target.rmdir()


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_overlay_snapshotter(overlay_root: Path, check: object) -> None:
    s = OverlaySnapshotter(overlay_root / "snap")
    mnt = overlay_root / "mnt"
    mnt.mkdir()
    try:
        check(s, lambda mounts: mounted_at(mnt, mounts))  # type: ignore[operator]
    finally:
        assert _mounts_under(overlay_root) == []


def test_overlay_whiteouts_are_kernel_whiteouts(overlay_root: Path) -> None:
    s = OverlaySnapshotter(overlay_root / "snap")
    s.prepare("a", None)
    apply_layer(io.BytesIO(make_tar([("d", None), ("d/x", b"x"), ("d/y", b"y")])), s.upper_dir("a"), overlay=True)
    s.commit("l1", "a")
    s.prepare("ctr", "l1")
    with mounted_at(overlay_root, s.mounts("ctr")) as root:
        os.unlink(root / "d/x")  # the kernel writes a whiteout into the upper dir
    upper = s.upper_dir("ctr")
    st = os.lstat(upper / "d/x")
    assert os.major(st.st_rdev) == 0 and os.minor(st.st_rdev) == 0
    assert _mounts_under(overlay_root) == []


def test_unpack_busybox_into_overlay(overlay_root: Path) -> None:
    if not Path("/bin/busybox").is_file():
        pytest.skip("needs /bin/busybox")
    images = ImageStore(
        overlay_root / "images", LocalContentStore(overlay_root / "content"), OverlaySnapshotter(overlay_root / "snap")
    )
    img = bootstrap_busybox(images)
    top = images.unpack(img)
    mounts = images.snapshotter.prepare("container-1", top)
    with mounted_at(overlay_root, mounts) as root:
        assert os.readlink(root / "bin/sh") == "/bin/busybox"
        assert os.access(root / "bin/busybox", os.X_OK)
        out = subprocess.run(
            ["chroot", str(root), "/bin/sh", "-c", "echo hi > /tmp/f && cat /tmp/f"], capture_output=True, check=True
        )
        assert out.stdout == b"hi\n"
    assert (images.snapshotter.upper_dir("container-1") / "tmp/f").read_bytes() == b"hi\n"
    images.snapshotter.remove("container-1")
    assert _mounts_under(overlay_root) == []
