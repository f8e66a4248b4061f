"""kobako history [--no-trunc] [-q] [-H] IMAGE   (like docker history)"""

from __future__ import annotations

import time

from kobako.cli import _args
from kobako.cli._format import human_duration, human_size, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("-H", "--human", default="true", help="Print sizes and dates in human readable format")
    p.add_argument("image")


def run(args: _args.Namespace, client: Any) -> int:
    from urllib.parse import quote

    entries = client.json("GET", f"/images/{quote(args.image, safe='/:@')}/history") or []
    human = args.human.lower() not in ("false", "0", "no")
    if args.quiet:
        for e in entries:
            ident = e["Id"]
            print(ident if args.no_trunc or ident == "<missing>" else ident.removeprefix("sha256:")[:12])
        return 0
    rows = []
    now = time.time()
    for e in entries:
        ident = e["Id"] if args.no_trunc or e["Id"] == "<missing>" else e["Id"].removeprefix("sha256:")[:12]
        created_by = " ".join(e.get("CreatedBy", "").split()) if not args.no_trunc else e.get("CreatedBy", "")
        if not args.no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        created = (human_duration(now - e["Created"]) + " ago") if human and e.get("Created") else str(e.get("Created"))
        size = human_size(e.get("Size", 0)) if human else str(e.get("Size", 0))
        rows.append([ident, created, created_by, size, e.get("Comment", "")])
    print(table([["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"], *rows]))
    return 0
