"""Routes: ``(method, pattern) → handler``.

Patterns are paths with ``{name}`` segments (one path segment) and ``{name:path}``
segments (greedy, may hold slashes: image names such as ``docker.io/library/alpine``).
Static routes win over patterned ones; patterned ones are tried in the order added.
Parameters are percent-decoded after matching.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from kobako.api.request import Request
    from kobako.api.response import Hijack, Response, StreamResponse

Handler = Callable[["Request"], Awaitable["Response | StreamResponse | Hijack"]]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(path))?\}")


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    stream_body: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...] = ()  # methods the path supports, when route is None


def _compile(pattern: str) -> re.Pattern[str] | None:
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern must start with '/': {pattern!r}")
    if not _PARAM.search(pattern):
        return None
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>{'.+' if m.group(2) else '[^/]+'})")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out))


class Router:
    """A table of routes. HEAD falls back to the GET route (the server drops the body)."""

    def __init__(self) -> None:
        self._static: dict[str, dict[str, Route]] = {}
        self._dynamic: list[tuple[re.Pattern[str], dict[str, Route]]] = []
        self._by_pattern: dict[str, dict[str, Route]] = {}

    def add(self, method: str, pattern: str, handler: Handler, *, stream_body: bool = False) -> None:
        method = method.upper()
        methods = self._by_pattern.get(pattern)
        if methods is None:
            methods = self._by_pattern[pattern] = {}
            regex = _compile(pattern)
            if regex is None:
                self._static[pattern] = methods
            else:
                self._dynamic.append((regex, methods))
        if method in methods:
            raise ValueError(f"duplicate route {method} {pattern}")
        methods[method] = Route(method, pattern, handler, stream_body)

    def wrap(self, method: str, pattern: str, wrapper: Callable[[Handler], Handler]) -> None:
        """Replace the handler of an existing route by ``wrapper(handler)`` (a subsystem adding to
        another's answer, e.g. sizes on ``/containers/json?size=1``). KeyError if there is none."""
        methods = self._by_pattern[pattern]
        route = methods[method.upper()]
        methods[route.method] = Route(route.method, pattern, wrapper(route.handler), route.stream_body)

    def get(self, pattern: str, handler: Handler, **kw: bool) -> None:
        self.add("GET", pattern, handler, **kw)

    def post(self, pattern: str, handler: Handler, **kw: bool) -> None:
        self.add("POST", pattern, handler, **kw)

    def routes(self) -> list[Route]:
        return [r for methods in self._by_pattern.values() for r in methods.values()]

    def match(self, method: str, path: str) -> Match:
        """The route for ``method`` on ``path`` (raw, undecoded) or why there is none."""
        allowed: list[str] = []
        candidates: list[tuple[dict[str, Route], dict[str, str]]] = []
        static = self._static.get(path)
        if static is not None:
            candidates.append((static, {}))
        for regex, methods in self._dynamic:
            m = regex.fullmatch(path)
            if m is not None:
                candidates.append((methods, {k: unquote(v) for k, v in m.groupdict().items()}))
        for methods, params in candidates:
            route = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
            if route is not None:
                return Match(route, params)
            allowed.extend(m for m in methods if m not in allowed)
        return Match(None, {}, tuple(allowed))
