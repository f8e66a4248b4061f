"""kobako container SUBCOMMAND: the same commands as at the top level (ls, run, rm, ...)."""

from __future__ import annotations

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ALIASES = {"ls": "ps", "list": "ps", "remove": "rm"}
SUBS = ["ls", "list", "ps", "run", "create", "start", "stop", "restart", "kill", "wait", "rm", "remove",
        "logs", "inspect", "prune", "top", "stats", "port", "diff", "pause", "unpause", "rename", "update",
        "exec", "attach", "cp", "commit", "export"]
ADD_HELP = True


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("subcommand", choices=SUBS)
    p.add_argument("rest", nargs=_args.REMAINDER)


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.main import build_parser, load_command

    name = ALIASES.get(args.subcommand, args.subcommand)
    if name == "prune":
        from kobako.cli.commands import container_prune as module
    else:
        module = load_command(name)  # type: ignore[assignment]
    rest = list(args.rest)
    if name == "inspect":
        rest = ["--type", "container", *rest]
    code: int = module.run(build_parser(name, module).parse_args(rest), client)  # type: ignore[attr-defined]
    return code
