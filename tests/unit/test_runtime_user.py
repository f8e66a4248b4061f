from __future__ import annotations

import pytest

from kobako.errors import RuntimeFailure
from kobako.runtime import ExecUser, parse_user, resolve_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
broken line
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
"""
GROUP = """root:x:0:
staff:x:50:app,daemon
docker:x:999:app
nogroup:x:65534:
app:x:1000:
"""


@pytest.mark.parametrize(("spec", "expected"), [
    ("nobody", ("nobody", None)), ("1000", ("1000", None)), ("app:staff", ("app", "staff")),
    ("1000:50", ("1000", "50")),
])
def test_parse_user(spec: str, expected: tuple[str, str | None]) -> None:
    assert parse_user(spec) == expected


@pytest.mark.parametrize("spec", ["", ":", "app:", ":50"])
def test_parse_user_rejects(spec: str) -> None:
    with pytest.raises(RuntimeFailure):
        parse_user(spec)


def test_resolve_by_name_with_supplementary_groups() -> None:
    assert resolve_user("app", PASSWD, GROUP) == ExecUser(1000, 1000, (50, 999), "/home/app")


def test_resolve_nobody() -> None:
    assert resolve_user("nobody", PASSWD, GROUP) == ExecUser(65534, 65534, (), "/nonexistent")


def test_resolve_numeric_known_and_unknown() -> None:
    assert resolve_user("1000", PASSWD, GROUP).home == "/home/app"
    assert resolve_user("4242", PASSWD, GROUP) == ExecUser(4242, 0, (), "/")
    assert resolve_user("4242:7", PASSWD, GROUP) == ExecUser(4242, 7, (), "/")


def test_resolve_explicit_group_replaces_supplementary() -> None:
    assert resolve_user("app:nogroup", PASSWD, GROUP) == ExecUser(1000, 65534, (), "/home/app")


def test_unknown_user_message_is_dockers() -> None:
    with pytest.raises(RuntimeFailure, match="^unable to find user ghost: no matching entries in passwd file$"):
        resolve_user("ghost", PASSWD, GROUP)


def test_unknown_group_message() -> None:
    with pytest.raises(RuntimeFailure, match="^unable to find group ghosts: no matching entries in group file$"):
        resolve_user("app:ghosts", PASSWD, GROUP)


def test_empty_files() -> None:
    assert resolve_user("0", "", "") == ExecUser(0, 0, (), "/")
    with pytest.raises(RuntimeFailure):
        resolve_user("root", "", "")
