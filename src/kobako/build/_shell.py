"""Variable expansion in Dockerfile words, after BuildKit ``frontend/dockerfile/shell/lex.go``.

``expand(word, env)`` removes quotes and escapes the way a shell would, and substitutes
``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:+alt}``, ``${VAR+alt}``,
``${VAR:?msg}`` and ``${VAR?msg}``. Single quotes are literal; inside double quotes the escape
character only escapes ``"``, ``$`` and itself. ``used`` collects the names looked up (for
the build cache: only build args that an instruction reads are part of its key).
"""

from __future__ import annotations

from collections.abc import Mapping

from kobako.errors import InvalidArgument

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")


class ExpansionError(InvalidArgument):
    """A malformed substitution (``${}``, an unknown modifier, an unclosed quote) or ``${X:?msg}``."""


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, used: set[str] | None) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.esc = escape
        self.used = used

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    # -- words -----------------------------------------------------------------------------
    def word(self, stop: str = "") -> str:
        """Until end (or an unquoted ``stop`` character, which is not consumed)."""
        out: list[str] = []
        while self.i < len(self.s):
            ch = self.peek()
            if stop and ch in stop:
                break
            if ch == self.esc:
                self.i += 1
                if self.i < len(self.s):
                    out.append(self.next())
                else:
                    out.append(ch)  # a trailing escape stays literal
            elif ch == "'":
                out.append(self.single())
            elif ch == '"':
                out.append(self.double())
            elif ch == "$":
                out.append(self.dollar())
            else:
                out.append(self.next())
        return "".join(out)

    def single(self) -> str:
        self.i += 1
        end = self.s.find("'", self.i)
        if end < 0:
            raise ExpansionError("unexpected end of statement while looking for matching single-quote")
        text = self.s[self.i:end]
        self.i = end + 1
        return text

    def double(self) -> str:
        self.i += 1
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise ExpansionError("unexpected end of statement while looking for matching double-quote")
            ch = self.peek()
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == self.esc:
                self.i += 1
                nxt = self.peek()
                if nxt in ('"', "$", self.esc) and nxt:
                    out.append(self.next())
                else:
                    out.append(ch)
            else:
                out.append(self.next())

    # -- substitutions --------------------------------------------------------------------
    def lookup(self, name: str) -> str | None:
        if self.used is not None:
            self.used.add(name)
        return self.env.get(name)

    def dollar(self) -> str:
        self.i += 1  # the $
        ch = self.peek()
        if ch == "{":
            return self.braced()
        name = self.name()
        if not name:
            return "$"
        return self.lookup(name) or ""

    def name(self) -> str:
        start = self.i
        if self.peek().isdigit():
            self.i += 1
            return self.s[start:self.i]
        while self.i < len(self.s) and self.s[self.i] in _NAME_CHARS:
            self.i += 1
        return self.s[start:self.i]

    def braced(self) -> str:
        self.i += 1  # the {
        name = self.name()
        if not name:
            raise ExpansionError(f"bad substitution: {self.s!r}")
        ch = self.peek()
        if ch == "}":
            self.i += 1
            return self.lookup(name) or ""
        colon = ch == ":"
        if colon:
            self.i += 1
            ch = self.peek()
        if ch not in ("-", "+", "?"):
            raise ExpansionError(f"unsupported modifier ({ch or 'EOF'}) in substitution: {self.s!r}")
        self.i += 1
        word = self.word(stop="}")
        if self.peek() != "}":
            raise ExpansionError(f"syntax error: missing '}}' in {self.s!r}")
        self.i += 1
        value = self.lookup(name)
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set else word  # type: ignore[return-value]
        if ch == "+":
            return word if is_set else ""
        if not is_set:
            raise ExpansionError(f"{name}: {word or 'parameter not set or null'}")
        return value  # type: ignore[return-value]


def expand(word: str, env: Mapping[str, str], *, escape: str = "\\", used: set[str] | None = None) -> str:
    """One word with quotes removed and variables substituted."""
    return _Lexer(word, env, escape, used).word()


def split_words(text: str, escape: str = "\\") -> list[str]:
    """Whitespace-separated words, honouring quotes and escapes but keeping them (BuildKit
    ``parseWords``); ``expand`` later removes them."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == escape and i + 1 < len(text) and quote != "'":
            cur.append(ch + text[i + 1])
            i += 2
            continue
        if quote:
            if ch == quote:
                quote = ""
            cur.append(ch)
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
        i += 1
    if cur:
        words.append("".join(cur))
    return words
