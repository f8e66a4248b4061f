"""kobako wait CONTAINER...: prints each exit code."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each
from kobako.client._jsonc import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    def wait(c: str) -> None:
        body = b"".join(client.stream("POST", f"/containers/{c}/wait"))
        print(loads(body)["StatusCode"])

    return for_each(args.containers, wait, echo=False)
