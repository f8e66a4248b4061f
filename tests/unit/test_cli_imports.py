"""The CLI's start-up stays lean: no asyncio, ctypes, daemon or runtime at import, and on the paths of
``ps``, ``exec`` and ``--version`` none of the stdlib modules that cost milliseconds (re, enum, typing,
socket, json, argparse, collections, os...), through the installed ``kobako`` command itself."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kobako.cli import _launcher

# What `kobako ps` and `kobako exec C true` do not import (each costs 1-10 ms of a ~30 ms command).
HEAVY = ("re", "enum", "typing", "socket", "json", "argparse", "collections", "collections.abc", "functools",
         "importlib", "os", "signal", "threading", "shutil", "gettext", "locale", "warnings",
         "contextlib", "dataclasses", "http.client", "ssl", "email", "urllib.parse", "select", "selectors")


def test_cli_import_is_lean() -> None:
    code = "import kobako.cli.main, kobako.client, sys; print('\\n'.join(sorted(sys.modules)))"
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    for banned in ("asyncio", "ctypes", "yaml", "kobako.daemon", "kobako.runtime", "kobako.api.server", "h11",
                   "argparse", "re", "json", "socket", "typing", "kobako.client._hijack"):
        assert banned not in mods, f"{banned} is imported by the CLI at start-up"


def test_version_flag_works_without_a_daemon() -> None:
    res = subprocess.run([sys.executable, "-m", "kobako", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.startswith("kobako version ")


def test_unreachable_daemon_message() -> None:
    env = {"KOBAKO_HOST": "unix:///nonexistent/kobako.sock", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "kobako", "ps"], capture_output=True, text=True, env=env)
    assert res.returncode == 1
    assert "Cannot connect to the kobako daemon at unix:///nonexistent/kobako.sock" in res.stderr
    res = subprocess.run([sys.executable, "-m", "kobako", "run", "busybox"], capture_output=True, text=True, env=env)
    assert res.returncode == 125


class FakeDaemon:
    """Answers ``GET /containers/json`` and the exec sequence of ``exec C true`` (stdcopy output, exit 0)
    on a unix socket, one request at a time, so that the real command runs to its end."""

    def __init__(self, path: Path) -> None:
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(str(path))
        self.srv.listen(8)
        self.requests: list[str] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        with conn:
            while True:
                line = f.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                length = 0
                while (h := f.readline()) not in (b"\r\n", b""):
                    name, _, value = h.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                f.read(length)
                path = target.split("?")[0]
                self.requests.append(f"{method} {path}")
                if path.endswith("/start") and "/exec/" in path:
                    frame = b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n"
                    conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream"
                                 b"\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n" + frame)
                    return
                body = {"/containers/create": b'{"Id": "abc", "Warnings": []}',
                        "/containers/json": b'[{"Id": "0123456789abcdef0123", "Image": "busybox", "Names": ["/c0"],'
                                            b' "Command": "sleep 1", "Created": 0, "State": "running",'
                                            b' "Status": "Up 1 second"}]',
                        "/exec": b'{"Id": "e1"}', "/json": b'{"ExitCode": 0, "Running": false}'}
                data = next((v for k, v in body.items() if path.endswith(k)), b"{}")
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(data)).encode() + b"\r\n\r\n" + data)

    def close(self) -> None:
        self.srv.close()


@pytest.fixture
def launcher(tmp_path: Path) -> Path:
    """The command exactly as scripts/install writes it (started with -S)."""
    path = tmp_path / "kobako"
    _launcher.write(path)
    return path


def _modules_after(launcher: Path, tmp_path: Path, *argv: str, host: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the launcher with ``argv``; the modules loaded when the command finished."""
    dump = tmp_path / "modules"
    # the launcher's own text, the modules written out between the command's end and the exit (which
    # skips atexit: exit_now)
    text = launcher.read_text()
    assert text.endswith("exit_now(main())\n")
    text = text.replace("exit_now(main())\n", "_code = main()\n"
                        f"open({str(dump)!r}, 'w').write('\\n'.join(sorted(sys.modules)))\n"
                        "exit_now(_code)\n")
    probe = tmp_path / "kobako-probe"
    probe.write_text(text)
    probe.chmod(0o755)
    env = {"KOBAKO_HOST": host, "PATH": "/usr/bin:/bin"}
    res = subprocess.run([str(probe), *argv], capture_output=True, text=True, env=env, timeout=30)
    return res, set(dump.read_text().split())


def test_launcher_is_started_without_site(launcher: Path) -> None:
    first = launcher.read_text().splitlines()[0]
    assert first == f"#!{sys.executable} -S"
    res = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0 and res.stdout.startswith("kobako version ")


def test_ps_and_exec_stay_lean(launcher: Path, tmp_path: Path) -> None:
    sock = tmp_path / "d.sock"
    daemon = FakeDaemon(sock)
    try:
        res, mods = _modules_after(launcher, tmp_path, "ps", host=f"unix://{sock}")
        assert res.returncode == 0, res.stderr
        assert res.stdout.splitlines()[1].split()[:3] == ["0123456789ab", "busybox", '"sleep']
        leaked = sorted(m for m in HEAVY if m in mods)
        assert not leaked, f"kobako ps imported {leaked}"
        assert "kobako.client._hijack" not in mods and "site" not in mods

        res, mods = _modules_after(launcher, tmp_path, "exec", "c0", "true", host=f"unix://{sock}")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "hi\n"
        assert daemon.requests[-3:] == ["POST /v1.50/containers/c0/exec", "POST /v1.50/exec/e1/start",
                                        "GET /v1.50/exec/e1/json"]
        leaked = sorted(m for m in HEAVY if m in mods)
        assert not leaked, f"kobako exec imported {leaked}"
    finally:
        daemon.close()


def test_run_detached_stays_lean(launcher: Path, tmp_path: Path) -> None:
    sock = tmp_path / "d.sock"
    daemon = FakeDaemon(sock)
    try:
        res, mods = _modules_after(launcher, tmp_path, "run", "-d", "--rm", "-e", "A=1", "busybox", "sh", "-c", "x",
                                   host=f"unix://{sock}")
        assert res.returncode == 0, res.stderr
        assert res.stdout == "abc\n"
        assert daemon.requests[-2:] == ["POST /v1.50/containers/create", "POST /v1.50/containers/abc/start"]
        leaked = sorted(m for m in HEAVY if m in mods and m != "os")  # os: run checks for a tty
        assert not leaked, f"kobako run -d imported {leaked}"
    finally:
        daemon.close()


def test_version_imports_almost_nothing(launcher: Path, tmp_path: Path) -> None:
    res, mods = _modules_after(launcher, tmp_path, "--version", host="unix:///nonexistent.sock")
    assert res.returncode == 0
    ours = sorted(m for m in mods if m.startswith("kobako"))
    assert ours == ["kobako", "kobako.cli", "kobako.cli.main"], ours
    assert not [m for m in HEAVY if m in mods]


def test_launcher_keeps_pythonpath_first_and_finds_third_party(launcher: Path, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "kobako"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise SystemExit('shadow kobako imported')\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(shadow.parent)}
    res = subprocess.run([str(launcher), "--version"], capture_output=True, text=True, env=env)
    assert res.returncode == 1 and "shadow kobako imported" in res.stderr  # PYTHONPATH wins, as with site
    code = "import h11, kobako; print(kobako.__file__)"
    text = launcher.read_text().split("from kobako.cli.main")[0] + code + "\n"
    probe = tmp_path / "probe"
    probe.write_text(text)
    probe.chmod(0o755)
    res = subprocess.run([str(probe)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert Path(res.stdout.strip()).resolve() == Path(_launcher.__file__).resolve().parents[1] / "__init__.py"

