"""The shim's process design for a small memory footprint (docs/architecture.md, "The shim's memory"):
container creation runs in a short-lived child of the shim, which hands the init over and exits, so a
running container has exactly two processes of ours: its shim and, as the shim's child, its init."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.daemon_fixture import Daemon

# A running shim's private dirty memory was ≈ 4.5 MiB when it created the container itself and imported
# the runtime after the fork; it is ≈ 2.1 MiB now. A generous bound that still catches either coming back.
MAX_SHIM_PRIVATE_DIRTY_KIB = 3 * 1024 + 512


def _stat(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


def _rollup(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{key} not in smaps_rollup of {pid}")


def _shim_pid(daemon: Daemon, cid: str) -> int:
    return int((daemon.exec_root / "shims" / f"{cid}.pid").read_text())


def test_the_init_is_the_shim_s_only_child_once_created(daemon: Daemon) -> None:
    cid = daemon.kobako("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        shim = _shim_pid(daemon, cid)
        init = json.loads(daemon.kobako("inspect", "-f", "{{json .State.Pid}}", cid).stdout)
        assert _stat(shim)["Name"] == "kobako-shim"
        assert int(_stat(init)["PPid"]) == shim  # re-parented from the set-up child to the shim
        assert _children(shim) == [init]  # the set-up child is gone (and was reaped: no zombie)
        # the shim still controls its init: an exec, then a signal with its exit code
        assert daemon.kobako("exec", cid, "echo", "hi").stdout == b"hi\n"
        assert _children(shim) == [init]  # the exec's process was reaped too
        daemon.kobako("kill", "-s", "KILL", cid)  # (sleep as PID 1 ignores TERM, as in Docker)
        assert daemon.kobako("wait", cid).stdout.strip() == b"137"
        deadline = time.monotonic() + 20
        while Path(f"/proc/{shim}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{shim}").exists()  # exited, and reaped by the spawner's kernel auto-reap
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_a_failed_creation_leaves_no_process_and_no_cgroup(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--name", "shim-mem-nocmd", "busybox", "/no/such/binary", check=False)
    assert res.returncode == 127, res.stderr
    try:
        cid = daemon.kobako("inspect", "-f", "{{.Id}}", "shim-mem-nocmd").stdout.decode().strip()
        assert not (daemon.exec_root / "shims" / f"{cid}.pid").exists()
        leftover = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _mentions(p, cid)]
        assert leftover == []
        cgroups = [p for p in Path("/sys/fs/cgroup").rglob(f"*{cid}*") if p.is_dir()]
        assert cgroups == []
    finally:
        daemon.kobako("rm", "-f", "shim-mem-nocmd", check=False)


def _mentions(proc: Path, cid: str) -> bool:
    try:
        return cid in (proc / "cmdline").read_bytes().decode(errors="replace") or \
            cid in os.readlink(proc / "cwd")
    except OSError:
        return False


def test_a_running_shim_stays_small(daemon: Daemon) -> None:
    cid = daemon.kobako("run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    try:
        time.sleep(0.5)  # the start/attach/wait requests have been served
        dirty = _rollup(_shim_pid(daemon, cid), "Private_Dirty")
        assert dirty < MAX_SHIM_PRIVATE_DIRTY_KIB, f"shim private dirty {dirty} KiB"
    finally:
        daemon.kobako("rm", "-f", cid, check=False)
