"""kobako image SUBCOMMAND: bootstrap, ls, inspect, rm, import, tag."""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUB = {
    "ls": "kobako.cli.commands.images",
    "list": "kobako.cli.commands.images",
    "rm": "kobako.cli.commands.rmi",
    "remove": "kobako.cli.commands.rmi",
    "import": "kobako.cli.commands.import_",
    "tag": "kobako.cli.commands.tag",
    "inspect": "kobako.cli.commands.inspect",
    "save": "kobako.cli.commands.save",
    "load": "kobako.cli.commands.load",
    "prune": "kobako.cli.commands.image_prune",
}


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("subcommand", choices=["bootstrap", *SUB])
    p.add_argument("rest", nargs=_args.REMAINDER)


def run(args: _args.Namespace, client: Any) -> int:
    if args.subcommand == "bootstrap":
        return bootstrap(args.rest, client)
    import importlib

    module = importlib.import_module(SUB[args.subcommand])
    p = _args.ArgumentParser(prog=f"kobako image {args.subcommand}")
    module.configure(p)
    rest = list(args.rest)
    if args.subcommand == "inspect":
        rest = ["--type", "image", *rest]
    code: int = module.run(p.parse_args(rest), client)
    return code


def bootstrap(argv: list[str], client: Any) -> int:
    p = _args.ArgumentParser(prog="kobako image bootstrap",
                                description="Make a base image from the host's packages (busybox-static)")
    p.add_argument("name", choices=["busybox"])
    p.add_argument("-t", "--tag", default="", help="Name the image (default: busybox:latest)")
    p.add_argument("-q", "--quiet", action="store_true")
    args = p.parse_args(argv)
    image_id = ""
    for obj in client.jsonlines("POST", "/kobako/images/bootstrap", query={"name": args.name, "ref": args.tag}):
        if obj.get("error"):
            raise CommandError(f"Error response from daemon: {obj['error']}")
        if "aux" in obj:
            image_id = obj["aux"].get("ID", "")
        elif obj.get("status") and not args.quiet:
            print(obj["status"], file=sys.stderr)
    print(image_id)
    return 0
