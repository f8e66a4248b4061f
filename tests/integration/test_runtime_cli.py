"""``kobako-runtime`` create/start/state/kill/delete lifecycle (runc-like), on the real kernel."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from kobako.runtime import default_spec
from tests.integration.runtime_helpers import (  # noqa: F401 - fixtures
    RUNTIME, bundle, cgroup_dirs, cgroup_prefix, mounts_mentioning, requires_busybox, requires_root, write_config,
)

pytestmark = [pytest.mark.root, requires_root, requires_busybox]


class Runtime:
    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        # files, not pipes: a created container holds its stdio until it exits (as with runc)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run([str(RUNTIME), "--root", str(self.root), *args], stdout=out, stderr=err,
                               text=True, timeout=30, stdin=subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        if check and r.returncode != 0:
            raise AssertionError(f"{args}: {r.returncode} {r.stderr}")
        return r

    def state(self, id_: str) -> dict[str, object]:
        return dict(json.loads(self("state", id_).stdout))

    def wait_status(self, id_: str, status: str) -> None:
        deadline = time.monotonic() + 10
        while self.state(id_)["status"] != status:
            assert time.monotonic() < deadline, f"{id_} never became {status}"
            time.sleep(0.02)


@pytest.fixture
def rt(tmp_path: Path, bundle: Path) -> Runtime:
    r = Runtime(tmp_path / "state")
    yield r
    for d in (r.root.iterdir() if r.root.exists() else []):
        r("delete", "--force", d.name, check=False)
    assert not mounts_mentioning(str(bundle))


def test_create_start_state_delete(rt: Runtime, bundle: Path, cgroup_prefix: str, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    write_config(bundle, default_spec(["sh", "-c", "echo started; exec sleep 30"], cgroups_path=f"/{cgroup_prefix}/c1"))
    with open(out, "w") as f:
        r = subprocess.run([str(RUNTIME), "--root", str(rt.root), "create", "--bundle", str(bundle),
                            "--pid-file", str(tmp_path / "pid"), "c1"], stdout=f, stderr=f,
                           text=True, timeout=30)
    assert r.returncode == 0, out.read_text()
    st = rt.state("c1")
    assert st["status"] == "created" and st["id"] == "c1" and st["ociVersion"] == "1.1.0"
    assert st["bundle"] == str(bundle) and st["pid"] == int((tmp_path / "pid").read_text())
    assert out.read_text() == ""  # nothing ran yet
    rt("start", "c1")
    assert rt.state("c1")["status"] == "running"
    deadline = time.monotonic() + 5
    while out.read_text() != "started\n" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert out.read_text() == "started\n"
    r = rt("delete", "c1", check=False)
    assert r.returncode == 1 and json.loads(r.stderr)["kind"] == "Conflict"
    rt("kill", "c1", "KILL")
    rt.wait_status("c1", "stopped")
    assert rt.state("c1")["pid"] == 0
    rt("delete", "c1")
    assert json.loads(rt("state", "c1", check=False).stderr) == {"kind": "NotFound", "message": "No such container: c1"}
    assert not [d for d in cgroup_dirs(cgroup_prefix) if (d / "c1").exists()]


def test_delete_created_container(rt: Runtime, bundle: Path, cgroup_prefix: str) -> None:
    write_config(bundle, default_spec(["echo", "never"], cgroups_path=f"/{cgroup_prefix}/c2"))
    rt("create", "--bundle", str(bundle), "c2")
    pid = int(str(rt.state("c2")["pid"]))
    rt("delete", "c2")
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    assert not (rt.root / "c2").exists()
    assert not [d for d in cgroup_dirs(cgroup_prefix) if (d / "c2").exists()]


def test_force_delete_running(rt: Runtime, bundle: Path) -> None:
    write_config(bundle, default_spec(["sleep", "30"]))
    rt("create", "--bundle", str(bundle), "c3")
    rt("start", "c3")
    pid = int(str(rt.state("c3")["pid"]))
    rt("delete", "--force", "c3")
    assert not (rt.root / "c3").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_create_errors_are_json(rt: Runtime, bundle: Path) -> None:
    write_config(bundle, default_spec(["nosuch"]))
    r = rt("create", "--bundle", str(bundle), "c4", check=False)
    assert r.returncode == 1
    assert json.loads(r.stderr) == {"kind": "ExecNotFound",
                                    "message": 'exec: "nosuch": executable file not found in $PATH'}
    assert not (rt.root / "c4").exists()
    write_config(bundle, default_spec(["sleep", "30"]))
    rt("create", "--bundle", str(bundle), "c5")
    r = rt("create", "--bundle", str(bundle), "c5", check=False)
    assert r.returncode == 1 and json.loads(r.stderr)["kind"] == "Conflict"
    r = rt("start", "nope", check=False)
    assert json.loads(r.stderr)["kind"] == "NotFound"
    r = rt("kill", "c5", "NOTASIGNAL", check=False)
    assert json.loads(r.stderr)["kind"] == "InvalidArgument"
    rt("delete", "c5")
