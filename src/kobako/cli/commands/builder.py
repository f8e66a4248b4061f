"""kobako builder prune [-f]   (like docker builder prune: drop the build cache)"""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli._format import human_size
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="COMMAND")
    prune = sub.add_parser("prune", help="Remove build cache")
    prune.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    prune.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache")


def run(args: _args.Namespace, client: Any) -> int:
    if args.action != "prune":
        raise CommandError("Usage:  kobako builder prune [-f]", 1)
    res = client.json("POST", "/build/prune") or {}
    deleted = res.get("CachesDeleted") or []
    if deleted:
        print("Deleted build cache objects:")
        for key in deleted:
            print(key.removeprefix("sha256:")[:25])
        print()
    print(f"Total reclaimed space: {human_size(res.get('SpaceReclaimed', 0))}")
    return 0
