"""Docker ``--user`` strings resolved against a container's /etc/passwd and /etc/group.

Pure functions over file contents (runc ``libcontainer/user``); the init calls
``resolve_user`` after pivot_root with the container's own files.
"""

from __future__ import annotations

from dataclasses import dataclass

from kobako.errors import RuntimeFailure


@dataclass(frozen=True, slots=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


@dataclass(frozen=True, slots=True)
class _Passwd:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class _Group:
    name: str
    gid: int
    members: tuple[str, ...]


def parse_user(spec: str) -> tuple[str, str | None]:
    """``"name"`` → ("name", None); ``"uid:gid"`` → ("uid", "gid"). Empty parts are not allowed."""
    user, sep, group = spec.partition(":")
    if not user or (sep and not group):
        raise RuntimeFailure(f"invalid user specification: {spec!r}", "InvalidArgument")
    return user, (group if sep else None)


def _numeric(s: str) -> int | None:
    if s.isdigit():
        n = int(s)
        if n < 2**31:
            return n
    return None


def parse_passwd(text: str) -> list[_Passwd]:
    out = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) < 7 or line.startswith("#") or _numeric(f[2]) is None or _numeric(f[3]) is None:
            continue
        out.append(_Passwd(f[0], int(f[2]), int(f[3]), f[5]))
    return out


def parse_group(text: str) -> list[_Group]:
    out = []
    for line in text.splitlines():
        f = line.split(":")
        if len(f) < 4 or line.startswith("#") or _numeric(f[2]) is None:
            continue
        out.append(_Group(f[0], int(f[2]), tuple(m for m in f[3].split(",") if m)))
    return out


def resolve_user(spec: str, passwd: str, group: str) -> ExecUser:
    """Resolve Docker's ``--user`` ``spec`` with Docker's error messages.

    A numeric uid absent from passwd is used as is (gid 0, HOME /); a name must exist.
    Supplementary groups are the groups listing the user by name, unless a group was given.
    """
    user_part, group_part = parse_user(spec)
    users = parse_passwd(passwd)
    num = _numeric(user_part)
    match = next((u for u in users if (u.name == user_part if num is None else u.uid == num)), None)
    if match is None and num is None:
        raise RuntimeFailure(f"unable to find user {user_part}: no matching entries in passwd file")
    uid = num if match is None else match.uid
    gid = 0 if match is None else match.gid
    home = "/" if match is None else match.home
    groups = parse_group(group)
    extra: tuple[int, ...] = ()
    if group_part is not None:
        gnum = _numeric(group_part)
        g = next((g for g in groups if (g.name == group_part if gnum is None else g.gid == gnum)), None)
        if g is None and gnum is None:
            raise RuntimeFailure(f"unable to find group {group_part}: no matching entries in group file")
        gid = gnum if g is None else g.gid
    elif match is not None:
        extra = tuple(g.gid for g in groups if match.name in g.members and g.gid != gid)
    return ExecUser(uid=uid, gid=gid, additional_gids=extra, home=home or "/")


GROUP_ADD_ANNOTATION = "org.kobako.group-add"  # Docker's --group-add, comma separated names or gids


def resolve_group_add(items: str, group: str) -> tuple[int, ...]:
    """``HostConfig.GroupAdd`` (names or numbers) as gids, names looked up in the container's /etc/group."""
    groups = parse_group(group)
    out: list[int] = []
    for item in (i.strip() for i in items.split(",")):
        if not item:
            continue
        num = _numeric(item)
        if num is None:
            g = next((g for g in groups if g.name == item), None)
            if g is None:
                raise RuntimeFailure(f"unable to find group {item}: no matching entries in group file")
            num = g.gid
        out.append(num)
    return tuple(out)

