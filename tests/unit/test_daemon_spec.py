"""Docker Config/HostConfig → effective config and cgroup resources (pure logic)."""

from __future__ import annotations

import pytest

from kobako.daemon.containers._spec import command_of, merge_config, resources
from kobako.errors import InvalidArgument

IMAGE = {"config": {"Env": ["PATH=/bin", "A=img"], "Cmd": ["sh"], "Entrypoint": None, "WorkingDir": "/w"}}


def test_request_overrides_image() -> None:
    cfg = merge_config({"Cmd": ["echo", "hi"], "Env": ["A=req", "B=2"]}, IMAGE)
    assert command_of(cfg) == ["echo", "hi"]
    assert cfg["Env"] == ["PATH=/bin", "A=req", "B=2"]
    assert cfg["WorkingDir"] == "/w"


def test_image_cmd_when_none_given() -> None:
    assert command_of(merge_config({}, IMAGE)) == ["sh"]


def test_entrypoint_override_drops_image_cmd() -> None:
    cfg = merge_config({"Entrypoint": ["echo"]}, IMAGE)
    assert command_of(cfg) == ["echo"]
    cfg = merge_config({"Entrypoint": ["echo"], "Cmd": ["x"]}, IMAGE)
    assert command_of(cfg) == ["echo", "x"]


def test_no_command_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="no command specified"):
        command_of(merge_config({}, {"config": {}}))


def test_resources() -> None:
    res = resources({"Memory": 64 << 20, "NanoCpus": 500_000_000, "PidsLimit": 10})
    assert res == {"memory": {"limit": 64 << 20, "swap": 128 << 20}, "cpu": {"quota": 50_000, "period": 100_000},
                   "pids": {"limit": 10}}
    assert resources({}) == {}
    assert resources({"PidsLimit": -1}) == {}


@pytest.mark.parametrize(
    ("hc", "msg"),
    [
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "memoryswap limit should be larger"),
        ({"NanoCpus": 10, "CpuQuota": 5}, "Conflicting options"),
    ],
)
def test_resource_errors(hc: dict[str, int], msg: str) -> None:
    with pytest.raises(InvalidArgument, match=msg):
        resources(hc)


def test_entrypoint_reset_drops_image_entrypoint_and_cmd() -> None:
    img = {"config": {"Entrypoint": ["/entry"], "Cmd": ["arg"]}}
    cfg = merge_config({"Entrypoint": [""], "Cmd": ["echo", "x"]}, img)
    assert command_of(cfg) == ["echo", "x"]
