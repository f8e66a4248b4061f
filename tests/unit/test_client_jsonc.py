"""kobako.client._jsonc gives what json.loads / json.dumps give (it drives json's own C accelerator)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kobako.client import _jsonc

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
documents = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(), kids, max_size=5),
                         max_leaves=30)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300)
@given(documents, st.sampled_from([None, (",", ":"), (", ", ": ")]), st.booleans(), st.booleans())
def test_dumps_is_json_dumps(doc: object, separators: tuple[str, str] | None, ensure_ascii: bool,
                             sort_keys: bool) -> None:
    expected = json.dumps(doc, separators=separators, ensure_ascii=ensure_ascii, sort_keys=sort_keys)
    assert _jsonc.dumps(doc, separators=separators, ensure_ascii=ensure_ascii, sort_keys=sort_keys) == expected


@settings(max_examples=300)
@given(documents, st.sampled_from(["", " ", "\n", " \t\r\n"]), st.booleans())
def test_loads_is_json_loads(doc: object, ws: str, as_bytes: bool) -> None:
    text = ws + json.dumps(doc, ensure_ascii=False) + ws
    data = text.encode() if as_bytes else text
    assert _same(_jsonc.loads(data), json.loads(data))


@pytest.mark.parametrize("bad", [b"", b"   ", b"{", b"[1,]", b"[1] 2", b"nul", b'"\\x"', b"\xff\xfe", "\ufeff[]"])
def test_errors_are_json_errors(bad: bytes | str) -> None:
    with pytest.raises(ValueError) as ours:
        _jsonc.loads(bad)
    with pytest.raises(ValueError) as theirs:
        json.loads(bad)
    assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


def test_unserializable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        _jsonc.dumps({"a": {1}})
    with pytest.raises(ValueError, match="Circular reference"):
        loop: list[object] = []
        loop.append(loop)
        _jsonc.dumps(loop)


def test_does_not_import_json_or_re() -> None:
    code = ("import sys; from kobako.client import _jsonc; _jsonc.loads(b'{\"a\": [1.5, null]}'); "
            "_jsonc.dumps({'a': 'é'}); print(' '.join(sorted(sys.modules)))")
    mods = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}; {code}"],
                          capture_output=True, text=True, check=True).stdout.split()
    assert "json" not in mods and "re" not in mods and "_json" in mods
