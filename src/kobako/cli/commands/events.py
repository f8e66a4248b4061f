"""kobako events [--since T] [--until T] [-f KEY=VALUE] [--format T]"""

from __future__ import annotations

import json
import sys

from kobako.cli import _args
from kobako.cli._format import render
from kobako.cli._time import format_nano, get_timestamp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a custom template ('json' or a Go template)")


def event_line(ev: dict[str, Any]) -> str:
    """docker's line: ``<time> <type> <action> <actor id> (k=v, ...)``, attributes sorted."""
    parts = []
    if ev.get("timeNano"):
        parts.append(format_nano(int(ev["timeNano"])) + " ")
    elif ev.get("time"):
        parts.append(format_nano(int(ev["time"]) * 1_000_000_000) + " ")
    actor = ev.get("Actor") or {}
    parts.append(f"{ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}")
    attrs = actor.get("Attributes") or {}
    if attrs:
        parts.append(" (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")")
    return "".join(parts)


def parse_filter_args(values: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in values:
        k, sep, v = f.partition("=")
        if not sep:
            raise ValueError(f"bad format of filter (expected name=value): {f}")
        out.setdefault(k.strip().lower(), []).append(v)
    return out


def run(args: _args.Namespace, client: Any) -> int:
    from kobako.cli.main import CommandError

    try:
        filters = parse_filter_args(args.filter)
        query: dict[str, Any] = {}
        if args.since:
            query["since"] = get_timestamp(args.since)
        if args.until:
            query["until"] = get_timestamp(args.until)
    except ValueError as exc:
        raise CommandError(str(exc), 125) from None
    if filters:
        query["filters"] = json.dumps(filters)
    out = sys.stdout
    for ev in client.jsonlines("GET", "/events", query=query):
        if args.format == "json" or (args.format and args.format.strip() == "{{json .}}"):
            out.write(json.dumps(ev, separators=(",", ":")) + "\n")
        elif args.format:
            out.write(render(args.format, ev) + "\n")
        else:
            out.write(event_line(ev) + "\n")
        out.flush()
    return 0
