"""kobako rmi [-f] IMAGE..."""

from __future__ import annotations

import sys

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.add_argument("--no-prune", action="store_true", help="Do not delete untagged parents")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.client import DaemonError

    failed = 0
    for name in args.images:
        try:
            result = client.json("DELETE", f"/images/{name}",
                                 query={"force": int(args.force), "noprune": int(args.no_prune)})
        except DaemonError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        for item in result or []:
            for k, v in item.items():
                print(f"{k}: {v}")
    return 1 if failed else 0
