"""kobako load [-i FILE] [-q]  (like docker load): a docker-archive or an OCI image layout tar,
plain or compressed (gzip, zstd, xz, bzip2)."""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-i", "--input", default="", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")


def run(args: _args.Namespace, client: Any) -> int:
    if not args.input and sys.stdin.isatty():
        raise CommandError("requested load from stdin, but stdin is empty")
    try:
        src = open(args.input, "rb") if args.input else sys.stdin.buffer  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"open {args.input}: {(exc.strerror or str(exc)).lower()}") from None
    with src:
        for obj in client.jsonlines("POST", "/images/load", query={"quiet": "1" if args.quiet else "0"},
                                    body=src, headers={"Content-Type": "application/x-tar"}):
            if obj.get("error"):
                raise CommandError(f"Error response from daemon: {obj['error']}")
            if obj.get("stream"):  # docker prints "Loaded image: …" even with -q (it hides progress)
                sys.stdout.write(obj["stream"])
    sys.stdout.flush()
    return 0
