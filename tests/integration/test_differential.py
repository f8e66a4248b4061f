"""Differential: the same OCI bundle run by ``kobako-runtime run`` and by ``runc run`` (and ``crun run``
where it works on this host) shows the same capabilities, seccomp mode, mounts, namespaces, /dev and
exit status, as seen by a busybox probe inside the container.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kobako.runtime import default_spec
from kobako.runtime.caps import DEFAULT_CAPS
from kobako.runtime.seccomp import default_profile, resolve_profile
from tests.integration.runtime_helpers import (  # noqa: F401 - fixtures
    RUNTIME, bundle, cgroup_prefix, mounts_mentioning, requires_busybox, requires_root, write_config,
)

pytestmark = [pytest.mark.root, requires_root, requires_busybox]

PROBE = ("grep -E '^(Cap|Seccomp:|NoNewPrivs)' /proc/self/status; echo ---; cat /proc/self/mounts; echo ---; "
         "for n in cgroup ipc mnt net pid uts; do "
         "[ \"$(readlink /proc/self/ns/$n)\" = \"$(cat /hostns/$n)\" ] && echo $n=host || echo $n=new; done; "
         "echo ---; ls -A /dev; echo ---; id; exit 7")


def _runtimes() -> list[str]:
    return [r for r in ("runc", "crun") if shutil.which(r)]


def _run(runtime: str, state: Path, bundle: Path, cid: str) -> subprocess.CompletedProcess[str]:
    cmd = {"kobako": [str(RUNTIME), "--root", str(state)], "runc": ["runc", "--root", str(state)],
           "crun": ["crun", "--root", str(state)]}[runtime]
    return subprocess.run([*cmd, "run", "--bundle", str(bundle), cid], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _normalise(out: str) -> dict[str, Any]:
    status, mounts, ns, dev, ident = out.split("---\n")
    mount_rows = []
    for line in mounts.splitlines():
        source, target, fstype, options = line.split()[:4]
        mount_rows.append((target, fstype, options.split(",")[0]))  # ro/rw; sizes and ids vary by runtime
    return {"status": status.split("\n"), "mounts": mount_rows, "ns": ns.split(), "dev": sorted(dev.split()),
            "id": ident.strip()}


def _spec(cgroup: str, hostns: Path, **kw: Any) -> dict[str, Any]:
    spec = default_spec(["sh", "-c", PROBE], hostname="diff", cgroups_path=cgroup, **kw)
    spec["mounts"].append({"destination": "/hostns", "type": "bind", "source": str(hostns), "options": ["rbind", "ro"]})
    return spec


@pytest.fixture
def hostns(tmp_path: Path) -> Path:
    d = tmp_path / "hostns"
    d.mkdir()
    for n in ("cgroup", "ipc", "mnt", "net", "pid", "uts"):
        (d / n).write_text(os.readlink(f"/proc/self/ns/{n}") + "\n")
    return d


CASES = {
    "docker-defaults": lambda: {"seccomp": resolve_profile(default_profile(), DEFAULT_CAPS)},
    "no-seccomp-few-caps": lambda: {"capabilities": ["CAP_KILL", "CAP_NET_BIND_SERVICE"]},
    "no-new-privileges": lambda: {"seccomp": resolve_profile(default_profile(), DEFAULT_CAPS),
                                  "no_new_privileges": True},
    "non-root": lambda: {"uid": 65534, "gid": 65534, "seccomp": resolve_profile(default_profile(), DEFAULT_CAPS)},
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("other", _runtimes())
def test_same_bundle_same_view(other: str, case: str, bundle: Path, cgroup_prefix: str, hostns: Path,
                               tmp_path: Path) -> None:
    results = {}
    for runtime in ("kobako", other):
        spec = _spec(f"/{cgroup_prefix}/{runtime}", hostns, **CASES[case]())
        write_config(bundle, spec)
        r = _run(runtime, tmp_path / f"state-{runtime}", bundle, f"diff-{runtime}")
        if runtime == "crun" and "hybrid mode not supported" in r.stderr:
            pytest.skip(f"crun here refuses this host's cgroups: {r.stderr.strip()}")
        assert r.returncode == 7, (runtime, r.stdout, r.stderr)
        results[runtime] = _normalise(r.stdout)
    ours, theirs = results["kobako"], results[other]
    assert ours["status"] == theirs["status"]
    assert ours["mounts"] == theirs["mounts"]
    assert ours["ns"] == theirs["ns"] == ["cgroup=new", "ipc=new", "mnt=new", "net=new", "pid=new", "uts=new"]
    assert ours["dev"] == theirs["dev"]
    assert ours["id"] == theirs["id"]
    assert not mounts_mentioning(str(bundle))


def test_the_probe_sees_dockers_defaults(bundle: Path, cgroup_prefix: str, hostns: Path, tmp_path: Path) -> None:
    write_config(bundle, _spec(f"/{cgroup_prefix}/k", hostns, **CASES["docker-defaults"]()))
    out = _normalise(_run("kobako", tmp_path / "state", bundle, "probe").stdout)
    assert "CapBnd:\t00000000a80425fb" in out["status"] and "CapEff:\t00000000a80425fb" in out["status"]
    assert "Seccomp:\t2" in out["status"]
    assert ("/sys", "sysfs", "ro") in out["mounts"] and ("/proc/sys", "proc", "ro") in out["mounts"]
    json.dumps(out)
