"""kobako start [-a] [-i] CONTAINER..."""

from __future__ import annotations

import argparse
from typing import Any

from kobako.cli.commands._multi import for_each


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace, client: Any) -> int:
    if args.attach or args.interactive:
        from kobako.cli.commands.run import attach_and_start

        info = client.json("GET", f"/containers/{args.containers[0]}/json")
        ns = argparse.Namespace(interactive=args.interactive, tty=bool(info["Config"].get("Tty")), rm=False)
        return attach_and_start(client, info["Id"], ns)
    return for_each(args.containers, lambda c: client.json("POST", f"/containers/{c}/start"))
