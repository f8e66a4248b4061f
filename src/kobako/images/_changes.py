"""Dockerfile-like ``--change`` lines for ``docker import`` applied to an image config."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Iterable
from typing import Any

from kobako.errors import InvalidArgument

ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR")
_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def _bad(line: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"invalid change {line!r}: {why}")


def json_string_list(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _pairs(line: str, rest: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise _bad(line, str(exc)) from exc
    if "=" not in words[0]:
        # legacy form "ENV KEY value with spaces"
        key, _, value = rest.partition(" ")
        if not value.strip():
            raise _bad(line, f"{line.split()[0].upper()} must have two arguments")
        return [(key, value.strip())]
    out = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise _bad(line, f"{word!r} is not KEY=VALUE")
        out.append((key, value))
    return out


def _ports(line: str, rest: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for word in rest.split():
        m = _PORT.match(word)
        if m is None:
            raise _bad(line, f"invalid port {word!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 0 < lo <= hi <= 65535:
            raise _bad(line, f"invalid port {word!r}")
        for port in range(lo, hi + 1):
            out[f"{port}/{(m.group(3) or 'tcp').lower()}"] = {}
    return out


def apply_changes(config: dict[str, Any], changes: Iterable[str]) -> dict[str, Any]:
    """Return a copy of the ``config`` section (Env, Cmd, ...) with ``changes`` applied."""
    cfg = dict(config)
    for line in changes:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 1)
        instr = parts[0].upper()
        rest = parts[1].strip() if len(parts) > 1 else ""
        if instr not in ALLOWED:
            raise InvalidArgument(f"{parts[0]} is not a valid change command")
        if not rest:
            raise _bad(line, f"{instr} requires at least one argument")
        if instr in ("CMD", "ENTRYPOINT"):
            argv = json_string_list(rest)
            cfg["Cmd" if instr == "CMD" else "Entrypoint"] = argv if argv is not None else ["/bin/sh", "-c", rest]
        elif instr == "ENV":
            env = list(cfg.get("Env") or [])
            for key, value in _pairs(line, rest):
                env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
            cfg["Env"] = env
        elif instr == "LABEL":
            cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(_pairs(line, rest))}
        elif instr == "EXPOSE":
            cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **_ports(line, rest)}
        elif instr == "VOLUME":
            vols = json_string_list(rest) or rest.split()
            cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{v: {} for v in vols}}
        elif instr == "WORKDIR":
            cfg["WorkingDir"] = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", rest))
        elif instr == "USER":
            cfg["User"] = rest
        elif instr == "ONBUILD":
            cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), rest]
    return cfg
