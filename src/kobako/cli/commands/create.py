"""kobako create: create a container without starting it; prints its ID."""

from __future__ import annotations

import argparse
from typing import Any

from kobako.cli.commands._opts import configure_create, create_container

ADD_HELP = False


def configure(p: argparse.ArgumentParser) -> None:
    configure_create(p)


def run(args: argparse.Namespace, client: Any) -> int:
    print(create_container(client, args))
    return 0
