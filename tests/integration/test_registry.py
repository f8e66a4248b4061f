"""kobako's registry (``kobako registry serve``) on loopback: the distribution API on the wire,
auth, TLS, GC, and real peers (skopeo) and kobakod's pull/push against it."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import KOBAKO, Daemon
from tests.tarutil import layer_of

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


# -- a registry process --------------------------------------------------------------------------
def _die_with_parent() -> None:
    """A registry outlives no test run, even a killed one (PR_SET_PDEATHSIG = 1)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)


class RegistryProc:
    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.proc = subprocess.Popen([KOBAKO, "registry", "serve", "--addr", "127.0.0.1:0", "--root",
                                      str(root / "data"), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"registry did not start: {line}")
        self.url = line.split()[-1]
        self.addr = self.url.split("://", 1)[1]
        self.port = int(self.addr.rsplit(":", 1)[1])
        self.tls = self.url.startswith("https")

    def conn(self) -> http.client.HTTPConnection:
        if self.tls:
            import ssl

            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def req(self, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()



@pytest.fixture(autouse=True)
def _remove_tmp(tmp_path: Path) -> Iterator[None]:
    """Registry roots, configs and certificates go with the test."""
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)

@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[RegistryProc]:
    r = RegistryProc(tmp_path)
    try:
        yield r
    finally:
        r.stop()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


make_layer = layer_of  # (tar, gzip of it)


def make_image(media: str = OCI_MANIFEST, text: bytes = b"hello\n") -> dict[str, Any]:
    tar, gz = make_layer({"hello.txt": text})
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(tar)]}}).encode()
    docker = media == DOCKER_MANIFEST
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json" if docker
                   else "application/vnd.oci.image.config.v1+json", "digest": digest_of(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip" if docker
                    else "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest_of(gz), "size": len(gz)}],
    }).encode()
    return {"layer": gz, "config": config, "manifest": manifest, "media": media}


def push_blob(reg: RegistryProc, repo: str, data: bytes) -> str:
    d = digest_of(data)
    status, _, body = reg.req("POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data,
                              {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return d


def push_image(reg: RegistryProc, repo: str, tag: str, img: dict[str, Any]) -> str:
    push_blob(reg, repo, img["layer"])
    push_blob(reg, repo, img["config"])
    status, headers, body = reg.req("PUT", f"/v2/{repo}/manifests/{tag}", img["manifest"],
                                    {"Content-Type": img["media"]})
    assert status == 201, body
    return headers["docker-content-digest"]


def blob_files(reg: RegistryProc) -> set[str]:
    return {p.name for p in (reg.root / "data" / "blobs" / "sha256").iterdir()}


def ingest_files(reg: RegistryProc) -> list[str]:
    return [p.name for p in (reg.root / "data" / "blobs" / "ingest").iterdir()]


def error_code(body: bytes) -> str:
    return str(json.loads(body)["errors"][0]["code"])


# -- the API ---------------------------------------------------------------------------------------
def test_base_endpoint(registry: RegistryProc) -> None:
    status, headers, _ = registry.req("GET", "/v2/")
    assert status == 200
    assert headers["docker-distribution-api-version"] == "registry/2.0"


def test_monolithic_and_chunked_uploads(registry: RegistryProc) -> None:
    data = os.urandom(300_000)
    d = push_blob(registry, "a/b", data)
    status, headers, body = registry.req("GET", f"/v2/a/b/blobs/{d}")
    assert (status, body, headers["docker-content-digest"]) == (200, data, d)
    status, headers, body = registry.req("HEAD", f"/v2/a/b/blobs/{d}")
    assert (status, body, headers["content-length"]) == (200, b"", str(len(data)))
    # chunked: POST, PATCH x2 with Content-Range, PUT ?digest=
    data2 = os.urandom(200_000)
    d2 = digest_of(data2)
    status, headers, _ = registry.req("POST", "/v2/a/b/blobs/uploads/")
    assert status == 202 and headers["range"] == "0-0"
    loc = headers["location"]
    status, headers, _ = registry.req("PATCH", loc, data2[:100_000], {"Content-Range": "0-99999",
                                                                       "Content-Type": "application/octet-stream"})
    assert status == 202 and headers["range"] == "0-99999"
    # out of order: 416 and the upload keeps its offset
    status, headers, body = registry.req("PATCH", loc, data2[:10], {"Content-Range": "5-14"})
    assert status == 416
    status, headers, _ = registry.req("GET", loc)
    assert status == 204 and headers["range"] == "0-99999"
    status, headers, _ = registry.req("PATCH", headers["location"], data2[100_000:],
                                      {"Content-Range": "100000-199999"})
    assert status == 202
    status, headers, _ = registry.req("PUT", f"{headers['location']}?digest={d2}")
    assert status == 201 and headers["docker-content-digest"] == d2
    assert registry.req("GET", f"/v2/a/b/blobs/{d2}")[2] == data2
    # a range
    status, headers, body = registry.req("GET", f"/v2/a/b/blobs/{d2}", headers={"Range": "bytes=10-19"})
    assert (status, body, headers["content-range"]) == (206, data2[10:20], f"bytes 10-19/{len(data2)}")
    status, _, _ = registry.req("GET", f"/v2/a/b/blobs/{d2}", headers={"Range": f"bytes={len(data2)}-"})
    assert status == 416
    assert ingest_files(registry) == []


def test_blob_get_by_sendfile_keeps_the_connection(registry: RegistryProc) -> None:
    """Blob bodies go out by sendfile: whole, ranges, suffix, HEAD and a 416 all on one kept-alive
    connection, each body exactly its bytes (a miscounted body would corrupt the next response)."""
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one socket buffer
    d = push_blob(registry, "kept/alive", data)
    c = registry.conn()
    try:
        def get(method: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            c.request(method, f"/v2/kept/alive/blobs/{d}", headers=headers)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()

        status, headers, body = get("GET", {})
        assert (status, body, headers["content-length"], headers["docker-content-digest"]) == \
            (200, data, str(len(data)), d)
        status, headers, body = get("GET", {"Range": "bytes=1048570-2097160"})
        assert (status, body, headers["content-range"]) == (206, data[1048570:2097161],
                                                            f"bytes 1048570-2097160/{len(data)}")
        status, _, body = get("GET", {"Range": "bytes=-5"})
        assert (status, body) == (206, data[-5:])
        status, headers, body = get("HEAD", {})
        assert (status, body, headers["content-length"]) == (200, b"", str(len(data)))
        status, _, body = get("GET", {"Range": f"bytes={len(data) + 1}-"})
        assert status == 416 and error_code(body) == "RANGE_INVALID"
        status, _, body = get("GET", {"Range": f"bytes={len(data) - 3}-"})
        assert (status, body) == (206, data[-3:])
        c.request("GET", "/v2/")
        assert c.getresponse().read() == b"{}"
    finally:
        c.close()
    # a client that leaves mid-body does not take the registry down
    s = socket.create_connection(("127.0.0.1", registry.port))
    s.sendall(f"GET /v2/kept/alive/blobs/{d} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(4096).startswith(b"HTTP/1.1 200")
    s.close()
    status, _, body = registry.req("GET", f"/v2/kept/alive/blobs/{d}")
    assert (status, body) == (200, data)


def test_bad_digest_stores_nothing(registry: RegistryProc) -> None:
    data = b"some bytes"
    wrong = digest_of(b"other bytes")
    status, _, body = registry.req("POST", f"/v2/x/blobs/uploads/?digest={wrong}", data)
    assert status == 400 and error_code(body) == "DIGEST_INVALID"
    status, headers, _ = registry.req("POST", "/v2/x/blobs/uploads/")
    status, _, body = registry.req("PUT", f"{headers['location']}?digest={wrong}", data)
    assert status == 400 and error_code(body) == "DIGEST_INVALID"
    assert registry.req("HEAD", f"/v2/x/blobs/{wrong}")[0] == 404
    assert registry.req("HEAD", f"/v2/x/blobs/{digest_of(data)}")[0] == 404
    assert blob_files(registry) == set() and ingest_files(registry) == []


def test_truncated_upload_is_never_visible(registry: RegistryProc) -> None:
    data = os.urandom(100_000)
    d = digest_of(data)
    s = socket.create_connection(("127.0.0.1", registry.port))
    s.sendall(f"POST /v2/t/blobs/uploads/?digest={d} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
              .encode() + data[:50_000])
    s.close()
    time.sleep(0.3)
    assert registry.req("HEAD", f"/v2/t/blobs/{d}")[0] == 404
    assert blob_files(registry) == set() and ingest_files(registry) == []


def test_concurrent_pushes_of_one_blob(registry: RegistryProc) -> None:
    data = os.urandom(2_000_000)
    results: list[int] = []

    def push() -> None:
        s, _, _ = registry.req("POST", f"/v2/c{len(results) % 1}/blobs/uploads/?digest={digest_of(data)}", data)
        results.append(s)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 8
    assert registry.req("GET", f"/v2/c0/blobs/{digest_of(data)}")[2] == data
    assert ingest_files(registry) == []


@pytest.mark.parametrize("media", [OCI_MANIFEST, DOCKER_MANIFEST])
def test_manifests_tags_catalog(registry: RegistryProc, media: str) -> None:
    img = make_image(media)
    digest = push_image(registry, "lib/app", "v1", img)
    assert digest == digest_of(img["manifest"])
    for ref in ("v1", digest):
        status, headers, body = registry.req("GET", f"/v2/lib/app/manifests/{ref}", headers={"Accept": media})
        assert (status, body, headers["content-type"], headers["docker-content-digest"]) == \
            (200, img["manifest"], media, digest)
    status, headers, body = registry.req("HEAD", "/v2/lib/app/manifests/v1")
    assert status == 200 and body == b"" and headers["content-length"] == str(len(img["manifest"]))
    for tag in ("v2", "v3", "a0"):
        registry.req("PUT", f"/v2/lib/app/manifests/{tag}", img["manifest"], {"Content-Type": media})
    status, headers, body = registry.req("GET", "/v2/lib/app/tags/list?n=2")
    assert json.loads(body) == {"name": "lib/app", "tags": ["a0", "v1"]}
    assert headers["link"] == '</v2/lib/app/tags/list?n=2&last=v1>; rel="next"'
    status, headers, body = registry.req("GET", "/v2/lib/app/tags/list?n=2&last=v1")
    assert json.loads(body)["tags"] == ["v2", "v3"]
    push_image(registry, "other", "latest", img)
    status, headers, body = registry.req("GET", "/v2/_catalog?n=1")
    assert json.loads(body) == {"repositories": ["lib/app"]} and "last=lib%2Fapp" in headers["link"]
    assert json.loads(registry.req("GET", "/v2/_catalog")[2]) == {"repositories": ["lib/app", "other"]}
    # delete the tag, then the manifest
    assert registry.req("DELETE", "/v2/lib/app/manifests/v3")[0] == 202
    assert registry.req("GET", "/v2/lib/app/manifests/v3")[0] == 404
    assert registry.req("DELETE", f"/v2/lib/app/manifests/{digest}")[0] == 202
    status, _, body = registry.req("GET", f"/v2/lib/app/manifests/{digest}")
    assert status == 404 and error_code(body) == "MANIFEST_UNKNOWN"
    assert json.loads(registry.req("GET", "/v2/lib/app/tags/list")[2])["tags"] == []


def test_manifest_naming_a_missing_blob(registry: RegistryProc) -> None:
    img = make_image()
    push_blob(registry, "m", img["config"])  # the layer is missing
    status, _, body = registry.req("PUT", "/v2/m/manifests/v1", img["manifest"], {"Content-Type": OCI_MANIFEST})
    assert status == 400 and error_code(body) == "MANIFEST_BLOB_UNKNOWN"
    assert registry.req("GET", "/v2/m/manifests/v1")[0] == 404
    assert digest_of(img["manifest"]).removeprefix("sha256:") not in blob_files(registry)
    status, _, body = registry.req("PUT", "/v2/m/manifests/v1", b"{not json", {"Content-Type": OCI_MANIFEST})
    assert status == 400 and error_code(body) == "MANIFEST_INVALID"
    status, _, body = registry.req("PUT", f"/v2/m/manifests/{digest_of(b'x')}", img["manifest"],
                                   {"Content-Type": OCI_MANIFEST})
    assert status == 400


def test_malformed_names(registry: RegistryProc) -> None:
    status, _, body = registry.req("GET", "/v2/Bad_Name/tags/list")
    assert status == 400 and error_code(body) == "NAME_INVALID"
    status, _, body = registry.req("GET", "/v2/nope/tags/list")
    assert status == 404 and error_code(body) == "NAME_UNKNOWN"
    status, _, body = registry.req("GET", "/v2/x/blobs/sha256:1234")
    assert status == 400 and error_code(body) == "DIGEST_INVALID"


def test_index_mount_referrers_and_gc(registry: RegistryProc) -> None:
    img = make_image()
    d = push_image(registry, "src", "v1", img)
    # an index naming a manifest the repository does not have
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": len(img["manifest"]),
         "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    status, _, body = registry.req("PUT", "/v2/dst/manifests/multi", index, {"Content-Type": OCI_INDEX})
    assert status == 400 and error_code(body) == "MANIFEST_BLOB_UNKNOWN"
    # cross-repository mount, then the manifest, then the index
    layer_d = digest_of(img["layer"])
    status, headers, _ = registry.req("POST", f"/v2/dst/blobs/uploads/?mount={layer_d}&from=src")
    assert status == 201 and headers["location"] == f"/v2/dst/blobs/{layer_d}"
    status, headers, _ = registry.req("POST", f"/v2/dst/blobs/uploads/?mount={layer_d}&from=nowhere")
    assert status == 202  # not mountable: an upload session instead
    registry.req("DELETE", headers["location"])
    registry.req("POST", f"/v2/dst/blobs/uploads/?mount={digest_of(img['config'])}&from=src")
    assert registry.req("PUT", f"/v2/dst/manifests/{d}", img["manifest"], {"Content-Type": OCI_MANIFEST})[0] == 201
    status, headers, _ = registry.req("PUT", "/v2/dst/manifests/multi", index, {"Content-Type": OCI_INDEX})
    assert status == 201
    status, headers, body = registry.req("GET", "/v2/dst/manifests/multi")
    assert headers["content-type"] == OCI_INDEX and body == index
    # a referrer (an artifact whose subject is the image)
    empty = push_blob(registry, "dst", b"{}")
    art = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sbom",
                      "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
                      "layers": [{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2}],
                      "subject": {"mediaType": OCI_MANIFEST, "digest": d, "size": len(img["manifest"])}}).encode()
    status, headers, _ = registry.req("PUT", f"/v2/dst/manifests/{digest_of(art)}", art, {"Content-Type": OCI_MANIFEST})
    assert status == 201 and headers["oci-subject"] == d
    status, headers, body = registry.req("GET", f"/v2/dst/referrers/{d}")
    refs = json.loads(body)
    assert status == 200 and refs["mediaType"] == OCI_INDEX
    assert [(m["digest"], m["artifactType"]) for m in refs["manifests"]] == [(digest_of(art), "application/x-sbom")]
    body = registry.req("GET", f"/v2/dst/referrers/{d}?artifactType=application/x-other")[2]
    assert json.loads(body)["manifests"] == []
    # GC: an orphan blob goes, everything referenced stays
    orphan = push_blob(registry, "dst", b"orphan data")
    registry.stop()
    res = subprocess.run([KOBAKO, "registry", "gc", "--root", str(registry.root / "data")], capture_output=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    left = blob_files(registry)
    assert orphan.removeprefix("sha256:") not in left
    for keep in (d, layer_d, digest_of(img["config"]), digest_of(index), digest_of(art), empty):
        assert keep.removeprefix("sha256:") in left


# -- auth and TLS -------------------------------------------------------------------------------------
def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _htpasswd(tmp_path: Path) -> Path:
    from kobako.registry._auth import sha_entry

    p = tmp_path / "htpasswd"
    p.write_text(sha_entry("alice", "s3cret") + "\n")
    return p


def test_htpasswd_basic_auth(tmp_path: Path) -> None:
    reg = RegistryProc(tmp_path, "--htpasswd", str(_htpasswd(tmp_path)))
    try:
        status, headers, body = reg.req("GET", "/v2/")
        assert status == 401 and headers["www-authenticate"].startswith("Basic realm=")
        assert error_code(body) == "UNAUTHORIZED"
        assert reg.req("GET", "/v2/", headers=_basic("alice", "wrong"))[0] == 401
        assert reg.req("GET", "/v2/", headers=_basic("alice", "s3cret"))[0] == 200
        status, _, _ = reg.req("POST", f"/v2/r/blobs/uploads/?digest={digest_of(b'x')}", b"x", _basic("bob", "x"))
        assert status == 401 and blob_files(reg) == set()
    finally:
        reg.stop()


def test_token_auth_flow(tmp_path: Path) -> None:
    from kobako.registry._auth import parse_challenge

    reg = RegistryProc(tmp_path, "--htpasswd", str(_htpasswd(tmp_path)), "--token-realm", "self")
    try:
        status, headers, _ = reg.req("GET", "/v2/r/tags/list")
        scheme, params = parse_challenge(headers["www-authenticate"])
        assert status == 401 and scheme == "bearer" and params["scope"] == "repository:r:pull"
        assert params["realm"] == f"http://127.0.0.1:{reg.port}/token"
        path = f"/token?service={params['service']}&scope=repository:r:pull,push"
        assert reg.req("GET", path, headers=_basic("alice", "nope"))[0] == 401
        status, _, body = reg.req("GET", path, headers=_basic("alice", "s3cret"))
        token = json.loads(body)["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert reg.req("GET", "/v2/", headers=bearer)[0] == 200
        assert reg.req("POST", f"/v2/r/blobs/uploads/?digest={digest_of(b'x')}", b"x", bearer)[0] == 201
        # the token is for r, not for s
        assert reg.req("GET", "/v2/s/tags/list", headers=bearer)[0] == 401
        assert reg.req("GET", "/v2/r/tags/list", headers={"Authorization": "Bearer " + token[:-3] + "abc"})[0] == 401
    finally:
        reg.stop()


def _cert(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


def test_tls(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path)
    reg = RegistryProc(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key))
    try:
        assert reg.tls
        assert reg.req("GET", "/v2/")[0] == 200
        img = make_image()
        push_image(reg, "sec", "v1", img)
        assert reg.req("GET", "/v2/sec/manifests/v1")[2] == img["manifest"]
        big = os.urandom(2 * 1024 * 1024 + 3)  # TLS: asyncio's sendfile falls back to read + write
        d = push_blob(reg, "sec", big)
        assert reg.req("GET", f"/v2/sec/blobs/{d}")[2] == big
        status, _, body = reg.req("GET", f"/v2/sec/blobs/{d}", headers={"Range": "bytes=100-199"})
        assert (status, body) == (206, big[100:200])
    finally:
        reg.stop()


# -- skopeo as the peer --------------------------------------------------------------------------------
def _skopeo() -> str:
    exe = shutil.which("skopeo")
    if exe is None:
        pytest.skip("needs skopeo (apt install skopeo)")
    return exe


def write_oci_layout(path: Path, img: dict[str, Any], tag: str = "latest") -> None:
    (path / "blobs" / "sha256").mkdir(parents=True)
    for key in ("layer", "config", "manifest"):
        (path / "blobs" / "sha256" / digest_of(img[key]).removeprefix("sha256:")).write_bytes(img[key])
    (path / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {"mediaType": img["media"], "digest": digest_of(img["manifest"]), "size": len(img["manifest"]),
         "annotations": {"org.opencontainers.image.ref.name": tag}}]}))


@pytest.mark.parametrize("fmt", ["oci", "v2s2"])
def test_skopeo_copy_both_ways(registry: RegistryProc, tmp_path: Path, fmt: str) -> None:
    skopeo = _skopeo()
    img = make_image()
    write_oci_layout(tmp_path / "layout", img)
    dest = f"docker://{registry.addr}/sk/img:{fmt}"
    env = {**os.environ, "HOME": str(tmp_path)}
    res = subprocess.run([skopeo, "copy", "--dest-tls-verify=false", "--format", fmt,
                          f"oci:{tmp_path / 'layout'}:latest", dest], capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    media = OCI_MANIFEST if fmt == "oci" else DOCKER_MANIFEST
    status, headers, _ = registry.req("GET", f"/v2/sk/img/manifests/{fmt}")
    assert status == 200 and headers["content-type"] == media
    res = subprocess.run([skopeo, "copy", "--src-tls-verify=false", dest, f"oci:{tmp_path / 'back'}:x"],
                         capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    back = json.loads((tmp_path / "back" / "index.json").read_text())["manifests"][0]
    blob = (tmp_path / "back" / "blobs" / "sha256" / back["digest"].removeprefix("sha256:")).read_bytes()
    assert json.loads(blob)["layers"][0]["digest"] == digest_of(img["layer"])
    res = subprocess.run([skopeo, "inspect", "--tls-verify=false", dest], capture_output=True, env=env, timeout=60)
    assert res.returncode == 0 and json.loads(res.stdout)["Layers"] == [digest_of(img["layer"])]


# -- kobakod pulls and pushes ----------------------------------------------------------------------------
def kobako_out(res: subprocess.CompletedProcess[bytes]) -> str:
    return res.stdout.decode() + res.stderr.decode()


def test_kobako_push_pull_roundtrip(daemon: Daemon, registry: RegistryProc) -> None:
    ref = f"{registry.addr}/kobako/busybox:rt"
    daemon.kobako("tag", "busybox", ref)
    res = daemon.kobako("push", ref)
    out = kobako_out(res)
    assert "Pushed" in out and "rt: digest: sha256:" in out
    # again: every layer is already there
    assert "Layer already exists" in kobako_out(daemon.kobako("push", ref))
    busybox_id = json.loads(daemon.kobako("inspect", "--format", "{{json .Id}}", "busybox").stdout)
    daemon.kobako("rmi", ref)
    res = daemon.kobako("pull", ref)
    assert "Status: Image is up to date" in kobako_out(res) or "Downloaded newer image" in kobako_out(res)
    assert json.loads(daemon.kobako("inspect", "--format", "{{json .Id}}", ref).stdout) == busybox_id
    assert daemon.kobako("run", "--rm", ref, "echo", "pulled").stdout == b"pulled\n"
    # a fresh pull into an image the daemon does not have: import a tiny one, push, remove, pull
    daemon.kobako("rmi", ref)


def test_kobako_pull_new_image_and_platform_index(daemon: Daemon, registry: RegistryProc) -> None:
    img = make_image(DOCKER_MANIFEST, text=os.urandom(16).hex().encode())
    d = push_image(registry, "fresh/img", "v1", img)
    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                        "manifests": [
                            {"mediaType": DOCKER_MANIFEST, "digest": d, "size": len(img["manifest"]),
                             "platform": {"os": "linux", "architecture": arch}} for arch in ("amd64", "arm64")]})
    registry.req("PUT", "/v2/fresh/img/manifests/multi", index.encode(),
                 {"Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    ref = f"{registry.addr}/fresh/img:multi"
    res = daemon.kobako("pull", ref)
    out = kobako_out(res)
    assert "Pull complete" in out and f"Digest: {d}" in out and "Downloaded newer image" in out
    res = daemon.kobako("run", "--rm", ref, "cat", "/hello.txt", check=False)
    assert json.loads(daemon.kobako("inspect", ref).stdout)[0]["RepoDigests"] == [f"{registry.addr}/fresh/img@{d}"]
    res = daemon.kobako("pull", "--platform", "linux/s390x", f"{registry.addr}/fresh/img:multi", check=False)
    assert res.returncode != 0 and "no matching manifest for linux/s390x" in kobako_out(res)
    res = daemon.kobako("pull", "-q", f"{registry.addr}/fresh/img@{d}")
    assert res.stdout.decode().strip() == f"{registry.addr}/fresh/img@{d}"
    daemon.kobako("rmi", "-f", ref)


def test_kobako_pull_errors(daemon: Daemon, registry: RegistryProc) -> None:
    res = daemon.kobako("pull", f"{registry.addr}/Bad:Ref:x", check=False)
    assert res.returncode != 0 and "invalid reference format" in kobako_out(res)
    res = daemon.kobako("pull", f"{registry.addr}/nothing/here:v1", check=False)
    assert res.returncode != 0 and "not found" in kobako_out(res)
    # a blob whose bytes do not match its digest: the pull fails and stores nothing
    img = make_image(text=b"corrupt me\n")
    push_image(registry, "bad/blob", "v1", img)
    layer = registry.root / "data" / "blobs" / "sha256" / digest_of(img["layer"]).removeprefix("sha256:")
    os.chmod(layer, 0o644)
    layer.write_bytes(img["layer"][:-4] + b"XXXX")
    res = daemon.kobako("pull", f"{registry.addr}/bad/blob:v1", check=False)
    assert res.returncode != 0 and "digest mismatch" in kobako_out(res)
    assert not (daemon.data_root / "content" / "sha256" / digest_of(img["layer"]).removeprefix("sha256:")).exists()
    assert daemon.kobako("inspect", f"{registry.addr}/bad/blob:v1", check=False).returncode != 0


def test_kobako_login_push_pull_with_token_auth(daemon: Daemon, tmp_path: Path) -> None:
    reg = RegistryProc(tmp_path, "--htpasswd", str(_htpasswd(tmp_path)), "--token-realm", "self")
    cfg = tmp_path / "docker-config"
    env_backup = os.environ.get("DOCKER_CONFIG")
    os.environ["DOCKER_CONFIG"] = str(cfg)
    try:
        ref = f"{reg.addr}/secure/busybox:v1"
        daemon.kobako("tag", "busybox", ref)
        res = daemon.kobako("push", ref, check=False)
        assert res.returncode != 0 and "unauthorized" in kobako_out(res).lower()
        res = daemon.kobako("login", "-u", "alice", "-p", "wrong", reg.addr, check=False)
        assert res.returncode != 0 and not (cfg / "config.json").exists()
        res = daemon.kobako("login", "-u", "alice", "--password-stdin", reg.addr, input=b"s3cret\n")
        assert "Login Succeeded" in res.stdout.decode()
        auths = json.loads((cfg / "config.json").read_text())["auths"]
        assert base64.b64decode(auths[reg.addr]["auth"]) == b"alice:s3cret"
        daemon.kobako("push", ref)
        daemon.kobako("rmi", ref)
        daemon.kobako("pull", ref)
        assert daemon.kobako("run", "--rm", ref, "true").returncode == 0
        daemon.kobako("logout", reg.addr)
        assert reg.addr not in json.loads((cfg / "config.json").read_text())["auths"]
        daemon.kobako("rmi", ref)
        res = daemon.kobako("pull", ref, check=False)
        assert res.returncode != 0 and "unauthorized" in kobako_out(res).lower()
    finally:
        if env_backup is None:
            os.environ.pop("DOCKER_CONFIG", None)
        else:
            os.environ["DOCKER_CONFIG"] = env_backup
        reg.stop()


def test_manifest_inspect(daemon: Daemon, registry: RegistryProc) -> None:
    img = make_image()
    push_image(registry, "insp", "v1", img)
    res = daemon.kobako("manifest", "inspect", f"{registry.addr}/insp:v1")
    assert json.loads(res.stdout) == json.loads(img["manifest"])


# -- content garbage collection against pulls ----------------------------------------------------------
def make_multi(layers: list[bytes], labels: dict[str, str] | None = None) -> dict[str, Any]:
    """An OCI image of several one-file layers (each ``bytes`` is a file's content), pushable."""
    tars = [make_layer({f"f{i}": data}) for i, data in enumerate(layers)]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"], "Labels": labels or {}},
                         "rootfs": {"type": "layers", "diff_ids": [digest_of(t) for t, _ in tars]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest_of(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest_of(gz),
                    "size": len(gz)} for _, gz in tars],
    }).encode()
    return {"gz": [gz for _, gz in tars], "config": config, "manifest": manifest}


def push_multi(reg: RegistryProc, repo: str, tag: str, img: dict[str, Any]) -> None:
    for gz in img["gz"]:
        push_blob(reg, repo, gz)
    push_blob(reg, repo, img["config"])
    status, _, body = reg.req("PUT", f"/v2/{repo}/manifests/{tag}", img["manifest"], {"Content-Type": OCI_MANIFEST})
    assert status == 201, body


def test_pull_keeps_a_shared_layer_while_gc_runs(registry: RegistryProc, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Image B shares its base layer with local image A. While B's pull, having said "Already
    exists" for the base, is still downloading its own layer, A is removed and garbage is
    collected: A's own blobs go, the base (held by the pull's lease) stays, and B is whole."""
    from kobako.content import LocalContentStore
    from kobako.images import ImageStore, parse_reference
    from kobako.registry import _pull
    from kobako.snapshots import CopySnapshotter

    base = os.urandom(50_000)
    a, b = make_multi([base, b"only in a\n"]), make_multi([base, os.urandom(300_000)])
    push_multi(registry, "gc/a", "1", a)
    push_multi(registry, "gc/b", "1", b)
    store = ImageStore(tmp_path / "images", LocalContentStore(tmp_path / "content", unleased_grace=0),
                       CopySnapshotter(tmp_path / "snap"))
    image_a, _, _ = _pull.pull_image(store, parse_reference(f"{registry.addr}/gc/a:1"))
    base_digest, b_top = digest_of(a["gz"][0]), digest_of(b["gz"][1])
    a_own = {digest_of(a["gz"][1]), digest_of(a["config"]), digest_of(a["manifest"])}

    reached, gate = threading.Event(), threading.Event()
    real = _pull.download_blob

    def held(client: Any, st: Any, repo: str, desc: dict[str, Any], scope: str, emit: Any) -> None:
        if desc["digest"] == b_top:
            reached.set()
            assert gate.wait(30)
        real(client, st, repo, desc, scope, emit)

    monkeypatch.setattr(_pull, "download_blob", held)
    said: list[dict[str, Any]] = []
    outcome: list[Any] = []

    def pull_b() -> None:
        try:
            outcome.append(_pull.pull_image(store, parse_reference(f"{registry.addr}/gc/b:1"), emit=said.append))
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    t = threading.Thread(target=pull_b)
    t.start()
    try:
        assert reached.wait(30), outcome
        assert {"status": "Already exists", "progressDetail": {}, "id": base_digest[7:19]} in said
        store.remove(image_a.id, force=True)
        result = store.collect_garbage()
        assert set(result.deleted) == a_own
        assert store.content.has(base_digest)
    finally:
        gate.set()
        t.join(60)
    assert not isinstance(outcome[0], BaseException), outcome[0]
    image_b = outcome[0][0]
    assert store.collect_garbage().deleted == []  # B's blobs are an image's now
    assert set(store.content.list()) == {base_digest, b_top, digest_of(b["config"]), digest_of(b["manifest"])}
    for chain in reversed(store.chain_ids(image_b)):  # B unpacks again from its blobs alone
        store.snapshotter.remove(chain)
    store.unpack(store.get(image_b.id))
    store.remove(image_b.id, force=True)
    assert store.collect_garbage().freed > 300_000
    assert store.content.list() == [] and not list((tmp_path / "content" / "leases").iterdir())


def content_blobs(daemon: Daemon) -> set[str]:
    return {"sha256:" + p.name for p in (daemon.data_root / "content" / "sha256").iterdir()}


def test_kobakod_rmi_and_image_prune_collect_blobs(daemon: Daemon, registry: RegistryProc) -> None:
    """Through kobakod: ``rmi`` of a pulled image deletes its blobs but not one another image
    shares; ``POST /images/prune`` deletes dangling/unused images and their blobs."""
    label = {"org.kobako.test": os.urandom(4).hex()}
    base = os.urandom(40_000)
    one, two = make_multi([base, os.urandom(20_000)], label), make_multi([base, os.urandom(20_000)], label)
    push_multi(registry, "gcd/one", "1", one)
    push_multi(registry, "gcd/two", "1", two)
    ref1, ref2 = f"{registry.addr}/gcd/one:1", f"{registry.addr}/gcd/two:1"
    daemon.kobako("pull", ref1)
    daemon.kobako("pull", ref2)
    blobs1 = {digest_of(x) for x in [*one["gz"], one["config"], one["manifest"]]}
    blobs2 = {digest_of(x) for x in [*two["gz"], two["config"], two["manifest"]]}
    assert blobs1 | blobs2 <= content_blobs(daemon)
    out = daemon.kobako("rmi", ref1).stdout.decode()
    assert f"Deleted: {digest_of(one['config'])}" in out
    have = content_blobs(daemon)
    assert not (blobs1 - blobs2) & have, "rmi left the removed image's blobs"
    assert blobs2 <= have, "rmi took a blob another image uses"
    # prune: untagged (dangling) first, then every unused image with the label
    c = daemon.client()
    daemon.kobako("tag", ref2, f"{registry.addr}/gcd/two:keep")
    daemon.kobako("rmi", ref2)  # still tagged :keep: untag only
    assert blobs2 <= content_blobs(daemon)
    res = c.json("POST", "/images/prune", query={"filters": json.dumps({"label": [f"org.kobako.test={label['org.kobako.test']}"]})})
    assert res["ImagesDeleted"] is None and res["SpaceReclaimed"] == 0  # tagged: not dangling
    res = c.json("POST", "/images/prune", query={"filters": json.dumps(
        {"dangling": ["false"], "label": [f"org.kobako.test={label['org.kobako.test']}"]})})
    assert {"Deleted": digest_of(two["config"])} in res["ImagesDeleted"]
    assert res["SpaceReclaimed"] >= sum(len(x) for x in two["gz"])
    assert not blobs2 & content_blobs(daemon)
    busybox = json.loads(daemon.kobako("inspect", "--format", "{{json .Id}}", "busybox").stdout)
    assert busybox in content_blobs(daemon)  # other images untouched
    status, _, _ = c.request("POST", "/images/prune", query={"filters": json.dumps({"bogus": ["1"]})})
    assert status == 400


# -- search ------------------------------------------------------------------------------------------------
def test_registry_v1_search_over_catalog(registry: RegistryProc) -> None:
    for repo in ("team/web-frontend", "team/web-backend", "tools/busybox"):
        push_image(registry, repo, "latest", make_image(text=repo.encode()))
    described = make_multi([b"x"], {"org.opencontainers.image.description": "A described\nimage"})
    push_multi(registry, "team/described", "latest", described)
    status, _, body = registry.req("GET", "/v1/search?q=WEB&n=1")
    doc = json.loads(body)
    assert status == 200
    assert (doc["num_results"], doc["num_pages"], doc["page_size"], doc["query"]) == (2, 2, 1, "WEB")
    assert [r["name"] for r in doc["results"]] == ["team/web-backend"]
    page2 = json.loads(registry.req("GET", "/v1/search?q=web&n=1&page=2")[2])
    assert [r["name"] for r in page2["results"]] == ["team/web-frontend"]
    everything = json.loads(registry.req("GET", "/v1/search?q=")[2])
    assert {r["name"] for r in everything["results"]} == {"team/web-frontend", "team/web-backend", "tools/busybox",
                                                          "team/described"}
    desc = {r["name"]: r["description"] for r in everything["results"]}
    assert desc["team/described"] == "A described\nimage" and desc["tools/busybox"] == ""
    assert all(r["star_count"] == 0 and r["is_official"] is False for r in everything["results"])
    assert registry.req("GET", "/v1/search?q=x&n=many")[0] == 400


def test_kobakod_search_against_kobako_registry_and_one_without_search(daemon: Daemon, registry: RegistryProc,
                                                                       tmp_path: Path) -> None:
    for repo in ("srch/alpha", "srch/alphabet", "other/beta"):
        push_image(registry, repo, "latest", make_image(text=repo.encode()))
    c = daemon.client()
    got = c.json("GET", "/images/search", query={"term": f"{registry.addr}/alpha"})
    assert got == [{"star_count": 0, "is_official": False, "name": n, "is_automated": False, "description": ""}
                   for n in ("srch/alpha", "srch/alphabet")]
    assert len(c.json("GET", "/images/search", query={"term": f"{registry.addr}/alpha", "limit": 1})) == 1
    for filters, want in (({"is-official": ["true"]}, 0), ({"is-official": ["false"]}, 2), ({"stars": ["1"]}, 0),
                          ({"is-automated": ["true"]}, 0)):
        found = c.json("GET", "/images/search", query={"term": f"{registry.addr}/alpha",
                                                        "filters": json.dumps(filters)})
        assert len(found) == want, filters
    for query, message in (({"limit": 101}, "limit 101 is outside the range of [1, 100]"),
                           ({"filters": json.dumps({"color": ["red"]})}, "invalid filter 'color'"),
                           ({"filters": json.dumps({"stars": ["lots"]})}, "invalid filter 'stars=lots'"),
                           ({"term": "http://x/y"}, "should not have a scheme")):
        status, _, body = c.request("GET", "/images/search",
                                    query={"term": f"{registry.addr}/alpha", **query})
        assert status == 400 and message in json.loads(body)["message"], (query, body)
    # the CLI: docker's columns
    out = daemon.kobako("search", f"{registry.addr}/alpha").stdout.decode().splitlines()
    assert out[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert [line.split()[0] for line in out[1:]] == ["srch/alpha", "srch/alphabet"]
    assert daemon.kobako("search", "--format", "{{.Name}}:{{.StarCount}}", "--limit", "1",
                         f"{registry.addr}/alpha").stdout == b"srch/alpha:0\n"
    # a registry without the V1 search API (Debian's distribution registry): a clear error
    exe = shutil.which("docker-registry") or "/usr/bin/docker-registry"
    if not Path(exe).exists():
        pytest.skip("needs docker-registry (apt install docker-registry) as a registry without search")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "distribution.yml"
    cfg.write_text(json.dumps({"version": 0.1, "log": {"level": "error"},
                               "storage": {"filesystem": {"rootdirectory": str(tmp_path / "dist")}},
                               "http": {"addr": f"127.0.0.1:{port}"}}))
    proc = subprocess.Popen([exe, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        status, _, body = c.request("GET", "/images/search", query={"term": f"127.0.0.1:{port}/anything"})
        assert status == 501, body
        assert f"registry 127.0.0.1:{port} does not support search" in json.loads(body)["message"]
        res = daemon.kobako("search", f"127.0.0.1:{port}/anything", check=False)
        assert res.returncode != 0 and b"does not support search" in res.stderr
    finally:
        proc.terminate()
        proc.wait(10)


def test_kobako_image_prune_cli(daemon: Daemon, registry: RegistryProc) -> None:
    mark = os.urandom(4).hex()
    img = make_multi([os.urandom(25_000)], {"org.kobako.prune": mark})
    push_multi(registry, "gcd/cli", "1", img)
    daemon.kobako("pull", f"{registry.addr}/gcd/cli:1")
    blobs = {digest_of(x) for x in [*img["gz"], img["config"], img["manifest"]]}
    assert blobs <= content_blobs(daemon)
    flt = f"label=org.kobako.prune={mark}"
    out = daemon.kobako("image", "prune", "-f", "--filter", flt).stdout.decode()  # tagged: not dangling
    assert out == "Total reclaimed space: 0B\n" and blobs <= content_blobs(daemon)
    res = daemon.kobako("image", "prune", "-a", "--filter", flt, input=b"n\n")  # declined: nothing happens
    assert b"WARNING! This will remove all images without at least one container" in res.stdout
    assert blobs <= content_blobs(daemon)
    out = daemon.kobako("image", "prune", "-a", "-f", "--filter", flt).stdout.decode()
    assert out.startswith("Deleted Images:\nuntagged: ") and f"deleted: {digest_of(img['config'])}" in out
    assert "Total reclaimed space: " in out and not blobs & content_blobs(daemon)
    res = daemon.kobako("image", "prune", "-f", "--filter", "bogus=1", check=False)
    assert res.returncode != 0 and b"invalid filter 'bogus'" in res.stderr


def test_build_pulls_a_missing_base_image(daemon: Daemon, registry: RegistryProc, tmp_path: Path) -> None:
    """dockerd's legacy builder: FROM an image that is not here pulls it (its progress in the build's
    output); --pull asks the registry again even when it is here; a base no registry has fails on its line."""
    base = f"{registry.addr}/kobako/base:1"
    daemon.kobako("tag", "busybox", base)
    daemon.kobako("push", base)
    daemon.kobako("rmi", base)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {base}\nRUN echo built > /built\n")
    tag = "kb-pulled-base:1"
    try:
        out = kobako_out(daemon.kobako("build", "-t", tag, str(ctx)))
        assert "Step 1/2 : FROM " + base in out and "Downloaded newer image for " + base in out, out
        assert daemon.kobako("run", "--rm", tag, "cat", "/built").stdout == b"built\n"
        again = kobako_out(daemon.kobako("build", "--pull", "-t", tag, str(ctx)))
        assert "Image is up to date for " + base in again and "Using cache" in again, again
        (ctx / "Dockerfile").write_text(f"FROM {registry.addr}/kobako/nosuch:1\n")
        res = daemon.kobako("build", str(ctx), check=False)
        failed = kobako_out(res)
        assert res.returncode == 1 and "pull access denied for" in failed and "nosuch" in failed, failed
        assert "line 1" in failed.lower() or "dockerfile:1" in failed.lower(), failed
    finally:
        daemon.kobako("rmi", "-f", tag, base, check=False)
