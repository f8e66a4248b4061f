"""kobako container prune [-f] [--filter until=|label=]"""

from __future__ import annotations

import json
import sys

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

WARNING = "WARNING! This will remove all stopped containers."


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")


def confirm(message: str) -> bool:
    sys.stdout.write(f"{message}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands.stats import human_size

    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    if not args.force and not confirm(WARNING):
        return 0
    query = {"filters": json.dumps(filters)} if filters else None
    report = client.json("POST", "/containers/prune", query=query) or {}
    deleted = report.get("ContainersDeleted") or []
    if deleted:
        print("Deleted Containers:\n" + "".join(cid + "\n" for cid in deleted))
    print("Total reclaimed space:", human_size(int(report.get("SpaceReclaimed") or 0)))
    return 0
