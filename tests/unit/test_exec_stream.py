"""Detach keys: Docker's syntax and moby's escape proxy semantics (server and client side)."""

from __future__ import annotations

import pytest

from kobako.cli.commands._attach import _Watcher, detach_key_bytes
from kobako.cli.main import CommandError
from kobako.daemon.containers._stream import EscapeScanner, parse_detach_keys
from kobako.errors import InvalidArgument


@pytest.mark.parametrize(("keys", "expected"), [
    (None, b"\x10\x11"), ("", b"\x10\x11"), ("ctrl-p,ctrl-q", b"\x10\x11"), ("ctrl-a,x", b"\x01x"),
    ("ctrl-@,ctrl-_", b"\x00\x1f"), ("a,b,c", b"abc"), ("ctrl-\\", b"\x1c"), ("DEL", b"\x7f"),
])
def test_parse_detach_keys(keys: str | None, expected: bytes) -> None:
    assert parse_detach_keys(keys) == expected
    assert detach_key_bytes(keys) == expected


@pytest.mark.parametrize("keys", ["ctrl-", "ctrl-pp", "foo", "ctrl-p,,"])
def test_bad_detach_keys(keys: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid detach keys"):
        parse_detach_keys(keys)
    with pytest.raises(CommandError):
        detach_key_bytes(keys)


def test_scanner_passes_through_and_detects() -> None:
    s = EscapeScanner(b"\x10\x11")
    assert s.feed(b"hello") == (b"hello", False)
    assert s.feed(b"a\x10") == (b"a", False)  # held back: maybe the start of the sequence
    assert s.feed(b"b") == (b"\x10b", False)  # not: flushed with the next byte
    assert s.feed(b"\x10\x10") == (b"\x10", False)  # the second one may start it again
    assert s.feed(b"\x11rest") == (b"", True)
    s = EscapeScanner(b"\x01x")
    assert s.feed(b"ls\x01") == (b"ls", False)
    assert s.feed(b"x") == (b"", True)


def test_client_watcher_sees_split_sequences() -> None:
    w = _Watcher(b"\x10\x11")
    w.feed(b"abc\x10")
    assert not w.seen
    w.feed(b"\x11")
    assert w.seen
    w = _Watcher(b"\x10\x11")
    w.feed(b"\x10x\x11")
    assert not w.seen
