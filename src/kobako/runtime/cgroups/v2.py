"""cgroup v2: one unified hierarchy; controllers are enabled top-down in ``cgroup.subtree_control``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kobako.runtime.cgroups._base import (
    CgroupStats, kill_and_wait, read, read_int, read_keyed, read_pids, rel, rmdir, write,
)


def _shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] → v2 cpu.weight [1, 10000] (the OCI/runc conversion)."""
    return 1 + ((shares - 2) * 9999) // 262142


class CgroupV2Manager:
    def __init__(self, path: str, root: Path = Path("/sys/fs/cgroup")) -> None:
        self._path = path
        self.root = Path(root)

    @property
    def path(self) -> str:
        return self._path

    @property
    def dir(self) -> Path:
        return self.root / rel(self._path)

    def create(self, resources: Mapping[str, Any]) -> None:
        d = self.root
        for part in Path(rel(self._path)).parts:
            self._enable_controllers(d)
            d = d / part
            d.mkdir(exist_ok=True)
        self.update(resources)

    @staticmethod
    def _enable_controllers(d: Path) -> None:
        available = read(d / "cgroup.controllers").split()
        enabled = set(read(d / "cgroup.subtree_control").split())
        for c in available:
            if c not in enabled:
                try:
                    write(d / "cgroup.subtree_control", f"+{c}")
                except OSError:
                    pass  # e.g. a threaded or busy controller; limits needing it fail loudly later

    def add(self, pid: int) -> None:
        write(self.dir / "cgroup.procs", pid)

    def update(self, resources: Mapping[str, Any]) -> None:
        d = self.dir
        mem = resources.get("memory") or {}
        limit = mem.get("limit")
        if limit is not None:
            write(d / "memory.max", limit if limit > 0 else "max")
        swap = mem.get("swap")
        if swap is not None and (d / "memory.swap.max").exists():
            # OCI swap is memory+swap; v2 memory.swap.max is swap alone.
            value: int | str = "max" if swap <= 0 else max(swap - (limit or 0), 0)
            write(d / "memory.swap.max", value)
        if mem.get("reservation"):
            write(d / "memory.low", mem["reservation"])
        cpu = resources.get("cpu") or {}
        if cpu.get("quota") is not None or cpu.get("period"):
            quota = cpu.get("quota")
            write(d / "cpu.max", f"{quota if quota and quota > 0 else 'max'} {cpu.get('period') or 100000}")
        if cpu.get("shares"):
            write(d / "cpu.weight", _shares_to_weight(int(cpu["shares"])))
        for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
            if cpu.get(key):
                write(d / name, cpu[key])
        pids = resources.get("pids") or {}
        if "limit" in pids:
            write(d / "pids.max", pids["limit"] if pids["limit"] > 0 else "max")

    def freeze(self) -> None:
        self._freeze(1)

    def thaw(self) -> None:
        self._freeze(0)

    def _freeze(self, value: int) -> None:
        write(self.dir / "cgroup.freeze", value)
        for _ in range(1000):
            if read_keyed(self.dir / "cgroup.events").get("frozen", value) == value:
                return
            time.sleep(0.001)
        raise TimeoutError("cgroup.events did not report the freeze state")

    def pids(self) -> list[int]:
        return read_pids([self.dir / "cgroup.procs"])

    def stats(self) -> CgroupStats:
        return CgroupStats(
            memory_usage=read_int(self.dir / "memory.current"),
            cpu_usage_ns=read_keyed(self.dir / "cpu.stat").get("usage_usec", 0) * 1000,
            pids_current=read_int(self.dir / "pids.current"),
        )

    def oom_killed(self) -> bool:
        return read_keyed(self.dir / "memory.events").get("oom_kill", 0) > 0

    def destroy(self, timeout: float = 10.0) -> None:
        if not self.dir.exists():
            return
        if (self.dir / "cgroup.kill").exists():
            write(self.dir / "cgroup.kill", 1)
        elif (self.dir / "cgroup.freeze").exists():
            self.thaw()
        kill_and_wait(self.pids, timeout)
        rmdir(self.dir)
