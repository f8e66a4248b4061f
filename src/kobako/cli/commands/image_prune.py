"""kobako image prune [-a] [-f] [--filter until=|label=|label!=]

Dangling images (``-a``: every image no container uses) go, with their layers and the content
blobs nothing else uses; docker's report: the deleted images, then the space reclaimed.
"""

from __future__ import annotations

import json
import sys
from typing import Any

WARNING = "WARNING! This will remove all dangling images."
WARNING_ALL = "WARNING! This will remove all images without at least one container associated to them."


def configure(p: Any) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")


def run(args: Any, client: Any) -> int:
    from kobako.units import human_size

    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    filters["dangling"] = ["false" if args.all else "true"]
    if not args.force:
        sys.stdout.write(f"{WARNING_ALL if args.all else WARNING}\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    report = client.json("POST", "/images/prune", query={"filters": json.dumps(filters)}) or {}
    deleted = report.get("ImagesDeleted") or []
    if deleted:
        lines = [f"untagged: {r['Untagged']}" if "Untagged" in r else f"deleted: {r['Deleted']}" for r in deleted]
        print("Deleted Images:\n" + "\n".join(lines) + "\n")
    print("Total reclaimed space:", human_size(int(report.get("SpaceReclaimed") or 0)))
    return 0
