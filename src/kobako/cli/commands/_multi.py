"""Commands that act on several containers: print each name done, each error, exit 1 if any failed."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence


def for_each(names: Sequence[str], action: Callable[[str], object], *, echo: bool = True) -> int:
    from kobako.client import DaemonError

    failed = 0
    for name in names:
        try:
            action(name)
        except DaemonError as exc:
            print(f"Error response from daemon: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        if echo:
            print(name)
    return 1 if failed else 0
