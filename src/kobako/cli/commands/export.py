"""kobako export [-o FILE] CONTAINER: the container's filesystem as a tar archive."""

from __future__ import annotations

import os
import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    if not args.output and sys.stdout.isatty():
        raise CommandError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if args.output:
        parent = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(parent):
            raise CommandError(f"failed to export container: invalid output path: directory \"{parent}\" does not exist")
    chunks = client.stream("GET", f"/containers/{args.container}/export")
    if not args.output:
        out = sys.stdout.buffer
        for data in chunks:
            out.write(data)
        out.flush()
        return 0
    tmp = args.output + ".kobako-tmp"
    try:
        with open(tmp, "wb") as f:
            for data in chunks:
                f.write(data)
        os.replace(tmp, args.output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return 0
