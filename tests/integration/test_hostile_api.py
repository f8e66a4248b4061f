"""Hostile request bodies against a real kobakod: random JSON (shaped like Docker's request objects,
with wrong types, huge numbers, unknown fields) and random bytes to every JSON-taking endpoint.

Invariant: the answer is a 2xx or a 4xx with a ``message``, never a 5xx, and the daemon keeps
serving.  Whatever a random body did create (a container, network or volume) is removed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.daemon_fixture import Daemon

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

FIELDS = ["Image", "Cmd", "Entrypoint", "Env", "HostConfig", "Memory", "MemorySwap", "NanoCpus", "CpuShares",
          "Binds", "PortBindings", "HostPort", "HostIp", "NetworkMode", "NetworkingConfig", "EndpointsConfig",
          "IPAMConfig", "IPv4Address", "Aliases", "Labels", "ExposedPorts", "80/tcp", "Volumes", "Healthcheck",
          "Test", "Interval", "Retries", "RestartPolicy", "Name", "MaximumRetryCount", "Mounts", "Type", "Source",
          "Target", "ReadOnly", "Driver", "DriverOpts", "IPAM", "Config", "Subnet", "Gateway", "Options",
          "AttachStdout", "AttachStdin", "Tty", "OpenStdin", "User", "WorkingDir", "StopSignal", "StopTimeout",
          "Ulimits", "Soft", "Hard", "CapAdd", "CapDrop", "Devices", "PathOnHost", "LogConfig", "Dns",
          "ExtraHosts", "Container", "EndpointConfig", "Detach", "ConsoleSize", "Privileged", "SecurityOpt",
          "Sysctls", "Tmpfs", "ShmSize", "PidsLimit", "Init", "Hostname", "Domainname", "Shell", "Internal",
          "EnableIPv6", "CheckDuplicate", "Attachable", "Force", "Changes", "comment", "Unknown\u00e9", ""]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["busybox", "", "/", "/etc", "../..", "80/tcp", "1g", "-1", "host", "none", "bridge",
                     "container:x", "a" * 300, "\u0000", "ü", "tcp://x", "SIGKILL", "CMD", "local"]),
    st.text(max_size=12),
)
JSON = st.recursive(
    SCALARS,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.sampled_from(FIELDS), kids, max_size=5)),
    max_leaves=25,
)
OBJECT = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)
BODY = st.one_of(
    OBJECT.map(lambda o: json.dumps(o).encode()),
    JSON.map(lambda o: json.dumps(o).encode()),
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b'{"Image": "busybox"', b"[]" * 1000, b"{" * 5000 + b"}" * 5000,
                     b'{"Image": "busybox", "Image": 1}', b"\xff\xfe{}", b'{"Memory": 1e400}', b"NaN",
                     b'{"Cmd": "' + b"x" * 100000 + b'"}']),
)


@pytest.fixture(scope="module")
def target(daemon: Daemon) -> Iterator[dict[str, str]]:
    """A running container, an exec instance and a network to aim the {id} routes at."""
    cid = daemon.kobako("run", "-d", "busybox", "sleep", "600").stdout.decode().strip()
    net = daemon.kobako("network", "create", "hostile-fuzz-net").stdout.decode().strip()
    exec_id = daemon.client().json("POST", f"/containers/{cid}/exec", body={"Cmd": ["true"]})["Id"]
    before = _inventory(daemon)
    try:
        yield {"cid": cid, "net": net, "exec": exec_id}
    finally:
        after = _inventory(daemon)
        daemon.kobako("rm", "-f", cid, check=False)
        for kind, names in after.items():
            for name in names - before[kind]:
                _remove(daemon, kind, name)
        daemon.kobako("network", "rm", net, check=False)


def _inventory(daemon: Daemon) -> dict[str, set[str]]:
    c = daemon.client()
    return {
        "containers": {x["Id"] for x in c.json("GET", "/containers/json", query={"all": 1})},
        "networks": {x["Id"] for x in c.json("GET", "/networks")},
        "volumes": {x["Name"] for x in (c.json("GET", "/volumes")["Volumes"] or [])},
    }


def _remove(daemon: Daemon, kind: str, name: str) -> None:
    c = daemon.client()
    if kind == "containers":
        c.request("DELETE", f"/containers/{name}", query={"force": 1, "v": 1})
    elif kind == "networks":
        c.request("DELETE", f"/networks/{name}")
    else:
        c.request("DELETE", f"/volumes/{name}", query={"force": 1})


def _routes(t: dict[str, str]) -> list[str]:
    return [
        "/containers/create", f"/containers/{t['cid']}/update", f"/containers/{t['cid']}/exec",
        f"/exec/{t['exec']}/start", "/networks/create", f"/networks/{t['net']}/connect",
        f"/networks/{t['net']}/disconnect", "/volumes/create",
    ]


def _check(daemon: Daemon, method: str, path: str, body: bytes, query: dict[str, Any] | None = None) -> int:
    status, _, data = daemon.client().request(method, path, query=query, body=body,
                                              headers={"Content-Type": "application/json"})
    assert status < 500, f"{method} {path} {body[:300]!r} -> {status} {data[:500]!r}"
    if status >= 400:
        assert json.loads(data)["message"], data
    return status


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.integers(0, 7), body=BODY)
def test_json_bodies_never_give_5xx(daemon: Daemon, target: dict[str, str], route: int, body: bytes) -> None:
    _check(daemon, "POST", _routes(target)[route], body)  # what a valid body created, the fixture removes


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=OBJECT.map(lambda o: {**o, "Image": "busybox"}))
def test_container_create_with_busybox_and_random_fields(daemon: Daemon, target: dict[str, str],
                                                         body: dict[str, Any]) -> None:
    """With a real image the body reaches spec building: wrong types there are 400s too."""
    status, _, data = daemon.client().request("POST", "/containers/create", body=json.dumps(body).encode(),
                                              headers={"Content-Type": "application/json"})
    assert status < 500, f"{body!r} -> {status} {data[:500]!r}"
    if status == 201:
        _remove(daemon, "containers", json.loads(data)["Id"])


@pytest.mark.parametrize(("path", "query"), [
    ("/containers/create", {"name": "../../etc"}),
    ("/containers/create", {"name": "x\ny"}), ("/images/create", {"fromImage": "busybox\n"}),
    ("/images/create", {"fromImage": "../../x"}), ("/images/create", {"fromImage": "busybox", "tag": "ü"}),
    ("/images/busybox/tag", {"repo": "Busy Box"}), ("/images/busybox/tag", {"repo": "x", "tag": "a/b"}),
    ("/containers/json", {"filters": "{not json"}), ("/containers/json", {"filters": '{"status": 1}'}),
    ("/containers/json", {"limit": "abc"}), ("/build", {"t": "::bad"}),
])
def test_odd_query_parameters_are_4xx(daemon: Daemon, path: str, query: dict[str, str]) -> None:
    method = "GET" if path == "/containers/json" else "POST"
    body = json.dumps({"Image": "busybox"}).encode() if path == "/containers/create" else b""
    if path == "/images/create":  # a pull streams: its refusal is the stream's error, as dockerd's
        status, _, data = daemon.client().request(method, path, query=query)
        assert status < 500 and (status >= 400 or b'"error"' in data), (status, data[:300])
        return
    assert 400 <= _check(daemon, method, path, body, query) < 500


def test_huge_body_is_refused_and_the_daemon_keeps_serving(daemon: Daemon, target: dict[str, str]) -> None:
    big = b'{"Labels": {"a": "' + b"x" * (40 << 20) + b'"}}'
    status, _, data = daemon.client().request("POST", "/volumes/create", body=big,
                                              headers={"Content-Type": "application/json"})
    assert status == 413, (status, data[:200])
    assert json.loads(data)["message"]
    assert daemon.client().request("GET", "/_ping")[2] == b"OK"


ODD_STR = st.sampled_from(["", "x", "/", "/etc", "../..", "a:b:c", "80/tcp", "abc", "-1", "1g", "bogus", "SIGFOO",
                           "host", "none", "container:nope", "::::", "tcp", "rel/path", "/tmp:/x:zz", "BOGUS",
                           "name=val", "always", "on-failure", "unless-stopped", "0-3", "bind", "volume", "tmpfs",
                           "\u00fc", "a" * 200])
ODD_INT = st.sampled_from([0, 1, -1, 2, 3, 1024, -(2**63), 2**63 - 1, 4 * 2**20, 10**12])


def _from_schema(schema: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    """Type-correct values with odd content, from the API's own request schema."""
    if isinstance(schema, str):
        return {"str": ODD_STR, "int": ODD_INT, "bool": st.booleans(), "num": ODD_INT,
                "any": st.none() | st.booleans() | ODD_STR | st.dictionaries(ODD_STR, st.just({}), max_size=2),
                "strslice": ODD_STR | st.lists(ODD_STR, max_size=3)}[schema]
    if isinstance(schema, tuple):
        inner = _from_schema(schema[1], depth + 1)
        if schema[0] == "list":
            return st.lists(inner, max_size=3)
        return st.dictionaries(ODD_STR, inner, max_size=2)
    return st.fixed_dictionaries({}, optional={k: _from_schema(v, depth + 1) for k, v in schema.items()})


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_container_create_with_type_correct_odd_values(daemon: Daemon, target: dict[str, str],
                                                       data: st.DataObject) -> None:
    """Every field the right type, the content odd: refused with a 4xx, or created (then removed)."""
    from kobako.api._schema import CONTAINER_CONFIG, HOST_CONFIG

    config = data.draw(_from_schema(CONTAINER_CONFIG))
    host = data.draw(_from_schema(HOST_CONFIG))
    body = {**config, "Image": "busybox", "HostConfig": host}
    status, _, resp = daemon.client().request("POST", "/containers/create", body=json.dumps(body).encode(),
                                              headers={"Content-Type": "application/json"})
    assert status < 500, f"{body!r} -> {status} {resp[:500]!r}"
    if status == 201:
        _remove(daemon, "containers", json.loads(resp)["Id"])


QUERY_CASES = [
    ("POST", "/containers/{cid}/stop", {"t": "abc"}), ("POST", "/containers/{cid}/restart", {"t": "1.5"}),
    ("POST", "/containers/{cid}/kill", {"signal": "SIGFOO"}), ("POST", "/containers/{cid}/kill", {"signal": "99999"}),
    ("POST", "/containers/{cid}/wait", {"condition": "bogus"}), ("POST", "/containers/{cid}/resize", {"h": "x", "w": "1"}),
    ("GET", "/containers/{cid}/logs", {"stdout": "1", "tail": "abc"}), ("GET", "/containers/{cid}/logs", {"stdout": "1", "since": "yesterday"}),
    ("GET", "/containers/{cid}/archive", {"path": "../../../etc/shadow\x00"}),
    ("HEAD", "/containers/{cid}/archive", {"path": ""}), ("POST", "/exec/{exec}/resize", {"h": "-1", "w": "abc"}),
    ("GET", "/images/json", {"filters": '{"dangling": ["maybe"]}'}), ("GET", "/images/json", {"filters": "[1]"}),
    ("GET", "/events", {"since": "abc", "until": "1"}), ("GET", "/containers/{cid}/stats", {"stream": "0", "one-shot": "maybe"}),
    ("POST", "/containers/prune", {"filters": '{"until": ["abc"]}'}), ("POST", "/images/prune", {"filters": '{"until": ["x"]}'}),
    ("GET", "/networks", {"filters": '{"type": 7}'}), ("GET", "/volumes", {"filters": "{"}),
    ("DELETE", "/containers/nonexistent-\u00fc", {"force": "1"}), ("GET", "/images/..%2f..%2fetc/json", {}),
    ("GET", "/containers/{cid}/export", {"x": "\x00"}), ("POST", "/commit", {"container": "{cid}", "repo": "Bad Repo"}),
    ("POST", "/commit", {"container": "{cid}", "changes": "BOGUS instruction"}),
]


@pytest.mark.parametrize(("method", "path", "query"), QUERY_CASES)
def test_odd_queries_never_give_5xx(daemon: Daemon, target: dict[str, str], method: str, path: str,
                                    query: dict[str, str]) -> None:
    def fill(text: str) -> str:
        return text.replace("{cid}", target["cid"]).replace("{exec}", target["exec"])

    path, query = fill(path), {k: fill(v) for k, v in query.items()}
    status, _, data = daemon.client().request(method, path, query=query)
    assert status < 500, f"{method} {path} {query} -> {status} {data[:300]!r}"
    assert daemon.client().request("GET", "/_ping")[2] == b"OK"
