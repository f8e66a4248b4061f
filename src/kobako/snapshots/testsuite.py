"""One list of checks every ``Snapshotter`` must pass (containerd
``core/snapshots/testsuite/testsuite.go``). Test modules run ``CHECKS`` against each
implementation, with a ``Mounter`` that turns mounts into a readable directory: real mounts
for overlay (root), the bind source itself for copy.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from kobako.errors import Conflict, InvalidArgument, NotFound, SnapshotExists
from kobako.snapshots._layer import apply_layer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from kobako.mount import Mount
    from kobako.snapshots._protocol import Snapshotter

Mounter = Callable[["list[Mount]"], AbstractContextManager["Path"]]


@contextmanager
def bind_source(mounts: list[Mount]) -> Iterator[Path]:
    """A ``Mounter`` for snapshotters that only hand out bind mounts: the source directory."""
    from pathlib import Path

    assert len(mounts) == 1 and mounts[0].type == "bind", mounts
    yield Path(mounts[0].source)


def make_tar(entries: list[tuple[str, bytes | str | None]]) -> bytes:
    """A tar from (name, content): bytes → file, "->target" → symlink, None → directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(data, str):
                ti.type, ti.linkname = tarfile.SYMTYPE, data.removeprefix("->")
                tf.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _layer(s: Snapshotter, key: str, parent: str | None, name: str, tar: bytes) -> None:
    s.prepare(key, parent)
    apply_layer(io.BytesIO(tar), s.upper_dir(key), overlay=s.overlay)
    s.commit(name, key)


def check_prepare_commit_view(s: Snapshotter, mounted: Mounter) -> None:
    _layer(s, "a-active", None, "a", make_tar([("etc", None), ("etc/x", b"1"), ("bin", None)]))
    assert s.stat("a").kind == "committed" and not s.exists("a-active")
    _layer(s, "b-active", "a", "b", make_tar([("etc/y", b"2"), ("etc/x", b"changed")]))
    assert s.stat("b").parent == "a"
    s.prepare("ctr", "b")
    with mounted(s.mounts("ctr")) as root:
        assert (root / "etc/x").read_bytes() == b"changed"
        assert (root / "etc/y").read_bytes() == b"2"
        (root / "new").write_bytes(b"rw")
    with mounted(s.view("v", "b")) as root:
        assert sorted(os.listdir(root / "etc")) == ["x", "y"]
        assert not (root / "new").exists()
    with mounted(s.view("v-a", "a")) as root:
        assert (root / "etc/x").read_bytes() == b"1"


def check_whiteouts(s: Snapshotter, mounted: Mounter) -> None:
    _layer(s, "l1-a", None, "l1", make_tar([("d", None), ("d/a", b"a"), ("d/b", b"b"), ("o", None), ("o/old", b"o"), ("f", b"f")]))
    _layer(s, "l2-a", "l1", "l2", make_tar([("d/.wh.a", b""), (".wh.f", b""), ("o", None), ("o/.wh..wh..opq", b""), ("o/new", b"n")]))
    with mounted(s.view("wv", "l2")) as root:
        assert sorted(os.listdir(root / "d")) == ["b"]
        assert not (root / "f").exists()
        assert sorted(os.listdir(root / "o")) == ["new"]


def check_remove_rules(s: Snapshotter, mounted: Mounter) -> None:
    _layer(s, "p-a", None, "p", make_tar([("x", b"x")]))
    s.prepare("child", "p")
    try:
        s.remove("p")
        raise AssertionError("removed a snapshot with children")
    except Conflict:
        pass
    s.remove("child")
    s.remove("p")
    assert not s.exists("p")
    try:
        s.stat("p")
        raise AssertionError("stat of a removed snapshot")
    except NotFound:
        pass


def check_name_clashes(s: Snapshotter, mounted: Mounter) -> None:
    s.prepare("k", None)
    for call in (lambda: s.prepare("k", None), lambda: s.view("k", None)):
        try:
            call()
            raise AssertionError("duplicate key accepted")
        except SnapshotExists:
            pass
    s.commit("c", "k")
    s.prepare("k2", None)
    try:
        s.commit("c", "k2")  # a racing unpacker loses like this
        raise AssertionError("commit over an existing name")
    except SnapshotExists:
        pass
    assert s.exists("k2") and s.stat("k2").kind == "active"
    try:
        s.prepare("k3", "k2")  # parents must be committed
        raise AssertionError("active parent accepted")
    except InvalidArgument:
        pass
    try:
        s.prepare("k4", "missing")
        raise AssertionError("missing parent accepted")
    except NotFound:
        pass
    assert not s.exists("k4")


def check_list_and_stat(s: Snapshotter, mounted: Mounter) -> None:
    s.prepare("one", None)
    s.commit("one-c", "one")
    s.view("two", "one-c")
    infos = {i.key: i for i in s.list()}
    assert infos["one-c"].kind == "committed" and infos["two"].kind == "view"
    assert infos["two"].parent == "one-c"
    try:
        s.upper_dir("two")
        raise AssertionError("upper_dir of a view")
    except InvalidArgument:
        pass


def check_metadata_preserved(s: Snapshotter, mounted: Mounter) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo("script")
        ti.mode, ti.size, ti.mtime, ti.uid, ti.gid = 0o4750, 2, 1_000_000, 12, 34
        tf.addfile(ti, io.BytesIO(b"#!"))
        ln = tarfile.TarInfo("link")
        ln.type, ln.linkname = tarfile.SYMTYPE, "/script"
        tf.addfile(ln)
    _layer(s, "m-a", None, "m", buf.getvalue())
    s.prepare("m-ctr", "m")
    with mounted(s.mounts("m-ctr")) as root:
        st = os.lstat(root / "script")
        assert stat.S_IMODE(st.st_mode) == 0o4750, oct(st.st_mode)
        assert st.st_mtime == 1_000_000
        if os.geteuid() == 0:
            assert (st.st_uid, st.st_gid) == (12, 34)
        assert os.readlink(root / "link") == "/script"


CHECKS: list[Callable[[Snapshotter, Mounter], None]] = [
    check_prepare_commit_view,
    check_whiteouts,
    check_remove_rules,
    check_name_clashes,
    check_list_and_stat,
    check_metadata_preserved,
]
