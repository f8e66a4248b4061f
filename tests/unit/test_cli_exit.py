"""The CLI ends with ``exit_now``: stdout/stderr flushed, then ``_exit`` (no interpreter teardown)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kobako.cli import _launcher


def _cmd(tmp_path: Path) -> str:
    path = tmp_path / "kobako"
    _launcher.write(path)
    return str(path)


def test_output_is_complete_and_code_kept(tmp_path: Path) -> None:
    cmd = _cmd(tmp_path)
    res = subprocess.run([cmd, "--help"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert lines[0].startswith("Usage:") and lines[-1].startswith("Run 'kobako COMMAND --help'")
    res = subprocess.run([cmd, "nosuchcommand"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 1 and "'nosuchcommand' is not a kobako command" in res.stderr
    res = subprocess.run([cmd, "--nosuchflag"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 125 and "unknown flag: --nosuchflag" in res.stderr


def test_output_to_a_file_is_flushed(tmp_path: Path) -> None:
    """Block-buffered stdout (a file, not a tty) still reaches the file before _exit."""
    out = tmp_path / "out"
    with out.open("w") as f:
        res = subprocess.run([sys.executable, "-m", "kobako", "--help"], stdout=f, env={"PATH": "/usr/bin:/bin"})
    assert res.returncode == 0
    assert out.read_text().rstrip().endswith("for more information on a command.")


def test_unreachable_daemon_code(tmp_path: Path) -> None:
    env = {"KOBAKO_HOST": "unix:///nonexistent/kobako.sock", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([_cmd(tmp_path), "run", "busybox"], capture_output=True, text=True, env=env)
    assert res.returncode == 125 and "Cannot connect to the kobako daemon" in res.stderr
