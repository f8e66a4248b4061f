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
    """TLS on a connected TCP socket, done with an ``ssl.SSLObject`` over memory BIOs (as the daemon's
    ``api/_tlsrelay.py`` does) rather than ``ssl.SSLSocket``, for one reason: ``shutdown(SHUT_WR)``
    must send close_notify alone and keep reading, which is how the docker CLI ends stdin on a
    hijacked attach (Go's ``tls.Conn.CloseWrite``) while the container's output is still to come.
    ``SSLSocket.shutdown`` drops the TLS layer and ``unwrap`` waits for the daemon's close_notify.

    Two threads use it on an attach (the stdin pump sends, the main thread receives): the TLS object
    is used under a lock, never held while blocked in ``recv``. Whenever the lock is free every
    complete record received has been decrypted (surplus plaintext waits in ``_plain``), so the
    close_notify is never sent with application data still unread behind it. TLS failures (a client
    certificate refused after a TLS 1.3 handshake) are ``TLSError``s naming the host.
    """

    def __init__(self, sock: socket.socket, host: str, tls: Any, incoming: Any, outgoing: Any) -> None:
        import threading

        self._sock = sock
        self._host = host
        self._tls = tls
        self._in = incoming
        self._out = outgoing
        self._lock = threading.Lock()
        self._plain = b""  # decrypted, not yet returned
        self._eof = False  # the daemon's close_notify (or the end of TCP) seen

    def handshake(self) -> None:
        import ssl

        while True:
            try:
                self._tls.do_handshake()
                self._send_pending()
                return
            except ssl.SSLWantReadError:
                self._send_pending()
                data = self._sock.recv(_CHUNK)
                if not data:
                    raise ConnectionResetError("the daemon closed the connection during the TLS handshake") from None
                self._in.write(data)

    def _send_pending(self) -> None:
        data = self._out.read()
        if data:
            self._sock.sendall(data)

    def _decrypt(self) -> None:
        """Everything decryptable now into ``_plain`` (the lock held)."""
        import ssl

        parts = [self._plain]
        try:
            while True:
                chunk = self._tls.read(_CHUNK)
                if not chunk:
                    self._eof = True
                    break
                parts.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            self._eof = True
        except ssl.SSLError as exc:
            raise TLSError(self._host, f"TLS with the daemon at {self._host} failed: {exc.reason or exc}") from None
        finally:
            self._plain = b"".join(parts)
            self._send_pending()  # TLS 1.3 key updates and the like

    def recv(self, n: int) -> bytes:
        while True:
            with self._lock:
                if not self._plain and not self._eof:
                    self._decrypt()
                if self._plain or self._eof:
                    data, self._plain = self._plain[:n], self._plain[n:]
                    return data
            raw = self._sock.recv(_CHUNK)
            with self._lock:
                if raw:
                    self._in.write(raw)
                    self._decrypt()
                else:
                    self._eof = True  # TCP ended without close_notify: the end, as for a plain socket

    def sendall(self, data: bytes) -> None:
        import ssl

        with self._lock:
            try:
                self._tls.write(data)
            except ssl.SSLError as exc:
                raise TLSError(self._host, f"TLS with the daemon at {self._host} failed: {exc.reason or exc}") from None
            self._send_pending()  # in order with every other record: under the lock

    def shutdown(self, how: int) -> None:
        import ssl

        if how != socket.SHUT_WR:
            self._sock.shutdown(how)
            return
        with self._lock:
            try:
                self._tls.unwrap()  # close_notify; the daemon's answer comes later (or never)
            except (ssl.SSLWantReadError, ssl.SSLError):
                pass
            self._send_pending()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()


_CHUNK = 64 * 1024


def wrap(sock: socket.socket, host: str, hostname: str) -> Any:
    """``sock`` (connected over TCP) with TLS on; a ClientError naming the host if the handshake fails."""
    import ssl

    ctx = context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    try:
        tls = _TLSSocket(sock, host, ctx.wrap_bio(incoming, outgoing, server_hostname=hostname), incoming, outgoing)
        tls.handshake()
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise TLSError(host, f"TLS: cannot verify the daemon at {host}: {exc.verify_message}") from None
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        raise TLSError(host, f"TLS handshake with the daemon at {host} failed: {exc}") from None
    return tls
