"""Shared fixtures for runtime integration tests: a busybox rootfs, unique cgroup paths, cleanup checks."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BUSYBOX = Path("/bin/busybox")
RUNTIME = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kobako-runtime"
CGROUP_ROOT = Path("/sys/fs/cgroup")

requires_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts, cgroups)")
requires_busybox = pytest.mark.skipif(not BUSYBOX.exists(), reason="needs /bin/busybox (busybox-static)")


def make_rootfs(root: Path) -> Path:
    """A tiny rootfs: static busybox, its applets as symlinks, passwd/group with root and nobody."""
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout
    for name in applets.split():
        link = root / "bin" / name
        if not link.exists():
            link.symlink_to("busybox")
    for d in ("etc", "proc", "sys", "dev", "tmp", "root", "home/nobody"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nstaff:x:50:nobody\nnogroup:x:65534:\n")
    (root / "etc" / "hostname").write_text("container\n")
    (root / "notexec").write_text("#!/bin/sh\necho hi\n")
    return root


def cgroup_dirs(prefix: str) -> list[Path]:
    """Every directory named ``prefix`` directly under a hierarchy root (v1 and v2 layouts)."""
    out = [CGROUP_ROOT / prefix] if (CGROUP_ROOT / prefix).exists() else []
    out += [h / prefix for h in CGROUP_ROOT.iterdir() if (h / prefix).exists()]
    return out


def remove_cgroup_tree(prefix: str) -> None:
    for top in cgroup_dirs(prefix):
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -len(t[0])):
            procs = Path(dirpath) / "cgroup.procs"
            if procs.exists():
                for pid in procs.read_text().split():
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


@pytest.fixture
def cgroup_prefix() -> Iterator[str]:
    """A unique top-level cgroup name; the whole tree is removed afterwards, even on failure."""
    prefix = f"kobako-rttest-{secrets.token_hex(4)}"
    yield prefix
    remove_cgroup_tree(prefix)
    assert not cgroup_dirs(prefix), "cgroup left behind"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    b = tmp_path / "bundle"
    make_rootfs(b / "rootfs")
    return b


def write_config(bundle: Path, spec: dict[str, Any]) -> None:
    (bundle / "config.json").write_text(json.dumps(spec))


def mounts_mentioning(text: str) -> list[str]:
    return [line for line in Path("/proc/mounts").read_text().splitlines() if text in line]
