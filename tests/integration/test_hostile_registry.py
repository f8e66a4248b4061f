"""A hostile registry (a small HTTP server of the test's own, on loopback) against kobakod's pull.

Each case is refused with a clear message, nothing is written outside the daemon's directories,
no partial blob is left in its content store, and the daemon keeps serving:
blobs longer than their descriptor (or endless), manifests whose bytes do not match the digest
asked for, oversized or malformed manifests, descriptors of the wrong types, and a layer whose
tar climbs out with ``../``, an absolute symlink parent or a ``.wh...`` whiteout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CANARY = Path("/tmp") / f"kbk-hostile-canary-{secrets.token_hex(4)}"


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(entries: list[tuple[str, bytes, str]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, target in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname, ti.mode = kind, target, 0o755 if kind == tarfile.DIRTYPE else 0o644
            data = b"escaped" if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()


class Hostile:
    """repo name -> (manifest bytes, {digest: blob bytes or "endless"}, manifest digest override)."""

    def __init__(self) -> None:
        self.repos: dict[str, tuple[bytes, dict[str, Any]]] = {}

    def image(self, repo: str, layer: bytes, *, layer_size: int | None = None, manifest_extra: dict | None = None,
              endless: bool = False) -> None:
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                             "rootfs": {"type": "layers", "diff_ids": [_sha(layer)]}}).encode()
        ld = _sha(layer)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha(config),
                               "size": len(config)},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld,
                                "size": len(layer) if layer_size is None else layer_size}]}
        manifest.update(manifest_extra or {})
        self.repos[repo] = (json.dumps(manifest).encode(), {_sha(config): config, ld: "endless" if endless else layer})

    def raw(self, repo: str, manifest: bytes) -> None:
        self.repos[repo] = (manifest, {})


def _handler(h: Hostile) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            parts = self.path.split("/")
            if self.path == "/v2/":
                return self._send(200, b"{}")
            if len(parts) >= 5 and parts[-2] in ("manifests", "blobs"):
                repo = "/".join(parts[2:-2])
                if repo not in h.repos:
                    return self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}')
                manifest, blobs = h.repos[repo]
                if parts[-2] == "manifests":
                    return self._send(200, manifest, OCI_MANIFEST)
                blob = blobs.get(parts[-1])
                if blob is None:
                    return self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"no"}]}')
                if blob == "endless":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.end_headers()  # no length: the body ends when we close, i.e. never
                    try:
                        while True:
                            self.wfile.write(b"\0" * 65536)
                    except OSError:
                        return
                return self._send(200, blob, "application/octet-stream")
            return self._send(404, b"{}")

        do_HEAD = do_GET  # noqa: N815

    return Handler


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[Hostile, str]]:
    h = Hostile()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _handler(h))
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield h, f"127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def _out(res: Any) -> str:
    return (res.stdout + res.stderr).decode(errors="replace")


def _pull_refused(daemon: Daemon, ref: str, message: str) -> None:
    res = daemon.kobako("pull", ref, check=False, timeout=60)
    assert res.returncode != 0, _out(res)
    assert message in _out(res), _out(res)
    for bad in ("Traceback", "object has no attribute", "KeyError", "TypeError"):
        assert bad not in _out(res)
    assert daemon.kobako("version").returncode == 0  # still serving
    assert not CANARY.exists()
    partial = [p for p in (daemon.data_root / "content").rglob("*") if p.is_file() and "ingest" in str(p)]
    assert all(p.stat().st_size < (8 << 20) for p in partial)


def test_blob_longer_than_its_descriptor(daemon: Daemon, hostile: tuple[Hostile, str]) -> None:
    h, addr = hostile
    h.image("longer/blob", _tar([("f", tarfile.REGTYPE, "")]) * 3, layer_size=100)
    _pull_refused(daemon, f"{addr}/longer/blob:v1", "more than the 100 bytes")


def test_endless_blob_stops_at_its_declared_size(daemon: Daemon, hostile: tuple[Hostile, str]) -> None:
    h, addr = hostile
    h.image("endless/blob", b"x" * 4096, layer_size=1 << 20, endless=True)
    _pull_refused(daemon, f"{addr}/endless/blob:v1", f"more than the {1 << 20} bytes")


def test_manifest_not_matching_the_digest_asked_for(daemon: Daemon, hostile: tuple[Hostile, str]) -> None:
    h, addr = hostile
    h.image("wrong/digest", _tar([("f", tarfile.REGTYPE, "")]))
    _pull_refused(daemon, f"{addr}/wrong/digest@sha256:{'ab' * 32}", "digest mismatch")


@pytest.mark.parametrize(("manifest", "message"), [
    (b"{" + b" " * (5 << 20) + b"}", "larger than"),
    (b"<html>not json</html>", "invalid JSON"),
    (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": [], "layers": []}).encode(),
     "config descriptor"),
    (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": _sha(b"{}"), "size": 2},
                 "layers": 5}).encode(), "invalid manifest"),
    (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": _sha(b"{}"), "size": 2},
                 "layers": [{"digest": 7, "size": "big"}]}).encode(), "invalid manifest"),
    (json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"digest": _sha(b"{}"), "size": 2},
                 "layers": [{"digest": "sha256:../../../../etc/passwd", "size": 1}]}).encode(), "invalid manifest"),
])
def test_malformed_manifests(daemon: Daemon, hostile: tuple[Hostile, str], manifest: bytes, message: str) -> None:
    h, addr = hostile
    repo = f"bad/m{secrets.token_hex(3)}"
    h.raw(repo, manifest)
    _pull_refused(daemon, f"{addr}/{repo}:v1", message)


@pytest.mark.parametrize(("entries", "message"), [
    ([("../../../../../../../../.." + str(CANARY), tarfile.REGTYPE, "")], "escapes the root"),
    ([("esc", tarfile.SYMTYPE, "/tmp"), ("esc/" + CANARY.name, tarfile.REGTYPE, "")], None),
    ([("a", tarfile.DIRTYPE, ""), ("a/.wh...", tarfile.REGTYPE, "")], "whiteout"),
    ([("h", tarfile.LNKTYPE, "../../../../../etc/passwd")], "escapes the root"),
    ([("l", tarfile.SYMTYPE, "../../../../../../tmp")], "escapes the root"),
])
def test_hostile_layers_are_refused_or_confined(daemon: Daemon, hostile: tuple[Hostile, str],
                                                entries: list[tuple[str, bytes, str]], message: str | None) -> None:
    h, addr = hostile
    repo = f"bad/layer{secrets.token_hex(3)}"
    h.image(repo, _tar(entries))
    listing = sorted(os.listdir(daemon.data_root))
    ref = f"{addr}/{repo}:v1"
    if message is None:  # an absolute symlink parent resolves inside the root: accepted, confined
        daemon.kobako("pull", ref)
        assert not CANARY.exists()
        daemon.kobako("rmi", "-f", ref)
    else:
        _pull_refused(daemon, ref, message)
    assert sorted(os.listdir(daemon.data_root)) == listing  # nothing removed beside the snapshots either
