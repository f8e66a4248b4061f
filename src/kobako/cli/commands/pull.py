"""kobako pull [-q] [--platform P] NAME[:TAG|@DIGEST]

Progress as docker shows it: a line per layer, redrawn in place with a bar on a terminal,
plain lines otherwise.
"""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.commands.login import registry_auth_header
from kobako.cli.main import CommandError
from kobako.client import stream_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

BAR = 50


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n}"


def bar(current: int, total: int) -> str:
    """``[=====>      ]  1.2MB/3.4MB`` (docker's jsonmessage progress bar)."""
    if total <= 0:
        return _size(current)
    filled = min(BAR, BAR * current // total)
    arrow = ">" if filled < BAR else ""
    return f"[{'=' * max(filled - (1 if arrow else 0), 0)}{arrow}{' ' * (BAR - filled)}] {_size(current):>8}/{_size(total)}"


def split_domain(name: str) -> str:
    """The registry domain of a name, as reference normalisation decides it."""
    first, sep, _ = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


class Progress:
    """Render JSON progress objects to ``out``; returns the error message if one arrives."""

    def __init__(self, out: IO[str], tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.ids: list[str] = []

    def line(self, obj: dict[str, Any]) -> str:
        text = str(obj.get("status", ""))
        detail = obj.get("progressDetail") or {}
        if self.tty and detail.get("current") is not None:
            text += " " + bar(int(detail.get("current", 0)), int(detail.get("total") or 0))
        ident = obj.get("id")
        return f"{ident}: {text}" if ident else text

    def show(self, obj: dict[str, Any]) -> None:
        ident = obj.get("id")
        if not self.tty:
            if obj.get("status") in ("Downloading", "Pushing", "Extracting") and (obj.get("progressDetail") or {}):
                return
            self.out.write(self.line(obj) + "\n")
            self.out.flush()
            return
        text = self.line(obj)
        if ident and ident in self.ids:
            up = len(self.ids) - self.ids.index(ident)
            self.out.write(f"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r")
        else:
            if ident:
                self.ids.append(ident)
            else:
                self.ids.clear()  # a line without id ends the layer block
            self.out.write(f"\x1b[2K\r{text}\n")
        self.out.flush()


def follow(stream: Any, quiet: bool) -> list[dict[str, Any]]:
    """Show a progress stream; raise CommandError for an ``error`` object; return every object."""
    progress = Progress(sys.stdout, sys.stdout.isatty())
    seen = []
    for obj in stream:
        message = stream_error(obj)
        if message is not None:
            raise CommandError(message)
        seen.append(obj)
        if not quiet and (obj.get("status") or obj.get("id")):
            progress.show(obj)
    return seen


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("-a", "--all-tags", action="store_true", help=_args.SUPPRESS)
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")


def run(args: _args.Namespace, client: Any) -> int:
    name, tag = args.name, ""
    if "@" in name:
        name, _, tag = name.partition("@")
    else:
        head, sep, tail = name.rpartition(":")
        if sep and "/" not in tail:
            name, tag = head, tail
    query: dict[str, Any] = {"fromImage": name, "tag": tag or "latest"}
    if args.platform:
        query["platform"] = args.platform
    headers = {"X-Registry-Auth": registry_auth_header(split_domain(name))}
    follow(client.jsonlines("POST", "/images/create", query=query, headers=headers), args.quiet)
    if args.quiet:
        print(args.name if (":" in args.name.rsplit("/", 1)[-1] or "@" in args.name) else f"{args.name}:latest")
    return 0
