"""kobako inspect [-f FORMAT] [--type container|image|volume|network] NAME...  (docker's lookup order)"""

from __future__ import annotations

import sys

from kobako.cli import _args
from kobako.cli._format import render

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a Go template")
    p.add_argument("--type", choices=["container", "image", "volume", "network"], help="Only inspect objects of this type")
    p.add_argument("-s", "--size", action="store_true")
    p.add_argument("names", nargs="+", metavar="NAME")


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.client import DaemonError

    found: list[Any] = []
    failed = 0
    kinds = [args.type] if args.type else ["container", "image", "volume", "network"]
    for name in args.names:
        obj = None
        for kind in kinds:
            path = {"container": f"/containers/{name}/json", "image": f"/images/{name}/json",
                    "volume": f"/volumes/{name}", "network": f"/networks/{name}"}[kind]
            query = {"size": 1} if args.size and kind == "container" else None
            try:
                obj = client.json("GET", path, query=query)
                break
            except DaemonError as exc:
                if exc.status != 404:
                    raise
        if obj is None:
            print(f"Error: No such object: {name}", file=sys.stderr)
            failed += 1
            continue
        found.append(obj)
    if args.format:
        for obj in found:
            print(render(args.format, obj))
    else:
        import json  # indent: not what client._jsonc does

        print(json.dumps(found, indent=4))
    return 1 if failed else 0
