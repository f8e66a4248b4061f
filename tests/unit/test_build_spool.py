"""The context spool: one unnamed file per received context, in a directory made on demand; it
leaves no name behind, and its descriptor goes with the tree (or with an aborted receive)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kobako.build._context import ContextError, ContextReceiver
from tests.tarutil import tar_of


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


_tar = tar_of


def test_spool_in_a_missing_directory_leaves_no_name_and_no_descriptor(tmp_path: Path) -> None:
    tmp = tmp_path / "build" / "tmp"  # does not exist yet
    before = _fds()
    rc = ContextReceiver(tmp)
    assert tmp.is_dir() and os.listdir(tmp) == []  # O_TMPFILE: nothing to clean up after a crash
    rc.feed_many([_tar({"Dockerfile": b"FROM scratch\n", "a/b": b"x" * 5000})])
    tree = rc.finish()
    assert os.listdir(tmp) == []
    with tree.open("a/b") as f:
        assert f.read() == b"x" * 5000
    assert tree.lstat("Dockerfile") is not None
    tree.close()
    assert _fds() == before


def test_aborted_and_failed_receives_close_the_spool(tmp_path: Path) -> None:
    before = _fds()
    rc = ContextReceiver(tmp_path)
    rc.feed(b"\0" * 100)
    rc.abort()
    rc.abort()  # twice is harmless
    assert _fds() == before
    rc = ContextReceiver(tmp_path)
    bad = bytearray(_tar({"f": b"1"}))
    bad[148:156] = b"0000000\0"  # a wrong header checksum
    with pytest.raises(ContextError):
        rc.feed_many([bytes(bad)])
        rc.finish()
    rc.abort()
    assert _fds() == before
    # a bare Dockerfile body
    rc = ContextReceiver(tmp_path)
    rc.feed(b"FROM scratch\n")
    tree = rc.finish()
    with tree.open("Dockerfile") as f:
        assert f.read() == b"FROM scratch\n"
    tree.close()
    assert _fds() == before
