from __future__ import annotations

import json

import pytest

from kobako.api import jsonstream, stdcopy
from kobako.api.stdcopy import StdcopyDecoder, StdcopyError, frame


def test_frame_header_layout() -> None:
    assert frame(1, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert frame(2, b"") == b"\x02\x00\x00\x00\x00\x00\x00\x00"
    assert frame(2, b"x" * 258)[:8] == b"\x02\x00\x00\x00\x00\x00\x01\x02"


def test_frame_rejects_bad_stream() -> None:
    with pytest.raises(ValueError):
        frame(4, b"x")


@pytest.mark.parametrize("step", [1, 3, 7, 8, 9, 1000])
def test_round_trip_any_split(step: int) -> None:
    frames = [(1, b"hello\n"), (2, b"oops\n"), (0, b""), (1, bytes(range(256)) * 10), (3, b"fatal")]
    wire = b"".join(frame(s, d) for s, d in frames)
    decoder = StdcopyDecoder()
    got = []
    for i in range(0, len(wire), step):
        got.extend(decoder.feed(wire[i : i + step]))
    decoder.close()
    assert got == frames


def test_decoder_detects_truncation_and_garbage() -> None:
    decoder = StdcopyDecoder()
    assert list(decoder.feed(frame(1, b"abcdef")[:-2])) == []
    assert decoder.pending == 12
    with pytest.raises(StdcopyError):
        decoder.close()
    with pytest.raises(StdcopyError):
        list(StdcopyDecoder().feed(b"\x09\x00\x00\x00\x00\x00\x00\x01x"))


def test_large_payload_is_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stdcopy, "MAX_FRAME", 4)
    wire = frame(1, b"abcdefghij")
    assert list(StdcopyDecoder().feed(wire)) == [(1, b"abcd"), (1, b"efgh"), (1, b"ij")]


@pytest.mark.parametrize(
    ("line", "obj"),
    [
        (jsonstream.stream_line("Step 1/3 : FROM busybox\n"), {"stream": "Step 1/3 : FROM busybox\n"}),
        (jsonstream.status_line("Pulling fs layer", id="abc"), {"status": "Pulling fs layer", "id": "abc"}),
        (
            jsonstream.status_line("Downloading", "abc", "[=>  ]", current=1, total=10),
            {"status": "Downloading", "id": "abc", "progress": "[=>  ]",
             "progressDetail": {"current": 1, "total": 10}},
        ),
        (jsonstream.error_line("boom"), {"errorDetail": {"message": "boom"}, "error": "boom"}),
        (jsonstream.error_line("boom", 1), {"errorDetail": {"message": "boom", "code": 1}, "error": "boom"}),
        (jsonstream.aux_line({"ID": "sha256:x"}), {"aux": {"ID": "sha256:x"}}),
    ],
)
def test_jsonstream_lines(line: bytes, obj: dict[str, object]) -> None:
    assert line.endswith(b"\r\n")
    assert b"\n" not in line[:-1]
    assert json.loads(line) == obj
