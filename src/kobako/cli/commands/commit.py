"""kobako commit [-a AUTHOR] [-m MSG] [-c CHANGE] [-p=false] CONTAINER [REPOSITORY[:TAG]]"""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "t", "true"):
        return True
    if v in ("0", "f", "false"):
        return False
    raise _args.ArgumentTypeError(f'invalid argument "{value}" for "-p, --pause" flag: strconv.ParseBool: '
                                     f'parsing "{value}": invalid syntax')


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--author", default="", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created image")
    p.add_argument("-m", "--message", default="", help="Commit message")
    p.add_argument("-p", "--pause", nargs="?", const=True, default=True, type=_bool,
                   help="Pause container during commit (default true)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")


def split_reference(ref: str) -> tuple[str, str]:
    """``repo[:tag]`` → (repo, tag); a ``:`` inside the registry's host:port is not a tag."""
    head, sep, tail = ref.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return ref, ""


def run(args: _args.Namespace, client: Any) -> int:
    query: dict[str, Any] = {"container": args.container, "author": args.author, "comment": args.message,
                             "pause": bool(args.pause), "changes": args.change}
    if args.reference:
        if "@" in args.reference:
            raise CommandError("refusing to create a tag with a digest reference")
        repo, tag = split_reference(args.reference)
        query["repo"] = repo
        if tag:
            query["tag"] = tag
    res = client.json("POST", "/commit", query=query)
    print(res["Id"])
    return 0
