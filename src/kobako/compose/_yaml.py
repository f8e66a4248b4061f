"""YAML as compose reads it: YAML 1.2 scalars (go-yaml v3), not PyYAML's YAML 1.1 ones.

PyYAML's safe loader follows YAML 1.1, where ``yes``/``no``/``on``/``off`` are booleans and ``22:22`` is
a base-60 integer (1342) - a port mapping silently turned into a number.  Compose parses with YAML 1.2's
core schema, where those stay strings.  This loader keeps PyYAML's parser (and its C scanner when
libyaml is there) and swaps the implicit resolvers for YAML 1.2's: booleans true/false, integers as
go-yaml reads them (decimal, ``0o``/``0x``/``0b``, a leading 0 octal), floats without base 60, null as
``null``/``~``/empty.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_loader: Any = None

_RESOLVERS = [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|0b[01]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
]


def loader() -> Any:
    """A SafeLoader class (the C one when available) with YAML 1.2 implicit scalars."""
    global _loader
    if _loader is not None:
        return _loader
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class ComposeLoader(base):  # type: ignore[misc, valid-type]
        pass

    ComposeLoader.yaml_implicit_resolvers = {}
    for tag, pattern, first in _RESOLVERS:
        ComposeLoader.add_implicit_resolver(tag, re.compile(pattern), list(first))

    def construct_int(self: Any, node: Any) -> int:
        # go-yaml v3 (compose's parser) reads integers as Go's ParseInt(s, 0): 0x, 0o, 0b prefixes, and
        # a leading 0 is octal (so `mode: 0440` is what it looks like)
        text = self.construct_scalar(node)
        sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
        if digits[:2] in ("0o", "0x", "0b"):
            return sign * int(digits[2:], {"o": 8, "x": 16, "b": 2}[digits[1]])
        if len(digits) > 1 and digits.startswith("0") and set(digits) <= set("01234567"):
            return sign * int(digits, 8)
        return sign * int(digits)

    ComposeLoader.add_constructor("tag:yaml.org,2002:int", construct_int)
    _loader = ComposeLoader
    return _loader


def load(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=loader())  # noqa: S506 - a SafeLoader subclass
