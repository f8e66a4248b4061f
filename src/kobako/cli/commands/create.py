"""kobako create: create a container without starting it; prints its ID."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._opts import configure_create, create_container

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ADD_HELP = False


def configure(p: _args.ArgumentParser) -> None:
    configure_create(p)


def run(args: _args.Namespace, client: Any) -> int:
    print(create_container(client, args))
    return 0
