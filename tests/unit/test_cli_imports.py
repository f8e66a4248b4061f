"""The CLI's start-up stays lean: no asyncio, ctypes, daemon or runtime at import."""

from __future__ import annotations

import subprocess
import sys


def test_cli_import_is_lean() -> None:
    code = "import kobako.cli.main, kobako.client, sys; print('\\n'.join(sorted(sys.modules)))"
    mods = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    for banned in ("asyncio", "ctypes", "yaml", "kobako.daemon", "kobako.runtime", "kobako.api.server", "h11"):
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
