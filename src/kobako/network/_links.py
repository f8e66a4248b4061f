"""Blocking kernel work for bridges, sandboxes and endpoints (run in threads by the manager).

Every link kobako makes carries an alias ``kobako:<prefix>:<kind>:<id>...`` so a daemon finds
exactly its own links after a crash, and never touches another daemon's (or a user's).
"""

from __future__ import annotations

import errno
import ipaddress
import os
from pathlib import Path
from typing import Any

from kobako.errors import Conflict

from . import _netns
from ._model import Endpoint
from ._netlink import Link, RtNetlink


def sysctl(iface: str, key: str, value: str) -> None:
    path = Path(f"/proc/sys/net/ipv4/conf/{iface}/{key}")
    try:
        path.write_text(value)
    except FileNotFoundError:
        pass


def ensure_bridge(name: str, alias: str, gateway: ipaddress.IPv4Interface | None, internal: bool) -> None:
    """The bridge exists, is ours, has the gateway address and is up."""
    with RtNetlink() as nl:
        lk = nl.link(name)
        if lk is not None and lk.alias != alias:
            raise Conflict(f"cannot create network: a link named {name} exists and is not this daemon's")
        index = lk.index if lk is not None else nl.add_bridge(name, alias)
        if gateway is not None and gateway not in nl.addresses(index):
            nl.add_address(index, gateway)
        nl.set_up(index)
    # 127.0.0.1 may be DNATed to a container on this bridge (published ports); routing between
    # containers of one bridge through the host (hairpin) needs forwarding on it.
    sysctl(name, "route_localnet", "1")
    sysctl(name, "forwarding", "0" if internal else "1")


def delete_link(name: str) -> None:
    with RtNetlink() as nl:
        lk = nl.link(name)
        if lk is None:
            return
        try:
            nl.delete(lk.index)
        except OSError as exc:
            if exc.errno != errno.ENODEV:
                raise


def our_links(prefix: str) -> list[Link]:
    tag = f"kobako:{prefix}:"
    with RtNetlink() as nl:
        return [lk for lk in nl.links() if lk.alias.startswith(tag)]


def host_subnets(exclude: set[str] = frozenset()) -> list[ipaddress.IPv4Network]:
    """Subnets the host routes (main table) or has addresses in, except on links named in ``exclude``."""
    with RtNetlink() as nl:
        names = {lk.index: lk.name for lk in nl.links()}
        out = [r.dst for r in nl.routes()
               if r.table == 254 and r.dst.prefixlen > 0 and names.get(r.oif, "") not in exclude]
    return out


def lo_up() -> None:
    with RtNetlink() as nl:
        nl.set_up(nl.index("lo"))


def create_sandbox(path: Path, userns: Any = None) -> None:
    _netns.create(path, lo_up, userns=userns)


def add_endpoint(ep: Endpoint, bridge: str, netns: Path, alias: str, default_route: bool, big_tcp: int = 0) -> None:
    """A veth from ``bridge`` into the sandbox, addressed, up, with the default route if asked; with
    ``big_tcp``, both ends take IPv4 GSO/GRO packets of that size (a kernel that refuses it gets the
    default 64 KiB)."""
    with RtNetlink() as nl:
        master = nl.index(bridge)
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                nl.add_veth(ep.veth, alias, master, ep.ifname, fd, ep.mac, big_tcp=big_tcp)
            except OSError:
                if not big_tcp:
                    raise
                delete_link(ep.veth)  # in case the refusal came after the pair was made
                nl.add_veth(ep.veth, alias, master, ep.ifname, fd, ep.mac)
        finally:
            os.close(fd)
    try:
        Path(f"/sys/class/net/{ep.veth}/brport/hairpin_mode").write_text("1")
    except OSError:
        pass

    def inside() -> None:
        with RtNetlink() as nl:
            index = nl.index(ep.ifname)
            nl.add_address(index, ipaddress.IPv4Interface((ep.ip, ep.prefixlen)))
            nl.set_up(index)
            if default_route and ep.gateway is not None:
                nl.add_default_route(ep.gateway, index)

    try:
        _netns.run_in(netns, inside)
    except BaseException:
        delete_link(ep.veth)
        raise


def remove_sandbox(path: Path) -> None:
    _netns.remove(path)
