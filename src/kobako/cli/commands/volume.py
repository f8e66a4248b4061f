"""kobako volume SUBCOMMAND: create, ls, inspect, rm, prune (docker's output shapes)."""

from __future__ import annotations

import json

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUBCOMMANDS = ("create", "ls", "list", "inspect", "rm", "remove", "prune")
PRUNE_WARNING = "WARNING! This will remove anonymous local volumes not used by at least one container."
PRUNE_ALL_WARNING = "WARNING! This will remove all local volumes not used by at least one container."


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("subcommand", choices=SUBCOMMANDS)
    p.add_argument("rest", nargs=_args.REMAINDER)


def run(args: _args.Namespace, client: Any) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(args.subcommand, args.subcommand)
    p = _args.ArgumentParser(prog=f"kobako volume {sub}")
    configure_sub = {"create": _configure_create, "ls": _configure_ls, "inspect": _configure_inspect,
                     "rm": _configure_rm, "prune": _configure_prune}[sub]
    configure_sub(p)
    sub_args = p.parse_args(args.rest)
    code: int = {"create": create, "ls": ls, "inspect": inspect, "rm": rm, "prune": prune}[sub](sub_args, client)
    return code


def _pairs(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def _filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in items:
        k, sep, v = f.partition("=")
        if not sep:
            raise CommandError(f"invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter "
                               "(expected name=value)", 125)
        out.setdefault(k, []).append(v)
    return out


# -- create ---------------------------------------------------------------------------------------
def _configure_create(p: _args.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default="")
    p.add_argument("--name", dest="name_flag", default="", help="Specify volume name")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")
    p.add_argument("--label", action="append", default=[], help="Set metadata for a volume")


def create(args: _args.Namespace, client: Any) -> int:
    if args.name and args.name_flag and args.name != args.name_flag:
        raise CommandError("conflicting options: cannot specify a volume-name through both --name and as a "
                           "positional arg", 1)
    body = {"Name": args.name or args.name_flag, "Driver": args.driver, "DriverOpts": _pairs(args.opt),
            "Labels": _pairs(args.label)}
    vol = client.json("POST", "/volumes/create", body=body)
    print(vol["Name"])
    return 0


# -- ls -------------------------------------------------------------------------------------------
def _configure_ls(p: _args.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'dangling=true')")
    p.add_argument("--format", help="Format output using a custom template")


def ls(args: _args.Namespace, client: Any) -> int:
    from kobako.cli._format import format_rows

    filters = _filters(args.filter)
    query = {"filters": json.dumps(filters)} if filters else None
    vols = sorted((client.json("GET", "/volumes", query=query) or {}).get("Volumes") or [],
                  key=lambda v: v["Name"])
    if args.quiet:
        for v in vols:
            print(v["Name"])
        return 0
    rows = [{"Driver": v.get("Driver", ""), "Name": v["Name"], "Mountpoint": v.get("Mountpoint", ""),
             "Scope": v.get("Scope", "local"), "CreatedAt": v.get("CreatedAt", ""),
             "Labels": ",".join(f"{k}={val}" for k, val in (v.get("Labels") or {}).items()),
             "Links": "N/A", "Size": "N/A"} for v in vols]
    out = format_rows(args.format, rows, [("DRIVER", "Driver"), ("VOLUME NAME", "Name")])
    if out:
        print(out)
    return 0


# -- inspect --------------------------------------------------------------------------------------
def _configure_inspect(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("names", nargs="+", metavar="VOLUME")


def inspect(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands._multi import inspect_each

    return inspect_each(client, args.names, lambda n: f"/volumes/{n}", args.format,
                        lambda n, msg: f"Error: No such volume: {n}")


# -- rm -------------------------------------------------------------------------------------------
def _configure_rm(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    p.add_argument("names", nargs="+", metavar="VOLUME")


def rm(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands._multi import for_each

    query = {"force": 1} if args.force else None
    return for_each(args.names, lambda n: client.json("DELETE", f"/volumes/{n}", query=query))


# -- prune ----------------------------------------------------------------------------------------
def _configure_prune(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'label=<label>')")


def prune(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands.container_prune import confirm
    from kobako.cli.commands.stats import human_size

    filters = _filters(args.filter)
    if args.all:
        filters["all"] = ["true"]
    if not args.force and not confirm(PRUNE_ALL_WARNING if args.all else PRUNE_WARNING):
        return 0
    query = {"filters": json.dumps(filters)} if filters else None
    report = client.json("POST", "/volumes/prune", query=query) or {}
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        print("Deleted Volumes:\n" + "".join(name + "\n" for name in deleted))
    print("Total reclaimed space:", human_size(int(report.get("SpaceReclaimed") or 0)))
    return 0
