"""The ``kobako`` command that scripts/install puts in the venv, in place of pip's console script.

    python -m kobako.cli._launcher PATH      # write the command at PATH (atomically)

pip's wrapper does ``import re`` before anything else, and runs with ``site``: the venv's
site-packages scan and its ``.pth`` files (the editable install's path, setuptools' distutils hack)
import ``os`` and more.  Together some 10 ms of every command, where ``kobako ps`` is about 30.  This
command starts the interpreter with ``-S`` and puts on ``sys.path`` what ``site`` would have added
for kobako: the source directory of this (editable) install, then the venv's site-packages (for the
few commands that use a third-party module, e.g. ``registry serve`` and h11).  ``PYTHONPATH`` still
comes first, as with ``site``. The process ends with ``exit_now``: flushed, then ``_exit``, without
Python's teardown (2-4 ms).
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

TEMPLATE = """\
#!{python} -S
# kobako's command, written by scripts/install (kobako.cli._launcher): started without `site`
# (-S) and without pip's wrapper, which imports re; sys.path gets what site would add for kobako.
import sys
if not sys.flags.safe_path:
    del sys.path[0]  # this script's directory
sys.path += {paths!r}
from kobako.cli.main import exit_now, main
exit_now(main())
"""


def launcher_text(python: str, paths: list[str]) -> str:
    return TEMPLATE.format(python=python, paths=paths)


def default_paths() -> list[str]:
    """kobako's own source directory (where this package is imported from), then site-packages."""
    src = str(Path(__file__).resolve().parents[2])
    purelib = sysconfig.get_paths()["purelib"]
    return [src] if src == purelib else [src, purelib]


def write(path: Path, python: str | None = None, paths: list[str] | None = None) -> None:
    from kobako.fsutil import atomic_write

    text = launcher_text(python or sys.executable, default_paths() if paths is None else paths)
    atomic_write(path, text.encode(), mode=0o755)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m kobako.cli._launcher PATH", file=sys.stderr)
        return 2
    target = Path(args[0])
    if not target.parent.is_dir():
        print(f"kobako launcher: no directory {target.parent}", file=sys.stderr)
        return 1
    write(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
