"""Host strings and sockets: ``unix:///path``, ``tcp://host:port``, ``http://host:port``."""

from __future__ import annotations

import _socket
import sys

from kobako.client._errors import DaemonUnreachable

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket

    Socket = socket.socket | _socket.socket

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
    return host or getenv("KOBAKO_HOST") or getenv("DOCKER_HOST") or DEFAULT_HOST


def getenv(name: str) -> str | None:
    """``os.environ.get(name)``, without importing ``os`` when nothing has yet.

    The CLI is started without ``site`` (scripts/install), so ``os`` is not loaded, and importing it
    costs a few milliseconds of ``kobako ps``.  Until ``os`` is imported, ``os.environ`` cannot have
    been changed, so the process' environment as ``posix`` holds it is the same thing.
    """
    os = sys.modules.get("os")
    if os is not None:
        value: str | None = os.environ.get(name)
        return value
    import posix

    raw = posix.environ.get(name.encode())
    return None if raw is None else raw.decode(sys.getfilesystemencoding(), "surrogateescape")


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


def connect(addr: Address, timeout: float | None) -> Socket:
    """A connected socket, or DaemonUnreachable.  The one place the client opens a connection.

    A unix socket is a bare ``_socket.socket``: the ``socket`` module turns every constant into an
    ``IntEnum`` when imported, milliseconds of each CLI command; TCP (not the CLI's usual path) uses it.
    """
    try:
        if addr.unix_path is not None:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(addr.unix_path)
            except BaseException:
                sock.close()
                raise
            return sock
        import socket

        tcp = socket.create_connection((addr.hostname, addr.port), timeout=timeout)
        tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        from kobako.client import _tls  # TLS (--tls*, $DOCKER_TLS_VERIFY): ssl is imported only then

        return _tls.wrap(tcp, addr.host, addr.hostname) if _tls.enabled() else tcp
    except PermissionError:
        raise DaemonUnreachable(addr.host, "permission") from None
    except OSError as exc:  # missing socket, refused, timeout, name resolution (gaierror)
        raise DaemonUnreachable(addr.host) from exc
