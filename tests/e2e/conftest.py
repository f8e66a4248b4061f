"""Fixtures for the end-to-end tests: one kobakod for the session, and the real docker CLI pointed at it.

The daemon is a `tests.daemon_fixture.Daemon` (its own data root, exec root, socket and cgroup
parent; teardown removes containers, mounts, cgroups and directories). The docker CLI runs with
``-H unix://<socket>``, ``DOCKER_HOST``/``DOCKER_CONTEXT`` unset and ``DOCKER_CONFIG`` in a temp dir,
so it never talks to any other daemon and never touches ~/.docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, daemon_session

DOCKER_CLI = "/usr/local/bin/docker"

DockerRun = Callable[..., "subprocess.CompletedProcess[bytes]"]


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """One kobakod for the e2e session, with busybox bootstrapped."""
    if os.geteuid() != 0:
        pytest.skip("needs root: kobakod makes namespaces, mounts and cgroups")
    base: Path = tmp_path_factory.mktemp("kobakod-e2e")
    for d in daemon_session(base):
        d.kobako("image", "bootstrap", "busybox")
        yield d


@pytest.fixture(scope="session")
def docker_cli() -> str:
    if not (os.path.isfile(DOCKER_CLI) and os.access(DOCKER_CLI, os.X_OK)):
        pytest.skip(f"the docker CLI (docker 28.2.2 at {DOCKER_CLI}) is not installed")
    return DOCKER_CLI


@pytest.fixture(scope="session")
def docker_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    config = tmp_path_factory.mktemp("docker-config")
    env = dict(os.environ)
    for k in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION"):
        env.pop(k, None)
    env["DOCKER_CONFIG"] = str(config)
    env["DOCKER_CLI_HINTS"] = "false"
    yield env
    shutil.rmtree(config, ignore_errors=True)


@pytest.fixture(scope="session")
def docker(docker_cli: str, docker_env: dict[str, str], daemon: Daemon) -> DockerRun:
    """``docker(*args, input=b"", check=True, timeout=60)``: the real docker CLI against our kobakod."""

    def run(*args: str, input: bytes | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        stdin = None if input is not None else subprocess.DEVNULL
        res = subprocess.run([docker_cli, "-H", daemon.host, *args], env=docker_env, input=input, stdin=stdin,
                             capture_output=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} exited {res.returncode}:\n"
                                 f"stdout: {res.stdout.decode(errors='replace')}\n"
                                 f"stderr: {res.stderr.decode(errors='replace')}")
        return res

    return run
