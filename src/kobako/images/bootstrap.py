"""``bootstrap_busybox``: a busybox image made from the host's static busybox, no registry.

The rootfs is built deterministically (sorted entries, fixed mtimes, uid 0, gzip mtime 0) and
the created time comes from the binary's mtime, so bootstrapping twice yields the same id.
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import tarfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from kobako.errors import Unavailable
from kobako.images._build import store_image, store_layer

if TYPE_CHECKING:
    from kobako.images._image import Image
    from kobako.images.store import ImageStore

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_DIRS = {
    "bin": 0o755, "sbin": 0o755, "usr": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755, "etc": 0o755,
    "root": 0o700, "tmp": 0o1777, "var": 0o755, "home": 0o755, "dev": 0o755, "proc": 0o755, "sys": 0o755,
}  # fmt: skip
_FILES = {
    "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": b"root:x:0:\nnobody:x:65534:\n",
}


def goarch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def ensure_busybox(busybox: Path) -> Path:
    """``busybox`` itself, installing Debian's busybox-static when it is missing."""
    if busybox.is_file():
        return busybox
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(
            ["apt-get", "install", "-y", "busybox-static"], capture_output=True, env=env, check=False
        )
    except OSError as exc:
        raise Unavailable(f"{busybox} is missing and apt-get could not run: {exc}") from exc
    if done.returncode != 0 or not busybox.is_file():
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise Unavailable(f"{busybox} is missing and 'apt-get install -y busybox-static' failed: {' '.join(tail)}")
    return busybox


def applets(busybox: Path) -> list[str]:
    """Applet paths relative to / (``bin/sh``, ``usr/bin/env``, ...) from ``--list-full``."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, check=True).stdout.decode()
    return sorted({line.strip().lstrip("/") for line in out.splitlines() if line.strip()} - {"bin/busybox"})


def rootfs_tar(busybox: Path, applet_paths: list[str], mtime: int) -> bytes:
    """The uncompressed rootfs tar: directories, bin/busybox, one symlink per applet, etc files."""
    dirs = dict(_DIRS)
    for path in applet_paths:
        parent = os.path.dirname(path)
        while parent and parent not in dirs:
            dirs[parent] = 0o755
            parent = os.path.dirname(parent)
    binary = busybox.read_bytes()
    entries: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}

    def info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, mtime
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    for d, mode in dirs.items():
        entries[d] = (info(d, tarfile.DIRTYPE, mode), None)
    entries["bin/busybox"] = (info("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), binary)
    for path in applet_paths:
        entries[path] = (info(path, tarfile.SYMTYPE, 0o777, link="/bin/busybox"), None)
    for path, data in _FILES.items():
        entries[path] = (info(path, tarfile.REGTYPE, 0o644, len(data)), data)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(entries):
            ti, data = entries[name]
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _version(busybox: Path) -> str:
    done = subprocess.run([str(busybox)], capture_output=True, check=False)
    first = (done.stdout or done.stderr).decode(errors="replace").splitlines()[:1]
    return first[0].strip() if first else "BusyBox"


def bootstrap_busybox(images: ImageStore, busybox: Path = Path("/bin/busybox"), ref: str = "busybox:latest") -> Image:
    """Build, store and tag a one-layer busybox image from the host binary."""
    busybox = ensure_busybox(Path(busybox))
    mtime = int(busybox.stat().st_mtime)
    created = datetime.fromtimestamp(mtime, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    tar = rootfs_tar(busybox, applets(busybox), mtime)
    with images.content.leased():  # the layer is nobody's until the image is recorded
        return _store(images, busybox, tar, created, ref)


def _store(images: ImageStore, busybox: Path, tar: bytes, created: str, ref: str) -> Image:
    layer = store_layer(images.content, io.BytesIO(tar))
    config = {
        "architecture": goarch(),
        "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
        "created": created,
        "history": [{"created": created, "created_by": f"kobako bootstrap: {_version(busybox)}"}],
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
    }
    return store_image(images, [layer], config, ref)
