"""Restart policies: Docker's back-off, RestartCount, the "restarting" state, manual stops, and
policies kept across a SIGKILLed kobakod."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon, daemon_session


def out(res: Any) -> str:
    return str(res.stdout.decode()).strip()


def inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    return dict(json.loads(out(daemon.kobako("inspect", "--type", "container", ref)))[0])


def wait_for(pred: Any, timeout: float = 15.0, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not met in time")


def events(daemon: Daemon, since: float, cid: str) -> list[dict[str, Any]]:
    client = daemon.client()
    try:
        evs = list(client.jsonlines("GET", "/events", query={"since": f"{since:.3f}", "until": f"{time.time():.3f}"}))
    finally:
        client.close()
    return [e for e in evs if e.get("Actor", {}).get("ID") == cid]


@pytest.fixture
def own_daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A kobakod of this test's own, which the test may SIGKILL and start again."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for d in daemon_session(tmp_path / "kd"):
        d.kobako("image", "bootstrap", "busybox")
        yield d


def test_on_failure_restarts_exactly_n_times_with_backoff(daemon: Daemon) -> None:
    t0 = time.time()
    cid = out(daemon.kobako("run", "-d", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"))
    try:
        info = wait_for(lambda: (i := inspect(daemon, cid))["State"]["Status"] == "exited"
                        and i["RestartCount"] == 2 and i)
        time.sleep(1.0)  # no third run
        info = inspect(daemon, cid)
        assert info["RestartCount"] == 2
        assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3
        assert info["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        evs = events(daemon, t0, cid)
        starts = [e["timeNano"] for e in evs if e["Action"] == "start"]
        dies = [e["timeNano"] for e in evs if e["Action"] == "die"]
        assert len(starts) == 3 and len(dies) == 3
        # back-off: 100 ms before the first restart, 200 ms before the second
        gap1 = (starts[1] - dies[0]) / 1e9
        gap2 = (starts[2] - dies[1]) / 1e9
        assert 0.09 <= gap1 < 3.0, gap1
        assert 0.19 <= gap2 < 3.0, gap2
        assert all(e["Actor"]["Attributes"]["exitCode"] == "3" for e in evs if e["Action"] == "die")
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_on_failure_not_for_success(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "--restart", "on-failure", "busybox", "true"))
    try:
        assert out(daemon.kobako("wait", cid)) == "0"
        time.sleep(0.5)
        info = inspect(daemon, cid)
        assert (info["State"]["Status"], info["RestartCount"]) == ("exited", 0)
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_always_restarts_and_shows_restarting(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 1"))
    try:
        seen = set()

        def restarting_seen() -> bool:
            st = inspect(daemon, cid)["State"]
            seen.add(st["Status"])
            if st["Status"] == "restarting":
                assert st["Running"] and st["Restarting"] and st["Pid"] == 0 and st["ExitCode"] == 1
                ps = out(daemon.kobako("ps", "--format", "{{.Status}}", "--filter", f"id={cid}"))
                assert ps.startswith("Restarting (1)") or ps.startswith("Up"), ps
                return True
            return False

        wait_for(restarting_seen, timeout=20, step=0.02)
        wait_for(lambda: inspect(daemon, cid)["RestartCount"] >= 3, timeout=20)
        res = daemon.kobako("stop", "-t", "1", cid)
        assert res.returncode == 0
        info = inspect(daemon, cid)
        assert info["State"]["Status"] == "exited" and not info["State"]["Restarting"]
        n = info["RestartCount"]
        time.sleep(1.0)
        assert inspect(daemon, cid)["RestartCount"] == n  # a manual stop ends the restarts
        assert inspect(daemon, cid)["State"]["Status"] == "exited"
        # a manual start resets the count (the policy switched off so that it stays 0 to be seen)
        daemon.kobako("update", "--restart", "no", cid)
        daemon.kobako("start", cid)
        assert out(daemon.kobako("wait", cid)) == "1"
        assert inspect(daemon, cid)["RestartCount"] == 0
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_restarting_container_conflicts_and_rm_force(daemon: Daemon) -> None:
    # A long back-off keeps it "restarting" long enough to look at.
    cid = out(daemon.kobako("run", "-d", "--restart", "always", "busybox", "false"))
    try:
        wait_for(lambda: inspect(daemon, cid)["RestartCount"] >= 6, timeout=30)  # delay now ≥ 3.2 s
        wait_for(lambda: inspect(daemon, cid)["State"]["Status"] == "restarting", timeout=10, step=0.02)
        res = daemon.kobako("pause", cid, check=False)
        assert res.stderr.decode().strip() == (
            f"Error response from daemon: Container {cid} is restarting, wait until the container is running")
        res = daemon.kobako("rm", cid, check=False)
        assert "container is restarting: stop the container before removing or force remove" in res.stderr.decode()
        assert out(daemon.kobako("rm", "-f", cid)) == cid
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_unless_stopped_not_restarted_after_stop(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "--restart", "unless-stopped", "busybox", "sleep", "30"))
    try:
        daemon.kobako("stop", "-t", "0", cid)
        time.sleep(0.8)
        info = inspect(daemon, cid)
        assert info["State"]["Status"] == "exited" and info["RestartCount"] == 0
        rec = json.loads((daemon.data_root / "containers" / cid / "config.v2.json").read_text())
        assert rec["HasBeenManuallyStopped"] is True
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_kill_inside_restarts_unless_stopped(daemon: Daemon) -> None:
    # The process dying on its own (not a `kobako kill`) is what the policy is for.
    cid = out(daemon.kobako("run", "-d", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 0.3; exit 9"))
    try:
        wait_for(lambda: inspect(daemon, cid)["RestartCount"] >= 1)
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_restart_policy_validation(daemon: Daemon) -> None:
    res = daemon.kobako("create", "--restart", "always:3", "busybox", "true", check=False)
    assert res.returncode == 125
    assert "maximum retry count can only be used with 'on-failure'" in res.stderr.decode()
    res = daemon.kobako("create", "--restart", "sometimes", "busybox", "true", check=False)
    assert "invalid restart policy: unknown policy 'sometimes'" in res.stderr.decode()
    res = daemon.kobako("create", "--rm", "--restart", "always", "busybox", "true", check=False)
    assert res.returncode == 125
    client = daemon.client()
    from kobako.client import DaemonError

    with pytest.raises(DaemonError) as exc:
        client.json("POST", "/containers/create", body={"Image": "busybox", "Cmd": ["true"], "HostConfig": {
            "AutoRemove": True, "RestartPolicy": {"Name": "always"}}})
    client.close()
    assert exc.value.status == 400
    assert exc.value.message == "can't create 'AutoRemove' container with restart policy"


def test_update_restart_policy_applies_to_next_exit(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "sleep 0.5; exit 2"))
    try:
        daemon.kobako("update", "--restart", "on-failure:1", cid)
        wait_for(lambda: (i := inspect(daemon, cid))["RestartCount"] == 1 and i["State"]["Status"] == "exited",
                 timeout=10)
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_policies_survive_kobakod_sigkill(own_daemon: Daemon) -> None:
    d = own_daemon
    always = out(d.kobako("run", "-d", "--restart", "always", "busybox", "sleep", "300"))
    crashy = out(d.kobako("run", "-d", "--restart", "always", "busybox", "sh", "-c", "sleep 3; exit 1"))
    stopped_always = out(d.kobako("run", "-d", "--restart", "always", "busybox", "sleep", "300"))
    unless = out(d.kobako("run", "-d", "--restart", "unless-stopped", "busybox", "sleep", "300"))
    plain = out(d.kobako("run", "-d", "busybox", "sleep", "300"))
    d.kobako("stop", "-t", "0", stopped_always, unless, plain)
    pid_always = inspect(d, always)["State"]["Pid"]

    d.kill9()
    time.sleep(3.5)  # crashy exits while kobakod is down
    d.start()

    # the running one was kept (same process), the one that crashed meanwhile was started again
    assert inspect(d, always)["State"]["Pid"] == pid_always
    info = inspect(d, crashy)
    assert info["State"]["Status"] == "running", info["State"]
    # Docker starts `always` containers at daemon start even after a manual stop; not unless-stopped
    assert inspect(d, stopped_always)["State"]["Status"] == "running"
    assert inspect(d, unless)["State"]["Status"] == "exited"
    assert inspect(d, plain)["State"]["Status"] == "exited"
    # the policy of a container restored alive still applies
    wait_for(lambda: inspect(d, crashy)["RestartCount"] >= 1, timeout=10)
    d.kobako("kill", always)
    time.sleep(0.5)
    assert inspect(d, always)["State"]["Status"] == "exited"  # a manual kill is not undone
