"""kobako logout [SERVER]: forget the credentials stored for a registry."""

from __future__ import annotations

from kobako.cli import _args
from kobako.cli.commands.login import load_config, save_config, server_key

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("server", nargs="?", help="Registry (default: Docker Hub)")


def run(args: _args.Namespace, client: Any) -> int:
    key = server_key(args.server)
    cfg = load_config()
    auths = cfg.get("auths") or {}
    if key not in auths:
        print(f"Not logged in to {args.server or key}")
        return 0
    print(f"Removing login credentials for {args.server or key}")
    del auths[key]
    save_config(cfg)
    return 0
