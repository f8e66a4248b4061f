"""kobako diff CONTAINER: files changed in the container's filesystem (C, A, D)."""

from __future__ import annotations

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = {0: "C", 1: "A", 2: "D"}


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("container")


def run(args: _args.Namespace, client: Any) -> int:
    for change in client.json("GET", f"/containers/{args.container}/changes") or []:
        print(f"{KINDS.get(change['Kind'], '?')} {change['Path']}")
    return 0
