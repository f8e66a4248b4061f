"""kobako unpause CONTAINER..."""

from __future__ import annotations

import argparse
from typing import Any

from kobako.cli.commands._multi import for_each


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace, client: Any) -> int:
    return for_each(args.containers, lambda c: client.json("POST", f"/containers/{c}/unpause"))
