"""A container's mount points from its create request: moby ``volume/mounts/linux_parser.go`` and
``daemon/volumes.go`` (``registerMountPoints``), with Docker's error messages.

Pure functions over the request: no store, no filesystem except the bind-source existence check.
``HostConfig.Binds`` (``-v``), ``HostConfig.Mounts`` (``--mount``), ``HostConfig.VolumesFrom`` and
``Config.Volumes`` (the image's VOLUMEs and ``-v /path``) become :class:`MountPoint`s;
``HostConfig.Tmpfs`` (``--tmpfs``) stays a map, as in moby, and only becomes OCI mounts.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from kobako.errors import InvalidArgument

RW_MODES = frozenset({"rw", "ro"})
LABEL_MODES = frozenset({"z", "Z"})
PROPAGATION_MODES = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
COPY_MODES = frozenset({"nocopy"})
CONSISTENCY_MODES = frozenset({"consistent", "cached", "delegated", "default"})
DEFAULT_PROPAGATION = "rprivate"
TMPFS_DEFAULTS = ("noexec", "nosuid", "nodev")


@dataclass(frozen=True, slots=True)
class MountPoint:
    """One entry of the record's ``MountPoints`` (moby ``volume/mounts.MountPoint``)."""

    type: str  # volume | bind | tmpfs
    destination: str
    source: str = ""  # bind: the host path; volume: the volume's host path once acquired
    name: str = ""  # volume name ("" until an anonymous volume is named)
    driver: str = ""
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    copy_data: bool = False  # copy the image's content into an empty volume at the next start
    named: bool = False  # the request named the volume (rm -v keeps it)
    create_source: bool = False  # a -v bind whose missing source is made
    nonrecursive: bool = False
    volume_opts: dict[str, str] = field(default_factory=dict)  # for a volume made on first use
    volume_labels: dict[str, str] = field(default_factory=dict)
    tmpfs_options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["tmpfs_options"] = list(self.tmpfs_options)
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> MountPoint:
        known = {k: v for k, v in obj.items() if k in cls.__dataclass_fields__}
        known["tmpfs_options"] = tuple(known.get("tmpfs_options") or ())
        return cls(**known)

    def inspect(self) -> dict[str, Any]:
        """The container inspect / list view (moby ``types.MountPoint``)."""
        out: dict[str, Any] = {"Type": self.type}
        if self.type == "volume":
            out["Name"] = self.name
        out.update(Source=self.source, Destination=self.destination)
        if self.type == "volume":
            out["Driver"] = self.driver
        out.update(Mode=self.mode, RW=self.rw, Propagation=self.propagation)
        return out


def _mount_error(type_: str, msg: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{type_}": {msg}')


def valid_mode(mode: str) -> bool:
    """moby ``linuxValidMountMode``: known words, at most one of each kind."""
    if not mode:
        return True
    counts = [0, 0, 0, 0, 0]
    for o in mode.split(","):
        for i, kind in enumerate((RW_MODES, LABEL_MODES, PROPAGATION_MODES, COPY_MODES, CONSISTENCY_MODES)):
            if o in kind:
                counts[i] += 1
                break
        else:
            return False
    return all(c <= 1 for c in counts)


def _validate_target(type_: str, target: str) -> str:
    if not target:
        raise _mount_error(type_, "field Target must not be empty")
    clean = posixpath.normpath(target)
    if clean == "/":
        raise InvalidArgument("invalid specification: destination can't be '/'")
    if not posixpath.isabs(target):
        raise _mount_error(type_, f"invalid mount path: '{target}' mount path must be absolute")
    return clean


def parse_bind(raw: str) -> MountPoint:
    """One ``HostConfig.Binds`` entry: ``[SOURCE:]TARGET[:MODE]`` (moby ``parseMountRaw``)."""
    arr = raw.split(":")
    if any(a == "" for a in arr[1:]) or len(arr) > 3 or not raw:
        raise InvalidArgument(f"invalid volume specification: '{raw}'")
    mode = ""
    if len(arr) == 1:
        source, target = "", arr[0]
    elif len(arr) == 2:
        if valid_mode(arr[1]):
            raise InvalidArgument(f"invalid volume specification: '{raw}'")  # /foo:rw: a mode needs a source
        source, target = arr
    else:
        source, target, mode = arr
    if not valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    words = mode.split(",") if mode else []
    type_ = "bind" if posixpath.isabs(source) else "volume"
    dest = _validate_target(type_, target)
    rw = "ro" not in words
    prop = next((w for w in words if w in PROPAGATION_MODES), "")
    if type_ == "bind":
        if "nocopy" in words:
            raise InvalidArgument(f"invalid mode: {mode}")
        return MountPoint(type="bind", destination=dest, source=posixpath.normpath(source), rw=rw, mode=mode,
                          propagation=prop or DEFAULT_PROPAGATION, create_source=True)
    if prop:
        raise _mount_error("volume", "field BindOptions must not be specified")
    return MountPoint(type="volume", destination=dest, name=source, driver="local", rw=rw, mode=mode or "z",
                      copy_data="nocopy" not in words, named=bool(source))


def parse_mount(m: dict[str, Any]) -> MountPoint:
    """One ``HostConfig.Mounts`` entry (``--mount``), moby ``validateMountConfig`` + ``parseMountSpec``."""
    if not isinstance(m, dict):
        raise InvalidArgument("invalid mount config: must be a JSON object")
    type_ = str(m.get("Type") or "")
    source = str(m.get("Source") or "")
    ro = bool(m.get("ReadOnly"))
    bind_opts = m.get("BindOptions")
    vol_opts = m.get("VolumeOptions")
    tmpfs_opts = m.get("TmpfsOptions")
    if type_ not in ("bind", "volume", "tmpfs"):
        raise _mount_error(type_, "mount type unknown")
    dest = _validate_target(type_, str(m.get("Target") or ""))
    if type_ != "bind" and bind_opts:
        raise _mount_error(type_, "field BindOptions must not be specified")
    if type_ != "volume" and vol_opts:
        raise _mount_error(type_, "field VolumeOptions must not be specified")
    if type_ != "tmpfs" and tmpfs_opts:
        raise _mount_error(type_, "field TmpfsOptions must not be specified")
    if type_ == "bind":
        if not source:
            raise _mount_error(type_, "field Source must not be empty")
        if not posixpath.isabs(source):
            raise _mount_error(type_, f"invalid mount path: '{source}' mount path must be absolute")
        prop = str((bind_opts or {}).get("Propagation") or "")
        if prop and prop not in PROPAGATION_MODES:
            raise _mount_error(type_, f"invalid propagation mode: {prop}")
        if not os.path.lexists(source) and not (bind_opts or {}).get("CreateMountpoint"):
            raise _mount_error(type_, f"bind source path does not exist: {source}")
        return MountPoint(type="bind", destination=dest, source=posixpath.normpath(source), rw=not ro,
                          propagation=prop or DEFAULT_PROPAGATION,
                          create_source=bool((bind_opts or {}).get("CreateMountpoint")),
                          nonrecursive=bool((bind_opts or {}).get("NonRecursive")))
    if type_ == "volume":
        vo = vol_opts or {}
        if ro and not source:
            raise _mount_error(type_, "must not set ReadOnly mode when using anonymous volumes")
        if vo.get("Subpath"):
            raise _mount_error(type_, "volume subpaths are not supported by kobako")
        driver_cfg = vo.get("DriverConfig") or {}
        driver = str(driver_cfg.get("Name") or "local")
        return MountPoint(type="volume", destination=dest, name=source, driver=driver, rw=not ro, mode="z",
                          copy_data=not vo.get("NoCopy"), named=bool(source),
                          volume_opts={str(k): str(v) for k, v in (driver_cfg.get("Options") or {}).items()},
                          volume_labels={str(k): str(v) for k, v in (vo.get("Labels") or {}).items()})
    if source:
        raise _mount_error(type_, "field Source must not be specified")
    return MountPoint(type="tmpfs", destination=dest, rw=not ro,
                      tmpfs_options=tmpfs_mount_options(tmpfs_opts or {}, ro))


def tmpfs_mount_options(opts: dict[str, Any], readonly: bool) -> tuple[str, ...]:
    """moby ``ConvertTmpfsOptions``: ``size=`` with Docker's k/m/g suffix, ``mode=`` in octal, ``ro``."""
    out = []
    size = int(opts.get("SizeBytes") or 0)
    if size < 0:
        raise _mount_error("tmpfs", "invalid tmpfs size: must be positive")
    if size:
        suffix = ""
        for unit, s in ((1024**3, "g"), (1024**2, "m"), (1024, "k")):
            if size % unit == 0:
                size, suffix = size // unit, s
                break
        out.append(f"size={size}{suffix}")
    mode = int(opts.get("Mode") or 0)
    if mode:
        out.append(f"mode={mode:o}")
    if readonly:
        out.append("ro")
    return tuple(out)


def parse_volumes_from(raw: str) -> tuple[str, str]:
    """``CONTAINER[:ro|rw]`` → (container, mode)."""
    name, sep, mode = raw.partition(":")
    if not name or (sep and mode not in ("ro", "rw")) or ":" in mode:
        raise InvalidArgument(f"invalid mode: {mode}" if name else f"invalid volumes-from: '{raw}'")
    return name, mode


def tmpfs_oci_mounts(tmpfs: dict[str, str] | None) -> list[dict[str, Any]]:
    """``HostConfig.Tmpfs`` (``--tmpfs /path:opts``) as OCI mounts."""
    out = []
    for dest, data in (tmpfs or {}).items():
        clean = _validate_target("tmpfs", dest)
        opts = [o for o in str(data or "").split(",") if o]
        out.append({"destination": clean, "type": "tmpfs", "source": "tmpfs",
                    "options": [*TMPFS_DEFAULTS, *opts]})
    return out


def plan(cfg: dict[str, Any], host_config: dict[str, Any],
         volumes_from: list[tuple[list[MountPoint], str]]) -> list[MountPoint]:
    """The container's mount points, in moby's order: --volumes-from, then binds, then mounts (each
    overriding what --volumes-from gave at the same target), then anonymous volumes for
    ``Config.Volumes`` targets nothing else covers. ``volumes_from`` holds each source container's
    mount points with the requested mode."""
    points: dict[str, MountPoint] = {}
    for mps, mode in volumes_from:
        for mp in mps:
            if mp.type == "tmpfs":
                continue
            rw = mp.rw if not mode else mode == "rw"
            # The volume is the other container's: never copied into, never removed with this one.
            points[mp.destination] = replace(mp, rw=rw, copy_data=False, named=True, create_source=False)
    given: set[str] = set()
    tmpfs = {posixpath.normpath(t) for t in (host_config.get("Tmpfs") or {})}
    for raw in host_config.get("Binds") or []:
        mp = parse_bind(str(raw))
        if mp.destination in given or mp.destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {mp.destination}")
        given.add(mp.destination)
        points[mp.destination] = mp
    for m in host_config.get("Mounts") or []:
        mp = parse_mount(m)
        if mp.destination in given or mp.destination in tmpfs:
            raise InvalidArgument(f"Duplicate mount point: {mp.destination}")
        given.add(mp.destination)
        points[mp.destination] = mp
    for target in cfg.get("Volumes") or {}:
        dest = _validate_target("volume", str(target))
        if dest in points or dest in tmpfs:
            continue
        points[dest] = MountPoint(type="volume", destination=dest, driver="local", copy_data=True)
    return list(points.values())


def should_copy_up(mp: MountPoint) -> bool:
    """Whether the init copies the image's content at the target into the volume (when it is empty)."""
    return mp.type == "volume" and mp.copy_data


def sort_mounts(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before children (moby ``sortMounts``: by the number of path components)."""
    return sorted(mounts, key=lambda m: len([p for p in m["destination"].split("/") if p]))


def merge_into_spec(defaults: list[dict[str, Any]], user: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The spec's mounts: defaults not overridden by a user mount, then the user's, sorted."""
    taken = {m["destination"] for m in user}
    kept = [m for m in defaults if m["destination"] not in taken
            and not any(m["destination"].startswith(t.rstrip("/") + "/") for t in taken if t == "/dev")]
    return kept + sort_mounts(user)


def oci_mount(mp: MountPoint, source: str, extra: list[str] | None = None) -> dict[str, Any]:
    """A bind or volume mount point as an OCI bind mount (moby ``oci_linux.go withMounts``)."""
    if mp.type == "tmpfs":
        return {"destination": mp.destination, "type": "tmpfs", "source": "tmpfs",
                "options": [*TMPFS_DEFAULTS, *mp.tmpfs_options]}
    opts = ["bind" if mp.nonrecursive else "rbind"]
    if not mp.rw:
        opts.append("ro")
    opts.append(mp.propagation or DEFAULT_PROPAGATION)
    opts += [o for o in (extra or []) if o not in opts]
    return {"destination": mp.destination, "type": "bind", "source": source, "options": opts}
