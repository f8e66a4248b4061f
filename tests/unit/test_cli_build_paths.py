"""``kobako build``'s path helpers (no ``os``, for start-up time) agree with ``os.path``; and its walk of a
context without a .dockerignore is ``DockerIgnore.walk_stat``'s."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kobako.build._scan import walk_all
from kobako.build.dockerignore import DockerIgnore
from kobako.build import _sendctx as cmd

_part = st.sampled_from(["a", "b", "ctx", ".", "..", "", "Dockerfile", "x.y"])
_path = st.lists(_part, max_size=6).map("/".join)


@settings(max_examples=300, deadline=None)
@given(_path, _path, st.booleans(), st.booleans())
def test_abspath_and_relpath_match_os_path(a: str, b: str, abs_a: bool, abs_b: bool) -> None:
    # ("//x" is kept by os.path as POSIX allows; a leading "//" never comes from a context path)
    a, b = a.lstrip("/"), b.lstrip("/")
    a, b = ("/" + a if abs_a else a) or ".", ("/" + b if abs_b else b) or "."
    assert cmd._abspath(a) == os.path.abspath(a)
    assert cmd._relpath(cmd._abspath(a), cmd._abspath(b)) == os.path.relpath(os.path.abspath(a), os.path.abspath(b))


@pytest.mark.parametrize(("a", "b", "want"), [("", "x", "x"), ("ctx", "Dockerfile", "ctx/Dockerfile"),
                                              ("ctx/", "D", "ctx/D"), ("ctx", "/abs", "/abs")])
def test_join(a: str, b: str, want: str) -> None:
    assert cmd._join(a, b) == want == (os.path.join(a, b) if a else b)


def test_walk_without_dockerignore_is_walk_stat(tmp_path: Path) -> None:
    for rel in ("b/z", "b/a/deep", "a", "c d/e", ".hidden"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    (tmp_path / "link").symlink_to("b")
    ours = [(rel, st.st_mode, st.st_size) for rel, st in walk_all(str(tmp_path))]
    theirs = [(rel, st.st_mode, st.st_size) for rel, st in DockerIgnore().walk_stat(tmp_path)]
    assert ours == theirs and ("link", (tmp_path / "link").lstat().st_mode, 1) in ours
