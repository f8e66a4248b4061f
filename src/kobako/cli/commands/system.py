"""kobako system df [-v] [--format T] | system info | system events | system prune [-a] [--volumes]"""

from __future__ import annotations

import json
import time

from kobako.cli import _args
from kobako.cli._format import format_rows, table, truncate
from kobako.cli.commands.stats import human_size
from kobako.units import human_duration

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUBS = ["df", "info", "events", "prune"]


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("subcommand", choices=SUBS)
    p.add_argument("rest", nargs=_args.REMAINDER)


def _active(c: dict[str, Any]) -> bool:
    state = str(c.get("State", ""))
    return any(s in state for s in ("running", "paused", "restarting"))


def _pct(part: int, total: int) -> str:
    return f"{human_size(part)} ({part * 100 // total}%)" if total > 0 else human_size(part)


def df_rows(df: dict[str, Any]) -> list[dict[str, str]]:
    """docker/cli ``formatter/disk_usage.go``: one row per type, reclaimable with a percentage."""
    images = df.get("Images") or []
    total_layers = int(df.get("LayersSize") or 0)
    used = sum(i["Size"] - i["SharedSize"] for i in images
               if i.get("Containers", 0) and i.get("Size", -1) != -1 and i.get("SharedSize", -1) != -1)
    containers = df.get("Containers") or []
    csize = sum(int(c.get("SizeRw") or 0) for c in containers)
    creclaim = sum(int(c.get("SizeRw") or 0) for c in containers if not _active(c))
    volumes = df.get("Volumes") or []
    vsize = sum(int((v.get("UsageData") or {}).get("Size", 0) or 0) for v in volumes)
    vreclaim = sum(int((v.get("UsageData") or {}).get("Size", 0) or 0) for v in volumes
                   if (v.get("UsageData") or {}).get("RefCount", 0) == 0)
    cache = df.get("BuildCache") or []
    bsize = sum(int(b.get("Size", 0)) for b in cache if not b.get("Shared"))
    breclaim = sum(int(b.get("Size", 0)) for b in cache if not b.get("InUse") and not b.get("Shared"))
    return [
        {"Type": "Images", "TotalCount": str(len(images)),
         "Active": str(sum(1 for i in images if i.get("Containers", 0) > 0)),
         "Size": human_size(total_layers), "Reclaimable": _pct(total_layers - used, total_layers)},
        {"Type": "Containers", "TotalCount": str(len(containers)),
         "Active": str(sum(1 for c in containers if _active(c))),
         "Size": human_size(csize), "Reclaimable": _pct(creclaim, csize)},
        {"Type": "Local Volumes", "TotalCount": str(len(volumes)),
         "Active": str(sum(1 for v in volumes if (v.get("UsageData") or {}).get("RefCount", 0) > 0)),
         "Size": human_size(vsize), "Reclaimable": _pct(vreclaim, vsize)},
        {"Type": "Build Cache", "TotalCount": str(len(cache)),
         "Active": str(sum(1 for b in cache if b.get("InUse"))),
         "Size": human_size(bsize), "Reclaimable": human_size(breclaim)},
    ]


COLUMNS = [("TYPE", "Type"), ("TOTAL", "TotalCount"), ("ACTIVE", "Active"), ("SIZE", "Size"),
           ("RECLAIMABLE", "Reclaimable")]


def _ago(unix: float) -> str:
    return human_duration(time.time() - unix) + " ago"


def verbose(df: dict[str, Any]) -> str:
    out = ["Images space usage:", ""]
    rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE", "UNIQUE SIZE", "CONTAINERS"]]
    for i in df.get("Images") or []:
        tags = i.get("RepoTags") or ["<none>:<none>"]
        for t in tags:
            repo, _, tag = t.rpartition(":")
            shared = int(i.get("SharedSize", 0))
            rows.append([repo, tag, i["Id"].removeprefix("sha256:")[:12], _ago(i.get("Created", 0)),
                         human_size(i.get("Size", 0)), human_size(shared), human_size(i.get("Size", 0) - shared),
                         str(i.get("Containers", 0))])
    out += [table(rows), "", "Containers space usage:", ""]
    rows = [["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES"]]
    for c in df.get("Containers") or []:
        rows.append([c["Id"][:12], c.get("Image", ""), json.dumps(truncate(c.get("Command", ""), 20), ensure_ascii=False),
                     str(len(c.get("Mounts") or [])), human_size(c.get("SizeRw", 0)), _ago(c.get("Created", 0)),
                     c.get("Status", ""), ",".join(n.lstrip("/") for n in c.get("Names") or [])])
    out += [table(rows), "", "Local Volumes space usage:", ""]
    out += [table([["VOLUME NAME", "LINKS", "SIZE"]]), "", "Build cache usage: 0B", ""]
    out += [table([["CACHE ID", "CACHE TYPE", "SIZE", "CREATED", "LAST USED", "USAGE", "SHARED"]])]
    return "\n".join(out)


def run_df(argv: list[str], client: Any) -> int:
    p = _args.ArgumentParser(prog="kobako system df", description="Show kobako disk usage")
    p.add_argument("-v", "--verbose", action="store_true", help="Show detailed information on space usage")
    p.add_argument("--format", help="Format output using a custom template ('table', 'json' or a Go template)")
    args = p.parse_args(argv)
    df = client.json("GET", "/system/df")
    if args.verbose:
        print(verbose(df))
        return 0
    rows = df_rows(df)
    if args.format == "json" or (args.format and args.format.strip() == "{{json .}}"):
        print("\n".join(json.dumps(r, separators=(",", ":"), sort_keys=True) for r in rows))
    else:
        print(format_rows(args.format, rows, COLUMNS))
    return 0


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.main import build_parser, load_command

    if args.subcommand == "df":
        return run_df(list(args.rest), client)
    if args.subcommand == "prune":
        from kobako.cli.commands import system_prune as module
    else:
        module = load_command(args.subcommand)  # type: ignore[assignment]
    parsed = build_parser(f"system {args.subcommand}", module).parse_args(list(args.rest))
    code: int = module.run(parsed, client)  # type: ignore[attr-defined]
    return code
