from __future__ import annotations

import json
from pathlib import Path

from kobako.shim._jsonlog import MAX_LINE, JsonFileLog


def _lines(p: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in p.read_text().splitlines()]


def test_lines_are_split_and_partial_tail_flushed(tmp_path: Path) -> None:
    p = tmp_path / "c-json.log"
    log = JsonFileLog(str(p))
    log.write("stdout", b"one\ntw")
    log.write("stderr", b"err\n")
    log.write("stdout", b"o\nthree")
    log.close()
    entries = _lines(p)
    assert [(e["stream"], e["log"]) for e in entries] == [
        ("stdout", "one\n"), ("stderr", "err\n"), ("stdout", "two\n"), ("stdout", "three")]
    assert entries[0]["time"].endswith("Z") and len(entries[0]["time"]) == 30


def test_long_lines_are_cut(tmp_path: Path) -> None:
    p = tmp_path / "log"
    log = JsonFileLog(str(p))
    log.write("stdout", b"x" * (MAX_LINE + 10) + b"\n")
    log.close()
    assert [len(e["log"]) for e in _lines(p)] == [MAX_LINE, 11]


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    p = tmp_path / "log"
    log = JsonFileLog(str(p), max_size=200, max_files=3)
    for i in range(40):
        log.write("stdout", f"line {i}\n".encode())
    log.close()
    files = sorted(x.name for x in tmp_path.iterdir())
    assert files == ["log", "log.1", "log.2"]
    assert p.stat().st_size <= 200
    assert _lines(p)[-1]["log"] == "line 39\n"
