"""Commands that act on several containers: print each name done, each error, exit 1 if any failed."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any


def for_each(names: Sequence[str], action: Callable[[str], object], *, echo: bool = True,
             ignore_missing: bool = False) -> int:
    from kobako.client import DaemonError

    failed = 0
    for name in names:
        try:
            action(name)
        except DaemonError as exc:
            if ignore_missing and exc.status == 404:
                continue
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        if echo:
            print(name)
    return 1 if failed else 0


def inspect_each(client: Any, names: Sequence[str], path: Callable[[str], str], fmt: str | None,
                 missing: Callable[[str, str], str]) -> int:
    """``inspect`` of daemon objects: JSON array (or a Go template per object); 404s reported per name."""
    import json

    from kobako.cli._format import render
    from kobako.client import DaemonError

    found, failed = [], 0
    for name in names:
        try:
            found.append(client.json("GET", path(name)))
        except DaemonError as exc:
            if exc.status != 404:
                raise
            print(missing(name, exc.message), file=sys.stderr)
            failed += 1
    if fmt:
        for obj in found:
            print(render(fmt, obj))
    else:
        print(json.dumps(found, indent=4))
    return 1 if failed else 0
