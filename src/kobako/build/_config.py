"""Config-only instructions: how ENV, LABEL, EXPOSE, ... change an image's ``config`` section.

Each function takes the expanded arguments and returns the ``#(nop)`` text the legacy
builder records in the image history (``/bin/sh -c #(nop)  ENV A=1``).
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

from kobako.build.dockerfile import Instruction

_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}


def duration_ns(ins: Instruction, flag: str, text: str) -> int:
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise ins.error(f"invalid duration for --{flag}: {text!r}")
    return int(total)


def set_env(cfg: dict[str, Any], pairs: list[tuple[str, str]]) -> None:
    env = list(cfg.get("Env") or [])
    for key, value in pairs:
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
    cfg["Env"] = env


def env_dict(cfg: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in cfg.get("Env") or []:
        k, _, v = item.partition("=")
        out[k] = v
    return out


def ports(ins: Instruction, words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        m = _PORT.match(word)
        if m is None:
            raise ins.error(f"invalid containerPort: {word}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 0 < lo <= hi <= 65535:
            raise ins.error(f"invalid containerPort: {word}")
        out += [f"{p}/{(m.group(3) or 'tcp').lower()}" for p in range(lo, hi + 1)]
    return out


def shell_or_exec(ins: Instruction, shell: list[str]) -> list[str]:
    """RUN/CMD/ENTRYPOINT argv: the JSON array, or the stage's SHELL plus the text."""
    if ins.json:
        return list(ins.args)
    return [*shell, ins.args[0]] if ins.args and ins.args[0] else []


def workdir(cfg: dict[str, Any], path: str) -> str:
    return posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", path))


def healthcheck(ins: Instruction, shell: list[str]) -> dict[str, Any]:
    if ins.args[0] == "NONE":
        return {"Test": ["NONE"]}
    test = ["CMD-SHELL", ins.args[1]] if ins.args[0] == "CMD-SHELL" else ["CMD", *ins.args[1:]]
    hc: dict[str, Any] = {"Test": test}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        if flag in ins.flags:
            hc[key] = duration_ns(ins, flag, ins.flags[flag])
    if "retries" in ins.flags:
        try:
            hc["Retries"] = int(ins.flags["retries"])
        except ValueError:
            raise ins.error(f"invalid --retries: {ins.flags['retries']}") from None
    return hc


def nop(text: str) -> str:
    return f"/bin/sh -c #(nop)  {text}"


def json_text(argv: list[str]) -> str:
    return json.dumps(argv)
