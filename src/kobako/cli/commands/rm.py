"""kobako rm [-f] [-v] CONTAINER..."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    query = {"force": int(args.force), "v": int(args.volumes)}
    return for_each(args.containers, lambda c: client.json("DELETE", f"/containers/{c}", query=query))
