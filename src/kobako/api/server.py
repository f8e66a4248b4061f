"""The Engine API server: listeners plus the HTTP machinery route handlers build on.

A route handler is ``async def container_inspect(req: Request) -> Response | StreamResponse | Hijack``,
registered with ``router.add("GET", "/containers/{id}/json", container_inspect)``.
Handlers raise kobako errors; :func:`kobako.api.httpstatus.status_for` picks the status
and the body is ``{"message": str(exc)}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import logging
import os
import socket
import stat
from collections.abc import Iterable
from pathlib import Path
from ssl import CERT_REQUIRED, SSLContext
from urllib.parse import urlsplit

from kobako.api._connection import Connection
from kobako.api.httpstatus import status_for
from kobako.api.ping import add_ping_routes
from kobako.api.request import Request
from kobako.api.response import Hijack, Response, StreamResponse, json_response, no_content
from kobako.api.router import Router
from kobako.api.versioning import DEFAULT_SERVER_HEADER
from kobako.errors import InvalidArgument, Unavailable

__all__ = [
    "Hijack", "Request", "Response", "Router", "Server", "StreamResponse",
    "add_ping_routes", "json_response", "no_content", "status_for",
]

log = logging.getLogger("kobako.api")

DEFAULT_MAX_BODY = 32 * 1024 * 1024
SOCKET_GROUPS = ("kobako", "docker")  # the first that exists owns the unix socket
_STREAM_LIMIT = 1024 * 1024


class Server:
    """Serves a :class:`Router` on unix sockets and loopback TCP.

    ``await server.start(hosts)`` listens and returns; ``await server.serve(hosts)``
    also waits until :meth:`close` is called.
    """

    def __init__(
        self,
        router: Router,
        *,
        server_header: str = DEFAULT_SERVER_HEADER,
        max_body: int = DEFAULT_MAX_BODY,
        socket_groups: Iterable[str] = SOCKET_GROUPS,
        versioned: bool = True,
        ssl: SSLContext | None = None,
    ) -> None:
        self.router = router
        self.server_header = server_header
        self.max_body = max_body
        self.versioned = versioned  # False: no /vX.Y prefix handling (the registry's /v2/ is a path)
        self.ssl = ssl  # TLS on TCP listeners (the registry's --tls-cert/--tls-key)
        self.socket_groups = tuple(socket_groups)
        self.addresses: list[str] = []  # what we listen on, e.g. "tcp://127.0.0.1:40123"
        self._servers: list[asyncio.AbstractServer] = []
        self._unix_paths: list[Path] = []
        self._conns: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    async def serve(self, hosts: Iterable[str]) -> None:
        await self.start(hosts)
        await self._closed.wait()

    async def start(self, hosts: Iterable[str]) -> None:
        for host in hosts:
            if host.startswith(("unix://", "/")):
                await self._listen_unix(Path(urlsplit(host).path if "://" in host else host))
            elif host.startswith(("tcp://", "http://")):
                await self._listen_tcp(host)
            else:
                raise InvalidArgument(f"unsupported listen address {host!r}: use unix:///path or tcp://127.0.0.1:port")

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        for path in self._unix_paths:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self._servers.clear()
        self._unix_paths.clear()
        self._closed.set()

    # -- listeners ---------------------------------------------------------------
    async def _listen_unix(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_socket(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            os.chmod(path, 0o660)  # before listen(): nobody can connect with wider rights
            self._chgrp(path)
            server = await asyncio.start_unix_server(self._on_connect, sock=sock, limit=_STREAM_LIMIT)
        except BaseException:
            sock.close()
            raise
        self._servers.append(server)
        self._unix_paths.append(path)
        self.addresses.append(f"unix://{path}")
        log.info("API listening on unix://%s", path)

    def _chgrp(self, path: Path) -> None:
        for name in self.socket_groups:
            try:
                gid = grp.getgrnam(name).gr_gid
            except KeyError:
                continue
            try:
                os.chown(path, -1, gid)
            except PermissionError:
                log.warning("cannot give %s to group %s", path, name)
            return

    async def _listen_tcp(self, host: str) -> None:
        parts = urlsplit(host)
        name = parts.hostname or "127.0.0.1"
        port = parts.port if parts.port is not None else 2375
        mutual = self.ssl is not None and self.ssl.verify_mode == CERT_REQUIRED
        if not mutual and not _is_loopback(name):
            raise InvalidArgument(
                f"refusing to listen on {host}: TCP without mutual TLS is only allowed on a loopback address "
                "(use --tlsverify --tlscacert --tlscert --tlskey)"
            )
        # TLS is done by _tlsrelay over a plain listener: asyncio's TLS transport has no half-close
        handler = self._on_connect if self.ssl is None else self._on_tls_connect
        server = await asyncio.start_server(handler, name, port, limit=_STREAM_LIMIT)
        self._servers.append(server)
        how = "mutual TLS" if mutual else "TLS, no client certificates" if self.ssl is not None else "no TLS"
        for sock in server.sockets:
            addr = sock.getsockname()
            shown = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
            self.addresses.append(f"tcp://{shown}:{addr[1]}")
            log.info("API listening on tcp://%s:%s (%s)", shown, addr[1], how)

    # -- connections ---------------------------------------------------------------
    async def _on_tls_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from kobako.api._tlsrelay import serve_tls

        task = asyncio.current_task()
        assert task is not None and self.ssl is not None
        self._conns.add(task)
        try:
            await serve_tls(self.ssl, reader, writer, self._on_connect, _STREAM_LIMIT)
        except (ConnectionError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("API TLS connection failed")
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            conn = Connection(self.router, reader, writer, server_header=self.server_header,
                              max_body=self.max_body, versioned=self.versioned)
            await conn.run()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except OSError as exc:  # e.g. a TLS handshake that failed
            log.debug("API connection failed: %s", exc)
        except Exception:
            log.exception("API connection failed")
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise InvalidArgument(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # nobody listens: left over from a crash
        return
    finally:
        probe.close()
    raise Unavailable(f"another daemon is already listening on unix://{path}")
