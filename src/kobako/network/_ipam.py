"""IPAM: addresses of one network's subnet, persisted atomically, never handed out twice.

Lifecycle of an address::

    pool = AddressPool.load(path, subnet, gateway)   # or a new, empty pool
    ip = pool.allocate(owner)          # the next free address after the last one given (a cursor),
                                       # written to disk before it is returned
    pool.allocate(owner, wanted=ip2)   # --ip: exactly that one, or AddressInUse
    pool.release(ip)                   # at the container's exit; written at once
    pool.release_owner(owner)          # everything a container held (crash recovery)

The cursor makes addresses go round the subnet before one is reused, as Docker's allocator
does, so a stale ARP entry or conntrack flow never points at a new container. Network,
gateway and broadcast addresses are never given. Subnet choice for new networks is
``pick_subnet``: the first (or a random) free block of a pool, free meaning that it overlaps
no route of the host and no other network of this daemon.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kobako.errors import Conflict, InvalidArgument, Unavailable
from kobako.fsutil import atomic_write_json, read_json

IPv4Net = ipaddress.IPv4Network
IPv4 = ipaddress.IPv4Address


class AddressInUse(Conflict):
    pass


@dataclass
class AddressPool:
    path: Path | None
    subnet: IPv4Net
    gateway: IPv4 | None
    allocated: dict[str, str] = field(default_factory=dict)  # address -> owner (an endpoint or container id)
    last: int = 0  # offset of the last address handed out

    @classmethod
    def load(cls, path: Path, subnet: IPv4Net, gateway: IPv4 | None) -> AddressPool:
        try:
            obj: dict[str, Any] = read_json(path)
        except FileNotFoundError:
            return cls(path, subnet, gateway)
        if obj.get("Subnet") != str(subnet):
            return cls(path, subnet, gateway)
        return cls(path, subnet, gateway, dict(obj.get("Allocated") or {}), int(obj.get("Last") or 0))

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, {"Subnet": str(self.subnet), "Allocated": self.allocated,
                                          "Last": self.last})

    def _usable(self, ip: IPv4) -> bool:
        net = self.subnet
        if ip not in net or ip == self.gateway:
            return False
        if net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
            return False
        return True

    def allocate(self, owner: str, wanted: str | IPv4 | None = None) -> IPv4:
        if wanted:
            ip = IPv4(str(wanted))
            if ip not in self.subnet:
                raise InvalidArgument(f"no configured subnet contains IP address {ip}")
            if not self._usable(ip) or (str(ip) in self.allocated and self.allocated[str(ip)] != owner):
                raise AddressInUse(f"Address already in use: {ip}")
            self.allocated[str(ip)] = owner
            self.save()
            return ip
        size = self.subnet.num_addresses
        base = int(self.subnet.network_address)
        for step in range(1, size + 1):
            off = (self.last + step) % size
            ip = IPv4(base + off)
            if self._usable(ip) and str(ip) not in self.allocated:
                self.allocated[str(ip)] = owner
                self.last = off
                self.save()
                return ip
        raise Unavailable(f"no available IPv4 addresses on this network's address pools: {self.subnet}")

    def release(self, ip: str | IPv4) -> None:
        if self.allocated.pop(str(ip), None) is not None:
            self.save()

    def release_owner(self, owner: str) -> None:
        gone = [ip for ip, o in self.allocated.items() if o == owner]
        for ip in gone:
            del self.allocated[ip]
        if gone:
            self.save()

    def owners(self) -> set[str]:
        return set(self.allocated.values())


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """Docker's ``--default-address-pool base=10.10.0.0/16,size=24``."""

    base: IPv4Net
    size: int

    @classmethod
    def parse(cls, text: str) -> PoolSpec:
        fields = dict(part.split("=", 1) for part in text.split(",") if "=" in part)
        try:
            base = IPv4Net(fields["base"], strict=True)
            size = int(fields.get("size", "24"))
        except (KeyError, ValueError) as exc:
            raise InvalidArgument(f"invalid default address pool {text!r}: {exc}") from None
        if not base.prefixlen <= size <= 30:
            raise InvalidArgument(f"invalid default address pool {text!r}: size must be in /{base.prefixlen}../30")
        return cls(base, size)

    def blocks(self) -> Iterable[IPv4Net]:
        return self.base.subnets(new_prefix=self.size)


# Docker's defaults (moby libnetwork/ipamutils): 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
DEFAULT_POOLS = (PoolSpec(IPv4Net("172.17.0.0/16"), 16), PoolSpec(IPv4Net("172.18.0.0/16"), 16),
                 PoolSpec(IPv4Net("172.19.0.0/16"), 16), PoolSpec(IPv4Net("172.20.0.0/14"), 16),
                 PoolSpec(IPv4Net("172.24.0.0/14"), 16), PoolSpec(IPv4Net("172.28.0.0/14"), 16),
                 PoolSpec(IPv4Net("192.168.0.0/16"), 20))


def overlaps_any(net: IPv4Net, used: Iterable[IPv4Net]) -> bool:
    return any(net.overlaps(u) for u in used)


def pick_subnet(pools: Iterable[PoolSpec], used: Iterable[IPv4Net], *, randomize: bool = False) -> IPv4Net:
    """A block of ``pools`` that overlaps none of ``used`` (the first, or a random one)."""
    used = [u for u in used if u.prefixlen > 0]  # a default route overlaps everything
    free = [b for p in pools for b in p.blocks() if not overlaps_any(b, used)]
    if not free:
        raise Unavailable("all predefined address pools have been fully subnetted")
    return random.choice(free) if randomize else free[0]


def default_gateway(subnet: IPv4Net) -> IPv4:
    return IPv4(int(subnet.network_address) + 1)
