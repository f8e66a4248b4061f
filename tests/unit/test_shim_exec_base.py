"""The shim's exec spec: the request's part is built in the shim, the container's part is read from the
bundle's config.json in the exec's child (``_ExecBase``); merged as Docker merges them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kobako.runtime.nsexec import ExecSpec
from kobako.runtime.spec import USER_ANNOTATION
from kobako.shim._shim import Shim, _ExecBase
from kobako.shim._protocol import ShimConfig

SECCOMP = {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
           "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}


def _bundle(tmp_path: Path, process: dict, **extra: object) -> str:
    (tmp_path / "config.json").write_text(json.dumps({"process": process, **extra}))
    return str(tmp_path)


def _request(tmp_path: Path, **process: object) -> ExecSpec:
    cfg = ShimConfig(id="c" * 64, bundle=str(tmp_path), exec_root=str(tmp_path), log_path="/dev/null")
    shim = Shim(cfg, -1)
    try:
        return shim._exec_spec({"process": process})
    finally:
        shim.sel.close()


def test_env_is_the_container_s_then_the_request_s_replacing_in_place(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"env": ["PATH=/bin", "A=1", "B=2"], "cwd": "/srv"})
    spec = _ExecBase(bundle)(_request(tmp_path, args=["sh"], env=["A=9", "C=3", "NOEQUALS"]))
    # a replaced variable moves to the end (Docker's ReplaceOrAppendEnvValues); no '=': dropped
    assert spec.env == ["PATH=/bin", "B=2", "A=9", "C=3"]
    assert spec.cwd == "/srv"
    assert spec.args == ["sh"]


def test_terminal_adds_term_before_the_request_env(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"env": ["TERM=dumb", "X=1"]})
    assert _ExecBase(bundle)(_request(tmp_path, args=["sh"], terminal=True)).env == ["X=1", "TERM=xterm"]
    spec = _ExecBase(bundle)(_request(tmp_path, args=["sh"], terminal=True, env=["TERM=vt100"]))
    assert spec.env == ["X=1", "TERM=vt100"]
    assert _ExecBase(bundle)(_request(tmp_path, args=["sh"])).env == ["TERM=dumb", "X=1"]


def test_user_from_request_then_annotation_then_numeric_process_user(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, {"user": {"uid": 1000, "gid": 100}}, annotations={USER_ANNOTATION: "nobody"})
    assert _ExecBase(bundle)(_request(tmp_path, args=["id"], user="daemon")).user == "daemon"
    assert _ExecBase(bundle)(_request(tmp_path, args=["id"])).user == "nobody"
    bundle = _bundle(tmp_path, {"user": {"uid": 1000, "gid": 100}})
    assert _ExecBase(bundle)(_request(tmp_path, args=["id"])).user == "1000:100"
    bundle = _bundle(tmp_path, {"user": {"uid": 0, "gid": 0}})
    assert _ExecBase(bundle)(_request(tmp_path, args=["id"])).user == ""


def test_confinement_comes_from_the_container(tmp_path: Path) -> None:
    caps = {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}
    rlimits = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    bundle = _bundle(tmp_path, {"capabilities": caps, "rlimits": rlimits, "noNewPrivileges": True},
                     linux={"seccomp": SECCOMP})
    request = _request(tmp_path, args=["true"], cwd="/tmp", privileged=True, console_size=[24, 80])
    spec = _ExecBase(bundle)(request)
    assert spec.capabilities == caps
    assert list(spec.rlimits) == rlimits
    assert spec.no_new_privileges is True
    assert spec.seccomp == SECCOMP
    assert spec.security().seccomp  # the filter compiles (in the exec's child, in real use)
    # the request's own fields survive the completion
    assert (spec.cwd, spec.privileged, spec.console_size) == ("/tmp", True, (24, 80))


def test_bad_request_fields_are_rejected_in_the_shim(tmp_path: Path) -> None:
    with pytest.raises((TypeError, ValueError)):
        _request(tmp_path, args=["sh"], console_size=["tall", "wide"])


def test_missing_bundle_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        _ExecBase(str(tmp_path / "gone"))(_request(tmp_path, args=["sh"]))
