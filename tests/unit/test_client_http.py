"""kobako.client._http: the client's own HTTP/1.1 (response parser, request writer) and its use by Client."""

from __future__ import annotations

import http.client
import io
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from kobako.client import Client, DaemonError, IncompleteRead, encode_query
from kobako.client._http import Connection, Reader, RemoteDisconnected, Response, encode_head
from kobako.client._transport import Address, parse_host


class ScriptedSocket:
    """``recv`` hands out the given pieces one by one (b"" once they run out)."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = list(pieces)
        self.recvs = 0

    def recv(self, n: int) -> bytes:
        self.recvs += 1
        if not self.pieces:
            return b""
        piece = self.pieces.pop(0)
        if len(piece) > n:
            piece, self.pieces[0:0] = piece[:n], [piece[n:]]
        return piece


def reader(*pieces: bytes) -> Reader:
    return Reader(ScriptedSocket(list(pieces)))  # type: ignore[arg-type]


def splits(data: bytes) -> Iterator[list[bytes]]:
    """``data`` cut in two at every byte boundary, then one byte at a time."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]] if 0 < i < len(data) else [data]
    yield [data[i : i + 1] for i in range(len(data))]


CHUNKED = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=value;other\r\nhello\r\n"
           b"7 ; ext=\"quoted;value\"\r\n, world\r\n"
           b"1\r\n!\r\n"
           b"0;last=1\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n")
LENGTH = b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\nApi-Version: 1.50\r\n\r\nhello world"
NEXT = b"HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n"


# -- the response parser ------------------------------------------------------------


def test_chunked_with_extensions_and_trailers() -> None:
    resp = Response(reader(CHUNKED + NEXT))
    assert (resp.version, resp.status, resp.reason) == ("HTTP/1.1", 200, "OK")
    assert resp.headers == {"content-type": "application/json", "transfer-encoding": "chunked"}
    assert resp.read() == b"hello, world!"
    assert not resp.will_close
    assert resp.read() == b"" and resp.read1(10) == b""
    assert Response(resp._reader).status == 204  # the trailers were consumed, not the next response


@pytest.mark.parametrize("message", [CHUNKED, LENGTH], ids=["chunked", "content-length"])
def test_split_reads_at_every_byte_boundary(message: bytes) -> None:
    body = b"hello, world!" if message is CHUNKED else b"hello world"
    for pieces in splits(message + NEXT):
        resp = Response(reader(*pieces))
        assert resp.read() == body, pieces
        nxt = Response(resp._reader)
        assert (nxt.status, nxt.headers, nxt.read()) == (204, {"server": "x"}, b""), pieces
        with pytest.raises(RemoteDisconnected):
            Response(resp._reader)
    for pieces in splits(message):  # streamed: read1 gives the same bytes, chunk boundaries respected
        resp = Response(reader(*pieces))
        got = []
        while data := resp.read1(4):
            assert len(data) <= 4
            got.append(data)
        assert b"".join(got) == body, pieces


def test_chunk_handed_over_before_its_crlf_arrives() -> None:
    sock = ScriptedSocket([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"6\r\nline 1", b"\r\n",
                           b"6\r\nline 2\r\n", b"0\r\n\r\n"])
    resp = Response(Reader(sock))  # type: ignore[arg-type]
    assert resp.read1() == b"line 1"
    assert sock.pieces[0] == b"\r\n", "read1 waited for more than the chunk's data"
    assert list(resp) == [b"line 2"]


def test_content_length_and_keep_alive() -> None:
    resp = Response(reader(LENGTH + LENGTH.replace(b"201 Created", b"202 Accepted")))
    assert resp.headers["content-length"] == "11" and resp.headers["api-version"] == "1.50"
    assert resp.read() == b"hello world" and not resp.will_close
    second = Response(resp._reader)
    assert (second.status, second.reason, second.read()) == (202, "Accepted", b"hello world")


def test_read_until_close() -> None:
    resp = Response(reader(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome", b" bytes", b" more"))
    assert resp.will_close
    assert resp.read() == b"some bytes more"


@pytest.mark.parametrize(
    ("head", "will_close"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n", True),
    ],
)
def test_will_close(head: bytes, will_close: bool) -> None:
    resp = Response(reader(head))
    assert resp.will_close is will_close
    assert resp.read() == b""


def test_interim_responses_are_skipped() -> None:
    resp = Response(reader(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n", LENGTH))
    assert (resp.status, resp.read()) == (201, b"hello world")


@pytest.mark.parametrize(
    ("method", "head"),
    [
        ("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"),
        ("GET", b"HTTP/1.1 204 No Content\r\nContent-Length: 11\r\n\r\n"),
        ("GET", b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
    ],
)
def test_responses_without_a_body(method: str, head: bytes) -> None:
    resp = Response(reader(head + LENGTH), method)
    assert resp.read() == b"" and not resp.will_close
    assert Response(resp._reader).read() == b"hello world"


def test_header_parsing() -> None:
    resp = Response(reader(b"HTTP/1.1 404 Not  Found \n"  # bare LF line ends are accepted
                           b"X-Dup: a\r\nx-dup: b\r\nX-Folded: first\r\n  second\r\nEmpty:\r\n"
                           b"Content-Length: 2, 2\r\n\r\nok"))
    assert (resp.status, resp.reason) == (404, "Not  Found")
    assert resp.headers == {"x-dup": "a, b", "x-folded": "first second", "empty": "", "content-length": "2, 2"}
    assert resp.read() == b"ok"


@pytest.mark.parametrize(
    "data",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 OK\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 2\xb20 OK\r\n\r\n",
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
)
def test_malformed_head_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(DaemonError, match="^malformed response from the daemon: ") as info:
        Response(reader(data)).read()
    assert info.value.status == 502


def test_malformed_status_line_message() -> None:
    with pytest.raises(DaemonError) as info:
        Response(reader(b"HTTP/1.1 OK\r\n\r\n"))
    assert info.value.message == "malformed response from the daemon: 'HTTP/1.1 OK'"


def test_overlong_head_line() -> None:
    with pytest.raises(DaemonError, match="header too long"):
        Response(reader(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200_000))


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nab\r\n0\r\n\r\n", b"0x2\r\nab\r\n0\r\n\r\n", b"\r\n", b"2\r\nabc\r\n0\r\n\r\n"],
)
def test_malformed_chunks(body: bytes) -> None:
    resp = Response(reader(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body))
    with pytest.raises(DaemonError, match="malformed response"):
        resp.read()
    assert resp.will_close


@pytest.mark.parametrize(
    ("data", "partial", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", b"hello", 5),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"hello", None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", b"hel", None),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: 1\r\n", b"hello", None),
    ],
)
def test_truncated_body(data: bytes, partial: bytes, expected: int | None) -> None:
    resp = Response(reader(data))
    with pytest.raises(IncompleteRead) as info:
        resp.read()
    assert (info.value.partial, info.value.expected) == (partial, expected)
    assert isinstance(info.value, http.client.IncompleteRead)  # what callers caught before
    assert str(info.value).startswith("the daemon closed the connection mid-response")
    assert resp.will_close


def test_closed_before_answering() -> None:
    with pytest.raises(RemoteDisconnected, match="closed the connection before answering"):
        Response(reader())
    with pytest.raises(ConnectionResetError):  # what Client retries a stale kept-alive connection on
        Response(reader())


# -- the request writer ------------------------------------------------------------


def test_encode_head() -> None:
    assert encode_head("GET", "/v1.50/containers/a b/json?x=é", {"Host": "localhost"}) == (
        b"GET /v1.50/containers/a%20b/json?x=%C3%A9 HTTP/1.1\r\nHost: localhost\r\n\r\n")
    with pytest.raises(ValueError, match="invalid header"):
        encode_head("GET", "/", {"X-Auth": "a\r\nInjected: 1"})


@pytest.fixture
def sockdir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="kbk-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def read_request(conn: socket.socket, buf: bytes = b"") -> tuple[bytes, bytes]:
    """One whole request off ``conn`` (Content-Length or chunked body): ``(request, the rest)``."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return buf, b""
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    lower = head.lower()
    while True:
        if b"transfer-encoding: chunked" in lower:
            end = rest.find(b"0\r\n\r\n")
            if end >= 0 and (end == 0 or rest[end - 2 : end] == b"\r\n"):
                n = end + 5
                break
        else:
            n = 0
            for line in lower.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    n = int(line.split(b":")[1])
            if len(rest) >= n:
                break
        data = conn.recv(65536)
        if not data:
            break
        rest += data
    return head + b"\r\n\r\n" + rest[:n], rest[n:]


class RawServer:
    """A unix socket served by a thread; each connection goes to ``handler(conn)``."""

    def __init__(self, path: Path, handler: Callable[[socket.socket], None]) -> None:
        self.path = path
        self.handler = handler
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(8)
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                try:
                    self.handler(conn)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def serve(sockdir: Path) -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(sockdir / f"raw{len(servers)}.sock", handler))
        return servers[-1]

    yield start
    for srv in servers:
        srv.close()


def test_connection_wire_format(serve: Callable[..., RawServer]) -> None:
    seen: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        rest = b""
        for _ in range(5):
            req, rest = read_request(conn, rest)
            seen.append(req)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    srv = serve(handler)
    conn = Connection(parse_host(srv.host), 5)
    try:
        for method, body, headers in [
            ("POST", None, {}),
            ("PUT", b"x" * 100_000, {"Content-Type": "application/x-tar"}),
            ("POST", iter([b"ab", b"", "cd", b"e" * 70_000]), {}),
            ("POST", io.BytesIO(b"file body"), {"Transfer-Encoding": "chunked"}),
            ("GET", None, {"Host": "example", "User-Agent": "t"}),
        ]:
            conn.request(method, "/v1.50/x", body, headers)
            resp = conn.getresponse()
            assert resp.read() == b"ok" and not resp.will_close
    finally:
        conn.close()
    assert srv.connections == 1
    assert seen[0] == b"POST /v1.50/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
    assert seen[1] == (b"PUT /v1.50/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-tar\r\n"
                       b"Content-Length: 100000\r\n\r\n" + b"x" * 100_000)
    assert seen[2] == (b"POST /v1.50/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"2\r\nab\r\n2\r\ncd\r\n11170\r\n" + b"e" * 70_000 + b"\r\n0\r\n\r\n")
    assert seen[3].endswith(b"\r\n\r\n9\r\nfile body\r\n0\r\n\r\n")
    assert seen[3].count(b"Transfer-Encoding") == 1
    assert seen[4] == b"GET /v1.50/x HTTP/1.1\r\nHost: example\r\nUser-Agent: t\r\n\r\n"


def test_two_responses_in_one_packet(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket) -> None:
        _, rest = read_request(conn)
        conn.sendall(LENGTH + CHUNKED)  # two answers at once: the second waits in the client's buffer
        read_request(conn, rest)

    srv = serve(handler)
    with Client(srv.host) as c:
        assert c.request("GET", "/a")[2] == b"hello world"
        assert c.request("GET", "/b")[0:3:2] == (200, b"hello, world!")
    assert srv.connections == 1


def test_client_streams_each_chunk_as_it_arrives(serve: Callable[..., RawServer]) -> None:
    got_first = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        conn.sendall(b"11\r\n" + b'{"StatusCode":0}\n\r\n')
        got_first.wait(5)  # nothing more until the client has the first chunk
        conn.sendall(b"3\r\nend\r\n0\r\n\r\n")

    srv = serve(handler)
    chunks = Client(srv.host, timeout=5).stream("POST", "/containers/c1/wait")
    assert next(chunks) == b'{"StatusCode":0}\n'
    got_first.set()
    assert list(chunks) == [b"end"]


def test_client_malformed_response(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 OK\r\n\r\n")

    srv = serve(handler)
    with pytest.raises(DaemonError, match=r"^malformed response from the daemon: 'HTTP/1.1 OK'$"):
        Client(srv.host).json("GET", "/version")
    with pytest.raises(DaemonError, match="malformed response from the daemon"):
        Client(srv.host).hijack("POST", "/containers/c1/attach")


def test_client_retries_a_stale_kept_alive_connection_once(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        # then close: the kept-alive connection goes stale

    srv = serve(handler)
    with Client(srv.host) as c:
        assert c.request("GET", "/a")[2] == b"ok"
        assert c.request("GET", "/b")[2] == b"ok"
    assert srv.connections == 2


def test_client_connection_closed_without_answer(serve: Callable[..., RawServer]) -> None:
    srv = serve(read_request)  # reads the request, then closes
    with pytest.raises(ConnectionResetError):
        Client(srv.host).request("GET", "/a")
    with pytest.raises(DaemonError, match="the daemon closed the connection before answering") as info:
        Client(srv.host).hijack("POST", "/containers/c1/attach")
    assert info.value.status == 502


def test_client_connection_close_header(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")

    srv = serve(handler)
    c = Client(srv.host)
    assert c.request("GET", "/a")[2] == b"ok"
    assert c._conn is None


def test_hijack_keeps_bytes_sent_with_the_head(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                     b"Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nfirst bytes")
        assert conn.recv(10) == b"go"
        conn.sendall(b" and more")

    srv = serve(handler)
    with Client(srv.host).hijack("POST", "/containers/c1/attach") as conn:
        assert conn.status == 101 and conn.content_type == "application/vnd.docker.raw-stream"
        assert conn.initial == b"first bytes"
        conn.sendall(b"go")
        out = b""
        while data := conn.recv():
            out += data
    assert out == b"first bytes and more"


def test_hijack_error_with_chunked_body(serve: Callable[..., RawServer]) -> None:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n'
                     b'5;x=1\r\n{"mes\r\n')
        conn.sendall(b'1a\r\nsage":"No such container"}\r\n0\r\n\r\n')

    srv = serve(handler)
    with pytest.raises(DaemonError) as info:
        Client(srv.host).hijack("POST", "/containers/c1/attach")
    assert (info.value.status, info.value.message) == (404, "No such container")


# -- hosts and queries -----------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("/run/k.sock", Address("unix:///run/k.sock", unix_path="/run/k.sock")),
        ("unix:///run/k.sock", Address("unix:///run/k.sock", unix_path="/run/k.sock")),
        ("tcp://127.0.0.1:2376", Address("tcp://127.0.0.1:2376", hostname="127.0.0.1", port=2376)),
        ("TCP://Box.Example", Address("TCP://Box.Example", hostname="box.example", port=2375)),
        ("http://box:80/", Address("http://box:80/", hostname="box", port=80)),
        ("tcp://:2375", Address("tcp://:2375", hostname="127.0.0.1", port=2375)),
        ("tcp://[::1]:2376", Address("tcp://[::1]:2376", hostname="::1", port=2376)),
    ],
)
def test_parse_host(host: str, expected: Address) -> None:
    assert parse_host(host) == expected


def test_http_host_header() -> None:
    assert parse_host("unix:///x.sock").http_host == "localhost"
    assert parse_host("tcp://box:2376").http_host == "box:2376"
    assert parse_host("tcp://[::1]:2376").http_host == "[::1]:2376"


@pytest.mark.parametrize("host", ["tcp://box:port", "tcp://box:99999", "ssh://me@box", "box:2375", "unix://"])
def test_parse_host_errors(host: str) -> None:
    with pytest.raises(ValueError, match="host"):
        parse_host(host)


def test_encode_query_matches_urlencode() -> None:
    pairs = [("a b", "c d"), ("é", "日本/+&=?#%"), ("safe", "AZaz09_.-~"), ("ctl", "\x00\x7f!*'()")]
    assert encode_query(pairs) == urlencode(pairs)
