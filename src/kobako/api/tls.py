"""TLS for the Engine API's TCP listeners: mutual TLS only (dockerd's ``--tlsverify``).

A TCP listener hands the daemon to whoever connects, so kobakod serves TCP only to clients whose
certificate is signed by ``--tlscacert``; the daemon's own ``--tlscert``/``--tlskey`` identify it.
Plain TCP needs an explicit ``--tls=false`` and stays loopback-only (see :mod:`kobako.api.server`).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

from kobako.errors import InvalidArgument


def default_cert_dir() -> Path:
    """``$DOCKER_CERT_PATH``, else ``~/.docker`` (where dockerd and the docker CLI look)."""
    env = os.environ.get("DOCKER_CERT_PATH")
    return Path(env) if env else Path.home() / ".docker"


def mutual_tls_context(cacert: str | os.PathLike[str], cert: str | os.PathLike[str],
                       key: str | os.PathLike[str]) -> ssl.SSLContext:
    """A server context that requires a client certificate signed by ``cacert`` (TLS ≥ 1.2)."""
    for what, path in (("--tlscacert", cacert), ("--tlscert", cert), ("--tlskey", key)):
        if not Path(path).is_file():
            raise InvalidArgument(f"{what}: {os.fspath(path)} does not exist or is not a file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(os.fspath(cert), os.fspath(key))
    except (ssl.SSLError, OSError) as exc:
        raise InvalidArgument(f"cannot load --tlscert {os.fspath(cert)} / --tlskey {os.fspath(key)}: {exc}") from exc
    try:
        ctx.load_verify_locations(cafile=os.fspath(cacert))
    except (ssl.SSLError, OSError) as exc:
        raise InvalidArgument(f"cannot load --tlscacert {os.fspath(cacert)}: {exc}") from exc
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def requires_client_certs(ctx: ssl.SSLContext | None) -> bool:
    return ctx is not None and ctx.verify_mode == ssl.CERT_REQUIRED
