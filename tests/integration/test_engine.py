"""The foundation, end to end through kobakod: `kobako run` and friends on the real kernel."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


def test_run_rm_echo_hello(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "--name", "hello-rm", "busybox", "echo", "hello")
    assert out(res) == "hello\n"
    # --rm: gone once run returns
    res = daemon.kobako("ps", "-a", "--format", "{{.Names}}")
    assert "hello-rm" not in out(res).split()


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["true"], 0, ""),
        (["sh", "-c", "exit 42"], 42, ""),
        (["sh", "-c", "sleep 5 & kill -9 $!; wait $!"], 137, ""),
        (["no-such-command"], 127, "executable file not found"),
        (["/no/such/file"], 127, "no such file or directory"),
        (["/etc/passwd"], 126, "permission denied"),
    ],
)
def test_exit_codes(daemon: Daemon, argv: list[str], code: int, message: str) -> None:
    res = daemon.kobako("run", "--rm", "busybox", *argv, check=False)
    assert res.returncode == code, res.stderr.decode()
    assert message in res.stderr.decode()


def test_kill_gives_128_plus_signal(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "60")).strip()
    try:
        daemon.kobako("kill", cid)
        assert out(daemon.kobako("wait", cid)).strip() == "137"
    finally:
        daemon.kobako("rm", "-f", cid)


def test_engine_error_is_125(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "no-such-image-here", "true", check=False)
    assert res.returncode == 125
    res = daemon.kobako("run", "--rm", "-m", "1k", "busybox", "true", check=False)
    assert res.returncode == 125
    assert "Minimum memory limit" in res.stderr.decode()


def test_stdout_and_stderr_are_separate(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert out(res) == "out\n"
    assert res.stderr.decode() == "err\n"


def test_stdin_is_streamed(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "-i", "busybox", "cat", input=b"data through stdin\n")
    assert out(res) == "data through stdin\n"


def test_pid1_and_process_isolation(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "busybox", "sh", "-c", "echo $$; ps -o pid,comm")
    lines = out(res).splitlines()
    assert lines[0] == "1"
    pids = [ln.split()[0] for ln in lines[2:]]
    assert set(pids) <= {"1", "2", "3", "4", "5", "6", "7"}, lines  # only the container's few processes


def test_host_files_and_interfaces_invisible(daemon: Daemon, tmp_path: Path) -> None:
    marker = Path("/tmp") / f"kobako-marker-{os.getpid()}"
    marker.write_text("host only")
    try:
        res = daemon.kobako("run", "--rm", "--network", "none", "busybox", "sh", "-c",
                            f"ls {marker} 2>&1; cat /proc/net/dev | tail -n +3 | cut -d: -f1", check=False)
    finally:
        marker.unlink()
    text = out(res)
    assert "No such file" in text
    ifaces = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
    assert ifaces == ["lo"]


def test_env_workdir_hostname_user_entrypoint(daemon: Daemon, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n")
    res = daemon.kobako("run", "--rm", "-e", "A=1", "--env-file", str(env_file), "-w", "/tmp/work",
                        "--hostname", "boxy", "-u", "nobody", "busybox", "sh", "-c",
                        'echo "$A $FROM_FILE $(pwd) $(hostname) $(id -u):$(id -g)"')
    assert out(res) == "1 yes /tmp/work boxy 65534:65534\n"
    res = daemon.kobako("run", "--rm", "-u", "1234:5678", "busybox", "id")
    assert out(res).startswith("uid=1234 gid=5678")
    res = daemon.kobako("run", "--rm", "--entrypoint", "echo", "busybox", "via", "entrypoint")
    assert out(res) == "via entrypoint\n"
    res = daemon.kobako("run", "--rm", "-u", "nosuchuser", "busybox", "true", check=False)
    assert res.returncode == 125
    assert "unable to find user nosuchuser" in res.stderr.decode()


def test_default_hostname_is_short_id(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "hostname")).strip()
    try:
        daemon.kobako("start", cid)
        daemon.kobako("wait", cid)
        assert out(daemon.kobako("logs", cid)) == cid[:12] + "\n"
    finally:
        daemon.kobako("rm", "-f", cid)


def _cgroup_file(daemon: Daemon, cid: str, controller: str, name: str) -> str:
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    base = Path("/sys/fs/cgroup") if v2 else Path("/sys/fs/cgroup") / controller
    return (base / daemon.cgroup_parent.strip("/") / cid / name).read_text().strip()


def test_limits_are_written_to_the_cgroup(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "-m", "64m", "--cpus", "0.5", "--pids-limit", "20",
                            "busybox", "sleep", "60")).strip()
    try:
        v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        if v2:
            assert _cgroup_file(daemon, cid, "memory", "memory.max") == str(64 * 1024 * 1024)
            assert _cgroup_file(daemon, cid, "cpu", "cpu.max") == "50000 100000"
        else:
            assert _cgroup_file(daemon, cid, "memory", "memory.limit_in_bytes") == str(64 * 1024 * 1024)
            assert _cgroup_file(daemon, cid, "cpu", "cpu.cfs_quota_us") == "50000"
        assert _cgroup_file(daemon, cid, "pids", "pids.max") == "20"
    finally:
        daemon.kobako("rm", "-f", cid)


def test_memory_limit_oom_kills(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--name", "oomer", "-m", "32m", "busybox",
                        "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1", check=False)
    try:
        assert res.returncode == 137
        state = json.loads(out(daemon.kobako("inspect", "--format", "{{json .State}}", "oomer")))
        assert state["OOMKilled"] is True
        assert state["ExitCode"] == 137
    finally:
        daemon.kobako("rm", "-f", "oomer")


def test_pids_limit_stops_a_fork_loop(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "--pids-limit", "10", "busybox", "sh", "-c",
                        # The fork loop runs in a subshell (ash exits when a fork fails); the glob counts processes.
                        "(for i in $(seq 40); do sleep 30 & done) 2>/dev/null; set -- /proc/[0-9]*; echo $#; kill -9 -1",
                        check=False)
    count = int(out(res).strip().splitlines()[-1])
    assert 5 <= count <= 10, count  # some forks happened, none past the limit


def test_detached_ps_logs_stop_rm(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "--name", "ticker", "busybox", "sh", "-c",
                            "trap 'echo bye; exit 3' TERM; echo started; while true; do sleep 0.1; done")).strip()
    try:
        assert len(cid) == 64
        ps = out(daemon.kobako("ps"))
        header, *rows = ps.splitlines()
        assert header.split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
        assert any(cid[:12] in r and "ticker" in r and "Up " in r for r in rows)
        assert out(daemon.kobako("ps", "-q")).split().count(cid[:12]) == 1
        for _ in range(50):
            if "started" in out(daemon.kobako("logs", "ticker")):
                break
            time.sleep(0.1)
        res = daemon.kobako("rm", "ticker", check=False)
        assert res.returncode == 1
        assert "container is running" in res.stderr.decode()
        daemon.kobako("stop", "ticker")
        state = json.loads(out(daemon.kobako("inspect", "-f", "{{json .State}}", "ticker")))
        assert state["Status"] == "exited" and state["ExitCode"] == 3
        assert out(daemon.kobako("logs", "ticker")) == "started\nbye\n"
        assert "Exited (3)" in out(daemon.kobako("ps", "-a", "--filter", "name=ticker"))
    finally:
        daemon.kobako("rm", "-f", "ticker")
    res = daemon.kobako("inspect", "ticker", check=False)
    assert res.returncode == 1


def test_logs_follow_ends_with_the_container(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done")).strip()
    try:
        res = daemon.kobako("logs", "-f", cid, timeout=20)
        assert out(res) == "1\n2\n3\n"
        assert out(daemon.kobako("logs", "--tail", "1", cid)) == "3\n"
    finally:
        daemon.kobako("rm", "-f", cid)


def test_daemon_sigkill_and_restart_keeps_containers(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "300")).strip()
    quick = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "sleep 1; exit 7")).strip()
    try:
        daemon.kill9()
        time.sleep(1.5)  # `quick` exits while kobakod is down
        daemon.start()
        running = out(daemon.kobako("ps", "-q", "--no-trunc")).split()
        assert cid in running
        state = json.loads(out(daemon.kobako("inspect", "-f", "{{json .State}}", quick)))
        assert state["Status"] == "exited" and state["ExitCode"] == 7
        daemon.kobako("stop", "-t", "1", cid)
        state = json.loads(out(daemon.kobako("inspect", "-f", "{{json .State}}", cid)))
        assert state["Status"] == "exited" and state["ExitCode"] == 137
    finally:
        daemon.kobako("rm", "-f", cid, quick, check=False)


def test_images_inspect_rmi(daemon: Daemon) -> None:
    images = out(daemon.kobako("images"))
    assert images.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(r.split()[:2] == ["busybox", "latest"] for r in images.splitlines()[1:])
    info = json.loads(out(daemon.kobako("image", "inspect", "busybox")))[0]
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 1
    daemon.kobako("tag", "busybox", "kobako-test/bb:two")
    res = daemon.kobako("rmi", "kobako-test/bb:two")
    assert "Untagged: kobako-test/bb:two" in out(res)
    assert "busybox" in out(daemon.kobako("images", "--format", "{{.Repository}}"))


def test_import_with_changes(daemon: Daemon, tmp_path: Path) -> None:
    # A rootfs made from the busybox image's own files: export-free, via a host tarball.
    tar_path = tmp_path / "rootfs.tar"
    with tarfile.open(tar_path, "w") as tar:
        info = tarfile.TarInfo("bin/busybox")
        data = Path("/bin/busybox").read_bytes()
        info.size = len(data)
        info.mode = 0o755
        tar.addfile(info, io.BytesIO(data))
        for applet in ("sh", "echo"):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    res = daemon.kobako("import", "-c", "ENV GREETING=imported", "-c", 'CMD ["sh", "-c", "echo $GREETING"]',
                        str(tar_path), "kobako-test/imported:v1")
    assert out(res).strip().startswith("sha256:")
    try:
        env = ["-e", "PATH=/bin"]
        assert out(daemon.kobako("run", "--rm", *env, "kobako-test/imported:v1")) == "imported\n"
    finally:
        daemon.kobako("rmi", "kobako-test/imported:v1", check=False)


def test_version_and_info(daemon: Daemon) -> None:
    v = out(daemon.kobako("version", "--format", "{{.Server.ApiVersion}}"))
    assert v.strip() == "1.50"
    info = out(daemon.kobako("info", "--format", "{{.Driver}} {{.CgroupVersion}}")).split()
    assert info[0] in ("overlay", "copy") and info[1] in ("1", "2")
