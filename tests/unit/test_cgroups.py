"""Cgroup managers against tmp trees shaped like cgroupfs (files pre-created, as the kernel would)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobako.runtime import CgroupV1Manager, CgroupV2Manager, cgroup_manager

V1_FILES = {
    "memory": {"memory.limit_in_bytes": "9223372036854771712", "memory.memsw.limit_in_bytes": "9223372036854771712",
               "memory.soft_limit_in_bytes": "0", "memory.usage_in_bytes": "4096",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0"},
    "cpu": {"cpu.shares": "1024", "cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1"},
    "cpuacct": {"cpuacct.usage": "123456"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "3"},
    "freezer": {"freezer.state": "THAWED"},
    "devices": {"devices.allow": "", "devices.deny": ""},
}


def _v1(root: Path, path: str) -> None:
    for h, files in V1_FILES.items():
        dirs = [root / h]
        for part in Path(path.strip("/")).parts:
            dirs.append(dirs[-1] / part)
        for d in dirs:
            d.mkdir(parents=True, exist_ok=True)
            (d / "cgroup.procs").write_text("")
            for name, value in files.items():
                (d / name).write_text(value)
    (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
    (root / "cpuset" / "cpuset.mems").write_text("0\n")
    (root / "notacgroup").mkdir()


V2_LEAF = {"memory.max": "max", "memory.swap.max": "max", "memory.low": "0", "cpu.max": "max 100000",
           "cpu.weight": "100", "pids.max": "max", "cgroup.freeze": "0", "cgroup.events": "populated 0\nfrozen 0",
           "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1", "memory.current": "8192",
           "cpu.stat": "usage_usec 250\nuser_usec 200", "pids.current": "2", "cpuset.cpus": ""}


def _v2(root: Path, path: str) -> None:
    d = root
    for part in ("", *Path(path.strip("/")).parts):
        d = d / part if part else d
        d.mkdir(parents=True, exist_ok=True)
        (d / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
        (d / "cgroup.subtree_control").write_text("")
        (d / "cgroup.procs").write_text("")
    for name, value in V2_LEAF.items():
        (d / name).write_text(value)


def test_detection(tmp_path: Path) -> None:
    _v1(tmp_path / "v1", "/k/c")
    _v2(tmp_path / "v2", "/k/c")
    assert isinstance(cgroup_manager("/k/c", tmp_path / "v1"), CgroupV1Manager)
    assert isinstance(cgroup_manager("/k/c", tmp_path / "v2"), CgroupV2Manager)


def test_v1_create_writes_limits(tmp_path: Path) -> None:
    _v1(tmp_path, "/kobako/c1")
    m = CgroupV1Manager("/kobako/c1", tmp_path)
    assert "notacgroup" not in m.hierarchies and "memory" in m.hierarchies
    m.create({"memory": {"limit": 32 << 20, "swap": 64 << 20}, "cpu": {"quota": 50000, "period": 100000,
              "shares": 512}, "pids": {"limit": 10}})
    leaf = lambda h, f: (tmp_path / h / "kobako" / "c1" / f).read_text()  # noqa: E731
    assert leaf("memory", "memory.limit_in_bytes") == str(32 << 20)
    assert leaf("memory", "memory.memsw.limit_in_bytes") == str(64 << 20)
    assert leaf("cpu", "cpu.cfs_quota_us") == "50000" and leaf("cpu", "cpu.cfs_period_us") == "100000"
    assert leaf("cpu", "cpu.shares") == "512"
    assert leaf("pids", "pids.max") == "10"
    # cpuset copied down from the root through the intermediate directory
    assert (tmp_path / "cpuset" / "kobako" / "cpuset.cpus").read_text() == "0-3"
    assert leaf("cpuset", "cpuset.cpus") == "0-3" and leaf("cpuset", "cpuset.mems") == "0"


def test_v1_memsw_absent_and_unlimited(tmp_path: Path) -> None:
    _v1(tmp_path, "/c")
    (tmp_path / "memory" / "c" / "memory.memsw.limit_in_bytes").unlink()
    m = CgroupV1Manager("/c", tmp_path)
    m.create({"memory": {"limit": 1 << 20, "swap": 2 << 20}, "pids": {"limit": 0}})
    assert (tmp_path / "memory" / "c" / "memory.limit_in_bytes").read_text() == str(1 << 20)
    assert (tmp_path / "pids" / "c" / "pids.max").read_text() == "max"


def test_v1_add_freeze_stats_oom(tmp_path: Path) -> None:
    _v1(tmp_path, "/c")
    m = CgroupV1Manager("/c", tmp_path)
    m.create({})
    m.add(4242)
    for h in V1_FILES:
        assert (tmp_path / h / "c" / "cgroup.procs").read_text() == "4242"
    assert m.pids() == [4242]
    m.freeze()
    assert (tmp_path / "freezer" / "c" / "freezer.state").read_text() == "FROZEN"
    m.thaw()
    assert (tmp_path / "freezer" / "c" / "freezer.state").read_text() == "THAWED"
    s = m.stats()
    assert (s.memory_usage, s.cpu_usage_ns, s.pids_current) == (4096, 123456, 3)
    assert not m.oom_killed()
    (tmp_path / "memory" / "c" / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert m.oom_killed()


def test_v1_devices_rules(tmp_path: Path) -> None:
    _v1(tmp_path, "/c")
    m = CgroupV1Manager("/c", tmp_path)
    m.create({"devices": [{"allow": False, "access": "rwm"}]})
    assert (tmp_path / "devices" / "c" / "devices.deny").read_text() == "a"
    m.update({"devices": [{"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}]})
    assert (tmp_path / "devices" / "c" / "devices.allow").read_text() == "c 1:3 rwm"


def test_v1_missing_control_file_is_an_error(tmp_path: Path) -> None:
    _v1(tmp_path, "/c")
    (tmp_path / "pids" / "c" / "pids.max").unlink()
    with pytest.raises(FileNotFoundError):
        CgroupV1Manager("/c", tmp_path).create({"pids": {"limit": 5}})


def test_v2_create_enables_controllers_and_writes_limits(tmp_path: Path) -> None:
    _v2(tmp_path, "/kobako/c1")
    m = CgroupV2Manager("/kobako/c1", tmp_path)
    m.create({"memory": {"limit": 32 << 20, "swap": 64 << 20}, "cpu": {"quota": 50000, "period": 100000,
              "shares": 1024, "cpus": "0-1"}, "pids": {"limit": 10}})
    # each write to subtree_control is one "+ctrl"; the fake file keeps the last one
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+pids"
    assert (tmp_path / "kobako" / "cgroup.subtree_control").read_text() == "+pids"
    leaf = tmp_path / "kobako" / "c1"
    assert (leaf / "memory.max").read_text() == str(32 << 20)
    assert (leaf / "memory.swap.max").read_text() == str(32 << 20)  # OCI swap is memory+swap
    assert (leaf / "cpu.max").read_text() == "50000 100000"
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "cpuset.cpus").read_text() == "0-1"
    assert (leaf / "pids.max").read_text() == "10"


def test_v2_unlimited_values(tmp_path: Path) -> None:
    _v2(tmp_path, "/c")
    m = CgroupV2Manager("/c", tmp_path)
    m.create({"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1}, "pids": {"limit": -1}})
    leaf = tmp_path / "c"
    assert (leaf / "memory.max").read_text() == "max" and (leaf / "memory.swap.max").read_text() == "max"
    assert (leaf / "cpu.max").read_text() == "max 100000"
    assert (leaf / "pids.max").read_text() == "max"


def test_v2_add_freeze_stats_oom(tmp_path: Path) -> None:
    _v2(tmp_path, "/c")
    m = CgroupV2Manager("/c", tmp_path)
    m.create({})
    m.add(77)
    assert m.pids() == [77]
    (tmp_path / "c" / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    m.freeze()
    assert (tmp_path / "c" / "cgroup.freeze").read_text() == "1"
    s = m.stats()
    assert (s.memory_usage, s.cpu_usage_ns, s.pids_current) == (8192, 250_000, 2)
    assert m.oom_killed()
