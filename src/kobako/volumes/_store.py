"""The ``local`` volume driver's store (moby ``volume/local``), one directory per volume.

Lifecycle of a volume::

    create(name, opts, labels)   <root>/<name>/_data made, then <root>/<name>/volume.json written
                                 atomically: a crash in between leaves a directory without a record,
                                 which the next start removes
    acquire(name, ref)           a container starts: returns the host path to bind at the target;
                                 a tmpfs/device volume (``type=`` other than none) is mounted at
                                 _data on the first acquire
    release(name, ref)           the container stopped; the last release unmounts what acquire mounted
    remove(name)                 the directory goes (the caller has checked that no container uses it)

Volumes with ``o=bind`` hand out their ``device`` as the source, and plain volumes their _data
directory: the container's init binds either inside the container's own mount namespace, so neither
leaves a mount on the host. Only a tmpfs (or other filesystem) volume has to be mounted on the host,
because containers sharing it must see the same superblock; ``reconcile()`` after a daemon restart
unmounts those that no running container holds.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.errors import Conflict, InvalidArgument, NotFound, SystemError_
from kobako.fsutil import atomic_write_json, read_json

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
VALID_OPTS = ("type", "device", "o", "size")
# A tmpfs volume's ``o`` may carry mount flags as well as filesystem data (mount(8) style).
_FLAGS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "sync": 16, "noatime": 1024, "nodiratime": 2048,
          "relatime": 1 << 21}
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
MNT_DETACH = 2


class NoSuchVolume(NotFound):
    def __init__(self, name: str, op: str = "get") -> None:
        super().__init__(f"{op} {name}: no such volume")


class VolumeInUse(Conflict):
    def __init__(self, name: str, users: list[str]) -> None:
        super().__init__(f"remove {name}: volume is in use - [{', '.join(users)}]")


class VolumeExists(Conflict):
    pass


def validate_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f'"{name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" '
            "are allowed. If you intended to pass a host directory, use absolute path")
    return name


def validate_opts(opts: dict[str, str]) -> None:
    """moby ``local.validateOpts``: known keys only; ``type`` and ``device`` go together, ``o`` needs both."""
    for key in opts:
        if key not in VALID_OPTS:
            raise InvalidArgument(f'invalid option key: "{key}"')
    for key, needs in (("device", ("type",)), ("type", ("device",)), ("o", ("device", "type"))):
        if key in opts:
            for need in needs:
                if need not in opts:
                    raise InvalidArgument(f'missing required option: "{need}"')
    if "size" in opts and opts.get("type") not in (None, "tmpfs"):
        raise InvalidArgument('size option is only supported for type "tmpfs"')


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True, slots=True)
class Volume:
    name: str
    path: Path  # <root>/<name>
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    driver: str = "local"

    @property
    def mountpoint(self) -> Path:
        return self.path / "_data"

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def is_bind(self) -> bool:
        return "bind" in self.options.get("o", "").split(",") and bool(self.options.get("device"))

    @property
    def needs_host_mount(self) -> bool:
        return bool(self.options.get("type")) and not self.is_bind

    def bind_options(self) -> list[str]:
        """Extra options of an ``o=bind`` volume's bind (``ro``, propagation ...)."""
        return [o for o in self.options.get("o", "").split(",") if o and o not in ("bind", "rbind")]

    def to_api(self) -> dict[str, Any]:
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels) or None,
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": dict(self.options) or None,
            "Scope": "local",
        }


class LocalVolumeStore:
    def __init__(self, root: Path, syscalls: Any = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o701)
        self._sys = syscalls
        self._lock = threading.RLock()
        self._volumes: dict[str, Volume] = {}
        self._refs: dict[str, set[str]] = {}
        self._mounted: set[str] = set()
        self._load()

    # -- records -----------------------------------------------------------------------------
    def _load(self) -> None:
        mounts = self._host_mounts()
        for d in sorted(self.root.iterdir()):
            if not d.is_dir():
                continue
            rec = d / "volume.json"
            if not rec.exists():
                if str(d / "_data") not in mounts:
                    shutil.rmtree(d, ignore_errors=True)  # a create that crashed before its record
                continue
            try:
                obj = read_json(rec)
            except (OSError, ValueError):
                continue
            v = Volume(name=obj["Name"], path=d, created_at=obj.get("CreatedAt", ""),
                       labels=dict(obj.get("Labels") or {}), options=dict(obj.get("Options") or {}),
                       driver=obj.get("Driver", "local"))
            self._volumes[v.name] = v
            if str(v.mountpoint) in mounts:
                self._mounted.add(v.name)

    def _host_mounts(self) -> set[str]:
        prefix = str(self.root.resolve()) + "/"
        try:
            with open("/proc/self/mounts") as f:
                targets = [line.split()[1] for line in f]
        except OSError:
            return set()
        return {t.replace("\\040", " ") for t in targets if t.startswith(prefix)}

    def create(self, name: str, *, driver: str = "local", opts: dict[str, str] | None = None,
               labels: dict[str, str] | None = None) -> tuple[Volume, bool]:
        """The volume ``name`` (made now, or the one that exists) and whether it was made now."""
        if driver not in ("", "local"):
            raise NotFound(f"error looking up volume plugin {driver}: plugin \"{driver}\" not found")
        validate_name(name)
        opts = {str(k): str(v) for k, v in (opts or {}).items()}
        validate_opts(opts)
        with self._lock:
            if name in self._volumes:
                return self._volumes[name], False
            d = self.root / name
            shutil.rmtree(d, ignore_errors=True)
            (d / "_data").mkdir(parents=True)
            os.chmod(d / "_data", 0o755)
            v = Volume(name=name, path=d, created_at=_now(), labels={str(k): str(val) for k, val in
                                                                      (labels or {}).items()}, options=opts)
            atomic_write_json(d / "volume.json", {"Name": v.name, "Driver": v.driver, "CreatedAt": v.created_at,
                                                  "Labels": v.labels, "Options": v.options})
            self._volumes[name] = v
            return v, True

    def get(self, name: str) -> Volume:
        try:
            return self._volumes[name]
        except KeyError:
            raise NoSuchVolume(name) from None

    def list(self) -> list[Volume]:
        return sorted(self._volumes.values(), key=lambda v: v.name)

    def remove(self, name: str) -> None:
        with self._lock:
            v = self.get(name)
            if self._refs.get(name):
                raise VolumeInUse(name, sorted(self._refs[name]))
            if name in self._mounted:
                self._unmount(v)
            del self._volumes[name]
            (v.path / "volume.json").unlink(missing_ok=True)  # the record first: no half volume reappears
            shutil.rmtree(v.path, ignore_errors=True)

    # -- use by containers ---------------------------------------------------------------------
    def acquire(self, name: str, ref: str) -> str:
        """Take a reference for ``ref`` (a container id); returns the source path to bind."""
        with self._lock:
            v = self.get(name)
            if v.needs_host_mount and name not in self._mounted:
                self._mount(v)
            if v.is_bind and not os.path.exists(v.options["device"]):
                raise SystemError_(f"error while mounting volume '{v.mountpoint}': failed to mount local volume: "
                                   f"mount {v.options['device']}:{v.mountpoint}, flags: 0x1000: the device "
                                   "does not exist")
            self._refs.setdefault(name, set()).add(ref)
            return self.source(v)

    def release(self, name: str, ref: str) -> bool:
        """Drop ``ref``; True when that was the last and the volume was unmounted."""
        with self._lock:
            refs = self._refs.get(name)
            if refs is not None:
                refs.discard(ref)
                if refs:
                    return False
                del self._refs[name]
            v = self._volumes.get(name)
            if v is None or name not in self._mounted:
                return False
            self._unmount(v)
            return True

    def reconcile(self) -> list[str]:
        """Unmount host-mounted volumes nobody holds (after a restart); returns their names."""
        with self._lock:
            idle = [n for n in self._mounted if not self._refs.get(n)]
            for n in idle:
                self._unmount(self._volumes[n])
            return idle

    def refs(self, name: str) -> set[str]:
        return set(self._refs.get(name, ()))

    @staticmethod
    def source(v: Volume) -> str:
        return v.options["device"] if v.is_bind else str(v.mountpoint)

    def size(self, name: str) -> int:
        v = self.get(name)
        total = 0
        for dirpath, dirnames, filenames in os.walk(self.source(v)):
            for n in dirnames + filenames:
                with contextlib.suppress(OSError):
                    st = os.lstat(os.path.join(dirpath, n))
                    total += st.st_blocks * 512 if n in filenames else 0
        return total

    # -- host mounts (tmpfs and other filesystems only) ------------------------------------------
    def _syscalls(self) -> Any:
        if self._sys is None:
            from kobako.linux.syscalls import LinuxSyscalls

            self._sys = LinuxSyscalls()
        return self._sys

    def _mount(self, v: Volume) -> None:
        flags, data = 0, []
        for o in v.options.get("o", "").split(","):
            if o in _FLAGS:
                flags |= _FLAGS[o]
            elif o and o != "rw":
                data.append(o)
        if v.options.get("size"):
            data.append(f"size={v.options['size']}")
        try:
            self._syscalls().mount(v.options.get("device") or "none", str(v.mountpoint), v.options["type"], flags,
                                   ",".join(data) or None)
        except OSError as exc:
            raise SystemError_(
                f"error while mounting volume '{v.mountpoint}': failed to mount local volume: mount "
                f"{v.options.get('device')}:{v.mountpoint}, data: {','.join(data)}: {exc.strerror.lower()}"
            ) from None
        self._mounted.add(v.name)

    def _unmount(self, v: Volume) -> None:
        with contextlib.suppress(OSError):
            self._syscalls().umount2(str(v.mountpoint), MNT_DETACH)
        self._mounted.discard(v.name)
