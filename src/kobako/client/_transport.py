"""Host strings and sockets: ``unix:///path``, ``tcp://host:port``, ``http://host:port``."""

from __future__ import annotations

import http.client
import os
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from kobako.client._errors import DaemonUnreachable

DEFAULT_HOST = "unix:///run/kobako/kobako.sock"


@dataclass(frozen=True, slots=True)
class Address:
    host: str  # as given, for messages
    unix_path: str | None = None
    hostname: str = "localhost"
    port: int = 2375

    @property
    def http_host(self) -> str:
        """The Host header value."""
        return "localhost" if self.unix_path else f"{self.hostname}:{self.port}"


def resolve_host(host: str | None = None) -> str:
    """The argument, else $KOBAKO_HOST, else $DOCKER_HOST, else the default socket."""
    return host or os.environ.get("KOBAKO_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def parse_host(host: str) -> Address:
    if host.startswith("/"):
        return Address(f"unix://{host}", unix_path=host)
    parts = urlsplit(host)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError(f"invalid host {host!r}: no socket path")
        return Address(host, unix_path=parts.path)
    if parts.scheme in ("tcp", "http"):
        return Address(host, hostname=parts.hostname or "127.0.0.1", port=parts.port or 2375)
    raise ValueError(f"unsupported host {host!r}: use unix:///path or tcp://host:port")


def connect(addr: Address, timeout: float | None) -> socket.socket:
    """A connected socket, or DaemonUnreachable."""
    try:
        if addr.unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(addr.unix_path)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((addr.hostname, addr.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    except PermissionError:
        raise DaemonUnreachable(addr.host, "permission") from None
    except (FileNotFoundError, ConnectionRefusedError, socket.gaierror, TimeoutError) as exc:
        raise DaemonUnreachable(addr.host) from exc
    except OSError as exc:
        raise DaemonUnreachable(addr.host) from exc


class HTTPConnection(http.client.HTTPConnection):
    """http.client over a unix or TCP socket opened by :func:`connect`."""

    def __init__(self, addr: Address, timeout: float | None) -> None:
        super().__init__(addr.hostname if addr.unix_path is None else "localhost",
                         addr.port if addr.unix_path is None else None, timeout=timeout)
        self._addr = addr
        self._timeout = timeout

    def connect(self) -> None:
        self.sock = connect(self._addr, self._timeout)
