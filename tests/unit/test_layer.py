"""apply_layer / open_layer / diff_layer: safety table, whiteouts, compression sniffing."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from kobako.errors import InvalidArgument
from kobako.snapshots import apply_layer, diff_layer, open_layer
from kobako.snapshots.testsuite import make_tar

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mknod whiteouts and trusted.* xattrs")


def _entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.size, ti.mode = kind, link, len(data), 0o644
    return ti


def _tar(*infos: tarfile.TarInfo) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti in infos:
            tf.addfile(ti, io.BytesIO(b"\0" * ti.size) if ti.isreg() else None)
    return buf.getvalue()


def _apply(tar: bytes, root: Path, overlay: bool = False) -> int:
    return apply_layer(io.BytesIO(tar), root, overlay=overlay)


REFUSED = [
    ("dotdot", [_entry("../evil")], "../evil"),
    ("dotdot-nested", [_entry("a/../../evil")], "a/../../evil"),
    ("abs-dotdot", [_entry("/../evil")], "/../evil"),
    ("symlink-escape", [_entry("a/link", tarfile.SYMTYPE, "../../etc")], "a/link"),
    ("hardlink-escape", [_entry("h", tarfile.LNKTYPE, "../outside")], "h"),
    ("file-as-parent", [_entry("f", data=b"x"), _entry("f/child")], "f/child"),
]


@pytest.mark.parametrize(("infos", "named"), [pytest.param(i, n, id=c) for c, i, n in REFUSED])
def test_refused_entries(tmp_path: Path, infos: list[tarfile.TarInfo], named: str) -> None:
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(InvalidArgument) as info:
        _apply(_tar(*infos), root)
    assert named in str(info.value)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_absolute_paths_are_relative_to_root(tmp_path: Path) -> None:
    _apply(make_tar([("/etc", None), ("/etc/hostname", b"h")]), tmp_path)
    assert (tmp_path / "etc/hostname").read_bytes() == b"h"


def test_symlinked_parent_stays_inside(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    # an absolute symlink is stored as is, but extraction through it resolves inside the root
    _apply(make_tar([("usr", None), ("usr/bin", None), ("bin", "->usr/bin"), ("esc", f"->{outside}")]), root)
    _apply(make_tar([("bin/tool", b"t"), ("esc/planted", b"p")]), root)
    assert (root / "usr/bin/tool").read_bytes() == b"t"
    assert os.readlink(root / "esc") == str(outside)
    assert list(outside.iterdir()) == []
    assert (root / outside.relative_to("/") / "planted").read_bytes() == b"p"


def test_symlink_loop_is_refused(tmp_path: Path) -> None:
    _apply(make_tar([("a", "->b"), ("b", "->a")]), tmp_path)
    with pytest.raises(InvalidArgument, match="symbolic links"):
        _apply(make_tar([("a/x", b"")]), tmp_path)


def test_hardlink_inside(tmp_path: Path) -> None:
    _apply(_tar(_entry("f", data=b"abc"), _entry("g", tarfile.LNKTYPE, "/f")), tmp_path)
    assert os.stat(tmp_path / "f").st_ino == os.stat(tmp_path / "g").st_ino


def test_returns_uncompressed_size(tmp_path: Path) -> None:
    tar = make_tar([("f", b"x" * 5000)])
    assert _apply(tar, tmp_path) == len(tar)


def test_replaces_and_preserves(tmp_path: Path) -> None:
    _apply(make_tar([("d", None), ("d/f", b"old"), ("x", None)]), tmp_path)
    _apply(make_tar([("d/f", b"new"), ("x", b"file now")]), tmp_path)
    assert (tmp_path / "d/f").read_bytes() == b"new"
    assert (tmp_path / "x").read_bytes() == b"file now"


def test_xattrs_from_pax(tmp_path: Path) -> None:
    ti = _entry("f", data=b"x")
    ti.pax_headers = {"SCHILY.xattr.user.kobako": "yes"}
    _apply(_tar(ti), tmp_path)
    try:
        assert os.getxattr(tmp_path / "f", "user.kobako") == b"yes"
    except OSError:
        pytest.skip("filesystem without user xattrs")


def test_copy_mode_whiteouts(tmp_path: Path) -> None:
    _apply(make_tar([("d", None), ("d/a", b"a"), ("d/b", b"b"), ("o", None), ("o/old", b""), ("o/sub", None), ("o/sub/deep", b"")]), tmp_path)
    # opaque entry after this layer's own entry in the same dir: only lower content goes
    _apply(make_tar([("d/.wh.a", b""), ("o/keep", b"k"), ("o/.wh..wh..opq", b""), ("o/later", b""), ("gone/.wh.x", b"")]), tmp_path)
    assert sorted(os.listdir(tmp_path / "d")) == ["b"]
    assert sorted(os.listdir(tmp_path / "o")) == ["keep", "later"]
    assert not (tmp_path / "gone").exists()


@needs_root
def test_overlay_mode_whiteouts(tmp_path: Path) -> None:
    _apply(make_tar([("d", None), ("d/.wh.a", b""), ("o", None), ("o/.wh..wh..opq", b""), ("o/n", b"")]), tmp_path, overlay=True)
    st = os.lstat(tmp_path / "d/a")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "o", "trusted.overlay.opaque") == b"y"


@needs_root
def test_diff_layer_roundtrip(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    _apply(make_tar([("d", None), ("d/.wh.a", b""), ("o", None), ("o/.wh..wh..opq", b""), ("o/n", b"n"), ("l", "->/o/n")]), upper, overlay=True)
    out = io.BytesIO()
    size = diff_layer(upper, out)
    assert size == len(out.getvalue())
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        names = tf.getnames()
    assert {"d", "d/.wh.a", "o", "o/.wh..wh..opq", "o/n", "l"} <= set(names)
    again = tmp_path / "again"
    again.mkdir()
    _apply(out.getvalue(), again, overlay=True)
    assert stat.S_ISCHR(os.lstat(again / "d/a").st_mode)


@pytest.mark.parametrize("kind", ["plain", "gzip", "zstd"])
def test_open_layer_sniffs(tmp_path: Path, kind: str) -> None:
    tar = make_tar([("f", b"content")])
    data = tar
    if kind == "gzip":
        data = gzip.compress(tar)
    elif kind == "zstd":
        if shutil.which("zstd") is None:
            pytest.skip("needs the zstd tool or module")
        data = subprocess.run(["zstd", "-c"], input=tar, capture_output=True, check=True).stdout
    path = tmp_path / "layer"
    path.write_bytes(data)
    with open_layer(path) as f:
        assert f.read() == tar
    with open_layer(io.BytesIO(data)) as f:
        assert _apply(f.read(), tmp_path / "x" if (tmp_path / "x").mkdir() is None else tmp_path) == len(tar)


@needs_root
def test_devices_created_as_root(tmp_path: Path) -> None:
    ti = _entry("null", tarfile.CHRTYPE)
    ti.devmajor, ti.devminor, ti.mode = 1, 3, 0o666
    _apply(_tar(ti), tmp_path)
    assert os.lstat(tmp_path / "null").st_rdev == os.makedev(1, 3)


def test_diff_layer_never_follows_symlinks(tmp_path: Path) -> None:
    secret = tmp_path / "host-secret"
    secret.write_bytes(b"host only")
    (tmp_path / "host-dir").mkdir()
    (tmp_path / "host-dir" / "inner").write_bytes(b"host inner")
    upper = tmp_path / "upper"
    upper.mkdir()
    os.symlink(secret, upper / "file-link")
    os.symlink(tmp_path / "host-dir", upper / "dir-link")
    (upper / "a").write_bytes(b"A")
    os.link(upper / "a", upper / "b")
    out = io.BytesIO()
    diff_layer(upper, out)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tf:
        members = {m.name: m for m in tf.getmembers()}
        assert members["file-link"].issym() and members["file-link"].linkname == str(secret)
        assert members["dir-link"].issym()
        assert "dir-link/inner" not in members
        assert members["b"].islnk() and members["b"].linkname == "a"
        assert tf.extractfile("a").read() == b"A"  # type: ignore[union-attr]
    assert b"host only" not in out.getvalue() and b"host inner" not in out.getvalue()


def test_diff_layer_skips_a_file_swapped_after_lstat(tmp_path: Path) -> None:
    from kobako.snapshots._diff import _add_file

    (tmp_path / "f").write_bytes(b"ours")
    (tmp_path / "other").write_bytes(b"host secret")
    stale = os.lstat(tmp_path / "other")  # the inode seen by the walk is not the one opened now
    buf = io.BytesIO()
    dfd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with tarfile.open(fileobj=buf, mode="w|") as tf:
            _add_file(tf, tarfile.TarInfo("f"), "f", dfd, stale)
            os.symlink(tmp_path / "other", tmp_path / "g")
            _add_file(tf, tarfile.TarInfo("g"), "g", dfd, os.lstat(tmp_path / "other"))
    finally:
        os.close(dfd)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        assert tf.getnames() == []
