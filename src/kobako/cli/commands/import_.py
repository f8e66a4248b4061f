"""kobako import [-c CHANGE] [-m MSG] FILE|- [REPOSITORY[:TAG]]  (like docker import)"""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the image")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("file", metavar="file|URL|-")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")


def run(args: _args.Namespace, client: Any) -> int:
    query: dict[str, Any] = {"fromSrc": "-", "message": args.message, "changes": args.change}
    if args.reference:
        repo, tag = args.reference, ""
        head, sep, tail = args.reference.rpartition(":")
        if sep and "/" not in tail:
            repo, tag = head, tail
        query["repo"] = repo
        if tag:
            query["tag"] = tag
    try:
        src = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise CommandError(f"open {args.file}: {(exc.strerror or str(exc)).lower()}") from None
    with src:
        for obj in client.jsonlines("POST", "/images/create", query=query, body=src,
                                    headers={"Content-Type": "application/x-tar"}):
            if obj.get("error"):
                raise CommandError(f"Error response from daemon: {obj['error']}")
            if obj.get("status"):
                print(obj["status"])
    return 0
