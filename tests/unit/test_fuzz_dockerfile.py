"""Property tests for the Dockerfile parser and the builder's word expansion.

Random text (arbitrary, and line-structured text made of instruction words, flags, JSON forms,
continuations, heredocs, directives and odd characters) either parses or raises a
``DockerfileError`` whose message names the file and a line that exists.  Expansion of random words
either gives a string or raises ``ExpansionError``.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from kobako.build._shell import ExpansionError, expand, split_words
from kobako.build.dockerfile import DockerfileError, parse

WORDS = ["FROM", "RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "ENV", "ARG", "LABEL", "EXPOSE", "VOLUME",
         "WORKDIR", "USER", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "ONBUILD", "MAINTAINER", "from", "Bogus",
         "busybox", "AS", "--from=x", "--chown=1:2", "--chmod=755", "--mount=type=cache,target=/x", "--bad",
         "--interval=", "--", "NONE", "CMD-SHELL", "[", "]", '["a",', '"b"]', '["sh", "-c"]', "[]", "{}",
         "A=1", "B=", "=", '"x y"', "'q'", "$A", "${A}", "${A:-d}", "${A:?err}", "${", "${}", "$", "\\", "`",
         "<<EOF", "<<-EOF", "<<'EOF'", "EOF", "<<", "#", "# escape=`", "# syntax=x", "#escape=\\", "&&", ";",
         "\t", "ü", "\x00", "\ufeff", "\r", "80/tcp", "/dst/", ".", "..", "../..", "*", "?", "[a-"]
LINE = st.lists(st.sampled_from(WORDS), min_size=0, max_size=6).map(" ".join)
STRUCTURED = st.lists(st.one_of(LINE, LINE.map(lambda s: s + " \\"), st.just("")), min_size=1,
                      max_size=12).map("\n".join)
_LOCATED = re.compile(r"^Dockerfile(?::(\d+))?: .+", re.DOTALL)


def _check(text: str) -> None:
    try:
        df = parse(text)
    except DockerfileError as exc:
        m = _LOCATED.match(str(exc))
        assert m, f"message does not name the file: {exc}"
        lines = text.replace("\r\n", "\n").count("\n") + 1
        assert 0 <= exc.line <= lines
        if m.group(1) is not None:
            assert int(m.group(1)) == exc.line >= 1
        return
    assert df.instructions
    lines = text.replace("\r\n", "\n").count("\n") + 1
    for ins in df.instructions:
        assert 1 <= ins.line <= lines
        assert ins.cmd == ins.cmd.lower()


@settings(max_examples=400, deadline=None)
@given(STRUCTURED)
def test_structured_text_parses_or_names_a_line(text: str) -> None:
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_arbitrary_text_parses_or_names_a_line(data: str | bytes) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    _check(text)
    if isinstance(data, bytes):
        try:
            parse(data)
        except DockerfileError:
            pass


EXPAND_PARTS = st.sampled_from(["$", "${", "}", "A", "B", ":", "-", "+", "?", "#", "%", "/", "'", '"', "\\",
                                "`", " ", "x", "${A}", "${A:-$B}", "${A:+y}", "${A:?no}", "${#A}", "$1", "${A/x/y}",
                                "ü", "\n"])


@settings(max_examples=300, deadline=None)
@given(word=st.lists(EXPAND_PARTS, max_size=12).map("".join), escape=st.sampled_from(["\\", "`"]),
       env=st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["", "v", "a b", "$A"]), max_size=2))
def test_expansion_gives_a_string_or_a_typed_error(word: str, escape: str, env: dict[str, str]) -> None:
    try:
        out = expand(word, env, escape=escape)
    except ExpansionError as exc:
        assert str(exc)
    else:
        assert isinstance(out, str)
    try:
        words = split_words(word, escape)
    except ExpansionError as exc:
        assert str(exc)
    else:
        assert all(isinstance(w, str) for w in words)
