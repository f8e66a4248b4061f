"""The Dockerfile parser and variable expansion, table-driven (cases from BuildKit's parser and shell tests)."""

from __future__ import annotations

import pytest

from kobako.build._shell import ExpansionError, expand, split_words
from kobako.build.dockerfile import DockerfileError, parse


def one(text: str):  # type: ignore[no-untyped-def]
    (ins,) = parse(text).instructions
    return ins


@pytest.mark.parametrize(("text", "cmd", "args", "json_form"), [
    ("FROM busybox", "from", ("busybox",), False),
    ("from busybox AS Build", "from", ("busybox", "AS", "Build"), False),
    ("RUN echo hi", "run", ("echo hi",), False),
    ('RUN ["echo", "hi"]', "run", ("echo", "hi"), True),
    ('RUN [ "echo", bad json', "run", ('[ "echo", bad json',), False),  # not JSON: shell form
    ("RUN echo a \\\n  && echo b", "run", ("echo a   && echo b",), False),
    ("RUN echo a \\\n# a comment inside\n\n  && echo b", "run", ("echo a   && echo b",), False),
    ("RUN echo a \\  \n b", "run", ("echo a  b",), False),  # whitespace after the escape
    ('CMD ["sh", "-c", "echo"]', "cmd", ("sh", "-c", "echo"), True),
    ("CMD echo $HOME", "cmd", ("echo $HOME",), False),
    ('ENV A=1 B="x y" C=z\\ w', "env", ("A", "1", "B", '"x y"', "C", "z\\ w"), False),
    ("ENV LEGACY some value here", "env", ("LEGACY", "some value here"), False),
    ('LABEL "com.example"="v 1" x=y', "label", ('"com.example"', '"v 1"', "x", "y"), False),
    ("ARG NAME", "arg", ("NAME",), False),
    ("ARG NAME=default", "arg", ("NAME", "default"), False),
    ("COPY a b /dst/", "copy", ("a", "b", "/dst/"), False),
    ('COPY ["a b", "/dst/"]', "copy", ("a b", "/dst/"), True),
    ("EXPOSE 80 443/udp", "expose", ("80", "443/udp"), False),
    ("VOLUME /a /b", "volume", ("/a", "/b"), False),
    ('VOLUME ["/data"]', "volume", ("/data",), True),
    ("WORKDIR /my dir", "workdir", ("/my dir",), False),
    ("USER app:app", "user", ("app:app",), False),
    ("STOPSIGNAL SIGKILL", "stopsignal", ("SIGKILL",), False),
    ("HEALTHCHECK NONE", "healthcheck", ("NONE",), False),
    ("HEALTHCHECK --interval=5s CMD wget -q x", "healthcheck", ("CMD-SHELL", "wget -q x"), False),
    ('HEALTHCHECK CMD ["true"]', "healthcheck", ("CMD", "true"), True),
    ('SHELL ["/bin/bash", "-c"]', "shell", ("/bin/bash", "-c"), True),
    ("MAINTAINER me", "maintainer", ("me",), False),
])
def test_instructions(text: str, cmd: str, args: tuple[str, ...], json_form: bool) -> None:
    ins = one(text)
    assert (ins.cmd, ins.args, ins.json) == (cmd, args, json_form)


def test_flags_line_numbers_and_original() -> None:
    df = parse("# a comment\n\nFROM busybox\n\nCOPY --from=build --chown=1:2 \\\n  a /b\n")
    frm, copy = df.instructions
    assert (frm.line, copy.line) == (3, 5)
    assert copy.flags == {"from": "build", "chown": "1:2"}
    assert copy.args == ("a", "/b")
    assert copy.original == "COPY --from=build --chown=1:2   a /b"


def test_directives() -> None:
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n")
    assert (df.escape, df.syntax) == ("`", "docker/dockerfile:1")
    assert df.instructions[1].args == ("dir c:\\   && echo",)
    # a directive after an instruction or blank line is just a comment
    df = parse("\n# escape=`\nFROM x\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.instructions[1].args == ("a  b",)


def test_heredocs() -> None:
    df = parse("FROM x\nRUN <<EOF\necho one\necho two\nEOF\nCOPY <<-\"FILE\" /f\n\thello $A\n\tFILE\nRUN cat <<A > /a\nx\nA\n")
    run, copy, run2 = df.instructions[1:]
    assert run.heredocs[0].content == "echo one\necho two\n" and run.heredocs[0].expand
    assert copy.heredocs[0].content == "hello $A\n" and not copy.heredocs[0].expand
    assert copy.args == ('<<-"FILE"', "/f")
    assert run2.rest == "cat <<A > /a" and run2.heredocs[0].raw == "x\nA"
    assert run2.line == 9


def test_onbuild() -> None:
    ins = one("ONBUILD RUN echo hi")
    assert ins.sub is not None and ins.sub.cmd == "run" and ins.args == ("RUN echo hi",)


@pytest.mark.parametrize(("text", "message"), [
    ("FROM x\nRUNN echo", "Dockerfile:2: unknown instruction: RUNN"),
    ("FROM x\n\n\nCOPY onlyone", "Dockerfile:4: COPY requires at least two arguments"),
    ("FROM x\nENV", "Dockerfile:2: ENV requires at least one argument"),
    ("FROM x\nENV A", "Dockerfile:2: ENV must have two arguments"),
    ("FROM x\nENV =x", "Dockerfile:2: Syntax error - can't find = in"),
    ("FROM x\nSHELL /bin/sh", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ("FROM x\nCOPY --nope=1 a b", "Dockerfile:2: unknown flag: nope"),
    ("FROM x\nCOPY --from a b", "Dockerfile:2: missing a value on flag: from"),
    ("FROM a b", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM x\nRUN <<EOF\nnever ends", "Dockerfile:2: unterminated heredoc EOF"),
    ("FROM x\nONBUILD FROM y", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ("# escape=x\nFROM a", "Dockerfile:1: invalid escape token"),
    ("# comment only\n\n", "Dockerfile: the Dockerfile cannot be empty"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(DockerfileError) as err:
        parse(text)
    assert str(err.value).startswith(message)


ENV = {"A": "a", "EMPTY": "", "SPACE": "x y"}


@pytest.mark.parametrize(("word", "out"), [
    ("$A", "a"),
    ("${A}", "a"),
    ("pre${A}post", "preapost"),
    ("$A$A", "aa"),
    ("$UNSET", ""),
    ("${UNSET:-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""),
    ("${A:-def}", "a"),
    ("${A:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET:+alt}", ""),
    ("${UNSET:-$A}", "a"),
    ("${UNSET:-${A}x}", "ax"),
    ("\\$A", "$A"),
    ("'$A'", "$A"),
    ('"$A"', "a"),
    ('"\\$A"', "$A"),
    ('"a\\b"', "a\\b"),
    ('"${SPACE}"', "x y"),
    ("a\\ b", "a b"),
    ("$", "$"),
    ("$1x", "x"),
    ("x$", "x$"),
    ("'a'\"b\"c", "abc"),
])
def test_expand(word: str, out: str) -> None:
    assert expand(word, ENV) == out


def test_expand_backtick_escape_and_used_names() -> None:
    assert expand("`$A", ENV, escape="`") == "$A"
    assert expand("c:\\dir", ENV, escape="`") == "c:\\dir"
    used: set[str] = set()
    expand("${A}-$B-${C:-x}", ENV, used=used)
    assert used == {"A", "B", "C"}


@pytest.mark.parametrize("word", ["${}", "${A", "${A:x}", "'open", '"open', "${UNSET:?must be set}"])
def test_expand_errors(word: str) -> None:
    with pytest.raises(ExpansionError):
        expand(word, ENV)


def test_split_words_keeps_quotes() -> None:
    assert split_words('a="x y" b=c\\ d \'e f\'') == ['a="x y"', "b=c\\ d", "'e f'"]
