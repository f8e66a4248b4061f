"""The one error compose raises for bad input: its message is shown as is, exit code 1."""

from __future__ import annotations


class ComposeError(Exception):
    """A user-facing compose failure (bad file, undefined reference, daemon refusal in context)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
