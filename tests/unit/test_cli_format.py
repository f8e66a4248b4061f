from __future__ import annotations

import pytest

from kobako.cli._format import format_rows, render, table
from kobako.cli.commands._opts import ram_in_bytes
from kobako.cli.main import status_error
from kobako.units import human_duration, human_size


def test_table_pads_like_tabwriter() -> None:
    assert table([["A", "BB"], ["long value", "x"]]) == "A" + " " * 12 + "BB\nlong value   x"


@pytest.mark.parametrize(
    ("tmpl", "obj", "want"),
    [
        ("{{.ID}}", {"ID": "abc"}, "abc"),
        ("{{.State.Status}}", {"State": {"Status": "running"}}, "running"),
        ("{{json .Config}}", {"Config": {"Cmd": ["sh"]}}, '{"Cmd":["sh"]}'),
        ("{{.Missing}}", {}, "<no value>"),
        ("{{index .Labels \"a\"}}", {"Labels": {"a": "1"}}, "1"),
        ("{{.A}}\\t{{.B}}", {"A": 1, "B": True}, "1\ttrue"),
    ],
)
def test_render(tmpl: str, obj: dict[str, object], want: str) -> None:
    assert render(tmpl, obj) == want


def test_format_rows_table_template() -> None:
    out = format_rows("table {{.ID}}\t{{.Names}}", [{"ID": "abc", "Names": "x"}], [])
    assert out.splitlines() == ["CONTAINER ID   NAMES", "abc            x"]


@pytest.mark.parametrize(("s", "n"), [("64m", 64 << 20), ("1g", 1 << 30), ("512", 512), ("1.5k", 1536), ("10MB", 10 << 20)])
def test_ram_in_bytes(s: str, n: int) -> None:
    assert ram_in_bytes(s) == n


@pytest.mark.parametrize(
    ("n", "want"), [(0, "0B"), (999, "999B"), (4_261_000, "4.26MB"), (1_500_000_000, "1.5GB")]
)
def test_human_size(n: int, want: str) -> None:
    assert human_size(n) == want


@pytest.mark.parametrize(("s", "want"), [(0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"),
                                         (60, "About a minute"), (600, "10 minutes"), (3600, "About an hour"),
                                         (7200, "2 hours"), (86400 * 3, "3 days")])
def test_human_duration(s: float, want: str) -> None:
    assert human_duration(s) == want


@pytest.mark.parametrize(
    ("cmd", "msg", "code"),
    [
        ("run", 'exec: "x": executable file not found in $PATH', 127),
        ("run", "open /nope: no such file or directory", 127),
        ("run", "exec /etc/passwd: permission denied", 126),
        ("run", "Minimum memory limit allowed is 6MB", 125),
        ("ps", "anything", 1),
    ],
)
def test_status_error_ladder(cmd: str, msg: str, code: int) -> None:
    assert status_error(cmd, msg) == code
