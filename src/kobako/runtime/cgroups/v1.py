"""cgroup v1: one directory per hierarchy (``<root>/<controller>/<path>``).

Every mounted hierarchy under ``root`` (a directory holding ``cgroup.procs``) gets the leaf,
including named ones (``systemd``) and a hybrid ``unified`` cgroup2, so the process is
fully placed. cpuset needs ``cpuset.cpus``/``cpuset.mems`` copied down from the parent
before a task may join.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kobako.runtime.cgroups._base import (
    CgroupStats, kill_and_wait, read, read_int, read_keyed, read_pids, rel, rmdir, write,
)


class CgroupV1Manager:
    def __init__(self, path: str, root: Path = Path("/sys/fs/cgroup")) -> None:
        self._path = path
        self.root = Path(root)
        self.hierarchies = sorted(p.name for p in self.root.iterdir() if (p / "cgroup.procs").exists())

    @property
    def path(self) -> str:
        return self._path

    def dir(self, hierarchy: str) -> Path:
        return self.root / hierarchy / rel(self._path)

    def _has(self, hierarchy: str) -> bool:
        return hierarchy in self.hierarchies

    def create(self, resources: Mapping[str, Any]) -> None:
        for h in self.hierarchies:
            self.dir(h).mkdir(parents=True, exist_ok=True)
        if self._has("cpuset"):
            self._copy_cpuset()
        self.update(resources)

    def _copy_cpuset(self) -> None:
        """Fill empty cpuset.cpus/mems from the parent, top down (a task cannot join an empty cpuset)."""
        top = self.root / "cpuset"
        d = top
        for part in Path(rel(self._path)).parts:
            parent, d = d, d / part
            for name in ("cpuset.cpus", "cpuset.mems"):
                if not read(d / name):
                    write(d / name, read(parent / name))

    def add(self, pid: int) -> None:
        for h in self.hierarchies:
            write(self.dir(h) / "cgroup.procs", pid)

    def update(self, resources: Mapping[str, Any]) -> None:
        mem = resources.get("memory") or {}
        if mem and self._has("memory"):
            self._set_memory(mem)
        cpu = resources.get("cpu") or {}
        if self._has("cpu"):
            d = self.dir("cpu")
            if cpu.get("shares"):
                write(d / "cpu.shares", cpu["shares"])
            if cpu.get("period"):
                write(d / "cpu.cfs_period_us", cpu["period"])
            if cpu.get("quota") is not None:
                write(d / "cpu.cfs_quota_us", cpu["quota"] if cpu["quota"] > 0 else -1)
        if self._has("cpuset"):
            for key, name in (("cpus", "cpuset.cpus"), ("mems", "cpuset.mems")):
                if cpu.get(key):
                    write(self.dir("cpuset") / name, cpu[key])
        pids = resources.get("pids") or {}
        if "limit" in pids and self._has("pids"):
            write(self.dir("pids") / "pids.max", pids["limit"] if pids["limit"] > 0 else "max")
        devices = resources.get("devices")
        if devices and self._has("devices"):
            for rule in devices:
                access = rule.get("access", "rwm")
                major = "*" if rule.get("major") in (None, -1) else rule["major"]
                minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
                line = "a" if rule.get("type", "a") == "a" else f"{rule['type']} {major}:{minor} {access}"
                write(self.dir("devices") / ("devices.allow" if rule.get("allow") else "devices.deny"), line)

    def _set_memory(self, mem: Mapping[str, Any]) -> None:
        d = self.dir("memory")
        limit, swap = mem.get("limit"), mem.get("swap")
        memsw = d / "memory.memsw.limit_in_bytes"
        if limit is not None:
            limit = limit if limit > 0 else -1
        if swap is not None and memsw.exists():
            swap = swap if swap > 0 else -1
            # memsw must stay >= limit: raise memsw first when growing, the limit first when shrinking.
            try:
                if limit is not None:
                    write(d / "memory.limit_in_bytes", limit)
                write(memsw, swap)
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                write(memsw, swap)
                if limit is not None:
                    write(d / "memory.limit_in_bytes", limit)
        elif limit is not None:
            write(d / "memory.limit_in_bytes", limit)
        if mem.get("reservation"):
            write(d / "memory.soft_limit_in_bytes", mem["reservation"])

    def freeze(self) -> None:
        self._freezer("FROZEN")

    def thaw(self) -> None:
        self._freezer("THAWED")

    def _freezer(self, state: str) -> None:
        if not self._has("freezer"):
            return
        f = self.dir("freezer") / "freezer.state"
        for _ in range(1000):
            write(f, state)
            if read(f) == state:
                return
            time.sleep(0.001)
        raise TimeoutError(f"freezer did not reach {state}")

    def pids(self) -> list[int]:
        return read_pids(self.dir(h) / "cgroup.procs" for h in self.hierarchies if h != "unified")

    def stats(self) -> CgroupStats:
        return CgroupStats(
            memory_usage=read_int(self.dir("memory") / "memory.usage_in_bytes"),
            cpu_usage_ns=read_int(self.dir("cpuacct") / "cpuacct.usage"),
            pids_current=read_int(self.dir("pids") / "pids.current"),
        )

    def oom_killed(self) -> bool:
        return read_keyed(self.dir("memory") / "memory.oom_control").get("oom_kill", 0) > 0

    def destroy(self, timeout: float = 10.0) -> None:
        if self._has("freezer") and self.dir("freezer").exists():
            self.thaw()  # frozen tasks do not die of SIGKILL until thawed
        kill_and_wait(self.pids, timeout)
        for h in self.hierarchies:
            rmdir(self.dir(h))
