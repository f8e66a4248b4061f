"""kobako search [-f FILTER] [--format T] [--limit N] [--no-trunc] TERM

Searches the registry the term names (``127.0.0.1:5000/busy``; no registry: Docker Hub) through the
daemon (``GET /images/search``); the table is docker's: NAME DESCRIPTION STARS OFFICIAL, the
description cut to 45 characters unless ``--no-trunc``.
"""

from __future__ import annotations

import json
from typing import Any

from kobako.cli._format import format_rows

COLUMNS = [("NAME", "Name"), ("DESCRIPTION", "Description"), ("STARS", "StarCount"), ("OFFICIAL", "IsOfficial")]
DESCRIPTION_WIDTH = 45


def configure(p: Any) -> None:
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="Filter output based on conditions provided (stars=N, is-official=BOOL)")
    p.add_argument("--format", help="Format output using a Go template, 'table' or 'json'")
    p.add_argument("--limit", type=int, default=0, help="Max number of search results")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("term", help="Search term")


def ellipsis(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def rows(results: list[dict[str, Any]], trunc: bool, as_json: bool) -> list[dict[str, Any]]:
    def flag(value: Any) -> str:
        if as_json:
            return "true" if value else "false"
        return "[OK]" if value else ""

    out = []
    for r in results:
        desc = str(r.get("description") or "").replace("\n", " ").replace("\r", " ")
        out.append({"Name": str(r.get("name") or ""),
                    "Description": ellipsis(desc, DESCRIPTION_WIDTH) if trunc else desc,
                    "StarCount": str(int(r.get("star_count") or 0)),
                    "IsOfficial": flag(r.get("is_official")),
                    "IsAutomated": flag(r.get("is_automated"))})
    return out


def run(args: Any, client: Any) -> int:
    filters: dict[str, list[str]] = {}
    for f in args.filter:
        key, sep, value = f.partition("=")
        if not sep:
            from kobako.cli.main import CommandError

            raise CommandError(f"invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter "
                               "(expected name=value)")
        filters.setdefault(key, []).append(value)
    query: dict[str, Any] = {"term": args.term}
    if args.limit:
        query["limit"] = args.limit
    if filters:
        query["filters"] = json.dumps(filters)
    results = client.json("GET", "/images/search", query=query) or []
    as_json = args.format == "json" or (args.format or "").strip() == "{{json .}}"
    table = rows(results, trunc=not args.no_trunc, as_json=as_json)
    text = format_rows(args.format, table, COLUMNS)  # a table has its header even with no rows
    if text:
        print(text)
    return 0
