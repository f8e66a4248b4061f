"""Progress lines: ``stream_line`` writes exactly what ``json.dumps`` would (it skips the generic
encoder: a build writes several lines per step)."""

from __future__ import annotations

import json
import random

import pytest

from kobako.api.jsonstream import aux_line, error_line, message_line, stream_line

TEXTS = [
    "Step 1/11 : RUN echo 1 > /f1\n",
    " ---> Using cache\n",
    "",
    'quotes " and \\ backslashes, tab\t cr\r nl\n',
    "control \x00\x01\x1f\x7f and separators \u2028\u2029",
    "non-ASCII: é ü 日本語 \U0001f600",
    "a lone surrogate \ud800 from undecodable output",
]


@pytest.mark.parametrize("text", TEXTS)
def test_stream_line_is_the_json_encoding(text: str) -> None:
    line = stream_line(text)
    assert line == message_line({"stream": text})
    assert line.endswith(b"\r\n") and line.isascii()
    assert json.loads(line) == {"stream": text}


def test_stream_line_on_random_text() -> None:
    rnd = random.Random(7)
    for _ in range(500):
        text = "".join(chr(rnd.choice((rnd.randrange(0, 0x80), rnd.randrange(0x80, 0x110000))))
                       for _ in range(rnd.randrange(0, 40)))
        assert stream_line(text) == json.dumps({"stream": text}, separators=(",", ":")).encode() + b"\r\n"


def test_other_lines() -> None:
    assert aux_line({"ID": "sha256:ab"}) == b'{"aux":{"ID":"sha256:ab"}}\r\n'
    assert json.loads(error_line("boom", 2)) == {"errorDetail": {"message": "boom", "code": 2}, "error": "boom"}
