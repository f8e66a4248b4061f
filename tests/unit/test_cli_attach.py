"""The attach helpers' signal handling (done with _signal, not signal, on the CLI's fast path)."""

from __future__ import annotations

import os
import signal

from kobako.cli.commands._attach import PROXIED_SIGNALS, proxy_signals


def test_proxied_signals_reach_kill_by_name_and_undo_restores() -> None:
    before = {name: signal.getsignal(getattr(signal, name)) for name in PROXIED_SIGNALS}
    sent: list[str] = []
    undo = proxy_signals(sent.append)
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)  # forwarded, not a KeyboardInterrupt here
    finally:
        undo()
    assert sent == ["SIGUSR1", "SIGTERM", "SIGINT"]
    assert {name: signal.getsignal(getattr(signal, name)) for name in PROXIED_SIGNALS} == before


def test_a_failing_kill_does_not_escape_the_handler() -> None:
    def kill(_name: str) -> None:
        raise ConnectionRefusedError("the container is gone")

    undo = proxy_signals(kill)
    try:
        os.kill(os.getpid(), signal.SIGUSR2)
    finally:
        undo()
