"""kobako images [-a] [-q] [--no-trunc] [--format T] [REPOSITORY[:TAG]]"""

from __future__ import annotations

import time

from kobako.cli import _args
from kobako.cli._format import format_rows, human_duration, human_size
from kobako.client._jsonc import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

COLUMNS = [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"), ("CREATED", "CreatedSince"),
           ("SIZE", "Size")]


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--format", help="Format output using a Go template, 'table' or 'json'")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions")
    p.add_argument("reference", nargs="?")


def rows(images: list[dict[str, Any]], no_trunc: bool) -> list[dict[str, Any]]:
    out = []
    for img in images:
        iid = img["Id"] if no_trunc else img["Id"].removeprefix("sha256:")[:12]
        tags = img.get("RepoTags") or ["<none>:<none>"]
        for t in tags:
            repo, _, tag = t.rpartition(":")
            if "/" in tag:  # a registry port, not a tag
                repo, tag = t, "<none>"
            created = img.get("Created", 0)
            out.append({
                "ID": iid, "Repository": repo, "Tag": tag, "Digest": "<none>",
                "CreatedSince": human_duration(time.time() - created) + " ago",
                "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
                "Size": human_size(img.get("Size", 0)),
                "Containers": str(img.get("Containers", "N/A")),
            })
    return out


def run(args: _args.Namespace, client: Any) -> int:
    filters: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        filters.setdefault(k, []).append(v)
    if args.reference:
        filters.setdefault("reference", []).append(args.reference)
    query: dict[str, Any] = {"all": int(args.all)}
    if filters:
        query["filters"] = dumps(filters)
    images = client.json("GET", "/images/json", query=query)
    if args.quiet:
        seen = []
        for img in images:
            iid = img["Id"] if args.no_trunc else img["Id"].removeprefix("sha256:")[:12]
            if iid not in seen:
                seen.append(iid)
                print(iid)
        return 0
    out = format_rows(args.format, rows(images, args.no_trunc), COLUMNS)
    if out:
        print(out)
    return 0
