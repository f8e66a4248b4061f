"""kobako system prune [-a] [--volumes] [-f] [--filter until=|label=]

docker's order and report: stopped containers, unused networks, (with --volumes) unused anonymous
volumes, dangling images (-a: every image no container uses), build cache; then the total reclaimed.
"""

from __future__ import annotations

import json

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<key>=<value>')")


def warning(all_images: bool, volumes: bool) -> str:
    items = ["all stopped containers", "all networks not used by at least one container"]
    if volumes:
        items.append("all anonymous volumes not used by at least one container")
    items.append("all images without at least one container associated to them" if all_images
                 else "all dangling images")
    items.append("all build cache" if all_images else "unused build cache")
    return "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands.container_prune import confirm
    from kobako.cli.commands.stats import human_size

    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    if not args.force and not confirm(warning(args.all, args.volumes)):
        return 0

    def post(path: str, extra: dict[str, list[str]] | None = None) -> dict[str, Any]:
        f = {**filters, **(extra or {})}
        return client.json("POST", path, query={"filters": json.dumps(f)} if f else None) or {}

    reclaimed = 0
    report = post("/containers/prune")
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    if report.get("ContainersDeleted"):
        print("Deleted Containers:\n" + "".join(c + "\n" for c in report["ContainersDeleted"]))
    report = post("/networks/prune")
    if report.get("NetworksDeleted"):
        print("Deleted Networks:\n" + "".join(n + "\n" for n in report["NetworksDeleted"]))
    if args.volumes:
        report = post("/volumes/prune")
        reclaimed += int(report.get("SpaceReclaimed") or 0)
        if report.get("VolumesDeleted"):
            print("Deleted Volumes:\n" + "".join(v + "\n" for v in report["VolumesDeleted"]))
    report = post("/images/prune", {"dangling": ["false" if args.all else "true"]})
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    if report.get("ImagesDeleted"):
        lines = [f"untagged: {r['Untagged']}" if "Untagged" in r else f"deleted: {r['Deleted']}"
                 for r in report["ImagesDeleted"]]
        print("Deleted Images:\n" + "\n".join(lines) + "\n")
    report = client.json("POST", "/build/prune", query={"all": "1"} if args.all else None) or {}
    reclaimed += int(report.get("SpaceReclaimed") or 0)
    if report.get("CachesDeleted"):
        print("Deleted build cache objects:\n" + "".join(k.removeprefix("sha256:")[:25] + "\n"
                                                          for k in report["CachesDeleted"]))
    print("Total reclaimed space:", human_size(reclaimed))
    return 0
