"""Dockerfile parsing, after BuildKit ``frontend/dockerfile/parser`` and ``instructions``.

``parse(text)`` gives a ``Dockerfile``: parser directives (``# escape=``, ``# syntax=``) and
``Instruction``s with their line, original text, flags (``--from=…``), arguments and
heredocs. Line continuations (the escape character at the end of a line), comment lines
(also inside a continued instruction) and blank lines are handled here; variable expansion is
not (``kobako.build._shell``), because it depends on the build state. Errors are
``DockerfileError``: ``Dockerfile:7: unknown instruction: RUNN``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kobako.build._shell import split_words
from kobako.errors import InvalidArgument
from kobako.images import json_string_list

INSTRUCTIONS = frozenset({
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
    "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
})
# flags each instruction accepts (name -> takes a value); BuildKit ``instructions/parse.go``
FLAGS: dict[str, dict[str, bool]] = {
    "from": {"platform": True},
    "copy": {"from": True, "chown": True, "chmod": True, "link": False, "parents": False, "exclude": True},
    "add": {"chown": True, "chmod": True, "link": False, "checksum": True, "keep-git-dir": False,
            "exclude": True},
    "run": {"network": True, "mount": True, "security": True},
    "healthcheck": {"interval": True, "timeout": True, "start-period": True, "start-interval": True,
                    "retries": True},
}
HEREDOC_INSTRUCTIONS = frozenset({"run", "copy", "add"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WORD = re.compile(r"^\s*(\S+)\s*(.*)$", re.DOTALL)
_HEREDOC = re.compile(r"<<(-?)\s*(?:(['\"])([A-Za-z_][A-Za-z0-9_.-]*)\2|([A-Za-z_][A-Za-z0-9_.-]*))")


class DockerfileError(InvalidArgument):
    """A Dockerfile that cannot be parsed or built; the message names the file and line."""

    def __init__(self, line: int, message: str, filename: str = "Dockerfile") -> None:
        super().__init__(f"{filename}:{line}: {message}" if line else f"{filename}: {message}")
        self.line = line
        self.detail = message


@dataclass(frozen=True, slots=True)
class Heredoc:
    name: str
    content: str  # body with its final newline; tabs stripped for <<-
    expand: bool  # unquoted terminator: variables are expanded (COPY/ADD)
    raw: str  # the body lines and the terminator, as written (for RUN scripts)


@dataclass(frozen=True, slots=True)
class Instruction:
    cmd: str  # lower case: "run"
    line: int  # first line, 1-based
    original: str  # "RUN apt-get update && ..." (continuations joined)
    rest: str  # the text after the instruction word and its flags
    flags: dict[str, str] = field(default_factory=dict, hash=False)
    args: tuple[str, ...] = ()  # JSON list, or the words / name-value pairs of the shell form
    json: bool = False  # exec (JSON array) form
    heredocs: tuple[Heredoc, ...] = ()
    sub: Instruction | None = None  # ONBUILD's instruction

    def error(self, message: str) -> DockerfileError:
        return DockerfileError(self.line, message)


@dataclass(frozen=True, slots=True)
class Dockerfile:
    instructions: tuple[Instruction, ...]
    escape: str = "\\"
    syntax: str = ""


def parse(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").split("\n")
    escape, syntax, i = _directives(lines, filename)
    out: list[Instruction] = []
    n = len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        logical, i = _join(lines, i, escape)
        if not logical:
            continue  # only an escape (a continuation into nothing), as BuildKit skips it
        heredocs: list[Heredoc] = []
        word = logical.split(None, 1)[0].lower()
        if word in HEREDOC_INSTRUCTIONS or (word == "onbuild" and len(logical.split()) > 1
                                             and logical.split()[1].lower() in HEREDOC_INSTRUCTIONS):
            for m in _HEREDOC.finditer(logical):
                name = m.group(3) or m.group(4)
                body, i = _heredoc(lines, i, name, strip_tabs=bool(m.group(1)), filename=filename, start=start)
                heredocs.append(Heredoc(name, body[0], expand=m.group(2) is None, raw=body[1]))
        out.append(parse_instruction(logical, start + 1, escape, tuple(heredocs), filename))
    if not out:
        raise DockerfileError(0, "the Dockerfile cannot be empty", filename)
    return Dockerfile(tuple(out), escape, syntax)


def _directives(lines: list[str], filename: str) -> tuple[str, str, int]:
    escape, syntax, seen = "\\", "", set()
    i = 0
    for i, line in enumerate(lines):  # noqa: B007
        m = _DIRECTIVE.match(line.strip())
        if m is None:
            break
        key, value = m.group(1).lower(), m.group(2)
        if key in seen:
            raise DockerfileError(i + 1, f"only one {key} parser directive can be used", filename)
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(i + 1, f"invalid escape token '{value}' does not match ` or \\", filename)
            escape = value
        elif key == "syntax":
            syntax = value
    else:
        i = len(lines)
    return escape, syntax, i


def _join(lines: list[str], i: int, escape: str) -> tuple[str, int]:
    """One logical line from ``lines[i]`` on: continuation lines joined, comment and empty lines
    inside it dropped. Returns the text and the index after it."""
    parts: list[str] = []
    n = len(lines)
    while i < n:
        line = lines[i]
        i += 1
        if parts and (not line.strip() or line.lstrip().startswith("#")):
            continue
        body = line.rstrip(" \t")
        if body.endswith(escape):
            parts.append(body[:-1])
            continue
        parts.append(line)
        return "".join(parts).strip(), i
    return "".join(parts).strip(), i


def _heredoc(lines: list[str], i: int, name: str, *, strip_tabs: bool, filename: str,
             start: int) -> tuple[tuple[str, str], int]:
    body: list[str] = []
    raw: list[str] = []
    while i < len(lines):
        line = lines[i]
        i += 1
        raw.append(line)
        check = line.lstrip("\t") if strip_tabs else line
        if check == name:
            content = "".join(s + "\n" for s in body)
            return (content, "\n".join(raw)), i
        body.append(check)
    raise DockerfileError(start + 1, f"unterminated heredoc {name}", filename)


def _flags(cmd: str, rest: str, line: int, filename: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    allowed = FLAGS.get(cmd, {})
    while rest.startswith("--"):
        token, remainder = _first(rest)
        if token == "--":
            rest = remainder.lstrip()
            break
        name, eq, value = token[2:].partition("=")
        if name not in allowed:
            raise DockerfileError(line, f"unknown flag: {name}", filename)
        if allowed[name] and not eq:
            raise DockerfileError(line, f"missing a value on flag: {name}", filename)
        if name in flags and name != "exclude":
            raise DockerfileError(line, f"duplicate flag specified: {name}", filename)
        flags[name] = value if eq else "true"
        rest = remainder.lstrip()
    return flags, rest


def _first(text: str) -> tuple[str, str]:
    m = _WORD.match(text)
    return (m.group(1), m.group(2).strip()) if m else ("", "")


def _name_values(cmd: str, rest: str, escape: str, line: int, filename: str) -> tuple[str, ...]:
    words = split_words(rest, escape)
    if not words:
        raise DockerfileError(line, f"{cmd.upper()} requires at least one argument", filename)
    if "=" not in words[0]:
        if cmd == "arg":
            return tuple(words)
        # legacy "ENV key value with spaces": the rest of the line is the value
        key, _, value = rest.partition(" ") if " " in rest else rest.partition("\t")
        value = value.strip()
        if not value:
            raise DockerfileError(line, f"{cmd.upper()} must have two arguments", filename)
        return (key, value)
    out: list[str] = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq or not key:
            raise DockerfileError(line, f"Syntax error - can't find = in \"{w}\". Must be of the form: name=value",
                                  filename)
        out += [key, value]
    return tuple(out)


def parse_instruction(logical: str, line: int, escape: str = "\\", heredocs: tuple[Heredoc, ...] = (),
                      filename: str = "Dockerfile") -> Instruction:
    word, rest = _first(logical)
    cmd = word.lower()
    if cmd not in INSTRUCTIONS:
        raise DockerfileError(line, f"unknown instruction: {word}", filename)
    flags, rest = _flags(cmd, rest, line, filename)
    base = dict(cmd=cmd, line=line, original=logical, rest=rest, flags=flags, heredocs=heredocs)
    if heredocs and cmd not in HEREDOC_INSTRUCTIONS:
        raise DockerfileError(line, f"{word.upper()} does not support heredocs", filename)
    if cmd == "onbuild":
        if not rest:
            raise DockerfileError(line, "ONBUILD requires at least one argument", filename)
        sub = parse_instruction(rest, line, escape, heredocs, filename)
        if sub.cmd in ("onbuild", "from", "maintainer"):
            raise DockerfileError(line, f"{sub.cmd.upper()} isn't allowed as an ONBUILD trigger", filename)
        return Instruction(**base, args=(rest,), sub=sub)  # type: ignore[arg-type]
    if not rest and cmd not in ("cmd", "entrypoint") and not (heredocs and cmd == "run"):
        raise DockerfileError(line, f"{word.upper()} requires at least one argument", filename)
    if cmd in ("run", "cmd", "entrypoint", "shell", "copy", "add", "volume"):
        argv = json_string_list(rest)
        if argv is not None:
            return Instruction(**base, args=tuple(argv), json=True)  # type: ignore[arg-type]
        if cmd == "shell":
            raise DockerfileError(line, "SHELL requires the arguments to be in JSON form", filename)
        if cmd in ("copy", "add", "volume"):
            words = rest.split()
            if cmd != "volume" and len(words) < 2:
                raise DockerfileError(line, f"{word.upper()} requires at least two arguments, but only one was provided. "
                                      "Destination could not be determined.", filename)
            return Instruction(**base, args=tuple(words))  # type: ignore[arg-type]
        return Instruction(**base, args=(rest,))  # type: ignore[arg-type]
    if cmd in ("env", "label", "arg"):
        return Instruction(**base, args=_name_values(cmd, rest, escape, line, filename))  # type: ignore[arg-type]
    if cmd == "from":
        words = rest.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise DockerfileError(line, "FROM requires either one or three arguments", filename)
        return Instruction(**base, args=tuple(words))  # type: ignore[arg-type]
    if cmd == "expose":
        return Instruction(**base, args=tuple(rest.split()))  # type: ignore[arg-type]
    if cmd == "healthcheck":
        kind, _, tail = rest.partition(" ")
        kind = kind.upper()
        if kind == "NONE":
            if tail.strip() or flags:
                raise DockerfileError(line, "HEALTHCHECK NONE takes no arguments", filename)
            return Instruction(**base, args=("NONE",))  # type: ignore[arg-type]
        if kind != "CMD" or not tail.strip():
            raise DockerfileError(line, "HEALTHCHECK requires CMD or NONE", filename)
        argv = json_string_list(tail.strip())
        if argv is not None:
            return Instruction(**base, args=("CMD", *argv), json=True)  # type: ignore[arg-type]
        return Instruction(**base, args=("CMD-SHELL", tail.strip()))  # type: ignore[arg-type]
    # user, workdir, stopsignal, maintainer: one string
    return Instruction(**base, args=(rest,))  # type: ignore[arg-type]
