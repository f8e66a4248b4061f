"""kobako wait CONTAINER...: prints each exit code."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kobako.cli.commands._multi import for_each


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: argparse.Namespace, client: Any) -> int:
    def wait(c: str) -> None:
        body = b"".join(client.stream("POST", f"/containers/{c}/wait"))
        print(json.loads(body)["StatusCode"])

    return for_each(args.containers, wait, echo=False)
