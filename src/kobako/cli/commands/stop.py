"""kobako stop [-t N] [-s SIG] CONTAINER..."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-t", "--time", "--timeout", dest="time", type=int, help="Seconds to wait before killing it")
    p.add_argument("-s", "--signal", help="Signal to send to the container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    query: dict[str, Any] = {}
    if args.time is not None:
        query["t"] = args.time
    if args.signal:
        query["signal"] = args.signal
    return for_each(args.containers, lambda c: client.json("POST", f"/containers/{c}/stop", query=query))
