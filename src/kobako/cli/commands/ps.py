"""kobako ps [-a] [-q] [--no-trunc] [--format T] [-f FILTER] [-n N] [-l]"""

from __future__ import annotations

import time

from kobako.cli._format import format_rows, human_duration, truncate
from kobako.client._jsonc import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from kobako.cli import _args

COLUMNS = [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
           ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names")]


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--format", help="Format output using a Go template, 'table' or 'json'")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions")
    p.add_argument("-n", "--last", type=int, default=-1, help="Show n last created containers")
    p.add_argument("-l", "--latest", action="store_true", help="Show the latest created container")
    p.add_argument("-s", "--size", action="store_true", help="Display total file sizes")


def row(c: dict[str, Any], no_trunc: bool) -> dict[str, Any]:
    cmd = c.get("Command", "")
    return {
        "ID": c["Id"] if no_trunc else c["Id"][:12],
        "Image": c.get("Image", ""),
        "Command": dumps(cmd if no_trunc else truncate(cmd, 20), ensure_ascii=False),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(c.get("Created", 0))),
        "RunningFor": human_duration(time.time() - c.get("Created", 0)) + " ago",
        "Ports": _ports(c.get("Ports") or []),
        "State": c.get("State", ""),
        "Status": c.get("Status", ""),
        "Names": ",".join(n.lstrip("/") for n in c.get("Names", [])),
        "Labels": ",".join(f"{k}={v}" for k, v in (c.get("Labels") or {}).items()),
        "Mounts": mounts_text(c.get("Mounts") or [], no_trunc),
        "Networks": ",".join(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
        "Size": size_text(c) if "SizeRw" in c else "",
    }


def _ports(ports: list[dict[str, Any]]) -> str:
    if not ports:
        return ""
    from kobako.cli.commands._netopt import ports_text

    return ports_text(ports)


def mounts_text(mounts: list[dict[str, Any]], no_trunc: bool) -> str:
    """docker's ``{{.Mounts}}``: each mount's volume name (or source), cut to 15 characters with an ellipsis."""
    names = []
    for m in mounts:
        name = m.get("Name") or m.get("Source") or ""
        if not no_trunc and len(name) > 15:
            name = name[:14] + "…"
        names.append(name)
    return ",".join(names)


def size_text(c: dict[str, Any]) -> str:
    """docker's SIZE column: the writable layer, and the whole rootfs as "virtual"."""
    from kobako.cli.commands.stats import human_size

    rw = human_size(int(c.get("SizeRw") or 0), 3)
    root = int(c.get("SizeRootFs") or 0)
    return f"{rw} (virtual {human_size(root, 3)})" if root > 0 else rw


def run(args: _args.Namespace, client: Any) -> int:
    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    query: dict[str, Any] = {"all": int(args.all)}
    if args.size:
        query["size"] = 1
    if filters:
        query["filters"] = dumps(filters)
    limit = 1 if args.latest else args.last
    if limit > 0:
        query["limit"] = limit
    items = client.json("GET", "/containers/json", query=query)
    if args.quiet:
        for c in items:
            print(c["Id"] if args.no_trunc else c["Id"][:12])
        return 0
    columns = COLUMNS + [("SIZE", "Size")] if args.size and not args.format else COLUMNS
    out = format_rows(args.format, [row(c, args.no_trunc) for c in items], columns)
    if out:
        print(out)
    return 0
