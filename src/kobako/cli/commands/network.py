"""kobako network SUBCOMMAND: create, ls, inspect, rm, prune, connect, disconnect (docker's output shapes)."""

from __future__ import annotations

import json

from kobako.cli import _args
from kobako.cli.main import CommandError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SUBCOMMANDS = ("create", "ls", "list", "inspect", "rm", "remove", "prune", "connect", "disconnect")
PRUNE_WARNING = "WARNING! This will remove all custom networks not used by at least one container."


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("subcommand", choices=SUBCOMMANDS)
    p.add_argument("rest", nargs=_args.REMAINDER)


def run(args: _args.Namespace, client: Any) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(args.subcommand, args.subcommand)
    p = _args.ArgumentParser(prog=f"kobako network {sub}")
    configure_sub, fn = _SUBS[sub]
    configure_sub(p)
    code: int = fn(p.parse_args(args.rest), client)
    return code


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def _filters(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in items:
        k, sep, v = f.partition("=")
        if not sep:
            raise CommandError(f'invalid argument "{f}" for "-f, --filter" flag: bad format of filter '
                               "(expected name=value)", 125)
        out.setdefault(k, []).append(v)
    return out


def _configure_create(p: _args.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("-d", "--driver", default="bridge", help="Driver to manage the Network")
    p.add_argument("--subnet", action="append", default=[], help="Subnet in CIDR format")
    p.add_argument("--gateway", action="append", default=[], help="IPv4 Gateway for the master subnet")
    p.add_argument("--ip-range", action="append", default=[], help="Allocate container ip from a sub-range")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument("--attachable", action="store_true", help="Enable manual container attachment")
    p.add_argument("--label", action="append", default=[], help="Set metadata on a network")
    p.add_argument("-o", "--opt", action="append", default=[], help="Set driver specific options")


def create(args: _args.Namespace, client: Any) -> int:
    if len(args.gateway) > len(args.subnet):
        raise CommandError("every ip-range or gateway must have a corresponding subnet", 1)
    config = [{"Subnet": s, **({"Gateway": args.gateway[i]} if i < len(args.gateway) else {})}
              for i, s in enumerate(args.subnet)]
    body = {"Name": args.name, "Driver": args.driver, "Internal": args.internal, "Attachable": args.attachable,
            "IPAM": {"Driver": "default", "Config": config, "Options": {}}, "Options": _pairs(args.opt),
            "Labels": _pairs(args.label)}
    print(client.json("POST", "/networks/create", body=body)["Id"])
    return 0


def _configure_ls(p: _args.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    p.add_argument("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'driver=bridge')")
    p.add_argument("--format", help="Format output using a custom template")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")


def ls(args: _args.Namespace, client: Any) -> int:
    from kobako.cli._format import format_rows

    filters = _filters(args.filter)
    nets = client.json("GET", "/networks", query={"filters": json.dumps(filters)} if filters else None) or []
    nets = sorted(nets, key=lambda n: n["Name"])
    if args.quiet:
        for n in nets:
            print(n["Id"] if args.no_trunc else n["Id"][:12])
        return 0
    rows = [{"ID": n["Id"] if args.no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n.get("Scope", "local"), "Internal": str(n.get("Internal", False)).lower(),
             "IPv6": str(n.get("EnableIPv6", False)).lower(), "CreatedAt": n.get("Created", ""),
             "Labels": ",".join(f"{k}={v}" for k, v in (n.get("Labels") or {}).items())} for n in nets]
    out = format_rows(args.format, rows, [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"),
                                          ("SCOPE", "Scope")])
    if out:
        print(out)
    return 0


def _configure_inspect(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--format", help="Format output using a custom template")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("names", nargs="+", metavar="NETWORK")


def inspect(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands._multi import inspect_each

    return inspect_each(client, args.names, lambda n: f"/networks/{n}", args.format,
                        lambda n, msg: f"Error response from daemon: {msg}")


def _configure_rm(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not error if the network does not exist")
    p.add_argument("names", nargs="+", metavar="NETWORK")


def rm(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands._multi import for_each

    return for_each(args.names, lambda n: client.json("DELETE", f"/networks/{n}"), ignore_missing=args.force)


def _configure_prune(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values (e.g. 'until=<timestamp>')")


def prune(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.commands.container_prune import confirm

    if not args.force and not confirm(PRUNE_WARNING):
        return 0
    filters = _filters(args.filter)
    report = client.json("POST", "/networks/prune", query={"filters": json.dumps(filters)} if filters else None)
    deleted = (report or {}).get("NetworksDeleted") or []
    if deleted:
        print("Deleted Networks:\n" + "".join(n + "\n" for n in deleted), end="")
    return 0


def _configure_connect(p: _args.ArgumentParser) -> None:
    p.add_argument("--alias", action="append", default=[], help="Add network-scoped alias for the container")
    p.add_argument("--ip", help="IPv4 address (e.g., 172.30.100.104)")
    p.add_argument("network")
    p.add_argument("container")


def connect(args: _args.Namespace, client: Any) -> int:
    endpoint: dict[str, Any] = {}
    if args.alias:
        endpoint["Aliases"] = list(args.alias)
    if args.ip:
        endpoint["IPAMConfig"] = {"IPv4Address": args.ip}
    client.json("POST", f"/networks/{args.network}/connect",
                   body={"Container": args.container, "EndpointConfig": endpoint or None})
    return 0


def _configure_disconnect(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")
    p.add_argument("network")
    p.add_argument("container")


def disconnect(args: _args.Namespace, client: Any) -> int:
    client.json("POST", f"/networks/{args.network}/disconnect",
                   body={"Container": args.container, "Force": args.force})
    return 0


_SUBS = {"create": (_configure_create, create), "ls": (_configure_ls, ls), "inspect": (_configure_inspect, inspect),
         "rm": (_configure_rm, rm), "prune": (_configure_prune, prune), "connect": (_configure_connect, connect),
         "disconnect": (_configure_disconnect, disconnect)}
