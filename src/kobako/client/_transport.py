"""Host strings and sockets: ``unix:///path``, ``tcp://host:port``, ``http://host:port``."""

from __future__ import annotations

import os
import socket

from kobako.client._errors import DaemonUnreachable

DEFAULT_HOST = "unix:///run/kobako/kobako.sock"
DEFAULT_PORT = 2375


class Address:
    """Where the daemon listens: ``host`` as given (for messages), then a socket path or host and port.

    A plain class: a dataclass or NamedTuple costs milliseconds of the CLI's start-up.
    """

    __slots__ = ("host", "hostname", "port", "unix_path")

    def __init__(self, host: str, unix_path: str | None = None, hostname: str = "localhost",
                 port: int = DEFAULT_PORT) -> None:
        self.host = host
        self.unix_path = unix_path
        self.hostname = hostname
        self.port = port

    def _key(self) -> tuple[str, str | None, str, int]:
        return self.host, self.unix_path, self.hostname, self.port

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Address(host={!r}, unix_path={!r}, hostname={!r}, port={!r})".format(*self._key())

    @property
    def http_host(self) -> str:
        """The Host header value."""
        if self.unix_path:
            return "localhost"
        return f"[{self.hostname}]:{self.port}" if ":" in self.hostname else f"{self.hostname}:{self.port}"


def resolve_host(host: str | None = None) -> str:
    """The argument, else $KOBAKO_HOST, else $DOCKER_HOST, else the default socket."""
    return host or os.environ.get("KOBAKO_HOST") or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def parse_host(host: str) -> Address:
    """``/path`` and ``unix:///path`` (a socket), ``tcp://`` or ``http://`` ``[host][:port]``."""
    if host.startswith("/"):
        return Address(f"unix://{host}", unix_path=host)
    scheme, sep, rest = host.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "unix":
        if not rest:
            raise ValueError(f"invalid host {host!r}: no socket path")
        return Address(host, unix_path=rest)
    if not sep or scheme not in ("tcp", "http"):
        raise ValueError(f"unsupported host {host!r}: use unix:///path or tcp://host:port")
    netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    if netloc.startswith("["):  # [v6 address]:port
        hostname, _, port = netloc[1:].partition("]")
        port = port.removeprefix(":")
    else:
        hostname, _, port = netloc.partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        raise ValueError(f"invalid host {host!r}: bad port {port!r}")
    return Address(host, hostname=hostname.lower() or "127.0.0.1", port=int(port or DEFAULT_PORT))


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
        from kobako.client import _tls  # TLS (--tls*, $DOCKER_TLS_VERIFY): ssl is imported only then

        return _tls.wrap(sock, addr.host, addr.hostname) if _tls.enabled() else sock
    except PermissionError:
        raise DaemonUnreachable(addr.host, "permission") from None
    except (FileNotFoundError, ConnectionRefusedError, socket.gaierror, TimeoutError) as exc:
        raise DaemonUnreachable(addr.host) from exc
    except OSError as exc:
        raise DaemonUnreachable(addr.host) from exc
