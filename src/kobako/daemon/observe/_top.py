"""``GET /containers/{id}/top``: the host's ``ps`` filtered to a cgroup's pids, as moby does.

moby ``daemon/top_unix.go``: run ``ps ARGS -q PIDS`` (``ps ARGS`` when ps refuses ``-q`` with
those options), find the ``PID`` column in the header, keep the rows whose pid is in the
container (thread rows ``-`` follow their process), split each row into as many fields as
there are titles, the last one keeping its spaces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

from kobako.errors import InvalidArgument, KobakoError


def validate_ps_args(args: str) -> None:
    """moby rejects custom formats that hide the PID column under another name."""
    words = args.split()
    for i, w in enumerate(words):
        if w == "-o" and i + 1 < len(words):
            for field in words[i + 1].split(","):
                name, sep, header = field.partition("=")
                if sep and name.strip().lower() == "pid" and header.strip() != "PID":
                    raise InvalidArgument("unexpected header for PID field; PID field must be named PID")


def parse_ps_output(output: str, pids: Collection[int]) -> dict[str, Any]:
    lines = output.split("\n")
    titles = lines[0].split() if lines else []
    try:
        pid_index = titles.index("PID")
    except ValueError:
        raise KobakoError("Couldn't find PID field in ps output") from None
    procs: list[list[str]] = []
    keep_threads = False
    for line in lines[1:]:
        if not line:
            continue
        fields = line.split()
        if len(fields) <= pid_index:
            continue
        if fields[pid_index] == "-":
            if keep_threads:
                procs.append(_row(fields, len(titles)))
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise KobakoError(f"Unexpected pid '{fields[pid_index]}'") from None
        keep_threads = pid in pids
        if keep_threads:
            procs.append(_row(fields, len(titles)))
    return {"Titles": titles, "Processes": procs}


def _row(fields: list[str], ntitles: int) -> list[str]:
    if ntitles <= 0:
        return fields
    return fields[: ntitles - 1] + [" ".join(fields[ntitles - 1:])]


async def _ps(args: list[str]) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        "ps", *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return proc.returncode or 0, out, err


async def top(pids: Collection[int], ps_args: str = "") -> dict[str, Any]:
    ps_args = ps_args or "-ef"
    validate_ps_args(ps_args)
    args = ps_args.split()
    code, out, err = (1, b"", b"")
    if pids:
        code, out, err = await _ps([*args, "-q", ",".join(str(p) for p in sorted(pids))])
    if code != 0:
        # some ps options (such as f) can't be used together with q: retry without it
        code, out, err = await _ps(args)
        if code != 0:
            line = err.decode(errors="replace").split("\n", 1)[0]
            raise KobakoError(line or f"ps exited {code}")
    return parse_ps_output(out.decode(errors="replace"), set(pids))
