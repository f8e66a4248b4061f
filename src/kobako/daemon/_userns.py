"""``kobakod --userns-remap``: which host ids a container's ids map to (moby ``idtools``, ``setupRemappedRoot``).

    --userns-remap=default        user and group ``dockremap`` (made if missing, with a 65536-id range in
                                  /etc/subuid and /etc/subgid after the highest range there, as dockerd does)
    --userns-remap=USER[:GROUP]   that user's and group's ranges (the group defaults to the user's name)
    --userns-remap=UID[:GID]      the same by number; /etc/subuid lines may name the user or its number

The ranges, in file order, become consecutive maps from container id 0 (moby ``createIDMap``). Paths of the
subordinate-id files can be moved with ``KOBAKO_SUBUID_FILE``/``KOBAKO_SUBGID_FILE`` (tests supply their own
ranges that way instead of editing the host's /etc files).

Unlike dockerd, kobako keeps one image and layer store: the runtime idmaps layers at mount time
(``kobako.runtime.userns``), so nothing is chowned and images need not be pulled again per remapping.
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kobako.errors import InvalidArgument
from kobako.fsutil import atomic_write

DEFAULT_USER = "dockremap"
DEFAULT_RANGE = 65536
FIRST_ID = 100000

IdMap = tuple[int, int, int]


def subuid_file() -> Path:
    return Path(os.environ.get("KOBAKO_SUBUID_FILE") or "/etc/subuid")


def subgid_file() -> Path:
    return Path(os.environ.get("KOBAKO_SUBGID_FILE") or "/etc/subgid")


def parse_subid(text: str, name: str, number: int | None) -> list[tuple[int, int]]:
    """The (start, count) ranges of /etc/subuid-format ``text`` for ``name`` (or its ``number``)."""
    out = []
    keys = {name} | ({str(number)} if number is not None else set())
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
            continue  # shadow-utils skips malformed lines too
        if parts[0] in keys and int(parts[2]) > 0:
            out.append((int(parts[1]), int(parts[2])))
    return out


def id_maps(ranges: list[tuple[int, int]]) -> tuple[IdMap, ...]:
    """Ranges → maps from container id 0, consecutive, in the order given (moby ``createIDMap``)."""
    maps = []
    cid = 0
    for start, count in ranges:
        maps.append((cid, start, count))
        cid += count
    return tuple(maps)


def next_free_start(text: str, size: int = DEFAULT_RANGE) -> int:
    """Where a new range of ``size`` ids goes: after every range in the file, never below 100000."""
    end = FIRST_ID
    for line in text.splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            end = max(end, int(parts[1]) + int(parts[2]))
    return end


@dataclass(frozen=True)
class Remap:
    """The daemon's remapping: the user/group it came from and the maps every container gets."""

    user: str
    group: str
    uid_maps: tuple[IdMap, ...]
    gid_maps: tuple[IdMap, ...]

    @property
    def root_uid(self) -> int:
        return self.uid_maps[0][1]

    @property
    def root_gid(self) -> int:
        return self.gid_maps[0][1]

    def oci(self) -> dict[str, Any]:
        """``linux.uidMappings``/``gidMappings`` of the runtime spec."""
        def conv(maps: tuple[IdMap, ...]) -> list[dict[str, int]]:
            return [{"containerID": c, "hostID": h, "size": n} for c, h, n in maps]
        return {"uidMappings": conv(self.uid_maps), "gidMappings": conv(self.gid_maps)}


def _user(spec: str) -> tuple[str, int | None]:
    if spec.isdigit():
        try:
            return pwd.getpwuid(int(spec)).pw_name, int(spec)
        except KeyError:
            return spec, int(spec)
    try:
        return spec, pwd.getpwnam(spec).pw_uid
    except KeyError:
        raise InvalidArgument(f"user {spec!r} for --userns-remap does not exist") from None


def _group(spec: str) -> tuple[str, int | None]:
    if spec.isdigit():
        try:
            return grp.getgrgid(int(spec)).gr_name, int(spec)
        except KeyError:
            return spec, int(spec)
    try:
        return spec, grp.getgrnam(spec).gr_gid
    except KeyError:
        raise InvalidArgument(f"group {spec!r} for --userns-remap does not exist") from None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def ensure_default_user(subuid: Path, subgid: Path) -> None:
    """dockerd's ``default``: the ``dockremap`` user (a system user with no shell) and, when it has no
    subordinate ranges, one of 65536 ids after the highest range in each file."""
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--shell", "/bin/false", "--user-group", DEFAULT_USER],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise InvalidArgument(f"could not add user {DEFAULT_USER}: {r.stderr.strip() or r.returncode}")
    for path in (subuid, subgid):
        add_range_if_missing(path, DEFAULT_USER)


def add_range_if_missing(path: Path, name: str, size: int = DEFAULT_RANGE) -> bool:
    """Give ``name`` a range of ``size`` ids after every range in ``path`` unless it has one (usermod -v)."""
    text = _read(path)
    if parse_subid(text, name, None):
        return False
    start = next_free_start(text)
    atomic_write(path, ((text if not text or text.endswith("\n") else text + "\n") + f"{name}:{start}:{size}\n").encode())
    return True


def resolve(value: str) -> Remap:
    """``--userns-remap`` → the maps; InvalidArgument with the reason when it cannot be used."""
    if not value:
        raise InvalidArgument("--userns-remap needs a value: default, USER[:GROUP] or UID[:GID]")
    subuid, subgid = subuid_file(), subgid_file()
    if value == "default":
        ensure_default_user(subuid, subgid)
        value = f"{DEFAULT_USER}:{DEFAULT_USER}"
    user_s, _, group_s = value.partition(":")
    user, uid = _user(user_s)
    if not group_s:
        group_s = user if not user.isdigit() else user_s
    group, gid = _group(group_s)
    if uid == 0 or gid == 0:
        raise InvalidArgument("--userns-remap: remapping to root is not allowed")
    uranges = parse_subid(_read(subuid), user, uid)
    granges = parse_subid(_read(subgid), group, gid)
    if not uranges:
        raise InvalidArgument(f"no subuid ranges found for user {user!r} in {subuid}")
    if not granges:
        raise InvalidArgument(f"no subgid ranges found for group {group!r} in {subgid}")
    return Remap(user, group, id_maps(uranges), id_maps(granges))


def check_container(host_config: dict[str, Any], remap: Remap | None) -> bool:
    """Validate ``UsernsMode`` against the daemon; True when the container gets a user namespace."""
    mode = host_config.get("UsernsMode") or ""
    if mode not in ("", "host", "private"):
        raise InvalidArgument(f"invalid USER mode: {mode}")
    if remap is None or mode == "host":
        return False
    if host_config.get("Privileged"):
        raise InvalidArgument("privileged mode is incompatible with user namespaces.  You must run the "
                              "container in the host namespace when running privileged mode")
    if (host_config.get("NetworkMode") or "") == "host":
        raise InvalidArgument("cannot share the host's network namespace when user namespaces are enabled")
    if (host_config.get("PidMode") or "") == "host":
        raise InvalidArgument("cannot share the host PID namespace when user namespaces are enabled")
    return True


def apply(spec: dict[str, Any], host_config: dict[str, Any], remap: Remap | None) -> None:
    """Add the user namespace and its maps to ``spec`` when the container gets one."""
    if not check_container(host_config, remap):
        return
    assert remap is not None
    linux = spec.setdefault("linux", {})
    ns = linux.setdefault("namespaces", [])
    if not any(n.get("type") == "user" for n in ns):
        ns.append({"type": "user"})
    linux.update(remap.oci())


def own_volume(path: str, spec: dict[str, Any]) -> None:
    """A named volume's directory belongs to the remapped root, as dockerd creates it under a remapped
    daemon root: done when a remapped container first mounts a volume still owned by host root."""
    linux = spec.get("linux") or {}
    if not any(n.get("type") == "user" for n in linux.get("namespaces") or []):
        return
    uids, gids = linux.get("uidMappings") or [], linux.get("gidMappings") or []
    root_uid = next((int(m["hostID"]) for m in uids if int(m["containerID"]) == 0), None)
    root_gid = next((int(m["hostID"]) for m in gids if int(m["containerID"]) == 0), None)
    if root_uid is None or root_gid is None:
        return
    st = os.lstat(path)
    if st.st_uid == 0 and st.st_gid == 0:
        os.lchown(path, root_uid, root_gid)
