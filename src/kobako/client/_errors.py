"""Errors the client raises (the CLI maps them to messages and exit codes)."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the client's errors."""


class DaemonError(ClientError):
    """The daemon answered with a status ≥ 400; ``message`` is its ``{"message"}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __repr__(self) -> str:
        return f"DaemonError({self.status}, {self.message!r})"


class DaemonUnreachable(ClientError):
    """No daemon answers at ``host`` (missing socket, refused, or permission denied)."""

    def __init__(self, host: str, reason: str | None = None) -> None:
        if reason == "permission":
            message = (f"permission denied while trying to connect to the kobako daemon socket at {host}")
        else:
            message = f"Cannot connect to the kobako daemon at {host}. Is the kobako daemon running?"
        super().__init__(message)
        self.host = host
        self.reason = reason
