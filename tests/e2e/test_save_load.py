"""Image archives against real peers: the docker CLI through kobakod, skopeo and umoci on the files
kobako writes, and (when it starts quickly) a private Debian dockerd loading kobako's archives and
writing archives kobako loads."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, _unmount_under, remove_cgroup_tree
from tests.e2e.conftest import DockerRun

DOCKERD = "/usr/sbin/dockerd"
DOCKERD_START_LIMIT = 15.0


@pytest.fixture(autouse=True)
def _remove_tmp(tmp_path: Path) -> Iterator[None]:
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/test installs it)")
    return path


def _run(*argv: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    res = subprocess.run(list(argv), capture_output=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {res.returncode}:\n{res.stdout.decode()}\n{res.stderr.decode()}")
    return res


def _image_id(daemon: Daemon, ref: str) -> str:
    return daemon.kobako("image", "inspect", "--format", "{{.Id}}", ref).stdout.decode().strip()


# -- the docker CLI through kobakod ---------------------------------------------------------------
def test_docker_save_and_load_through_kobakod(docker: DockerRun, docker_cli: str, docker_env: dict[str, str],
                                              daemon: Daemon, tmp_path: Path) -> None:
    docker("tag", "busybox", "e2e-save/bb:1")
    archive = tmp_path / "bb.tar"
    try:
        docker("save", "-o", str(archive), "e2e-save/bb:1")
        docker("rmi", "e2e-save/bb:1")
        res = docker("load", "-i", str(archive))
        assert res.stdout.decode().strip() == "Loaded image: e2e-save/bb:1"
        assert docker("run", "--rm", "--network", "none", "e2e-save/bb:1", "echo", "loaded by docker").stdout == b"loaded by docker\n"
        # the pipe, as people type it
        host = daemon.host
        pipe = subprocess.run(["sh", "-c", f"'{docker_cli}' -H {host} save e2e-save/bb:1 | '{docker_cli}' -H {host} load"],
                              env=docker_env, capture_output=True, timeout=120)
        assert pipe.returncode == 0, pipe.stderr.decode()
        assert pipe.stdout.decode().strip() == "Loaded image: e2e-save/bb:1"
    finally:
        docker("rmi", "e2e-save/bb:1", check=False)


# -- skopeo and umoci on what kobako writes -------------------------------------------------------
@pytest.fixture()
def saves(daemon: Daemon, tmp_path: Path) -> dict[str, Path]:
    out = {"docker": tmp_path / "docker.tar", "oci": tmp_path / "oci.tar"}
    daemon.kobako("save", "-o", str(out["docker"]), "busybox:latest")
    daemon.kobako("save", "--format", "oci", "-o", str(out["oci"]), "busybox:latest")
    return out


def test_skopeo_inspects_kobako_archives(daemon: Daemon, saves: dict[str, Path], tmp_path: Path) -> None:
    skopeo = _tool("skopeo")
    config = json.loads(daemon.kobako("image", "inspect", "busybox").stdout)[0]
    for transport in (f"docker-archive:{saves['docker']}", f"oci-archive:{saves['oci']}",
                      f"oci-archive:{saves['docker']}:latest"):
        info = json.loads(_run(skopeo, "inspect", transport).stdout)
        assert info["Architecture"] == config["Architecture"] and info["Os"] == "linux", transport
        assert info["Env"] == config["Config"]["Env"], transport
        raw = json.loads(_run(skopeo, "inspect", "--raw", transport).stdout)
        assert raw["config"]["digest"] == config["Id"], transport
    layout = tmp_path / "layout"
    layout.mkdir()
    _extract(saves["oci"], layout)
    info = json.loads(_run(skopeo, "inspect", f"oci:{layout}:latest").stdout)
    assert info["Layers"] and info["Os"] == "linux"


def _extract(archive: Path, dest: Path) -> None:
    """Our own save output, untarred (with the "data" filter where this Python has one: 3.11.4+)."""
    with tarfile.open(archive) as tf:
        if hasattr(tarfile, "data_filter"):
            tf.extractall(dest, filter="data")
        else:
            tf.extractall(dest)  # noqa: S202 - an archive this test just made


def test_umoci_unpacks_the_oci_layout(saves: dict[str, Path], tmp_path: Path) -> None:
    umoci = _tool("umoci")
    layout = tmp_path / "layout"
    layout.mkdir()
    _extract(saves["oci"], layout)
    bundle = tmp_path / "bundle"
    _run(umoci, "unpack", "--image", f"{layout}:latest", str(bundle))
    assert (bundle / "rootfs" / "bin" / "busybox").is_file()
    assert json.loads((bundle / "config.json").read_text())["process"]["args"] == ["sh"]


def test_skopeo_copies_load_into_kobako(daemon: Daemon, saves: dict[str, Path], tmp_path: Path) -> None:
    skopeo = _tool("skopeo")
    oci = tmp_path / "skopeo-oci.tar"
    legacy = tmp_path / "skopeo-docker.tar"  # skopeo writes Docker's old layout: <id>/layer.tar symlinks
    _run(skopeo, "copy", f"docker-archive:{saves['docker']}", f"oci-archive:{oci}:e2e-skopeo/bb:oci")
    _run(skopeo, "copy", f"oci-archive:{saves['oci']}", f"docker-archive:{legacy}:e2e-skopeo/bb:legacy")
    try:
        for path, ref in ((oci, "e2e-skopeo/bb:oci"), (legacy, "e2e-skopeo/bb:legacy")):
            res = daemon.kobako("load", "-i", str(path))
            assert res.stdout.decode().strip() == f"Loaded image: {ref}"
            assert daemon.kobako("run", "--rm", ref, "echo", "from skopeo").stdout == b"from skopeo\n"
    finally:
        daemon.kobako("rmi", "e2e-skopeo/bb:oci", "e2e-skopeo/bb:legacy", check=False)


# -- Debian's dockerd, both ways ------------------------------------------------------------------
class PrivateDockerd:
    """dockerd with its own socket, data root, exec root and cgroup parent, no network set-up."""

    def __init__(self, base: Path) -> None:
        tag = "kobako-e2e-dd-" + secrets.token_hex(3)
        self.base = base
        self.sock = base / "docker.sock"
        self.data = base / "data"
        self.exec_root = Path("/run") / tag
        self.cgroup_parent = "/" + tag
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, docker_cli: str, env: dict[str, str]) -> bool:
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "dockerd.log", "ab") as log:
            self.proc = subprocess.Popen(
                [DOCKERD, "-H", f"unix://{self.sock}", "--data-root", str(self.data), "--exec-root",
                 str(self.exec_root), "--pidfile", str(self.base / "dockerd.pid"), "--cgroup-parent",
                 self.cgroup_parent, "--bridge=none", "--iptables=false", "--ip6tables=false",
                 "--ip-forward=false", "--ip-masq=false", "--userland-proxy=false", "--storage-driver=overlay2",
                 "--log-level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True)
        deadline = time.monotonic() + DOCKERD_START_LIMIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if subprocess.run([docker_cli, "-H", f"unix://{self.sock}", "version"], env=env,
                              capture_output=True, timeout=10).returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in _pids_mentioning(str(self.exec_root), str(self.data)):  # its containerd and shims
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _unmount_under(self.data)
        _unmount_under(self.exec_root)
        remove_cgroup_tree(self.cgroup_parent)
        shutil.rmtree(self.exec_root, ignore_errors=True)
        shutil.rmtree(self.base, ignore_errors=True)


def _pids_mentioning(*needles: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in needles):
            out.append(int(entry.name))
    return out


@pytest.fixture(scope="module")
def dockerd(docker_cli: str, docker_env: dict[str, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PrivateDockerd, DockerRun]]:
    if not os.access(DOCKERD, os.X_OK):
        pytest.skip("Debian's dockerd is not installed")
    d = PrivateDockerd(tmp_path_factory.mktemp("dockerd"))
    try:
        if not d.start(docker_cli, docker_env):
            pytest.skip(f"dockerd did not come up within {DOCKERD_START_LIMIT:.0f} s")

        def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
            res = subprocess.run([docker_cli, "-H", f"unix://{d.sock}", *args], env=docker_env,
                                 capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
            if check and res.returncode != 0:
                raise AssertionError(f"docker {' '.join(args)} (dockerd) exited {res.returncode}:\n"
                                     f"{res.stderr.decode()}")
            return res

        yield d, run
    finally:
        d.stop()


def test_dockerd_loads_a_kobako_save(daemon: Daemon, dockerd: tuple[PrivateDockerd, DockerRun],
                                     saves: dict[str, Path]) -> None:
    _, real = dockerd
    res = real("load", "-i", str(saves["docker"]))
    assert res.stdout.decode().strip() == "Loaded image: busybox:latest"
    assert real("image", "inspect", "--format", "{{.Id}}", "busybox:latest").stdout.decode().strip() == \
        _image_id(daemon, "busybox")
    out = real("run", "--rm", "--network", "none", "busybox:latest", "echo", "kobako image on dockerd")
    assert out.stdout == b"kobako image on dockerd\n"


def test_kobako_loads_a_dockerd_save(daemon: Daemon, dockerd: tuple[PrivateDockerd, DockerRun],
                                     saves: dict[str, Path], tmp_path: Path) -> None:
    _, real = dockerd
    real("load", "-i", str(saves["docker"]))
    real("tag", "busybox:latest", "e2e-dockerd/bb:v1")
    archive = tmp_path / "from-dockerd.tar"
    real("save", "-o", str(archive), "e2e-dockerd/bb:v1", "busybox:latest")
    try:
        res = daemon.kobako("load", "-i", str(archive))
        assert sorted(res.stdout.decode().splitlines()) == ["Loaded image: busybox:latest",
                                                            "Loaded image: e2e-dockerd/bb:v1"]
        assert _image_id(daemon, "e2e-dockerd/bb:v1") == _image_id(daemon, "busybox")
        assert daemon.kobako("run", "--rm", "e2e-dockerd/bb:v1", "echo", "docker's save").stdout == b"docker's save\n"
    finally:
        daemon.kobako("rmi", "e2e-dockerd/bb:v1", check=False)
