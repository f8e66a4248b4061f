"""kobako start [-a] [-i] [--detach-keys K] CONTAINER..."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands._multi import for_each

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals")
    p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")
    p.add_argument("--detach-keys", help="Override the key sequence for detaching a container")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")


def run(args: _args.Namespace, client: Any) -> int:
    if args.attach or args.interactive:
        from kobako.cli.commands.run import attach_and_start
        from kobako.cli.main import CommandError

        if len(args.containers) > 1:
            raise CommandError("you cannot start and attach multiple containers at once", 1)
        info = client.json("GET", f"/containers/{args.containers[0]}/json")
        cfg = info.get("Config") or {}
        ns = _args.Namespace(interactive=bool(args.interactive and cfg.get("OpenStdin")),
                                tty=bool(cfg.get("Tty")), rm=False, detach_keys=args.detach_keys,
                                sig_proxy="true")
        return attach_and_start(client, info["Id"], ns)
    return for_each(args.containers, lambda c: client.json("POST", f"/containers/{c}/start"))
