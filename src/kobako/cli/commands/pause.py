"""kobako pause CONTAINER..."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    return for_each(args.containers, lambda c: client.json("POST", f"/containers/{c}/pause"))
