"""kobako rename CONTAINER NEW_NAME"""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def run(args: _args.Namespace, client: Any) -> int:
    name = args.new_name.strip()
    return for_each([args.container],
                    lambda c: client.json("POST", f"/containers/{c}/rename", query={"name": name}), echo=False)
