"""``-e``/``--env`` and ``--env-file`` of run, create and exec → a container's ``Env`` list.

Kept apart from ``_opts`` (run/create's flags) so that ``exec`` imports nothing else; ``os`` only
when a variable is taken from the host.
"""

from __future__ import annotations

from kobako.cli.main import CommandError


def env_list(env_files: list[str], env: list[str]) -> list[str]:
    """The files' lines, then the ``-e`` values; a bare ``NAME`` takes the host's value or is dropped."""
    out: list[str] = []
    for path in env_files:
        out += env_file(path)
    out += [e if "=" in e else env_from_host(e) for e in env]
    return [e for e in out if e]


def env_file(path: str) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise CommandError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}", 125) from None
    out = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        out.append(line if "=" in line else env_from_host(line))
    return [e for e in out if e]


def env_from_host(name: str) -> str:
    import os

    return f"{name}={os.environ[name]}" if name in os.environ else ""
