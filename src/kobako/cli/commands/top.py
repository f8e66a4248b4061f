"""kobako top CONTAINER [ps OPTIONS]"""

from __future__ import annotations

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ADD_HELP = True


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("container")
    p.add_argument("ps_args", nargs=_args.REMAINDER, help="ps options (default -ef)")


def tabwrite(rows: list[list[str]], minwidth: int = 20, padding: int = 3) -> str:
    """Go tabwriter(minwidth, tabwidth 1, padding, ' ', 0): every cell but a row's last is padded."""
    widths: dict[int, int] = {}
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + padding, minwidth)
    return "\n".join("".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + (r[-1] if r else "")
                     for r in rows)


def run(args: _args.Namespace, client: Any) -> int:
    query = {"ps_args": " ".join(args.ps_args)} if args.ps_args else None
    res = client.json("GET", f"/containers/{args.container}/top", query=query)
    rows = [list(res.get("Titles") or [])] + [list(p) for p in res.get("Processes") or []]
    print(tabwrite(rows))
    return 0
