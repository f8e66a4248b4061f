"""Property tests for the layer tar extractor (``apply_layer``).

Generated tars mix names with ``..``, absolute names, long and non-ASCII names, symlinks and hard
links aimed at the outside (relatively and by the outside's real absolute path), whiteouts of odd
names, device nodes, fifos and duplicate entries, applied over a root whose lower content already
holds symlinks to the outside.  Invariants: nothing outside the root is created, changed or
removed; no file inside the root shares an inode with a file outside; every refusal is a typed
kobako error (``InvalidArgument``), never an unexpected exception.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kobako.errors import InvalidArgument, KobakoError
from kobako.snapshots import apply_layer

IS_ROOT = os.geteuid() == 0
OUTSIDE_MARK = "__OUTSIDE__"  # replaced by the outside directory's real absolute path

COMPONENTS = st.sampled_from([
    "a", "b", "etc", "esc", "abs", "loop", "..", ".", "", "ü", "日本", "x" * 120, "sp ace", "new\nline",
    ".wh.a", ".wh.b", ".wh..wh..opq", ".wh...", ".wh..", ".wh.", ".wh..wh.plnk", "dev",
])
NAMES = st.builds(
    lambda lead, comps: lead + "/".join(comps),
    st.sampled_from(["", "", "/", "./", "../", "//"]),
    st.lists(COMPONENTS, min_size=1, max_size=5),
)
TARGETS = st.one_of(
    NAMES,
    st.sampled_from(["../../outside", "../../../", "/", "/etc/passwd", OUTSIDE_MARK, OUTSIDE_MARK + "/f",
                     "a/../../..", "esc/f", "abs/f", "loop", "."]),
)
KINDS = st.sampled_from([tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                         tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
ENTRY = st.tuples(NAMES, KINDS, TARGETS, st.binary(max_size=64), st.integers(0, 0o7777),
                  st.sampled_from([(1, 3), (8, 0), (0, 0), (7, 0)]),
                  st.dictionaries(st.sampled_from(["SCHILY.xattr.user.k", "SCHILY.xattr.trusted.overlay.opaque",
                                                   "SCHILY.xattr.security.capability"]),
                                  st.sampled_from(["y", "v"]), max_size=1))


def _tar(entries: list[tuple], outside: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, target, data, mode, (major, minor), pax in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.pax_headers = kind, mode, dict(pax)
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                ti.linkname = target.replace(OUTSIDE_MARK, outside)
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                ti.devmajor, ti.devminor = major, minor
            if kind == tarfile.REGTYPE:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def _snapshot(top: Path, skip: Path) -> dict[str, tuple[int, int, int, bytes | str | None]]:
    """Everything under ``top`` except ``skip``: (mode, inode, size, content or link target)."""
    seen: dict[str, tuple[int, int, int, bytes | str | None]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if Path(dirpath) == skip.parent:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for n in [*dirnames, *filenames]:
            p = Path(dirpath, n)
            if p == skip:
                continue
            s = p.lstat()
            body: bytes | str | None = None
            if stat.S_ISLNK(s.st_mode):
                body = os.readlink(p)
            elif stat.S_ISREG(s.st_mode):
                body = p.read_bytes()
            seen[str(p)] = (s.st_mode, s.st_ino, s.st_size, body)
    return seen


def _inodes_inside(root: Path) -> set[tuple[int, int]]:
    out: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for n in [*dirnames, *filenames]:
            s = os.lstat(os.path.join(dirpath, n))
            out.add((s.st_dev, s.st_ino))
    return out


def _lower(root: Path, outside: Path) -> None:
    """What a lower layer might have left: symlinks to the outside, a loop, plain content."""
    (root / "a").mkdir()
    (root / "a" / "f").write_bytes(b"lower")
    (root / "esc").symlink_to("../outside")
    (root / "abs").symlink_to(outside)
    (root / "loop").symlink_to("loop")
    (root / "etc").symlink_to("/etc")


@pytest.mark.parametrize("overlay", [False, pytest.param(True, marks=pytest.mark.skipif(
    not IS_ROOT, reason="overlay whiteouts need root (mknod 0/0, trusted.* xattrs)"))])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(ENTRY, min_size=1, max_size=8))
def test_nothing_escapes_and_refusals_are_typed(overlay: bool, entries: list[tuple]) -> None:
    top = Path(tempfile.mkdtemp(prefix="kbk-fuzz-"))
    try:
        box = top / "box"
        root = box / "root"
        outside = box / "outside"
        root.mkdir(parents=True)
        outside.mkdir()
        (outside / "f").write_bytes(b"host file")
        (box / "sibling").write_bytes(b"sibling")
        _lower(root, outside)
        before = _snapshot(top, root)
        outside_inodes = {(s.st_dev, s.st_ino) for s in (os.lstat(p) for p in before)}
        tar = _tar(entries, str(outside))
        try:
            apply_layer(io.BytesIO(tar), root, overlay=overlay)
        except InvalidArgument as exc:
            assert str(exc)  # a message for the user
        except KobakoError as exc:  # pragma: no cover - reported with its type
            pytest.fail(f"refusal of the wrong kind: {type(exc).__name__}: {exc}")
        assert root.is_dir()
        assert _snapshot(top, root) == before, "something outside the root changed"
        assert not (_inodes_inside(root) & outside_inodes), "a file inside the root is a host file"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _one(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", data: bytes = b"") -> bytes:
    return _tar([(name, kind, link, data, 0o644, (0, 0), {})], "")


@pytest.mark.parametrize("name", [".wh...", "a/.wh...", ".wh..", ".wh."])
def test_whiteout_of_dot_names_is_refused(tmp_path: Path, name: str) -> None:
    """A ``.wh...`` entry once removed the extraction root's parent directory."""
    root = tmp_path / "p" / "root"
    root.mkdir(parents=True)
    (root / "a").mkdir()
    (tmp_path / "p" / "keep").write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="whiteout"):
        apply_layer(io.BytesIO(_one(name)), root, overlay=False)
    assert (tmp_path / "p" / "keep").read_bytes() == b"x" and root.is_dir() and (root / "a").is_dir()


@pytest.mark.parametrize(("case", "tar"), [
    ("hardlink-to-missing", _one("h", tarfile.LNKTYPE, "nothere")),
    ("hardlink-to-dir", _tar([("d", tarfile.DIRTYPE, "", b"", 0o755, (0, 0), {}),
                             ("h", tarfile.LNKTYPE, "d", b"", 0o644, (0, 0), {})], "")),
    ("hardlink-to-root", _one("h", tarfile.LNKTYPE, "/")),
])
def test_bad_hardlinks_are_typed_errors(tmp_path: Path, case: str, tar: bytes) -> None:
    with pytest.raises(InvalidArgument, match="h"):
        apply_layer(io.BytesIO(tar), tmp_path, overlay=False)


def test_huge_pax_header_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A PAX header claiming 4 GiB is refused from its size alone (Go's archive/tar caps them at 1 MiB)."""
    hdr = tarfile.TarInfo("././@PaxHeader")
    hdr.type, hdr.size = tarfile.XHDTYPE, 4 << 30
    block = hdr.tobuf(format=tarfile.USTAR_FORMAT)
    with pytest.raises(InvalidArgument, match="header"):
        apply_layer(io.BytesIO(block + b"\0" * 4096), tmp_path, overlay=False)


def test_long_gnu_name_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        tf.addfile(tarfile.TarInfo("n" * (2 << 20)), io.BytesIO(b""))
    with pytest.raises(InvalidArgument, match="header"):
        apply_layer(io.BytesIO(buf.getvalue()), tmp_path, overlay=False)
    assert list(tmp_path.iterdir()) == []
