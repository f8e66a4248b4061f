"""``kobako.runtime.create`` used as the shim uses it, in this (single-threaded) test process."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kobako.errors import RuntimeFailure
from kobako.runtime import cgroup_manager, create, default_spec
from tests.integration.runtime_helpers import (  # noqa: F401 - fixtures
    bundle, cgroup_dirs, cgroup_prefix, mounts_mentioning, requires_busybox, requires_root,
)

pytestmark = [pytest.mark.root, requires_root, requires_busybox,
              pytest.mark.skipif(threading.active_count() != 1, reason="create() needs a single-threaded caller")]


def test_create_start_wait(bundle: Path, cgroup_prefix: str, tmp_path: Path) -> None:
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    spec = default_spec(["sh", "-c", "cat /proc/self/cgroup | grep memory; echo $$"],
                        cgroups_path=f"/{cgroup_prefix}/lib1", resources={"pids": {"limit": 50}})
    init = create(spec, bundle=bundle, stdio=(out, out, out))
    os.close(out)
    assert init.cgroup is not None and init.cgroup.pids() == [init.pid]
    assert (tmp_path / "out").read_text() == ""
    init.start()
    _, status = os.waitpid(init.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # its own cgroup is the root of its cgroup namespace
    assert (tmp_path / "out").read_text() == "4:memory:/\n1\n"
    assert init.cgroup.stats().cpu_usage_ns > 0
    init.cgroup.destroy()
    assert not mounts_mentioning(str(bundle))


def test_create_failure_reaps_and_removes_cgroup(bundle: Path, cgroup_prefix: str) -> None:
    spec = default_spec(["nosuch"], cgroups_path=f"/{cgroup_prefix}/lib2")
    with pytest.raises(RuntimeFailure) as ei:
        create(spec, bundle=bundle, stdio=(0, 1, 2))
    assert ei.value.kind == "ExecNotFound"
    assert not [d for d in cgroup_dirs(cgroup_prefix) if (d / "lib2").exists()]
    # reaped: no zombie child left (other children, e.g. a session's kobakod, may exist)
    children = Path(f"/proc/self/task/{os.getpid()}/children").read_text().split()
    states = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in children
              if Path(f"/proc/{pid}/stat").exists()]
    assert "Z" not in states


def test_close_before_start_runs_nothing(bundle: Path, tmp_path: Path) -> None:
    spec = default_spec(["touch", "/ran"])
    init = create(spec, bundle=bundle, stdio=(0, 1, 2))
    init.close()
    _, status = os.waitpid(init.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert not (bundle / "rootfs" / "ran").exists()
    with pytest.raises(RuntimeFailure):
        init.start()


def test_join_network_namespace_by_path(bundle: Path, tmp_path: Path) -> None:
    """A namespace entry with a path is joined (docker --network container:X)."""
    # `ip link set` needs CAP_NET_ADMIN, which Docker's default set (default_spec's) leaves out
    caps = ["CAP_NET_ADMIN", "CAP_KILL"]
    first = create(default_spec(["sh", "-c", "ip link set lo up; sleep 30"], capabilities=caps), bundle=bundle,
                   stdio=(0, 1, 2))
    first.start()
    try:
        out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
        ns = [{"type": t} for t in ("pid", "mount", "uts", "ipc")] + [
            {"type": "network", "path": f"/proc/{first.pid}/ns/net"}]
        second = create(default_spec(["cat", "/sys/class/net/lo/operstate"], namespaces=ns), bundle=bundle,
                        stdio=(0, out, out))
        os.close(out)
        second.start()
        os.waitpid(second.pid, 0)
        assert (tmp_path / "out").read_text().strip() in ("unknown", "up")
        assert os.readlink(f"/proc/{first.pid}/ns/net") != os.readlink("/proc/self/ns/net")
    finally:
        os.kill(first.pid, 9)
        os.waitpid(first.pid, 0)


def test_real_cgroup_manager_lifecycle(cgroup_prefix: str) -> None:
    m = cgroup_manager(f"/{cgroup_prefix}/mgr")
    m.create({"memory": {"limit": 64 << 20, "swap": 128 << 20}, "pids": {"limit": 5},
              "cpu": {"quota": 20000, "period": 100000}})
    pid = os.fork()
    if pid == 0:
        os.pause()
        os._exit(0)
    try:
        m.add(pid)
        assert m.pids() == [pid]
        m.freeze()
        m.thaw()
        m.update({"pids": {"limit": 7}})
        assert not m.oom_killed()
        m.destroy()  # SIGKILLs the child; it stays our zombie until reaped
    finally:
        _, status = os.waitpid(pid, 0)
    assert os.WTERMSIG(status) == 9
    assert not [d for d in cgroup_dirs(cgroup_prefix) if (d / "mgr").exists()]
