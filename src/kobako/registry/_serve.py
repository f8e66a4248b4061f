"""``kobako registry serve``: run the registry on an address until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from kobako import __version__
from kobako.api import Server
from kobako.registry._access import AuthPolicy
from kobako.registry._auth import Htpasswd
from kobako.registry._server import Registry
from kobako.registry._storage import RegistryStorage

log = logging.getLogger("kobako.registry")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    addr: str = "127.0.0.1:5000"
    root: str = "/var/lib/kobako-registry"
    htpasswd: str | None = None
    token_realm: str | None = None
    token_service: str = "kobako-registry"
    token_secret: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


def build(opts: ServeOptions) -> tuple[Registry, Server]:
    """The registry and an (unstarted) server for it."""
    tls = None
    if opts.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(opts.tls_cert, opts.tls_key or None)
    kw = {}
    if opts.token_secret:
        kw["secret"] = Path(opts.token_secret).read_bytes().strip()
    auth = AuthPolicy(
        htpasswd=Htpasswd(opts.htpasswd) if opts.htpasswd else None,
        token_realm=opts.token_realm,
        token_service=opts.token_service,
        scheme="https" if tls else "http",
        **kw,  # type: ignore[arg-type]
    )
    registry = Registry(RegistryStorage(opts.root), auth)
    server = Server(registry.router(), versioned=False, ssl=tls, server_header=f"kobako-registry/{__version__}")
    return registry, server


async def serve(opts: ServeOptions, ready: asyncio.Event | None = None) -> None:
    registry, server = build(opts)
    await server.start([f"tcp://{opts.addr}"])
    scheme = "https" if opts.tls_cert else "http"
    for address in server.addresses:
        print(f"kobako registry listening on {scheme}://{address.removeprefix('tcp://')}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    await stop.wait()
    await server.close()
    registry.close()


def run(opts: ServeOptions) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    asyncio.run(serve(opts))
    return 0
