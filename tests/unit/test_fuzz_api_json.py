"""Property tests for the API's JSON decoding of request bodies: ``Request.json`` and the typed
decoding of the container create/update bodies (``kobako.api._schema``).

Random bytes and random JSON either decode or raise ``InvalidArgument`` (a 400 with a message);
decoded create bodies have the types the engine relies on; ``null`` is Go's zero value.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kobako.api._schema import (
    CONTAINER_CREATE, CONTAINER_UPDATE, EXEC_CONFIG, EXEC_START, HOST_CONFIG, NETWORK_CONNECT, NETWORK_CREATE,
    NETWORK_DISCONNECT, VOLUME_CREATE, decode,
)
from kobako.api.httpstatus import status_for
from kobako.api.request import Request
from kobako.errors import InvalidArgument

FIELDS = st.sampled_from([*CONTAINER_CREATE, *HOST_CONFIG, "Test", "Name", "HostPort", "EndpointsConfig",
                          "Unknown"])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(FIELDS | st.text(max_size=4), kids, max_size=5),
    max_leaves=30,
)


def _typed_ok(value: Any, schema: Any) -> None:
    """``value`` (decoded) conforms to ``schema``, with no None left where a type is known."""
    if isinstance(schema, str):
        want = {"str": str, "bool": bool, "int": int, "num": (int, float), "strslice": list}.get(schema)
        if want is not None:
            assert isinstance(value, want), (value, schema)
        if schema == "int":
            assert not isinstance(value, bool) and -(2**63) <= value < 2**63
        if schema == "strslice":
            assert all(isinstance(v, str) for v in value)
        return
    if isinstance(schema, tuple):
        items = value if schema[0] == "list" else list(value.values())
        assert isinstance(value, list if schema[0] == "list" else dict)
        for v in items:
            _typed_ok(v, schema[1])
        return
    assert isinstance(value, dict)
    for k, v in value.items():
        if k in schema:
            _typed_ok(v, schema[k])


@settings(max_examples=200, deadline=None)
@given(st.one_of(JSON, st.dictionaries(FIELDS, JSON, max_size=8)))
def test_create_and_update_bodies_decode_typed_or_refuse(value: Any) -> None:
    for schema in (CONTAINER_CREATE, CONTAINER_UPDATE, EXEC_CONFIG, EXEC_START, NETWORK_CREATE, NETWORK_CONNECT,
                   NETWORK_DISCONNECT, VOLUME_CREATE):
        try:
            out = decode(value, schema)
        except InvalidArgument as exc:
            assert str(exc).startswith("invalid JSON: cannot unmarshal") and status_for(exc) == 400
            continue
        _typed_ok(out, schema)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=80), JSON.map(lambda v: json.dumps(v).encode())))
def test_request_json_decodes_or_is_a_400(body: bytes) -> None:
    req = Request(method="POST", path="/x", body=body)
    for expect in (dict, list, (dict, list)):
        try:
            value = req.json(expect)
        except InvalidArgument as exc:
            assert str(exc).startswith("invalid JSON") and status_for(exc) == 400
        else:
            assert isinstance(value, expect)


@pytest.mark.parametrize(("body", "message"), [
    ({"Env": "A=1"}, "cannot unmarshal string into field Env of type []string"),
    ({"HostConfig": {"Memory": "1g"}}, "field HostConfig.Memory of type int64"),
    ({"HostConfig": {"Memory": 2**64}}, "HostConfig.Memory of type int64"),
    ({"HostConfig": {"Memory": 1.5}}, "number 1.5"),
    ({"HostConfig": {"Privileged": 1}}, "HostConfig.Privileged of type bool"),
    ({"HostConfig": {"PortBindings": {"80/tcp": {"HostPort": "8080"}}}}, "HostConfig.PortBindings[80/tcp]"),
    ({"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "x"}}}}, "EndpointsConfig[n].Aliases"),
    ({"Healthcheck": {"Test": [1]}}, "Healthcheck.Test of type string"),
    ([], "cannot unmarshal array of type struct"),
])
def test_wrong_types_name_the_field(body: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        decode(body, CONTAINER_CREATE)
    assert message in str(info.value)


def test_null_is_the_zero_value_and_unknown_fields_stay() -> None:
    out = decode({"Env": [None, "A=1"], "Cmd": "echo", "HostConfig": None, "Labels": {"a": None},
                  "Image": None, "X-Unknown": {"y": None}}, CONTAINER_CREATE)
    assert out == {"Env": ["", "A=1"], "Cmd": ["echo"], "Labels": {"a": ""}, "X-Unknown": {"y": None}}
