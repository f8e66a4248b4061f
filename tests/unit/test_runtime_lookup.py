from __future__ import annotations

import os
from pathlib import Path

import pytest

from kobako.errors import RuntimeFailure
from kobako.runtime import lookup_path
from kobako.runtime.lookup import exec_failure


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for d in ("a", "b", "c"):
        (tmp_path / d).mkdir()
    (tmp_path / "a" / "tool").write_text("data")  # not executable: skipped in PATH search
    (tmp_path / "b" / "tool").write_text("#!/bin/sh\n")
    (tmp_path / "b" / "tool").chmod(0o755)
    (tmp_path / "c" / "dir").mkdir()
    return tmp_path


def test_path_search_skips_non_executables(tree: Path) -> None:
    path = f"{tree}/a:{tree}/b"
    assert lookup_path("tool", path) == f"{tree}/b/tool"


def test_not_found_in_path(tree: Path) -> None:
    with pytest.raises(RuntimeFailure) as ei:
        lookup_path("nope", f"{tree}/a:{tree}/b")
    assert str(ei.value) == 'exec: "nope": executable file not found in $PATH'
    assert ei.value.kind == "ExecNotFound"


def test_directory_in_path_is_not_a_match(tree: Path) -> None:
    with pytest.raises(RuntimeFailure, match="executable file not found"):
        lookup_path("dir", f"{tree}/c")


def test_absolute_missing(tree: Path) -> None:
    with pytest.raises(RuntimeFailure) as ei:
        lookup_path(f"{tree}/missing", "")
    assert str(ei.value) == f'exec: "{tree}/missing": stat {tree}/missing: no such file or directory'
    assert ei.value.kind == "ExecNotFound"


@pytest.mark.parametrize("name", ["a/tool", "c/dir"])
def test_absolute_not_executable(tree: Path, name: str) -> None:
    with pytest.raises(RuntimeFailure) as ei:
        lookup_path(f"{tree}/{name}", "")
    assert str(ei.value).endswith("permission denied")
    assert ei.value.kind == "ExecNotExecutable"


def test_absolute_ok(tree: Path) -> None:
    assert lookup_path(f"{tree}/b/tool", "") == f"{tree}/b/tool"


def test_exec_failure_mapping() -> None:
    assert exec_failure("x", OSError(2, os.strerror(2))).kind == "ExecNotFound"
    assert exec_failure("x", OSError(13, os.strerror(13))).kind == "ExecNotExecutable"
    assert "exec format error" in str(exec_failure("x", OSError(8, os.strerror(8))))
