"""kobako port CONTAINER [PRIVATE_PORT[/PROTO]]"""

from __future__ import annotations

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def _addr(binding: dict[str, Any]) -> str:
    ip, port = binding.get("HostIp") or "", binding.get("HostPort") or ""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def _key(port: str) -> tuple[int, str]:
    num, _, proto = port.partition("/")
    return (int(num) if num.isdigit() else 0, proto)


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.main import CommandError

    info = client.json("GET", f"/containers/{args.container}/json")
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if args.port:
        num, _, proto = args.port.partition("/")
        key = f"{num}/{proto or 'tcp'}"
        bindings = ports.get(key)
        if bindings:
            for b in bindings:
                print(_addr(b))
            return 0
        raise CommandError(f"Error: No public port '{args.port}' published for {args.container}")
    for key in sorted(ports, key=_key):
        for b in ports[key] or []:
            print(f"{key} -> {_addr(b)}")
    return 0
