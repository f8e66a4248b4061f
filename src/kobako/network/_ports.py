"""Published ports: from ``HostConfig.PortBindings``/``PublishAllPorts`` to host ports held by kobakod.

A published port is forwarded by the kernel (a DNAT rule, ``_firewall``); kobakod only *holds* it:
a socket bound to the host address and port (never listening) keeps every other program, and
every other container, from taking that port while the container runs, and asking the kernel
for port 0 gives the ephemeral ports of ``-p 8080`` and ``-P``.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kobako.errors import Conflict, InvalidArgument


@dataclass(frozen=True, slots=True)
class Binding:
    container_port: int
    proto: str
    host_ip: str  # "0.0.0.0" for all
    host_port: int


@dataclass(frozen=True, slots=True)
class Request:
    container_port: int
    proto: str
    host_ip: str
    host_port: int  # 0: any free port


def parse_port_key(key: str) -> tuple[int, str]:
    num, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp") or not num.isdigit() or not 0 < int(num) < 65536:
        raise InvalidArgument(f"invalid port specification: {key!r}")
    return int(num), proto


def requests(host_config: dict[str, Any], exposed: Iterable[str]) -> list[Request]:
    """What the container asks for: its PortBindings, plus every exposed port with -P."""
    out: list[Request] = []
    bindings = host_config.get("PortBindings") or {}
    for key, items in bindings.items():
        cport, proto = parse_port_key(key)
        for b in items or [{}]:
            ip = (b or {}).get("HostIp") or "0.0.0.0"
            try:
                ipaddress.IPv4Address(ip)
            except ValueError:
                raise InvalidArgument(f"invalid host IP {ip!r} for port {key} (IPv4 only)") from None
            raw = str((b or {}).get("HostPort") or "0")
            lo, _, hi = raw.partition("-")
            if not lo.isdigit() or (hi and not hi.isdigit()) or int(lo) > 65535:
                raise InvalidArgument(f"invalid host port {raw!r} for {key}")
            out.append(Request(cport, proto, ip, int(lo)))
    if host_config.get("PublishAllPorts"):
        for key in exposed:
            cport, proto = parse_port_key(key)
            if not any(r.container_port == cport and r.proto == proto for r in out):
                out.append(Request(cport, proto, "0.0.0.0", 0))
    for r in out:
        if r.proto == "sctp":
            raise InvalidArgument("sctp ports cannot be published by kobako")
    return out


class PortHolder:
    """The sockets that hold kobakod's published host ports: (ip, port, proto) -> socket."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, int, str], socket.socket] = {}

    def hold(self, req: Request) -> Binding:
        kind = socket.SOCK_STREAM if req.proto == "tcp" else socket.SOCK_DGRAM
        key = (req.host_ip, req.host_port, req.proto)
        if req.host_port and (key in self._held or any(
                k[1] == req.host_port and k[2] == req.proto and "0.0.0.0" in (k[0], req.host_ip)
                for k in self._held)):
            raise Conflict(f"Bind for {req.host_ip}:{req.host_port} failed: port is already allocated")
        s = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
        try:
            s.bind((req.host_ip, req.host_port))
        except OSError as exc:
            s.close()
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"failed to bind host port for {req.host_ip}:{req.host_port}:"
                               f"{req.container_port}/{req.proto}: address already in use") from None
            raise Conflict(f"failed to bind host port {req.host_ip}:{req.host_port}/{req.proto}: "
                           f"{exc.strerror}") from None
        port = s.getsockname()[1]
        self._held[(req.host_ip, port, req.proto)] = s
        return Binding(req.container_port, req.proto, req.host_ip, port)

    def release(self, b: Binding) -> None:
        s = self._held.pop((b.host_ip, b.host_port, b.proto), None)
        if s is not None:
            s.close()

    def close(self) -> None:
        for s in self._held.values():
            s.close()
        self._held.clear()


def ports_view(bindings: Iterable[Binding], exposed: Iterable[str]) -> dict[str, Any]:
    """``NetworkSettings.Ports``: every exposed port, with its host bindings or null."""
    out: dict[str, Any] = {}
    for key in exposed:
        cport, proto = parse_port_key(key)
        out.setdefault(f"{cport}/{proto}", None)
    for b in bindings:
        out.setdefault(f"{b.container_port}/{b.proto}", None)
        if out[f"{b.container_port}/{b.proto}"] is None:
            out[f"{b.container_port}/{b.proto}"] = []
        out[f"{b.container_port}/{b.proto}"].append({"HostIp": b.host_ip, "HostPort": str(b.host_port)})
    return out


def summary_ports(ports: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``Ports`` of ``GET /containers/json`` from ``NetworkSettings.Ports``."""
    out: list[dict[str, Any]] = []
    for key, items in ports.items():
        cport, proto = parse_port_key(key)
        if not items:
            out.append({"PrivatePort": cport, "Type": proto})
            continue
        for b in items:
            out.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": cport,
                        "PublicPort": int(b.get("HostPort") or 0), "Type": proto})
    return out


def binding_from_json(obj: dict[str, Any]) -> Binding:
    return Binding(int(obj["ContainerPort"]), obj["Proto"], obj["HostIp"], int(obj["HostPort"]))


def binding_to_json(b: Binding) -> dict[str, Any]:
    return {"ContainerPort": b.container_port, "Proto": b.proto, "HostIp": b.host_ip, "HostPort": b.host_port}
