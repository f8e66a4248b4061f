"""The embedded DNS server of user-defined networks (Docker's 127.0.0.11).

kobakod opens a UDP and a TCP socket bound to 127.0.0.11:53 *inside* each container's network
namespace (a thread enters the namespace, opens them, and ends: a socket keeps the namespace it
was made in) and serves them from its event loop. No NAT rule inside the container, no process
per container. Each socket knows its container, so a query is answered from the networks that
container is on: container names, network aliases and short ids, all addresses of a name in a
rotating order (round robin), reverse (PTR) lookups of their addresses, and NXDOMAIN for anything
else, unless upstream servers are configured, in which case the query is forwarded to them from
the host's namespace, as dockerd does.

The codec is pure (``parse_query``, ``build_reply``) and unit-tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger("kobako.dns")

QTYPE_A, QTYPE_PTR, QTYPE_AAAA = 1, 12, 28
CLASS_IN = 1
RCODE_OK, RCODE_FORMERR, RCODE_SERVFAIL, RCODE_NXDOMAIN, RCODE_NOTIMP = 0, 1, 2, 3, 4
TTL = 600
_HDR = struct.Struct("!HHHHHH")


@dataclass(frozen=True, slots=True)
class Query:
    id: int
    flags: int
    name: str  # lower case, no trailing dot
    qtype: int
    qclass: int
    question: bytes  # the question section as received (echoed in the reply)


def _read_name(data: bytes, off: int) -> tuple[str, int]:
    labels = []
    while True:
        if off >= len(data):
            raise ValueError("truncated name")
        n = data[off]
        if n == 0:
            return ".".join(labels), off + 1
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(data[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n


def parse_query(data: bytes) -> Query:
    if len(data) < _HDR.size:
        raise ValueError("short message")
    qid, flags, qd, _an, _ns, _ar = _HDR.unpack_from(data)
    if flags & 0x8000 or qd < 1:
        raise ValueError("not a query")
    name, off = _read_name(data, _HDR.size)
    if off + 4 > len(data):
        raise ValueError("truncated question")
    qtype, qclass = struct.unpack_from("!HH", data, off)
    return Query(qid, flags, name.lower().rstrip("."), qtype, qclass, data[_HDR.size:off + 4])


def encode_name(name: str) -> bytes:
    out = b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p)
    return out + b"\0"


def build_reply(q: Query, rcode: int, answers: Sequence[bytes] = (), *, qtype: int | None = None) -> bytes:
    """A reply echoing the question; ``answers`` are rdata of ``qtype`` (default: the question's)."""
    flags = 0x8000 | (q.flags & 0x7800) | 0x0400 | (q.flags & 0x0100) | 0x0080 | rcode  # QR, opcode, AA, RD, RA
    out = [_HDR.pack(q.id, flags, 1, len(answers), 0, 0), q.question]
    for rdata in answers:
        out.append(struct.pack("!HHHIH", 0xC00C, qtype or q.qtype, CLASS_IN, TTL, len(rdata)) + rdata)
    return b"".join(out)


def reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


# (name) -> addresses, (address) -> names; None = not ours
Lookup = Callable[[str], list[str] | None]
ReverseLookup = Callable[[str], str | None]


class Resolver:
    """Answers one container's queries from the lookups its networks give."""

    def __init__(self, lookup: Lookup, reverse: ReverseLookup) -> None:
        self.lookup = lookup
        self.reverse = reverse
        self._turn: dict[str, int] = {}

    def answer(self, data: bytes) -> bytes | None:
        """The reply, or None when the query is not ours (forward it, or NXDOMAIN)."""
        try:
            q = parse_query(data)
        except ValueError:
            return None
        if q.qclass != CLASS_IN:
            return build_reply(q, RCODE_NOTIMP)
        if q.qtype == QTYPE_PTR and q.name.endswith(".in-addr.arpa"):
            ip = ".".join(reversed(q.name[: -len(".in-addr.arpa")].split(".")))
            name = self.reverse(ip)
            return None if name is None else build_reply(q, RCODE_OK, [encode_name(name)])
        ips = self.lookup(q.name)
        if ips is None:
            return None
        if q.qtype != QTYPE_A:
            return build_reply(q, RCODE_OK)  # the name exists; no IPv6 (or other) records
        turn = self._turn.get(q.name, 0)
        self._turn[q.name] = turn + 1
        k = turn % len(ips) if ips else 0
        ordered = ips[k:] + ips[:k]
        return build_reply(q, RCODE_OK, [ipaddress.IPv4Address(ip).packed for ip in ordered])


def nxdomain(data: bytes) -> bytes | None:
    try:
        return build_reply(parse_query(data), RCODE_NXDOMAIN)
    except ValueError:
        return None


async def forward(data: bytes, upstreams: Sequence[str], timeout: float = 2.0) -> bytes | None:
    """Ask each upstream in turn over UDP from the host's namespace; None if none answered."""
    loop = asyncio.get_running_loop()
    for server in upstreams:
        fut: asyncio.Future[bytes] = loop.create_future()

        class _P(asyncio.DatagramProtocol):
            def datagram_received(self, reply: bytes, addr: object) -> None:
                if not fut.done():
                    fut.set_result(reply)

        try:
            transport, _ = await loop.create_datagram_endpoint(_P, remote_addr=(server, 53))
        except OSError:
            continue
        try:
            transport.sendto(data)
            return await asyncio.wait_for(fut, timeout)
        except (TimeoutError, OSError):
            continue
        finally:
            transport.close()
    return None


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.resolver.answer(data)
        if reply is not None:
            if self.transport is not None:
                self.transport.sendto(reply, addr)
            return
        self.server.spawn(self._slow(data, addr))

    async def _slow(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.server.unknown(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class DnsServer:
    """127.0.0.11:53 (UDP and TCP) in one container's namespace, served on kobakod's loop."""

    def __init__(self, resolver: Resolver, upstreams: Callable[[], Sequence[str]]) -> None:
        self.resolver = resolver
        self.upstreams = upstreams
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def unknown(self, data: bytes) -> bytes | None:
        ups = list(self.upstreams())
        if ups:
            reply = await forward(data, ups)
            if reply is not None:
                return reply
            log.info("dns: no upstream answered (%s)", ", ".join(ups))
        return nxdomain(data)

    async def start(self, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Udp(self), sock=udp)
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(2)
                data = await reader.readexactly(struct.unpack("!H", head)[0])
                reply = self.resolver.answer(data)
                if reply is None:
                    reply = await self.unknown(data)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for t in list(self._tasks):
            t.cancel()


def open_sockets() -> tuple[socket.socket, socket.socket]:
    """The two sockets at 127.0.0.11:53, in the calling thread's network namespace."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
    try:
        udp.bind(("127.0.0.11", 53))
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind(("127.0.0.11", 53))
        tcp.listen(64)
    except BaseException:
        with contextlib.suppress(OSError):
            udp.close()
            tcp.close()
        raise
    return udp, tcp
