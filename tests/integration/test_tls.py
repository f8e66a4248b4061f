"""kobakod on TCP with mutual TLS, with certificates made by ``openssl`` for the test.

The real docker CLI, the Docker SDK and kobako's own client reach it with a client certificate of
its CA; a client without a certificate, with a certificate of another CA, or speaking plain HTTP is
refused, and the daemon keeps serving.  ``-H tcp://`` without ``--tlsverify`` is refused at start.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon_fixture import KOBAKO, KOBAKOD, Daemon

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command"),
]
DOCKER = "/usr/local/bin/docker"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}-key.pem", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)


def _leaf(d: Path, ca: str, name: str, ext: str) -> None:
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.ext").write_text(ext)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
             "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("tls")
    _ca(d, "ca")
    _ca(d, "otherca")
    _leaf(d, "ca", "server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    _leaf(d, "ca", "client", "extendedKeyUsage=clientAuth\n")
    _leaf(d, "otherca", "stranger", "extendedKeyUsage=clientAuth\n")
    # a DOCKER_CERT_PATH directory laid out as the docker CLI expects
    (d / "certpath").mkdir()
    for src, dst in (("ca.pem", "ca.pem"), ("client.pem", "cert.pem"), ("client-key.pem", "key.pem")):
        shutil.copy(d / src, d / "certpath" / dst)
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls_daemon(certs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, str]]:
    port = _free_port()
    tcp = f"tcp://127.0.0.1:{port}"
    d = Daemon(tmp_path_factory.mktemp("kobakod-tls"), extra_args=(
        "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"),
        "--tlscert", str(certs / "server.pem"), "--tlskey", str(certs / "server-key.pem")))
    try:
        d.start()
        d.kobako("image", "bootstrap", "busybox")
        yield d, tcp
    finally:
        d.cleanup()


def _docker(tcp: str, certs: Path, *args: str, env: dict[str, str] | None = None,
            tls_args: bool = True) -> subprocess.CompletedProcess[str]:
    flags = ["--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert", str(certs / "client.pem"),
             "--tlskey", str(certs / "client-key.pem")] if tls_args else []
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    base["DOCKER_CONFIG"] = str(certs / "docker-config")  # no user config, no ~/.docker certs
    return subprocess.run([DOCKER, *(["-H", tcp] if tls_args else []), *flags, *args], capture_output=True,
                          text=True, timeout=60, env={**base, **(env or {})})


@pytest.mark.skipif(not os.path.exists(DOCKER), reason="needs the docker CLI")
def test_docker_cli_over_mutual_tls(tls_daemon: tuple[Daemon, str], certs: Path) -> None:
    daemon, tcp = tls_daemon
    res = _docker(tcp, certs, "version", "--format", "{{.Server.Version}}")
    assert res.returncode == 0, res.stderr
    res = _docker(tcp, certs, "run", "--rm", "busybox", "echo", "over tls")  # a hijacked attach over TLS
    assert res.returncode == 0 and res.stdout == "over tls\n", res.stderr
    # stdin over TLS: the CLI's close_notify after stdin must end stdin only, not the output
    res = subprocess.run([DOCKER, "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
                          str(certs / "client.pem"), "--tlskey", str(certs / "client-key.pem"), "run", "-i", "--rm",
                          "busybox", "sh", "-c", "cat; echo after-eof"], input="piped in\n", capture_output=True,
                         text=True, timeout=60, env={"PATH": os.environ["PATH"], "DOCKER_CONFIG": str(certs / "dc")})
    assert res.returncode == 0 and res.stdout == "piped in\nafter-eof\n", (res.stdout, res.stderr)
    # the environment form: DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
    res = _docker(tcp, certs, "ps", "-a", tls_args=False, env={
        "DOCKER_HOST": tcp, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs / "certpath")})
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(not os.path.exists(DOCKER), reason="needs the docker CLI")
def test_docker_cli_without_a_client_certificate_is_refused(tls_daemon: tuple[Daemon, str], certs: Path) -> None:
    daemon, tcp = tls_daemon
    base = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    res = subprocess.run([DOCKER, "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "version"],
                         capture_output=True, text=True, timeout=60,
                         env={**base, "DOCKER_CONFIG": str(certs / "docker-config"), "DOCKER_CERT_PATH": str(certs)})
    assert res.returncode != 0 and "Server:" not in res.stdout, res.stdout
    assert "error during connect" in res.stderr or "certificate" in res.stderr, res.stderr


def test_docker_sdk_over_mutual_tls(tls_daemon: tuple[Daemon, str], certs: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import docker
    from docker.tls import TLSConfig

    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests lets these override TLSConfig's CA
        monkeypatch.delenv(var, raising=False)
    daemon, tcp = tls_daemon
    tls = TLSConfig(client_cert=(str(certs / "client.pem"), str(certs / "client-key.pem")),
                    ca_cert=str(certs / "ca.pem"), verify=True)
    client = docker.DockerClient(base_url=tcp.replace("tcp://", "https://"), tls=tls)
    try:
        assert client.ping()
        assert client.containers.run("busybox", ["echo", "sdk"], remove=True) == b"sdk\n"
    finally:
        client.close()


def _kobako(tcp: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "KOBAKO_HOST"))}
    return subprocess.run([KOBAKO, *args], capture_output=True, text=True, timeout=60, env={**base, **(env or {})})


def test_kobako_client_over_mutual_tls(tls_daemon: tuple[Daemon, str], certs: Path) -> None:
    daemon, tcp = tls_daemon
    res = _kobako(tcp, "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
                  str(certs / "client.pem"), "--tlskey", str(certs / "client-key.pem"), "run", "--rm", "busybox",
                  "echo", "kobako tls")
    assert res.returncode == 0 and res.stdout == "kobako tls\n", res.stderr
    # stdin over TLS: its end is a close_notify alone; the output after it still arrives (as docker's CLI)
    res = subprocess.run([KOBAKO, "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
                          str(certs / "client.pem"), "--tlskey", str(certs / "client-key.pem"), "run", "-i", "--rm",
                          "busybox", "sh", "-c", "cat; sleep 0.2; echo after-eof"], input="piped in\n" * 3000,
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "KOBAKO_HOST"))})
    assert res.returncode == 0 and res.stdout == "piped in\n" * 3000 + "after-eof\n", (res.stdout[-200:], res.stderr)
    res = _kobako(tcp, "ps", "-a", env={"DOCKER_HOST": tcp, "DOCKER_TLS_VERIFY": "1",
                                        "DOCKER_CERT_PATH": str(certs / "certpath")})
    assert res.returncode == 0 and "CONTAINER ID" in res.stdout, res.stderr
    # the library: Client over TCP with the environment's TLS settings
    from kobako.client import Client
    from kobako.client import _tls

    old = dict(os.environ)
    try:
        os.environ.update({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs / "certpath")})
        assert Client(tcp).request("GET", "/_ping")[2] == b"OK"
    finally:
        os.environ.clear()
        os.environ.update(old)
        _tls._flags.clear()


def test_kobako_client_with_another_cas_certificate_is_refused(tls_daemon: tuple[Daemon, str], certs: Path) -> None:
    daemon, tcp = tls_daemon
    res = _kobako(tcp, "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "ca.pem"), "--tlscert",
                  str(certs / "stranger.pem"), "--tlskey", str(certs / "stranger-key.pem"), "ps")
    assert res.returncode != 0 and "CONTAINER ID" not in res.stdout
    assert res.stderr.strip()
    # and a client that does not trust the daemon's CA refuses the daemon
    res = _kobako(tcp, "-H", tcp, "--tlsverify", "--tlscacert", str(certs / "otherca.pem"), "--tlscert",
                  str(certs / "client.pem"), "--tlskey", str(certs / "client-key.pem"), "ps")
    assert res.returncode != 0 and "verify" in res.stderr, res.stderr


def _handshake_and_get(tcp: str, ctx: ssl.SSLContext) -> bytes:
    host, port = tcp.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        return s.recv(4096)


@pytest.mark.parametrize("who", ["no-certificate", "another-ca"])
def test_raw_tls_clients_are_refused_and_the_daemon_keeps_serving(
        tls_daemon: tuple[Daemon, str], certs: Path, who: str) -> None:
    daemon, tcp = tls_daemon
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    if who == "another-ca":
        ctx.load_cert_chain(str(certs / "stranger.pem"), str(certs / "stranger-key.pem"))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        data = _handshake_and_get(tcp, ctx)
        if not data:
            raise ConnectionResetError("closed without an answer")
    good = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    good.load_cert_chain(str(certs / "client.pem"), str(certs / "client-key.pem"))
    assert _handshake_and_get(tcp, good).startswith(b"HTTP/1.1 200")
    assert daemon.kobako("version").returncode == 0


def test_plain_http_on_the_tls_port_gets_nothing(tls_daemon: tuple[Daemon, str]) -> None:
    daemon, tcp = tls_daemon
    host, port = tcp.removeprefix("tcp://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
        except ConnectionError:
            data = b""
    assert b"200 OK" not in data and b"OK" != data[-2:]


def test_unix_socket_is_root_only(tls_daemon: tuple[Daemon, str]) -> None:
    import grp
    import stat

    daemon, _ = tls_daemon
    st = daemon.sock.stat()
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660 and st.st_uid == 0
    try:
        want = grp.getgrnam("kobako").gr_gid
    except KeyError:
        try:
            want = grp.getgrnam("docker").gr_gid
        except KeyError:
            want = 0
    assert st.st_gid == want


@pytest.mark.parametrize(("args", "message"), [
    (["-H", "tcp://127.0.0.1:1"], "without TLS"),
    (["-H", "tcp://127.0.0.1:1", "--tls"], "--tls without --tlsverify"),
    (["-H", "tcp://127.0.0.1:1", "--tlsverify", "--tlscacert", "/nonexistent/ca.pem"], "--tlscacert"),
])
def test_kobakod_refuses_tcp_without_mutual_tls(tmp_path: Path, args: list[str], message: str) -> None:
    res = subprocess.run([KOBAKOD, "--data-root", str(tmp_path / "data"), "--exec-root", str(tmp_path / "exec"),
                          *args], capture_output=True, text=True, timeout=30)
    assert res.returncode == 1
    assert message in res.stderr, res.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was set up
