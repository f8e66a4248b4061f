"""Variable interpolation (``$VAR``, ``${VAR:-default}``, ...) and ``.env`` files, as compose does.

Substitution forms (the compose specification's): ``$VAR`` and ``${VAR}``; ``${VAR:-d}`` (d when unset
or empty), ``${VAR-d}`` (d when unset); ``${VAR:?err}`` / ``${VAR?err}`` (an error when unset or empty /
unset); ``${VAR:+alt}`` / ``${VAR+alt}`` (alt when set and non-empty / set); ``$$`` is a literal ``$``.
Defaults and alternatives may themselves hold substitutions.  An unset variable without a default is
replaced by an empty string and reported once through ``warn`` (compose prints a warning).
Only values are interpolated, never mapping keys.
"""

from __future__ import annotations

from kobako.compose._errors import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")


class InterpolationError(ComposeError):
    """A ``${VAR?err}`` without a value, or a malformed template."""


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` that closes the ``${`` whose body starts at ``start`` (nested ``${}`` counted)."""
    depth, i = 1, start
    while i < len(text):
        c = text[i]
        if c == "$" and text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if c == "$" and text.startswith("$$", i):
            i += 2
            continue
        if c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def substitute(text: str, lookup: Callable[[str], str | None], warn: Callable[[str], None] | None = None) -> str:
    """``text`` with every substitution applied; ``lookup(name)`` is None for an unset variable."""
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$":
            j = text.find("$", i)
            j = n if j < 0 else j
            out.append(text[i:j])
            i = j
            continue
        nxt = text[i + 1:i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing_brace(text, i + 2)
            if end < 0:
                raise InterpolationError(f"invalid interpolation format for {text!r}: unterminated '${{'")
            out.append(_braced(text[i + 2:end], text, lookup, warn))
            i = end + 1
        elif nxt and nxt in _NAME_START:
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            out.append(_value(text[i + 1:j], lookup, warn))
            i = j
        else:  # a lone "$" (end of text, or before a character that starts no name) stays as it is
            out.append("$")
            i += 1
    return "".join(out)


def _value(name: str, lookup: Callable[[str], str | None], warn: Callable[[str], None] | None) -> str:
    value = lookup(name)
    if value is None:
        if warn is not None:
            warn(name)
        return ""
    return value


def _braced(body: str, whole: str, lookup: Callable[[str], str | None],
            warn: Callable[[str], None] | None) -> str:
    j = 0
    while j < len(body) and body[j] in _NAME_CHARS:
        j += 1
    name, rest = body[:j], body[j:]
    if not name or name[0] not in _NAME_START:
        raise InterpolationError(f"invalid interpolation format for {whole!r}: '${{{body}}}' "
                                 "(a variable name must start with a letter or '_')")
    if not rest:
        return _value(name, lookup, warn)
    value = lookup(name)
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            break
    else:
        raise InterpolationError(f"invalid interpolation format for {whole!r}: '${{{body}}}'")
    empty_counts = op.startswith(":")
    missing = value is None or (empty_counts and value == "")
    kind = op[-1]
    if kind == "-":
        return substitute(arg, lookup, warn) if missing else str(value)
    if kind == "+":
        return "" if missing else substitute(arg, lookup, warn)
    # "?": required
    if missing:
        detail = substitute(arg, lookup, warn)
        raise InterpolationError(f"required variable {name} is missing a value" + (f": {detail}" if detail else ""))
    return str(value)


def interpolate(obj: Any, lookup: Callable[[str], str | None], warn: Callable[[str], None] | None = None,
                path: str = "") -> Any:
    """Every string value of a parsed YAML tree substituted (keys kept); errors name the key path."""
    if isinstance(obj, str):
        try:
            return substitute(obj, lookup, warn)
        except InterpolationError as exc:
            raise InterpolationError(f"error while interpolating {path}: {exc.message}") from None
    if isinstance(obj, dict):
        return {k: interpolate(v, lookup, warn, f"{path}.{k}" if path else str(k)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [interpolate(v, lookup, warn, f"{path}[{i}]") for i, v in enumerate(obj)]
    return obj


# -- .env files ------------------------------------------------------------------------------------
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"'}


def parse_env_file(text: str, where: str, lookup: Callable[[str], str | None] | None = None) -> dict[str, str | None]:
    """``KEY=VALUE`` lines as compose's dotenv reads them.

    ``export`` prefixes, ``#`` comments, blank lines; single quotes are literal, double quotes take
    ``\\n``-style escapes and substitutions, unquoted values lose a trailing `` #comment`` and surrounding
    blanks and take substitutions.  A bare ``KEY`` maps to None (the caller takes it from the
    environment).  Substitutions see earlier keys of the same file, then ``lookup``.
    """
    values: dict[str, str | None] = {}

    def look(name: str) -> str | None:
        if name in values and values[name] is not None:
            return values[name]
        return lookup(name) if lookup is not None else None

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, eq, value = line.partition("=")
        key = key.strip()
        if not key or any(ch.isspace() for ch in key) or not eq and "=" in key:
            raise ComposeError(f"failed to read {where}: line {i}: unexpected character in variable name {key!r}")
        if not eq:
            values[key] = None
            continue
        value = value.lstrip()
        if value[:1] in ("'", '"'):
            quote = value[0]
            body = value[1:]
            # a quoted value may span lines
            while _unclosed(body, quote) and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            end = _quote_end(body, quote)
            if end < 0:
                raise ComposeError(f"failed to read {where}: unterminated quoted value for {key}")
            body = body[:end]
            if quote == "'":
                values[key] = body
            else:
                unescaped = _unescape(body)
                values[key] = substitute(unescaped, look)
        else:
            hash_at = value.find(" #")
            if hash_at >= 0:
                value = value[:hash_at]
            values[key] = substitute(value.strip(), look)
    return values


def _quote_end(body: str, quote: str) -> int:
    i = 0
    while i < len(body):
        if body[i] == "\\" and quote == '"':
            i += 2
            continue
        if body[i] == quote:
            return i
        i += 1
    return -1


def _unclosed(body: str, quote: str) -> bool:
    return _quote_end(body, quote) < 0


def _unescape(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body) and body[i + 1] in _ESCAPES:
            out.append(_ESCAPES[body[i + 1]])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def chain_lookup(*maps: Mapping[str, str | None]) -> Callable[[str], str | None]:
    """A lookup reading each mapping in turn (the first that has a non-None value wins)."""
    def look(name: str) -> str | None:
        for m in maps:
            v = m.get(name)
            if v is not None:
                return v
        return None
    return look
