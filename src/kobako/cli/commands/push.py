"""kobako push [-q] NAME[:TAG]"""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands.login import registry_auth_header
from kobako.cli.commands.pull import follow, split_domain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.add_argument("name", metavar="NAME[:TAG]")


def run(args: _args.Namespace, client: Any) -> int:
    name, tag = args.name, ""
    head, sep, tail = name.rpartition(":")
    if sep and "/" not in tail:
        name, tag = head, tail
    headers = {"X-Registry-Auth": registry_auth_header(split_domain(name))}
    seen = follow(client.jsonlines("POST", f"/images/{name}/push", query={"tag": tag or None}, headers=headers),
                  args.quiet)
    if args.quiet:
        print(f"{name}:{tag or 'latest'}")
    return 0
