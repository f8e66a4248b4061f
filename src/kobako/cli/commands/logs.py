"""kobako logs [-f] [--tail N] [--since T] [--until T] [-t] CONTAINER"""

from __future__ import annotations

import sys

from kobako.cli import _args

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def configure(p: _args.ArgumentParser) -> None:
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
    p.add_argument("--since", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)")
    p.add_argument("--until", help="Show logs before a timestamp or relative")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--details", action="store_true", help="Show extra details provided to logs")
    p.add_argument("container")


def to_unix(value: str) -> str:
    """The docker CLI's conversion of --since/--until: Go durations ago, RFC 3339 or unix seconds."""
    from kobako.cli._time import get_timestamp

    return get_timestamp(value)


def run(args: _args.Namespace, client: Any) -> int:
    info = client.json("GET", f"/containers/{args.container}/json")
    query: dict[str, Any] = {"stdout": 1, "stderr": 1, "follow": int(args.follow), "tail": args.tail,
                             "timestamps": int(args.timestamps)}
    from kobako.cli.main import CommandError

    try:
        if args.since:
            query["since"] = to_unix(args.since)
        if args.until:
            query["until"] = to_unix(args.until)
    except ValueError as exc:
        raise CommandError(str(exc), 1) from None
    chunks = client.stream("GET", f"/containers/{info['Id']}/logs", query=query)
    out, err = sys.stdout.buffer, sys.stderr.buffer
    if info["Config"].get("Tty"):
        for data in chunks:
            out.write(data)
            out.flush()
        return 0
    from kobako.client import demux

    for stream, data in demux(chunks):
        target = err if stream == 2 else out
        target.write(data)
        target.flush()
    return 0
