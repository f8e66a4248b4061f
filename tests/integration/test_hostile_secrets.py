"""Registry credentials never reach a log: login (right and wrong password), push and pull through a
kobakod running with ``--debug``, against kobako's registry with htpasswd + token auth.  Afterwards
neither kobakod's log nor the registry's holds the password, its Basic form, a bearer token (JWT),
an ``X-Registry-Auth`` payload, or the token signing secret.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kobako.registry._auth import sha_entry
from tests.daemon_fixture import KOBAKO, Daemon

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture(scope="module")
def debug_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("kobakod-secrets"), extra_args=("--debug",))
    try:
        d.start()
        d.kobako("image", "bootstrap", "busybox")
        yield d
    finally:
        d.cleanup()


class _Registry:
    def __init__(self, root: Path, *args: str) -> None:
        self.log = root / "registry.log"
        self._logf = open(self.log, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([KOBAKO, "registry", "serve", "--addr", "127.0.0.1:0", "--root",
                                      str(root / "data"), *args], stdout=subprocess.PIPE, stderr=self._logf,
                                     stdin=subprocess.DEVNULL)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        assert "listening on" in line, line
        self.addr = line.split()[-1].split("://", 1)[1]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._logf.close()


def test_credentials_and_tokens_never_logged(debug_daemon: Daemon, tmp_path: Path) -> None:
    password = "pw-" + secrets.token_hex(12)
    wrong = "wrong-" + secrets.token_hex(12)
    signing = secrets.token_hex(24)
    (tmp_path / "htpasswd").write_text(sha_entry("alice", password) + "\n")
    (tmp_path / "secret").write_text(signing)
    reg = _Registry(tmp_path, "--htpasswd", str(tmp_path / "htpasswd"), "--token-realm", "self",
                    "--token-secret", str(tmp_path / "secret"))
    env = {**debug_daemon.env(), "DOCKER_CONFIG": str(tmp_path / "docker-config")}

    def kobako(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([KOBAKO, *args], env=env, capture_output=True, input=input, timeout=120)

    ref = f"{reg.addr}/secret/busybox:v1"
    try:
        assert kobako("tag", "busybox", ref).returncode == 0
        assert kobako("login", "-u", "alice", "--password-stdin", reg.addr, input=wrong.encode()).returncode != 0
        res = kobako("login", "-u", "alice", "--password-stdin", reg.addr, input=password.encode())
        assert res.returncode == 0, res.stderr
        res = kobako("push", ref)
        assert res.returncode == 0, res.stderr
        assert kobako("rmi", ref).returncode == 0
        res = kobako("pull", ref)
        assert res.returncode == 0, res.stderr
        # a push of something that does not exist, with credentials: an error path
        assert kobako("push", f"{reg.addr}/secret/none:v9").returncode != 0
        kobako("rmi", ref)
    finally:
        reg.stop()
    logs = {"kobakod": debug_daemon.log.read_bytes(), "registry": reg.log.read_bytes()}
    assert b"serving on" in logs["kobakod"], "not the log of this kobakod"
    forbidden = {
        "password": password.encode(), "wrong password": wrong.encode(), "signing secret": signing.encode(),
        "basic credentials": base64.b64encode(f"alice:{password}".encode()),
        "basic credentials (url-safe)": base64.urlsafe_b64encode(f"alice:{password}".encode()).rstrip(b"="),
        "a JWT or base64 JSON (bearer token, X-Registry-Auth)": b"eyJ",
    }
    for where, text in logs.items():
        for what, needle in forbidden.items():
            assert needle not in text, f"{what} found in the {where} log"
