"""kobako rename CONTAINER NEW_NAME"""

from __future__ import annotations

import argparse
from typing import Any

from kobako.cli.commands._multi import for_each


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")


def run(args: argparse.Namespace, client: Any) -> int:
    name = args.new_name.strip()
    return for_each([args.container],
                    lambda c: client.json("POST", f"/containers/{c}/rename", query={"name": name}), echo=False)
