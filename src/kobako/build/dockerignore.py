""".dockerignore: Docker's pattern rules (moby ``patternmatcher`` and ``ignorefile``).

Each line is a pattern in Go ``filepath.Match`` syntax (``*``, ``?``, ``[a-z]``, ``\\`` escapes) plus
``**`` for any number of directories; ``#`` starts a comment line; a leading ``/`` is dropped
(patterns are always relative to the context root) and the pattern is ``Clean``ed; ``!`` makes an
exception. A path is excluded when the *last* pattern matching it or one of its parent
directories is not an exception. An excluded directory is still walked when an exception
pattern could match something inside it.

The matcher is stdlib-only: the CLI filters the context with it before sending it.
"""

from __future__ import annotations

import os
import posixpath
import stat

from kobako.build._scan import scan

TYPE_CHECKING = False  # `typing` and `re` cost the CLI start-up; re is imported only for patterns
if TYPE_CHECKING:
    import re
    from collections.abc import Iterable, Iterator


class Pattern:
    """One line: ``text`` cleaned and without ``!``. A plain class, not a dataclass: importing
    ``dataclasses`` (inspect, ast, dis) cost the CLI ~20 ms on every ``kobako build``."""

    __slots__ = ("exception", "regex", "text")

    def __init__(self, text: str, exception: bool, regex: re.Pattern[str]) -> None:
        self.text = text
        self.exception = exception
        self.regex = regex

    def __repr__(self) -> str:
        return f"Pattern({self.text!r}, exception={self.exception})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pattern) and (self.text, self.exception) == (other.text, other.exception)

    def __hash__(self) -> int:
        return hash((self.text, self.exception))

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def _compile(pattern: str) -> re.Pattern[str]:
    import re

    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    out.append(".*")
                else:
                    out.append("(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append("\\\\")
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append("\\[")
                continue
            body = pattern[i:end]
            i = end + 1
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
        else:
            out.append(re.escape(ch))
    out.append("$")
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error:
        return re.compile(re.escape(pattern) + "$")


def parse_patterns(lines: Iterable[str]) -> list[Pattern]:
    out: list[Pattern] = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip()
            if not line:
                continue
        line = posixpath.normpath(line)
        if len(line) > 1 and line.startswith("/"):
            line = line.lstrip("/") or "/"
        out.append(Pattern(line, exception, _compile(line)))
    return out


class DockerIgnore:
    def __init__(self, patterns: Iterable[str] | list[Pattern] = ()) -> None:
        items = list(patterns)
        self.patterns: list[Pattern] = (
            items if items and isinstance(items[0], Pattern) else parse_patterns(items)  # type: ignore[arg-type]
        )
        self.has_exceptions = any(p.exception for p in self.patterns)

    @classmethod
    def from_text(cls, text: str | bytes) -> DockerIgnore:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return cls(text.removeprefix("\ufeff").splitlines())

    @classmethod
    def from_context(cls, root: str | os.PathLike[str]) -> DockerIgnore:
        try:
            with open(os.path.join(root, ".dockerignore"), "rb") as f:
                return cls.from_text(f.read())
        except FileNotFoundError:
            return cls()

    def excluded(self, path: str) -> bool:
        """Whether ``path`` (relative, ``/``-separated) is left out of the context."""
        path = posixpath.normpath(path).lstrip("/")
        parts = path.split("/")
        parents = ["/".join(parts[: i + 1]) for i in range(len(parts) - 1)]
        matched = False
        for p in self.patterns:
            if matched != p.exception:
                continue  # only a pattern of the other kind can change the answer
            if p.match(path) or any(p.match(d) for d in parents):
                matched = not p.exception
        return matched

    def may_include_under(self, directory: str) -> bool:
        """Whether an exception pattern could re-include something under excluded ``directory``."""
        if not self.has_exceptions:
            return False
        prefix = posixpath.normpath(directory).lstrip("/") + "/"
        for p in self.patterns:
            if not p.exception:
                continue
            if (p.text + "/").startswith(prefix) or any(c in p.text for c in "*?[\\"):
                return True
        return False

    def walk(self, root: str | os.PathLike[str], always: Iterable[str] = ()) -> Iterator[str]:
        """Relative paths under ``root`` to send (directories before their content, sorted);
        ``always`` (the Dockerfile, .dockerignore) are sent even when excluded."""
        for rel, _st in self.walk_stat(root, always):
            yield rel

    def walk_stat(self, root: str | os.PathLike[str], always: Iterable[str] = ()
                  ) -> Iterator[tuple[str, os.stat_result]]:
        """``walk`` with each path's ``lstat``: one ``scandir`` per directory and one ``lstat``
        per entry, the only system calls the client needs to describe the context."""
        keep = {posixpath.normpath(a) for a in always}
        root = os.fspath(root)
        filtering = bool(self.patterns)

        def visit(rel_dir: str, full: str) -> Iterator[tuple[str, os.stat_result]]:
            for rel, path, st in scan(rel_dir, full):
                is_dir = stat.S_ISDIR(st.st_mode)
                if filtering and rel not in keep and self.excluded(rel):
                    if is_dir and self.may_include_under(rel):
                        sub = list(visit(rel, path))
                        if sub:
                            yield rel, st
                            yield from sub
                    continue
                yield rel, st
                if is_dir:
                    yield from visit(rel, path)

        yield from visit("", root)
