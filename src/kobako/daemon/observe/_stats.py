"""``GET /containers/{id}/stats``: Docker's ``StatsResponse`` read straight from cgroupfs.

One sample is a dozen small file reads (no subprocess, no thread, no cgroup manager), so
``docker stats`` over many containers stays cheap (pain point #13). The same reader covers
cgroup v1 (a directory per hierarchy) and v2 (one unified directory); ``root`` lets unit
tests point it at a tmp tree.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

NS = 1_000_000_000
ZERO_TIME = "0001-01-01T00:00:00Z"
_BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
               "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
               "io_time_recursive", "sectors_recursive")
_UNLIMITED = 1 << 62


def _ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


CLK_TCK = _ticks()


def rfc3339_nano(ns: int) -> str:
    secs, frac = divmod(ns, NS)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def _read(path: Path) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return _UNLIMITED
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        k, _, v = line.partition(" ")
        v = v.strip()
        if v.isdigit():
            out[k] = int(v)
    return out


def system_cpu_usage(proc_stat: Path = Path("/proc/stat")) -> int:
    """Host CPU time in ns: the first 7 fields of /proc/stat's ``cpu`` line, as moby sums them."""
    for line in (_read(proc_stat) or "").splitlines():
        if line.startswith("cpu "):
            ticks = sum(int(x) for x in line.split()[1:8])
            return ticks * NS // CLK_TCK
    return 0


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def machine_memory(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in (_read(meminfo) or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def empty_cpu() -> dict[str, Any]:
    return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}


def empty_stats(name: str, cid: str) -> dict[str, Any]:
    """What moby answers for a container that is not running: zero values, name and id."""
    return {
        "name": "/" + name.lstrip("/"), "id": cid, "read": ZERO_TIME, "preread": ZERO_TIME,
        "pids_stats": {}, "blkio_stats": dict.fromkeys(_BLKIO_KEYS), "num_procs": 0, "storage_stats": {},
        "cpu_stats": empty_cpu(), "precpu_stats": empty_cpu(), "memory_stats": {},
    }


class CgroupStatsReader:
    """One container's counters; ``sample()`` gives the parts of a StatsResponse that change."""

    def __init__(self, path: str, root: Path = Path("/sys/fs/cgroup"), proc: Path = Path("/proc")) -> None:
        self.root = Path(root)
        self.rel = path.strip("/")
        self.proc = Path(proc)
        self.v2 = (self.root / "cgroup.controllers").exists()
        self._machine_memory = machine_memory(self.proc / "meminfo")

    def dir(self, hierarchy: str) -> Path:
        return self.root / self.rel if self.v2 else self.root / hierarchy / self.rel

    def exists(self) -> bool:
        return self.dir("memory").is_dir() or self.dir("pids").is_dir()

    def sample(self) -> dict[str, Any]:
        cpu = self._cpu_v2() if self.v2 else self._cpu_v1()
        cpu["system_cpu_usage"] = system_cpu_usage(self.proc / "stat")
        cpu["online_cpus"] = online_cpus()
        return {
            "read": rfc3339_nano(time.time_ns()),
            "pids_stats": self._pids(),
            "blkio_stats": self._blkio_v2() if self.v2 else self._blkio_v1(),
            "num_procs": 0,
            "storage_stats": {},
            "cpu_stats": cpu,
            "memory_stats": self._memory(),
        }

    # -- cpu ---------------------------------------------------------------------------------
    def _cpu_v1(self) -> dict[str, Any]:
        acct = self.dir("cpuacct")
        st = _keyed(acct / "cpuacct.stat")
        usage: dict[str, Any] = {"total_usage": _int(acct / "cpuacct.usage") or 0}
        percpu = (_read(acct / "cpuacct.usage_percpu") or "").split()
        if percpu:
            usage["percpu_usage"] = [int(x) for x in percpu]
        usage["usage_in_kernelmode"] = st.get("system", 0) * NS // CLK_TCK
        usage["usage_in_usermode"] = st.get("user", 0) * NS // CLK_TCK
        thr = _keyed(self.dir("cpu") / "cpu.stat")
        return {"cpu_usage": usage, "throttling_data": {
            "periods": thr.get("nr_periods", 0), "throttled_periods": thr.get("nr_throttled", 0),
            "throttled_time": thr.get("throttled_time", 0)}}

    def _cpu_v2(self) -> dict[str, Any]:
        st = _keyed(self.dir("cpu") / "cpu.stat")
        return {"cpu_usage": {"total_usage": st.get("usage_usec", 0) * 1000,
                              "usage_in_kernelmode": st.get("system_usec", 0) * 1000,
                              "usage_in_usermode": st.get("user_usec", 0) * 1000},
                "throttling_data": {"periods": st.get("nr_periods", 0),
                                    "throttled_periods": st.get("nr_throttled", 0),
                                    "throttled_time": st.get("throttled_usec", 0) * 1000}}

    # -- memory, pids ------------------------------------------------------------------------
    def _limit(self, value: int | None) -> int:
        mm = self._machine_memory
        if value is None or value >= _UNLIMITED or (mm and value > mm):
            return mm
        return value

    def _memory(self) -> dict[str, Any]:
        d = self.dir("memory")
        if self.v2:
            usage = _int(d / "memory.current")
            if usage is None:
                return {}
            return {"usage": usage, "stats": _keyed(d / "memory.stat"),
                    "limit": self._limit(_int(d / "memory.max"))}
        usage = _int(d / "memory.usage_in_bytes")
        if usage is None:
            return {}
        return {"usage": usage, "max_usage": _int(d / "memory.max_usage_in_bytes") or 0,
                "stats": _keyed(d / "memory.stat"), "failcnt": _int(d / "memory.failcnt") or 0,
                "limit": self._limit(_int(d / "memory.limit_in_bytes"))}

    def _pids(self) -> dict[str, Any]:
        d = self.dir("pids")
        current = _int(d / "pids.current")
        if current is None:
            return {}
        out = {"current": current}
        limit = _int(d / "pids.max")
        if limit and limit < _UNLIMITED:
            out["limit"] = limit
        return out

    # -- block I/O ---------------------------------------------------------------------------
    def _blkio_v1(self) -> dict[str, Any]:
        d = self.dir("blkio")
        out: dict[str, Any] = dict.fromkeys(_BLKIO_KEYS)
        for key, names in (("io_service_bytes_recursive", ("blkio.io_service_bytes_recursive",
                                                           "blkio.throttle.io_service_bytes_recursive")),
                           ("io_serviced_recursive", ("blkio.io_serviced_recursive",
                                                      "blkio.throttle.io_serviced_recursive"))):
            for name in names:
                entries = _blkio_entries(_read(d / name))
                if entries:
                    out[key] = entries
                    break
        return out

    def _blkio_v2(self) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(_BLKIO_KEYS)
        entries: list[dict[str, Any]] = []
        for line in (_read(self.dir("io") / "io.stat") or "").splitlines():
            dev, *fields = line.split()
            major, _, minor = dev.partition(":")
            kv = dict(f.split("=", 1) for f in fields if "=" in f)
            for op, key in (("read", "rbytes"), ("write", "wbytes")):
                if key in kv:
                    entries.append({"major": int(major), "minor": int(minor), "op": op,
                                    "value": int(kv[key])})
        out["io_service_bytes_recursive"] = entries or None
        return out


def _blkio_entries(text: str | None) -> list[dict[str, Any]]:
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue  # the "Total N" line
        major, _, minor = parts[0].partition(":")
        out.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return out


def stats_response(name: str, cid: str, sample: dict[str, Any],
                   previous: dict[str, Any] | None) -> dict[str, Any]:
    """A StatsResponse in moby's field order, with ``precpu_stats`` from the previous sample."""
    out: dict[str, Any] = {"name": "/" + name.lstrip("/"), "id": cid, "read": sample["read"],
                           "preread": previous["read"] if previous else ZERO_TIME}
    for key in ("pids_stats", "blkio_stats", "num_procs", "storage_stats", "cpu_stats"):
        out[key] = sample[key]
    out["precpu_stats"] = previous["cpu_stats"] if previous else empty_cpu()
    out["memory_stats"] = sample["memory_stats"]
    out["networks"] = {}
    return out
