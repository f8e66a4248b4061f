"""``loads``/``dumps`` as the ``json`` module does them, straight from its C accelerator ``_json``.

``import json`` imports ``re`` (for ``json.decoder``'s number and whitespace patterns), and ``re``
brings ``enum``, ``functools`` and the regex compiler: several milliseconds of every CLI command, spent
before the first byte is sent.  ``json`` itself hands the actual work to ``_json.make_scanner`` and
``_json.make_encoder`` whenever it can; this module calls them the same way, with ``json``'s defaults,
and defers to ``json`` itself for everything else (a document that does not parse, so that errors are
``json``'s own ``JSONDecodeError``; a BOM; an interpreter without ``_json``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - CPython always has it
    _json = None  # type: ignore[assignment]

_WS = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What ``_json.make_scanner`` reads from a ``JSONDecoder``: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scan = _json.make_scanner(_Context()) if _json is not None else None


def loads(data: bytes | bytearray | str) -> Any:
    """``json.loads(data)``."""
    if _scan is None:
        return _json_module().loads(data)
    try:
        text = data if isinstance(data, str) else bytes(data).decode()
    except UnicodeDecodeError:
        return _json_module().loads(data)
    start = len(text) - len(text.lstrip(_WS))
    if text.startswith("\ufeff"):
        return _json_module().loads(data)
    try:
        obj, end = _scan(text, start)
    except StopIteration:
        return _json_module().loads(data)  # raises json's own JSONDecodeError
    if text[end:].strip(_WS):
        return _json_module().loads(data)
    return obj


def _default(o: object) -> Any:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: Any, *, separators: tuple[str, str] | None = None, ensure_ascii: bool = True,
          sort_keys: bool = False) -> str:
    """``json.dumps(obj, separators=..., ensure_ascii=..., sort_keys=...)``."""
    item_sep, key_sep = separators or (", ", ": ")
    if _json is None:
        return str(_json_module().dumps(obj, separators=(item_sep, key_sep), ensure_ascii=ensure_ascii,
                                        sort_keys=sort_keys))
    encode = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    if isinstance(obj, str):
        return str(encode(obj))
    encoder = _json.make_encoder({}, _default, encode, None, key_sep, item_sep, sort_keys, False, True)
    return "".join(encoder(obj, 0))


def _json_module() -> Any:
    import json

    return json
