"""The runtime on the real kernel, driven through ``kobako-runtime run`` with a busybox rootfs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.integration.runtime_helpers import (  # noqa: F401 - fixtures
    RUNTIME, bundle, cgroup_prefix, mounts_mentioning, requires_busybox, requires_root, write_config,
)

from kobako.runtime import default_spec, memory_resources

pytestmark = [pytest.mark.root, requires_root, requires_busybox]


def run(bundle: Path, args: list[str], *, cgroup: str = "", timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
    spec = default_spec(args, cgroups_path=cgroup, **kw)
    write_config(bundle, spec)
    state = bundle.parent / "state"
    try:
        return subprocess.run([str(RUNTIME), "--root", str(state), "run", "--bundle", str(bundle), "c1"],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        assert not mounts_mentioning(str(bundle)), "mount left behind on the host"
        assert not (state / "c1").exists()


def test_echo_and_exit_status(bundle: Path, cgroup_prefix: str) -> None:
    r = run(bundle, ["echo", "hello", "world"], cgroup=f"/{cgroup_prefix}/c1")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello world\n", "")
    assert run(bundle, ["sh", "-c", "exit 42"]).returncode == 42


def test_killed_by_signal_is_128_plus_n(bundle: Path) -> None:
    """PID 1 ignores signals it has no handler for, even SIGKILL from inside; `kill` from outside works."""
    write_config(bundle, default_spec(["sh", "-c", "kill -KILL $$; echo survived; sleep 30"]))
    state = bundle.parent / "state"
    p = subprocess.Popen([str(RUNTIME), "--root", str(state), "run", "--bundle", str(bundle), "c1"],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline() == "survived\n"
        subprocess.run([str(RUNTIME), "--root", str(state), "kill", "c1", "KILL"], check=True)
        assert p.wait(timeout=10) == 128 + 9
    finally:
        p.kill()
        p.wait()
    assert not (state / "c1").exists()


def test_missing_executable_is_127(bundle: Path) -> None:
    r = run(bundle, ["nosuchcmd"])
    assert r.returncode == 127
    err = json.loads(r.stderr)
    assert err == {"kind": "ExecNotFound", "message": 'exec: "nosuchcmd": executable file not found in $PATH'}
    r = run(bundle, ["/no/such"])
    assert r.returncode == 127 and "no such file or directory" in r.stderr


def test_not_executable_is_126(bundle: Path) -> None:
    r = run(bundle, ["/notexec"])
    assert r.returncode == 126
    assert json.loads(r.stderr) == {"kind": "ExecNotExecutable", "message": 'exec: "/notexec": permission denied'}
    assert run(bundle, ["/etc"]).returncode == 126


def test_pid_namespace(bundle: Path) -> None:
    assert run(bundle, ["sh", "-c", "echo $$"]).stdout == "1\n"
    lines = run(bundle, ["ps", "-o", "pid,comm"]).stdout.splitlines()[1:]
    assert [line.split() for line in lines] == [["1", "ps"]]  # nothing of the host is visible
    lines = run(bundle, ["sh", "-c", "sleep 5 & sleep 0.2; ps -o pid,comm; kill %1"]).stdout.splitlines()[1:]
    assert [line.split()[1] for line in lines] == ["sh", "sleep", "ps"]


def test_hostname_and_uts(bundle: Path) -> None:
    assert run(bundle, ["hostname"], hostname="kobako-box").stdout == "kobako-box\n"


def test_network_namespace_has_only_lo(bundle: Path) -> None:
    out = run(bundle, ["cat", "/proc/net/dev"]).stdout
    ifaces = [line.split(":")[0].strip() for line in out.splitlines()[2:]]
    assert ifaces == ["lo"]


def test_host_files_invisible(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "host-secret").write_text("x")
    r = run(bundle, ["sh", "-c", f"ls {tmp_path} /work /usr/lib 2>&1; ls /"])
    assert "host-secret" not in r.stdout
    assert sorted(r.stdout.split()[-9:]) == sorted(
        ["bin", "dev", "etc", "home", "notexec", "proc", "root", "sys", "tmp"])


def test_memory_limit_oom_kills(bundle: Path, cgroup_prefix: str) -> None:
    r = run(bundle, ["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"], cgroup=f"/{cgroup_prefix}/c1",
            resources={"memory": memory_resources(32 << 20)})
    assert r.returncode == 137


def test_pids_limit_stops_fork_loop(bundle: Path, cgroup_prefix: str) -> None:
    r = run(bundle, ["sh", "-c", "for i in $(seq 30); do sleep 1 & done; wait"], cgroup=f"/{cgroup_prefix}/c1",
            resources={"pids": {"limit": 10}})
    assert "can't fork" in r.stderr


def test_user_annotation(bundle: Path) -> None:
    r = run(bundle, ["sh", "-c", "id -u; id -g; id -G; echo $HOME"], user="nobody")
    assert r.stdout.split() == ["65534", "65534", "65534", "50", "/home/nobody"]
    assert run(bundle, ["id", "-u"], user="1234:5").stdout == "1234\n"
    r = run(bundle, ["id"], user="ghost")
    assert r.returncode == 1
    assert json.loads(r.stderr)["message"] == "unable to find user ghost: no matching entries in passwd file"


def test_numeric_process_user(bundle: Path) -> None:
    assert run(bundle, ["id", "-u"], uid=1000, gid=1000).stdout == "1000\n"


def test_sys_is_read_only(bundle: Path) -> None:
    r = run(bundle, ["sh", "-c", "grep ' /sys ' /proc/mounts; touch /sys/kernel/x"])
    assert r.stdout.split()[3].split(",")[0] == "ro"
    assert r.returncode != 0 and "Read-only file system" in r.stderr


def test_dev_nodes_and_links(bundle: Path) -> None:
    r = run(bundle, ["sh", "-c", "ls /dev; echo x > /dev/null; head -c 4 /dev/zero | wc -c; readlink /dev/ptmx"])
    names = set(r.stdout.split())
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "mqueue", "fd", "stdin"} <= names
    assert r.stdout.split()[-2:] == ["4", "pts/ptmx"]
    assert r.returncode == 0


def test_readonly_rootfs_and_cwd(bundle: Path) -> None:
    r = run(bundle, ["sh", "-c", "pwd; touch /x"], readonly_rootfs=True, cwd="/made/for/you")
    assert r.stdout == "/made/for/you\n" and "Read-only file system" in r.stderr
    assert (bundle / "rootfs" / "made" / "for" / "you").is_dir()


def test_masked_paths(bundle: Path) -> None:
    r = run(bundle, ["sh", "-c", "ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid"])
    assert r.stdout.split()[0] == "0" and "Read-only file system" in r.stderr


def test_environment(bundle: Path) -> None:
    r = run(bundle, ["env"], env=["FOO=bar"])
    env = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert env["FOO"] == "bar" and env["HOME"] == "/root" and env["PATH"].startswith("/usr/local/sbin")


def test_device_cgroup_denies_host_disks(bundle: Path, cgroup_prefix: str) -> None:
    r = run(bundle, ["sh", "-c", "mknod /tmp/disk b 8 0 && head -c 1 /tmp/disk; echo ok > /dev/null && echo null-ok"],
            cgroup=f"/{cgroup_prefix}/c1")
    assert "Operation not permitted" in r.stderr and r.stdout == "null-ok\n"
