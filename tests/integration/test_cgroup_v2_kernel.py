"""The cgroup v2 manager against the kernel's own cgroup2 hierarchy (not a tmp tree).

This machine mounts cgroup v1 controllers plus a cgroup2 hierarchy without controllers
(``/sys/fs/cgroup/unified``); v2's core files - cgroup.procs, cgroup.freeze, cgroup.events,
cgroup.kill - work there, so freeze/thaw, process listing and destroy are exercised for real.
Limits that need a v2 controller are checked to fail with an error naming the missing file.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kobako.runtime import CgroupV2Manager, cgroup_manager

pytestmark = pytest.mark.root


def _v2_root() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] == "cgroup2":
            return Path(fields[1])
    return None


@pytest.fixture
def v2() -> Iterator[CgroupV2Manager]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = _v2_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    mgr = cgroup_manager(f"/kobako-test-{uuid.uuid4().hex[:8]}/c1", root)
    assert isinstance(mgr, CgroupV2Manager)
    try:
        yield mgr
    finally:
        mgr.destroy(timeout=5)
        parent = mgr.dir.parent
        if parent.exists():
            os.rmdir(parent)


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_freeze_thaw_list_and_destroy_on_the_kernel(v2: CgroupV2Manager) -> None:
    v2.create({})
    assert v2.dir.is_dir()
    proc = subprocess.Popen(["sleep", "600"])
    try:
        v2.add(proc.pid)
        assert v2.pids() == [proc.pid]
        assert f"0::/{v2.path.strip('/')}" in Path(f"/proc/{proc.pid}/cgroup").read_text().splitlines()
        v2.freeze()
        assert "frozen 1" in (v2.dir / "cgroup.events").read_text().splitlines()
        assert proc.poll() is None
        v2.thaw()
        assert "frozen 0" in (v2.dir / "cgroup.events").read_text().splitlines()
        assert _state(proc.pid) in ("S", "R")
        v2.destroy(timeout=5)
        assert proc.wait(timeout=5) == -9  # cgroup.kill (or the SIGKILL loop) ended it
        assert not v2.dir.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_destroy_kills_a_frozen_group(v2: CgroupV2Manager) -> None:
    v2.create({})
    procs = [subprocess.Popen(["sleep", "600"]) for _ in range(3)]
    try:
        for p in procs:
            v2.add(p.pid)
        v2.freeze()
        started = time.monotonic()
        v2.destroy(timeout=5)
        assert [p.wait(timeout=5) for p in procs] == [-9, -9, -9]
        assert time.monotonic() - started < 5
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_a_limit_without_its_controller_names_the_file(v2: CgroupV2Manager) -> None:
    if "memory" in (v2.root / "cgroup.controllers").read_text().split():
        pytest.skip("this cgroup2 hierarchy has the memory controller")
    with pytest.raises(OSError) as exc:
        v2.create({"memory": {"limit": 64 << 20}})
    assert "memory.max" in str(exc.value)
