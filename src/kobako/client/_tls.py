"""TLS for ``tcp://`` daemon hosts, with the docker CLI's flags and environment.

Imported only when connecting over TCP; ``ssl`` itself only when TLS is on, so the unix-socket path
(every ordinary CLI command) never pays for it.

    --tls / $DOCKER_TLS                 TLS, the daemon's certificate not verified
    --tlsverify / $DOCKER_TLS_VERIFY    TLS, the daemon's certificate verified against --tlscacert
    --tlscacert, --tlscert, --tlskey    default $DOCKER_CERT_PATH/{ca,cert,key}.pem, else ~/.docker/…

A client certificate is presented when both its files exist (given explicitly, they must).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from kobako.client._errors import DaemonUnreachable

_flags: dict[str, Any] = {}  # what the CLI's global --tls* flags said; None/absent: the environment decides


def configure(*, tls: bool | None = None, verify: bool | None = None, cacert: str | None = None,
              cert: str | None = None, key: str | None = None) -> None:
    """Record the CLI's global TLS flags (for every connection this process makes)."""
    for name, value in (("tls", tls), ("verify", verify), ("cacert", cacert), ("cert", cert), ("key", key)):
        if value is not None:
            _flags[name] = value


class TLSError(DaemonUnreachable):
    """TLS with the daemon failed (handshake, certificate refused by either side)."""

    def __init__(self, host: str, message: str) -> None:
        super().__init__(host, "tls")
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


_BOOL = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def cli_flag(opt: str, argv: list[str]) -> bool:
    """One global CLI flag (``--tls[=BOOL]``, ``--tlsverify[=BOOL]``, ``--tlscacert[=]PATH``, ...),
    its value taken from ``argv`` when separate; False if ``opt`` is not one of them."""
    name, eq, value = opt.partition("=")
    if name in ("--tls", "--tlsverify"):
        if eq and value.lower() not in _BOOL:
            raise TLSError("", f"invalid boolean value {value!r} for {name}")
        on = _BOOL[value.lower()] if eq else True
        configure(**{"tls" if name == "--tls" else "verify": on})
        return True
    if name in ("--tlscacert", "--tlscert", "--tlskey"):
        if not eq:
            if not argv:
                raise TLSError("", f"flag needs an argument: {name}")
            value = argv.pop(0)
        configure(**{name[2:].replace("tls", "", 1) if name != "--tlscacert" else "cacert": value})
        return True
    return False


def _verify() -> bool:
    v = _flags.get("verify")
    return bool(os.environ.get("DOCKER_TLS_VERIFY")) if v is None else bool(v)


def enabled() -> bool:
    t = _flags.get("tls")
    return _verify() or (bool(os.environ.get("DOCKER_TLS")) if t is None else bool(t))


def _path(name: str, default: str) -> tuple[str, bool]:
    """(path, given explicitly)."""
    if _flags.get(name):
        return os.path.expanduser(str(_flags[name])), True
    base = os.environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, default), False


def context() -> Any:
    """The client SSLContext for the current flags and environment."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if _verify():
        ca, explicit = _path("cacert", "ca.pem")
        if explicit or os.path.exists(ca):
            _load(ctx.load_verify_locations, "--tlscacert", ca)
        else:
            ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    cert, cert_given = _path("cert", "cert.pem")
    key, key_given = _path("key", "key.pem")
    if cert_given or key_given or (os.path.exists(cert) and os.path.exists(key)):
        _load(lambda _p: ctx.load_cert_chain(cert, key), "--tlscert/--tlskey", f"{cert} / {key}")
    return ctx


def _load(fn: Any, what: str, path: str) -> None:
    import ssl

    try:
        fn(path)
    except (OSError, ssl.SSLError) as exc:
        raise TLSError("", f"could not read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None


class _TLSSocket:
    """An SSL socket whose TLS failures (a client certificate refused after a TLS 1.3 handshake)
    are ``TLSError``s, and whose ``shutdown(SHUT_WR)`` does nothing: ``ssl.SSLSocket.shutdown``
    would drop the TLS layer, and the stdlib cannot send close_notify alone without risking output
    that is still to come.  So this client does not forward stdin EOF over TLS (the docker CLI does)."""

    def __init__(self, sock: Any, host: str) -> None:
        self._sock = sock
        self._host = host

    def shutdown(self, how: int) -> None:
        if how != socket.SHUT_WR:
            self._sock.shutdown(how)

    def recv(self, n: int) -> bytes:
        return self._io(self._sock.recv, n)

    def sendall(self, data: bytes) -> None:
        self._io(self._sock.sendall, data)

    def _io(self, fn: Any, arg: Any) -> Any:
        import ssl

        try:
            return fn(arg)
        except ssl.SSLZeroReturnError:
            return b""
        except ssl.SSLError as exc:
            raise TLSError(self._host, f"TLS with the daemon at {self._host} failed: {exc.reason or exc}") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def wrap(sock: socket.socket, host: str, hostname: str) -> Any:
    """``sock`` (connected over TCP) with TLS on; a ClientError naming the host if the handshake fails."""
    import ssl

    ctx = context()
    try:
        tls = ctx.wrap_socket(sock, server_hostname=hostname)
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise TLSError(host, f"TLS: cannot verify the daemon at {host}: {exc.verify_message}") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise TLSError(host, f"TLS handshake with the daemon at {host} failed: {exc}") from None
    return _TLSSocket(tls, host)
