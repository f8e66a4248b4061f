"""Pseudo-terminals inside the container (its own devpts), window sizes, and interactive sessions
driven through tmux: `kobako run -it`, detach keys, `kobako attach`, and the real `docker exec -it`."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from tests.daemon_fixture import KOBAKO, Daemon

DOCKER_CLI = "/usr/local/bin/docker"
TMUX = shutil.which("tmux") or "/usr/bin/tmux"


def out(res: subprocess.CompletedProcess[bytes]) -> str:
    return res.stdout.decode()


def test_run_t_has_a_tty_in_the_container_devpts(daemon: Daemon) -> None:
    res = daemon.kobako("run", "--rm", "-t", "busybox", "sh", "-c", "tty; ls -1 /dev/pts; stat -c %u:%g /dev/pts/0")
    lines = out(res).splitlines()
    assert lines[0] == "/dev/pts/0"
    assert "ptmx" in lines[1:-1] and "0" in lines[1:-1]
    assert lines[-1] == "0:5"  # root, group tty (devpts gid=5)
    res = daemon.kobako("run", "--rm", "-t", "-u", "nobody", "busybox", "sh", "-c", "tty; stat -c %U /dev/pts/0")
    assert out(res).splitlines() == ["/dev/pts/0", "nobody"]
    assert out(daemon.kobako("run", "--rm", "busybox", "sh", "-c", "tty; true")) == "not a tty\n"


def test_exec_t_has_a_tty(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "-t", "busybox", "sleep", "300")).strip()
    try:
        res = daemon.kobako("exec", "-t", cid, "tty")
        assert res.stdout == b"/dev/pts/1\r\n"
        assert out(daemon.kobako("exec", cid, "tty", check=False)) == "not a tty\n"
        env = out(daemon.kobako("exec", "-t", cid, "sh", "-c", "echo $TERM"))
        assert env == "xterm\r\n"
    finally:
        daemon.kobako("rm", "-f", cid)


def _create(c: object, body: dict[str, object]) -> str:
    return str(c.json("POST", "/containers/create", body=body)["Id"])  # type: ignore[attr-defined]


def test_console_size_is_set_before_the_process_runs(daemon: Daemon) -> None:
    with daemon.client() as c:
        cid = _create(c, {"Image": "busybox", "Tty": True, "Cmd": ["stty", "size"],
                          "HostConfig": {"ConsoleSize": [31, 101]}})
        try:
            c.json("POST", f"/containers/{cid}/start")
            b"".join(c.stream("POST", f"/containers/{cid}/wait"))
            logs = b"".join(c.stream("GET", f"/containers/{cid}/logs", query={"stdout": 1}))
            assert logs == b"31 101\r\n"
        finally:
            c.json("DELETE", f"/containers/{cid}", query={"force": 1})


def _read_until(conn: object, needle: bytes, timeout: float = 10) -> bytes:
    conn.sock.settimeout(timeout)  # type: ignore[attr-defined]
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < deadline:
        data = conn.recv(65536)  # type: ignore[attr-defined]
        if not data:
            break
        buf += data
    return buf


def test_exec_console_size_resize_and_detach_keys_over_the_api(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "300")).strip()
    try:
        with daemon.client() as c:
            eid = c.json("POST", f"/containers/{cid}/exec",
                         body={"Cmd": ["sh"], "Tty": True, "AttachStdin": True, "AttachStdout": True,
                               "AttachStderr": True, "ConsoleSize": [24, 80], "DetachKeys": "ctrl-a,x"})["Id"]
            conn = c.hijack("POST", f"/exec/{eid}/start",
                            body={"Detach": False, "Tty": True, "ConsoleSize": [27, 91]})
            assert conn.content_type == "application/vnd.docker.raw-stream"
            conn.sendall(b"stty size\n")
            assert b"27 91" in _read_until(conn, b"27 91")
            c.request("POST", f"/exec/{eid}/resize", query={"h": 40, "w": 132})
            conn.sendall(b"stty size\n")
            assert b"40 132" in _read_until(conn, b"40 132")
            # Ctrl-A x detaches (what a held-back Ctrl-A followed by something else does is a unit test)
            conn.sendall(b"\x01x")
            conn.sock.settimeout(10)
            while conn.recv(65536):
                pass  # the daemon closed the stream
            conn.close()
            info = c.json("GET", f"/exec/{eid}/json")
            assert info["Running"] is True  # detached, still running
            pid = info["Pid"]
            os.kill(pid, 9)
            for _ in range(50):
                if not c.json("GET", f"/exec/{eid}/json")["Running"]:
                    break
                time.sleep(0.1)
            assert c.json("GET", f"/exec/{eid}/json")["ExitCode"] == 137
    finally:
        daemon.kobako("rm", "-f", cid)


# -- tmux-driven sessions ------------------------------------------------------------------------


class Tmux:
    """A private tmux server (its own socket) running one command in a 100x30 window."""

    def __init__(self) -> None:
        self.sock = ""
        self.used: list[str] = []
        self.session = "s" + secrets.token_hex(3)

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([TMUX, "-L", self.sock, *args], capture_output=True, check=check, timeout=20)

    def start(self, command: str, env: dict[str, str]) -> None:
        # A new server per session: a server that is still exiting must not refuse the next one.
        self.sock = "kobako-test-" + secrets.token_hex(4)
        self.used.append(self.sock)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # EXIT=<code> stays on screen after the command ends, so the test can read it.
        shell = f"env {exports} {command}; echo EXIT=$?; sleep 600"
        self.tmux("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", "100", "-y", "30",
                  "sh", "-c", shell)

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)
        self.send("Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session).stdout.decode()

    def wait_for(self, pred: Callable[[str], bool] | str, timeout: float = 15) -> str:
        check = pred if callable(pred) else (lambda s: pred in s)
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out; screen:\n{screen}")

    def resize(self, w: int, h: int) -> None:
        self.tmux("resize-window", "-t", self.session, "-x", str(w), "-y", str(h))

    def kill(self) -> None:
        for sock in self.used:
            subprocess.run([TMUX, "-L", sock, "kill-server"], capture_output=True, timeout=20)


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if not os.path.exists(TMUX):
        pytest.skip("needs tmux")
    t = Tmux()
    yield t
    t.kill()


def _state(daemon: Daemon, name: str) -> dict[str, object]:
    return dict(json.loads(out(daemon.kobako("inspect", name)))[0]["State"])


def test_kobako_run_it_session_detach_and_attach(daemon: Daemon, tmux: Tmux) -> None:
    name = "tty-" + secrets.token_hex(3)
    tmux.start(f"{KOBAKO} run -it --name {name} busybox sh", {"KOBAKO_HOST": daemon.host})
    try:
        tmux.wait_for("/ #")
        tmux.type("tty; stty size; echo done-$((6*7))")
        screen = tmux.wait_for("done-42")  # the last output: the others are on screen too
        assert "/dev/pts/0" in screen and "30 100" in screen
        tmux.resize(120, 40)
        tmux.type("stty size")
        tmux.wait_for("40 120")
        # Ctrl-P Ctrl-Q: the client ends (exit 0), the container keeps running
        tmux.send("C-p", "C-q")
        tmux.wait_for("EXIT=0")
        assert _state(daemon, name)["Running"] is True
        tmux.kill()
        # attach again from a new session, and leave with `exit 7`
        tmux.start(f"{KOBAKO} attach {name}", {"KOBAKO_HOST": daemon.host})
        time.sleep(0.5)
        tmux.type("echo back-$((1+1))")
        tmux.wait_for("back-2")
        tmux.type("exit 7")
        tmux.wait_for("EXIT=7")
        state = _state(daemon, name)
        assert state["Running"] is False and state["ExitCode"] == 7
    finally:
        daemon.kobako("rm", "-f", name, check=False)


def test_kobako_exec_it_session(daemon: Daemon, tmux: Tmux) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "300")).strip()
    try:
        tmux.start(f"{KOBAKO} exec -it --detach-keys ctrl-a,d {cid} sh", {"KOBAKO_HOST": daemon.host})
        tmux.wait_for("/ #")
        tmux.type("tty; stty size; echo done-$((3*5))")
        screen = tmux.wait_for("done-15")
        assert "/dev/pts/0" in screen and "30 100" in screen
        tmux.type("exit 4")
        tmux.wait_for("EXIT=4")
        tmux.kill()
        tmux.start(f"{KOBAKO} exec -it --detach-keys ctrl-a,d {cid} sh", {"KOBAKO_HOST": daemon.host})
        tmux.wait_for("/ #")
        tmux.send("C-a", "d")
        tmux.wait_for("EXIT=0")
        ps = out(daemon.kobako("exec", cid, "ps", "-o", "args"))
        assert "sh" in ps.split("\n")  # the detached shell still runs
    finally:
        daemon.kobako("rm", "-f", cid)


def test_docker_cli_exec_it_detach_and_attach(daemon: Daemon, tmux: Tmux, tmp_path: object) -> None:
    if not os.access(DOCKER_CLI, os.X_OK):
        pytest.skip(f"needs the docker CLI at {DOCKER_CLI}")
    name = "dtty-" + secrets.token_hex(3)
    daemon.kobako("run", "-d", "-it", "--name", name, "busybox", "sh")
    env = {"DOCKER_CONFIG": str(tmp_path), "DOCKER_CLI_HINTS": "false"}
    docker = f"{DOCKER_CLI} -H {daemon.host}"
    try:
        tmux.start(f"{docker} exec -it {name} sh", env)
        tmux.wait_for("/ #")
        tmux.type("tty; stty size; echo exec-$((20+1))")
        screen = tmux.wait_for("exec-21")
        assert "/dev/pts/1" in screen and "30 100" in screen
        tmux.send("C-p", "C-q")
        # The docker CLI itself reports an exec detach as the error "read escape sequence" (exit 1),
        # as it does against dockerd; the exec'd shell and the container keep running.
        screen = tmux.wait_for("EXIT=")
        assert "read escape sequence" in screen
        assert _state(daemon, name)["Running"] is True
        assert "sh" in out(daemon.kobako("exec", name, "ps", "-o", "args")).split("\n")[2:]
        tmux.kill()
        tmux.start(f"{docker} attach {name}", env)
        time.sleep(0.5)
        tmux.type("echo attached-$((2*2))")
        tmux.wait_for("attached-4")
        tmux.type("exit 3")
        tmux.wait_for("EXIT=3")
        assert _state(daemon, name)["Running"] is False
    finally:
        daemon.kobako("rm", "-f", name, check=False)


def test_start_a_i_and_attach_without_a_tty(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "-i", "busybox", "sh", "-c", "read x; echo got $x; exit 6")).strip()
    try:
        res = daemon.kobako("start", "-a", "-i", cid, input=b"hello\n", check=False)
        assert (res.returncode, out(res)) == (6, "got hello\n")
    finally:
        daemon.kobako("rm", "-f", cid)
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "sleep 1; echo late; echo err >&2; exit 9")).strip()
    try:
        res = daemon.kobako("attach", "--no-stdin", cid, check=False)
        assert (res.returncode, out(res), res.stderr.decode()) == (9, "late\n", "err\n")
        res = daemon.kobako("attach", cid, check=False)
        assert res.returncode == 1 and "You cannot attach to a stopped container" in res.stderr.decode()
    finally:
        daemon.kobako("rm", "-f", cid)


def test_run_proxies_signals_without_a_tty(daemon: Daemon) -> None:
    import signal

    proc = subprocess.Popen(
        [KOBAKO, "run", "--rm", "busybox", "sh", "-c",
         'trap "echo got-term; exit 5" TERM; echo ready; while true; do sleep 0.1; done'],
        env=daemon.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 5
        assert proc.stdout.read() == b"got-term\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
