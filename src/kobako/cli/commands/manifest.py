"""kobako manifest inspect NAME[:TAG|@DIGEST]: the manifest or index a registry holds."""

from __future__ import annotations

import json

from kobako.cli import _args
from kobako.cli.commands.login import registry_auth_header
from kobako.cli.commands.pull import split_domain
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="COMMAND")
    i = sub.add_parser("inspect", help="Display an image manifest, or manifest list")
    i.add_argument("--insecure", action="store_true", help="(the daemon's --insecure-registry decides)")
    i.add_argument("-v", "--verbose", action="store_true", help="Output the descriptor too")
    i.add_argument("name")


def run(args: _args.Namespace, client: Any) -> int:
    if args.action != "inspect":
        raise CommandError("Usage: kobako manifest inspect NAME[:TAG|@DIGEST]")
    headers = {"X-Registry-Auth": registry_auth_header(split_domain(args.name))}
    info = client.json("GET", f"/distribution/{args.name}/json", query={"manifest": 1}, headers=headers)
    if args.verbose:
        out = {"Ref": args.name, "Descriptor": info.get("Descriptor"), "Manifest": info.get("Manifest")}
        print(json.dumps(out, indent=8))
    else:
        print(json.dumps(info.get("Manifest"), indent=3))
    return 0
