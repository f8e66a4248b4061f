"""Output as docker prints it: tabwriter tables, Go-template ``--format`` (a subset), human units.

Imported by ``ps`` and ``images`` at start-up, so ``re`` is imported only when a template is used, and
JSON goes through ``kobako.client._jsonc``.
"""

from __future__ import annotations

import time

from kobako.client._jsonc import dumps
from kobako.units import human_duration, human_size  # noqa: F401 - re-exported

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Mapping, Sequence
    from typing import Any

_action: list[re.Pattern[str]] = []


def _actions() -> re.Pattern[str]:
    """``{{ ... }}`` (trim markers allowed), compiled at first use."""
    if not _action:
        import re

        _action.append(re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}"))
    return _action[0]


def table(rows: Sequence[Sequence[str]]) -> str:
    """Go's tabwriter as docker configures it: min width 10, padding 3, last column unpadded."""
    if not rows:
        return ""
    ncol = max(len(r) for r in rows)
    widths = [0] * ncol
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + 3, 10)
    out = []
    for r in rows:
        cells = [cell.ljust(widths[i]) if i < len(r) - 1 else cell for i, cell in enumerate(r)]
        out.append("".join(cells).rstrip() if not r[-1] else "".join(cells))
    return "\n".join(out)


def _is_mapping(obj: Any) -> bool:
    """``isinstance(obj, collections.abc.Mapping)`` without importing collections."""
    return isinstance(obj, dict) or (hasattr(obj, "keys") and hasattr(obj, "get") and hasattr(obj, "__getitem__"))


def _lookup(obj: Any, path: str) -> Any:
    for part in [p for p in path.split(".") if p]:
        if _is_mapping(obj):
            obj = obj.get(part)
        else:
            obj = getattr(obj, part, None)
            if callable(obj):
                obj = obj()
    return obj


def _to_text(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_mapping(value):
        return "map[" + " ".join(f"{k}:{_to_text(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_to_text(v) for v in value) + "]"
    return str(value)


def _eval(expr: str, obj: Any) -> str:
    words = expr.split()
    if not words:
        return ""
    func, args = (words[0], words[1:]) if not words[0].startswith(".") else ("", words)
    values = [obj if a == "." else _lookup(obj, a) if a.startswith(".") else a.strip('"') for a in args]
    if func == "":
        return _to_text(values[0])
    if func == "json":
        return dumps(values[0], separators=(",", ":"))
    if func == "index" and len(values) >= 2:
        return _to_text(values[0].get(values[1]) if _is_mapping(values[0]) else None)
    if func in ("upper", "lower"):
        return getattr(str(values[0]), func)()
    if func == "join" and len(values) == 2:
        return str(values[1]).join(str(v) for v in (values[0] or []))
    raise ValueError(f'template: function "{func}" not defined')


def render(template: str, obj: Any) -> str:
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    return _actions().sub(lambda m: _eval(m.group(1), obj), template)


def format_rows(fmt: str | None, rows: Sequence[Mapping[str, Any]], default_columns: Sequence[tuple[str, str]]) -> str:
    """``--format``: "table" (default), "table TEMPLATE", "json", or a bare Go template."""
    if fmt == "json":
        return "\n".join(dumps(r, separators=(",", ":")) for r in rows)
    if not fmt or fmt == "table":
        header = [h for h, _ in default_columns]
        body = [[str(r.get(key, "")) for _, key in default_columns] for r in rows]
        return table([header, *body])
    if fmt.startswith("table"):
        tmpl = fmt[5:].strip()
        header_row = _actions().sub(lambda m: _header(m.group(1)), tmpl.replace("\\t", "\t"))
        lines = [header_row] + [render(tmpl, r) for r in rows]
        return table([line.split("\t") for line in lines])
    return "\n".join(render(fmt, r) for r in rows)


def _header(expr: str) -> str:
    name = expr.split()[-1].lstrip(".")
    special = {"ID": "CONTAINER ID", "RunningFor": "CREATED", "CreatedSince": "CREATED"}
    import re

    return special.get(name, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).upper())


def ago(unix: float) -> str:
    return human_duration(time.time() - unix) + " ago"


def truncate(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"

