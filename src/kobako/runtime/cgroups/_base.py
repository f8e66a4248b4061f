"""What every cgroup manager offers, and the file I/O they share.

Lifecycle of a container's cgroup (one ``CgroupManager`` per container, path = OCI
``linux.cgroupsPath`` relative to each hierarchy root)::

    m = cgroup_manager("/kobako/<id>")   # v1 or v2, detected from the root's layout
    m.create(resources)                  # mkdir, enable/copy what the parents must provide, apply limits
    m.add(pid)                           # before the process runs anything of the user's
    m.update(resources) / freeze() / thaw() / stats() / oom_killed()
    m.destroy()                          # SIGKILL what is left, wait until empty, rmdir the leaf

Everything is plain file I/O under ``root``, so unit tests run managers on tmp trees.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CgroupStats:
    memory_usage: int = 0
    cpu_usage_ns: int = 0
    pids_current: int = 0


class CgroupManager(Protocol):
    """One container's cgroup; see the module docstring for the lifecycle."""

    @property
    def path(self) -> str: ...
    def create(self, resources: Mapping[str, Any]) -> None: ...
    def add(self, pid: int) -> None: ...
    def update(self, resources: Mapping[str, Any]) -> None: ...
    def freeze(self) -> None: ...
    def thaw(self) -> None: ...
    def pids(self) -> list[int]: ...
    def stats(self) -> CgroupStats: ...
    def oom_killed(self) -> bool: ...
    def destroy(self, timeout: float = 10.0) -> None: ...


def write(path: Path, value: str | int) -> None:
    """Write one value to an existing control file (no O_CREAT: a missing file is an error)."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def read(path: Path) -> str:
    with open(path) as f:
        return f.read().strip()


def read_int(path: Path, default: int = 0) -> int:
    try:
        return int(read(path))
    except (OSError, ValueError):
        return default


def read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (memory.events, cpu.stat, memory.oom_control)."""
    out: dict[str, int] = {}
    try:
        text = read(path)
    except OSError:
        return out
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if v.strip().lstrip("-").isdigit():
            out[k] = int(v)
    return out


def read_pids(files: Iterable[Path]) -> list[int]:
    seen: set[int] = set()
    for f in files:
        try:
            seen.update(int(x) for x in read(f).split())
        except FileNotFoundError:
            continue
    return sorted(seen)


def kill_and_wait(pids_of: Any, timeout: float) -> None:
    """SIGKILL every process ``pids_of()`` lists until it lists none (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        pids = pids_of()
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"cgroup still has processes after SIGKILL: {pids}")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def rmdir(path: Path, timeout: float = 2.0) -> None:
    """rmdir a cgroup, retrying EBUSY briefly (the kernel frees a css after the last task exits)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != 16 or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def rel(path: str) -> str:
    """An OCI cgroupsPath as a path relative to a hierarchy root."""
    return path.strip("/")
