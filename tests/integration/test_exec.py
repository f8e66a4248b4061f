"""`kobako exec` and the exec API on the real kernel: namespaces, cgroup, user, env, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.daemon_fixture import Daemon


def out(res: subprocess.CompletedProcess[bytes]) -> str:
    return res.stdout.decode()


@pytest.fixture(scope="module")
def box(daemon: Daemon) -> Iterator[str]:
    """A running container (with an env var and a working dir of its own) to exec into."""
    cid = out(daemon.kobako("run", "-d", "--name", "exec-box", "-e", "FROM_RUN=1", "-e", "SHARED=run",
                            "-w", "/srv", "busybox", "sleep", "600")).strip()
    yield cid
    daemon.kobako("rm", "-f", cid, check=False)


@pytest.mark.parametrize(
    ("argv", "code", "stdout"),
    [
        (["echo", "hi"], 0, "hi\n"),
        (["sh", "-c", "exit 3"], 3, ""),
        (["sh", "-c", "echo out; echo err >&2; exit 0"], 0, "out\n"),
        (["nope"], 127, 'OCI runtime exec failed: exec failed: unable to start container process: '
                        'exec: "nope": executable file not found in $PATH: unknown\r\n'),
        (["/etc/passwd"], 126, None),
        (["/no/such/file"], 127, None),
    ],
)
def test_exec_output_and_exit_codes(daemon: Daemon, box: str, argv: list[str], code: int,
                                    stdout: str | None) -> None:
    res = daemon.kobako("exec", box, *argv, check=False)
    assert res.returncode == code, res
    if stdout is not None:
        assert out(res) == stdout
    if code == 126:
        assert "permission denied" in out(res)
    if argv == ["/no/such/file"]:
        assert "no such file or directory" in out(res)


def test_exec_stderr_is_separate(daemon: Daemon, box: str) -> None:
    res = daemon.kobako("exec", box, "sh", "-c", "echo out; echo err >&2")
    assert (out(res), res.stderr.decode()) == ("out\n", "err\n")


def test_exec_is_in_every_namespace_and_the_cgroup(daemon: Daemon, box: str) -> None:
    res = daemon.kobako("exec", box, "ps", "-o", "pid,args")
    lines = out(res).splitlines()
    assert lines[1].split(None, 1) == ["1", "sleep 600"], lines
    script = ("for ns in mnt uts ipc net pid cgroup; do "
              "[ $(readlink /proc/1/ns/$ns) = $(readlink /proc/self/ns/$ns) ] && echo same-$ns; done; "
              "[ \"$(cat /proc/1/cgroup)\" = \"$(cat /proc/self/cgroup)\" ] && echo same-cgroup; hostname")
    lines = out(daemon.kobako("exec", box, "sh", "-c", script)).splitlines()
    assert lines == [f"same-{ns}" for ns in ("mnt", "uts", "ipc", "net", "pid", "cgroup")] + \
        ["same-cgroup", box[:12]]
    # and on the host: the exec'd process is in the container's cgroup directory
    inspect = json.loads(out(daemon.kobako("inspect", box)))[0]
    pid = inspect["State"]["Pid"]
    sleeper = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True)  # no children of PID 1
    assert sleeper.stdout == b""
    with open(f"/proc/{pid}/cgroup") as f:
        init_cgroups = f.read()
    eid = _exec_detached(daemon, box, ["sleep", "30"])
    exec_pid = _inspect_exec(daemon, eid)["Pid"]
    try:
        with open(f"/proc/{exec_pid}/cgroup") as f:
            assert f.read() == init_cgroups
    finally:
        daemon.kobako("exec", box, "pkill", "-f", "sleep 30", check=False)


def test_exec_env_user_workdir(daemon: Daemon, box: str) -> None:
    res = daemon.kobako("exec", "-e", "FROM_EXEC=2", "-e", "SHARED=exec", box, "sh", "-c",
                        'echo "$FROM_RUN $FROM_EXEC $SHARED $HOSTNAME $PATH $(pwd)"')
    assert out(res) == (f"1 2 exec {box[:12]} /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
                        "/srv\n")
    assert out(daemon.kobako("exec", "-u", "nobody", box, "sh", "-c", "id -u; id -g; echo $HOME")) == \
        "65534\n65534\n/home\n"
    assert out(daemon.kobako("exec", "-u", "1234:5678", box, "id")).startswith("uid=1234 gid=5678")
    assert out(daemon.kobako("exec", "-w", "/tmp", box, "pwd")) == "/tmp\n"
    res = daemon.kobako("exec", "-u", "nosuchuser", box, "true", check=False)
    assert res.returncode != 0
    assert "unable to find user nosuchuser" in out(res) + res.stderr.decode()


def test_exec_env_file(daemon: Daemon, box: str, tmp_path: object) -> None:
    from pathlib import Path

    f = Path(str(tmp_path)) / "env"
    f.write_text("# c\nFROM_FILE=yes\n")
    assert out(daemon.kobako("exec", "--env-file", str(f), box, "sh", "-c", "echo $FROM_FILE")) == "yes\n"


def test_exec_stdin_half_close(daemon: Daemon, box: str) -> None:
    data = b"".join(b"line %d\n" % i for i in range(5000))
    res = daemon.kobako("exec", "-i", box, "sh", "-c", "cat; echo done", input=data)
    assert res.stdout == data + b"done\n"
    # without -i the process' stdin is empty
    assert daemon.kobako("exec", box, "cat", input=b"ignored").stdout == b""


def test_exec_detached(daemon: Daemon, box: str) -> None:
    assert daemon.kobako("exec", "-d", box, "sh", "-c", "echo detached > /tmp/d").stdout == b""
    for _ in range(50):
        res = daemon.kobako("exec", box, "cat", "/tmp/d", check=False)
        if res.returncode == 0:
            break
        time.sleep(0.1)
    assert out(res) == "detached\n"


def _exec_detached(daemon: Daemon, cid: str, cmd: list[str]) -> str:
    with daemon.client() as c:
        eid = c.json("POST", f"/containers/{cid}/exec", body={"Cmd": cmd})["Id"]
        c.json("POST", f"/exec/{eid}/start", body={"Detach": True})
    return str(eid)


def _inspect_exec(daemon: Daemon, eid: str) -> dict[str, object]:
    with daemon.client() as c:
        return dict(c.json("GET", f"/exec/{eid}/json"))


def test_exec_api_inspect_and_errors(daemon: Daemon, box: str) -> None:
    from kobako.client import DaemonError

    with daemon.client() as c:
        eid = c.json("POST", f"/containers/{box}/exec",
                     body={"Cmd": ["sh", "-c", "exit 5"], "User": "nobody", "AttachStdout": True})["Id"]
        assert re.fullmatch(r"[0-9a-f]{64}", eid)
        info = c.json("GET", f"/exec/{eid}/json")
        assert info["Running"] is False and info["ExitCode"] is None and info["ContainerID"] == box
        assert info["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 5"],
                                         "privileged": False, "user": "nobody"}
        assert (info["OpenStdin"], info["OpenStdout"], info["OpenStderr"]) == (False, True, False)
        with c.hijack("POST", f"/exec/{eid}/start", body={"Detach": False, "Tty": False}) as conn:
            assert conn.status == 101
            assert conn.content_type == "application/vnd.docker.multiplexed-stream"
            while conn.recv(65536):
                pass
        info = c.json("GET", f"/exec/{eid}/json")
        assert (info["Running"], info["ExitCode"]) == (False, 5)
        assert info["Pid"] > 0
        with pytest.raises(DaemonError) as err:
            c.json("POST", f"/exec/{eid}/start", body={"Detach": True})
        assert err.value.status == 409 and "has already run" in err.value.message
        with pytest.raises(DaemonError) as err:
            c.json("GET", "/exec/" + "0" * 64 + "/json")
        assert err.value.status == 404 and "No such exec instance" in err.value.message
        with pytest.raises(DaemonError) as err:
            c.json("POST", f"/containers/{box}/exec", body={"Cmd": []})
        assert err.value.status == 400
        # a running exec: Running, then killed with the rest of the container's processes below
        eid = c.json("POST", f"/containers/{box}/exec", body={"Cmd": ["sleep", "300"]})["Id"]
        c.json("POST", f"/exec/{eid}/start", body={"Detach": True})
        info = c.json("GET", f"/exec/{eid}/json")
        assert info["Running"] is True and info["ExitCode"] is None
        assert eid in c.json("GET", f"/containers/{box}/json")["ExecIDs"]
        daemon.kobako("exec", box, "kill", str(_container_pid_of(daemon, box, "sleep 300")))
        for _ in range(50):
            info = c.json("GET", f"/exec/{eid}/json")
            if not info["Running"]:
                break
            time.sleep(0.1)
        assert info["ExitCode"] == 143


def _container_pid_of(daemon: Daemon, cid: str, args: str) -> int:
    for line in out(daemon.kobako("exec", cid, "ps", "-o", "pid,args")).splitlines()[1:]:
        pid, cmd = line.split(None, 1)
        if cmd == args:
            return int(pid)
    raise AssertionError(f"{args!r} not running")


def test_exec_into_stopped_container_fails(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "true")).strip()
    try:
        res = daemon.kobako("exec", cid, "echo", "hi", check=False)
        assert res.returncode == 1
        assert f"container {cid} is not running" in res.stderr.decode()
        daemon.kobako("start", cid)
        daemon.kobako("wait", cid)
        res = daemon.kobako("exec", cid, "echo", "hi", check=False)
        assert res.returncode == 1 and "is not running" in res.stderr.decode()
    finally:
        daemon.kobako("rm", "-f", cid)
    res = daemon.kobako("exec", "no-such-container-x", "true", check=False)
    assert res.returncode == 1 and "No such container" in res.stderr.decode()


def test_exec_processes_die_with_the_container(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "600")).strip()
    try:
        eid = _exec_detached(daemon, cid, ["sleep", "777"])
        pid = _inspect_exec(daemon, eid)["Pid"]
        assert isinstance(pid, int) and pid > 0
        attached = subprocess.Popen([daemon_kobako(), "-H", daemon.host, "exec", cid, "sleep", "778"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(0.5)
        daemon.kobako("kill", cid)
        assert attached.wait(timeout=20) == 137
        assert out(daemon.kobako("wait", cid)).strip() == "137"
        for _ in range(50):
            if not _inspect_exec(daemon, eid)["Running"]:
                break
            time.sleep(0.1)
        assert _inspect_exec(daemon, eid)["ExitCode"] == 137
        assert subprocess.run(["pgrep", "-f", "sleep 77[78]"], capture_output=True).stdout == b""
    finally:
        daemon.kobako("rm", "-f", cid)


def daemon_kobako() -> str:
    from tests.daemon_fixture import KOBAKO

    return KOBAKO
