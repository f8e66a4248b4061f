"""Compose interpolation and .env parsing (kobako.compose._interp)."""

from __future__ import annotations

import pytest

from kobako.compose._interp import InterpolationError, chain_lookup, interpolate, parse_env_file, substitute

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080"}


def sub(text: str, warned: list[str] | None = None) -> str:
    return substitute(text, ENV.get, None if warned is None else warned.append)


@pytest.mark.parametrize(("text", "expected"), [
    ("$SET", "value"), ("${SET}", "value"), ("a${SET}b", "avalueb"), ("$SET-x", "value-x"),
    ("${UNSET:-def}", "def"), ("${EMPTY:-def}", "def"), ("${EMPTY-def}", ""), ("${UNSET-def}", "def"),
    ("${SET:-def}", "value"), ("${SET:+alt}", "alt"), ("${EMPTY:+alt}", ""), ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""), ("$$SET", "$SET"), ("$${SET}", "${SET}"), ("cost: 5$", "cost: 5$"),
    ("${UNSET:-${PORT}}", "8080"), ("${UNSET:-a-${UNSET2:-b}-c}", "a-b-c"), ("no dollars", "no dollars"),
    ("127.0.0.1:${PORT}:80", "127.0.0.1:8080:80"), ("$1", "$1"),
])
def test_substitution_forms(text: str, expected: str) -> None:
    assert sub(text) == expected


def test_unset_variable_is_empty_and_warned_once_per_name() -> None:
    warned: list[str] = []
    assert sub("${NOPE}-$NOPE-${ALSO}", warned) == "--"
    assert warned == ["NOPE", "NOPE", "ALSO"]  # substitute reports each use; the loader dedups


@pytest.mark.parametrize(("text", "message"), [
    ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
    ("${EMPTY:?empty!}", "required variable EMPTY is missing a value: empty!"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
])
def test_required_variables(text: str, message: str) -> None:
    with pytest.raises(InterpolationError) as exc:
        sub(text)
    assert exc.value.message == message


def test_required_satisfied() -> None:
    assert sub("${EMPTY?err}") == ""
    assert sub("${SET:?err}") == "value"


@pytest.mark.parametrize("text", ["${", "${SET", "${}", "${1X}", "${SET%%x}"])
def test_malformed_templates(text: str) -> None:
    with pytest.raises(InterpolationError):
        sub(text)


def test_interpolate_tree_names_the_path_and_keeps_keys() -> None:
    tree = {"services": {"web": {"image": "${SET}", "$KEY": "x", "ports": ["${PORT}:80", 5]}}}
    assert interpolate(tree, ENV.get) == {"services": {"web": {"image": "value", "$KEY": "x", "ports": ["8080:80", 5]}}}
    with pytest.raises(InterpolationError) as exc:
        interpolate({"services": {"web": {"ports": ["ok", "${X:?no}"]}}}, ENV.get)
    assert exc.value.message == ("error while interpolating services.web.ports[1]: "
                                 "required variable X is missing a value: no")


def test_env_file_syntax() -> None:
    text = """
# a comment
export A=1
B = two words  # trailing comment
C='single $A literal'
D="double\\nline $A"
E=${A}-${MISSING:-m}
F
G="multi
line"
H=a#b
"""
    values = parse_env_file(text, ".env", chain_lookup({"OUTER": "o"}))
    assert values == {"A": "1", "B": "two words", "C": "single $A literal", "D": "double\nline 1", "E": "1-m",
                      "F": None, "G": "multi\nline", "H": "a#b"}


def test_env_file_bad_lines() -> None:
    with pytest.raises(Exception) as exc:
        parse_env_file("BAD KEY=1\n", "/p/.env")
    assert "/p/.env" in str(exc.value)
    with pytest.raises(Exception):
        parse_env_file('A="unterminated\n', "/p/.env")
