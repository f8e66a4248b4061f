"""A small rtnetlink client (stdlib ``socket`` + ``struct``): links, addresses, routes.

Only what kobako needs: bridges, veth pairs (the peer created directly in a container's
network namespace), addresses, a default route, link dumps. A socket works on the network
namespace of the thread that opened it, so ``open_in`` (``_netns``) gives a socket for a
container's namespace without entering it from the caller's thread.

Wire format (``man 7 netlink``, ``man 7 rtnetlink``): a 16-byte ``nlmsghdr``, a family
header (``ifinfomsg``/``ifaddrmsg``/``rtmsg``), then 4-byte-aligned attributes
``(len u16, type u16, payload)``, nested ones holding attributes.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_SETLINK = 16, 17, 18, 19
RTM_NEWADDR, RTM_GETADDR = 20, 22
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE = 63, 64  # Linux 6.3+: IPv4 BIG TCP
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
NLA_F_NESTED = 0x8000

_HDR = struct.Struct("=LHHLL")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    name: str
    kind: str
    alias: str
    master: int
    up: bool


@dataclass(frozen=True, slots=True)
class Route:
    dst: ipaddress.IPv4Network
    oif: int
    table: int


def _align(n: int) -> int:
    return (n + 3) & ~3


def attr(kind: int, payload: bytes | str | int) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode() + b"\0"
    elif isinstance(payload, int):
        payload = struct.pack("=I", payload)
    data = struct.pack("=HH", 4 + len(payload), kind) + payload
    return data + b"\0" * (_align(len(data)) - len(data))


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def parse_attrs(data: bytes | memoryview, offset: int = 0) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    data = bytes(data)
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        out[kind & ~NLA_F_NESTED] = data[offset + 4:offset + length]
        offset += _align(length)
    return out


def _str(b: bytes | None) -> str:
    return b.split(b"\0", 1)[0].decode(errors="replace") if b else ""


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


class RtNetlink:
    """One NETLINK_ROUTE socket; methods raise ``OSError(errno, strerror, what)``."""

    def __init__(self, sock: socket.socket | None = None) -> None:
        self.sock = sock or socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RtNetlink:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- transport ------------------------------------------------------------------------
    def _send(self, mtype: int, flags: int, body: bytes) -> int:
        self._seq += 1
        msg = _HDR.pack(_HDR.size + len(body), mtype, flags | NLM_F_REQUEST, self._seq, 0) + body
        self.sock.send(msg)
        return self._seq

    def _messages(self, seq: int) -> Any:
        """Yield (type, payload) of the replies to ``seq`` until DONE or the ACK/error."""
        while True:
            data = self.sock.recv(1 << 20)
            off = 0
            while off + _HDR.size <= len(data):
                length, mtype, _flags, mseq, _pid = _HDR.unpack_from(data, off)
                payload = data[off + _HDR.size:off + length]
                off += _align(length)
                if mseq != seq:
                    continue
                if mtype == NLMSG_DONE:
                    return
                if mtype == NLMSG_ERROR:
                    (err,) = struct.unpack_from("=i", payload)
                    if err:
                        raise OSError(-err, os.strerror(-err))
                    return
                yield mtype, payload

    def request(self, mtype: int, body: bytes, flags: int = 0, what: str = "") -> None:
        seq = self._send(mtype, flags | NLM_F_ACK, body)
        try:
            for _ in self._messages(seq):
                pass
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, what or None) from None

    def dump(self, mtype: int, body: bytes) -> list[bytes]:
        seq = self._send(mtype, NLM_F_DUMP, body)
        return [p for _t, p in self._messages(seq)]

    # -- links ----------------------------------------------------------------------------
    def links(self) -> list[Link]:
        out = []
        for p in self.dump(RTM_GETLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            _fam, _type, index, flags, _change = _IFINFO.unpack_from(p)
            a = parse_attrs(p, _IFINFO.size)
            info = parse_attrs(a.get(IFLA_LINKINFO, b""))
            master = struct.unpack("=I", a[IFLA_MASTER])[0] if IFLA_MASTER in a else 0
            out.append(Link(index, _str(a.get(IFLA_IFNAME)), _str(info.get(IFLA_INFO_KIND)),
                            _str(a.get(IFLA_IFALIAS)), master, bool(flags & IFF_UP)))
        return out

    def link(self, name: str) -> Link | None:
        return next((lk for lk in self.links() if lk.name == name), None)

    def gso_ipv4_max_size(self, name: str) -> int | None:
        """The link's IPv4 GSO size limit (None: a kernel without IPv4 BIG TCP, before 6.3)."""
        for p in self.dump(RTM_GETLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            a = parse_attrs(p, _IFINFO.size)
            if _str(a.get(IFLA_IFNAME)) == name:
                raw = a.get(IFLA_GSO_IPV4_MAX_SIZE)
                return struct.unpack("=I", raw[:4])[0] if raw else None
        raise OSError(_errno.ENODEV, os.strerror(_errno.ENODEV), name)

    def index(self, name: str) -> int:
        lk = self.link(name)
        if lk is None:
            raise OSError(_errno.ENODEV, os.strerror(_errno.ENODEV), name)
        return lk.index

    def add_bridge(self, name: str, alias: str) -> int:
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr(IFLA_IFNAME, name)
        body += nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "bridge"))
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL, what=f"create bridge {name}")
        index = self.index(name)
        self.set_alias(index, alias)  # the kernel takes IFLA_IFALIAS only on an existing link
        return index

    def add_veth(self, name: str, alias: str, master: int, peer: str, peer_netns_fd: int,
                 peer_mac: str | None = None, big_tcp: int = 0) -> int:
        """A veth pair: ``name`` here, enslaved to ``master`` and up; ``peer`` in the given netns.
        ``big_tcp``: the IPv4 GSO/GRO size limit of both ends (BIG TCP), when above 64 KiB."""
        big = (attr(IFLA_GSO_IPV4_MAX_SIZE, big_tcp) + attr(IFLA_GRO_IPV4_MAX_SIZE, big_tcp)) if big_tcp else b""
        peer_body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, 0, 0) + attr(IFLA_IFNAME, peer)
        peer_body += attr(IFLA_NET_NS_FD, peer_netns_fd) + big
        if peer_mac:
            peer_body += attr(IFLA_ADDRESS, mac_bytes(peer_mac))
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, 0, IFF_UP, IFF_UP) + attr(IFLA_IFNAME, name)
        body += attr(IFLA_MASTER, master) + big
        body += nested(IFLA_LINKINFO, attr(IFLA_INFO_KIND, "veth"),
                       nested(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body)))
        self.request(RTM_NEWLINK, body, NLM_F_CREATE | NLM_F_EXCL, what=f"create veth {name}")
        index = self.index(name)
        self.set_alias(index, alias)
        return index

    def set_alias(self, index: int, alias: str) -> None:
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0) + attr(IFLA_IFALIAS, alias)
        self.request(RTM_NEWLINK, body, what=f"set alias of link {index}")

    def set_up(self, index: int, up: bool = True) -> None:
        body = _IFINFO.pack(socket.AF_UNSPEC, 0, index, IFF_UP if up else 0, IFF_UP)
        self.request(RTM_NEWLINK, body, what=f"set link {index} {'up' if up else 'down'}")

    def delete(self, index: int) -> None:
        self.request(RTM_DELLINK, _IFINFO.pack(socket.AF_UNSPEC, 0, index, 0, 0), what=f"delete link {index}")

    # -- addresses and routes ---------------------------------------------------------------
    def add_address(self, index: int, iface: ipaddress.IPv4Interface) -> None:
        body = _IFADDR.pack(socket.AF_INET, iface.network.prefixlen, 0, 0, index)
        body += attr(IFA_LOCAL, iface.ip.packed) + attr(IFA_ADDRESS, iface.ip.packed)
        if iface.network.prefixlen < 31:
            body += attr(IFA_BROADCAST, iface.network.broadcast_address.packed)
        self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL, what=f"add address {iface}")

    def add_default_route(self, gateway: ipaddress.IPv4Address, index: int) -> None:
        body = _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, 0, RTN_UNICAST, 0)
        body += attr(RTA_GATEWAY, gateway.packed) + attr(RTA_OIF, index)
        self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL, what=f"add default route via {gateway}")

    def routes(self) -> list[Route]:
        out = []
        for p in self.dump(RTM_GETROUTE, _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)):
            _fam, dst_len, _s, _tos, table, _proto, _scope, _rtype, _fl = _RTMSG.unpack_from(p)
            a = parse_attrs(p, _RTMSG.size)
            if RTA_TABLE in a:
                table = struct.unpack("=I", a[RTA_TABLE])[0]
            dst = a.get(RTA_DST, b"\0\0\0\0")
            oif = struct.unpack("=I", a[RTA_OIF])[0] if RTA_OIF in a else 0
            net = ipaddress.IPv4Network((ipaddress.IPv4Address(dst), dst_len), strict=False)
            out.append(Route(net, oif, table))
        return out

    def addresses(self, index: int | None = None) -> list[ipaddress.IPv4Interface]:
        """IPv4 addresses of every link, or of link ``index``."""
        out = []
        for p in self.dump(RTM_GETADDR, _IFADDR.pack(socket.AF_INET, 0, 0, 0, 0)):
            _fam, plen, _fl, _scope, ifindex = _IFADDR.unpack_from(p)
            a = parse_attrs(p, _IFADDR.size)
            raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
            if raw and (index is None or ifindex == index):
                out.append(ipaddress.IPv4Interface((ipaddress.IPv4Address(raw), plen)))
        return out
