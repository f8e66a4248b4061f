"""Container states and transitions, as Docker's: pause/unpause, stop/kill of paused containers,
rename, update on a live cgroup, restart, wait conditions and every wrong-state 409."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon

# write-then-rename, so a reader never sees the file truncated
LOOP = "i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.05; done"


def out(res: Any) -> str:
    return str(res.stdout.decode()).strip()


def state(daemon: Daemon, ref: str) -> dict[str, Any]:
    return dict(json.loads(out(daemon.kobako("inspect", "--type", "container", ref)))[0]["State"])


def inspect(daemon: Daemon, ref: str) -> dict[str, Any]:
    return dict(json.loads(out(daemon.kobako("inspect", "--type", "container", ref)))[0])


def api(daemon: Daemon, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    from kobako.client import DaemonError

    client = daemon.client()
    try:
        return 200, client.json(method, path, **kw)
    except DaemonError as exc:
        return exc.status, exc.message
    finally:
        client.close()


def events(daemon: Daemon, since: float, cid: str) -> list[str]:
    client = daemon.client()
    try:
        evs = list(client.jsonlines("GET", "/events", query={"since": f"{since:.3f}", "until": f"{time.time():.3f}"}))
    finally:
        client.close()
    return [e["Action"] for e in evs if e.get("Actor", {}).get("ID") == cid]


def cgroup_dir(daemon: Daemon, controller: str, cid: str) -> Path:
    return Path("/sys/fs/cgroup") / controller / daemon.cgroup_parent.strip("/") / cid


@pytest.fixture
def looper(daemon: Daemon):  # type: ignore[no-untyped-def]
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", LOOP))
    yield cid
    daemon.kobako("rm", "-f", cid, check=False)


def counter(daemon: Daemon, cid: str) -> int:
    # Read the file from the container's rootfs through /proc/<pid>/root: works while frozen.
    pid = state(daemon, cid)["Pid"]
    text = Path(f"/proc/{pid}/root/tmp/count").read_text().strip()
    return int(text or 0)


def test_pause_freezes_and_unpause_resumes(daemon: Daemon, looper: str) -> None:
    cid = looper
    t0 = time.time()
    time.sleep(0.3)
    assert out(daemon.kobako("pause", cid)) == cid
    st = state(daemon, cid)
    assert (st["Status"], st["Running"], st["Paused"]) == ("paused", True, True)
    freezer = cgroup_dir(daemon, "freezer", cid) / "freezer.state"
    assert freezer.read_text().strip() == "FROZEN"
    before = counter(daemon, cid)
    time.sleep(0.5)
    assert counter(daemon, cid) == before  # frozen: the loop does not advance
    ps = out(daemon.kobako("ps", "--format", "{{.Status}}", "--filter", f"id={cid}"))
    assert ps.endswith("(Paused)")
    assert out(daemon.kobako("ps", "-q", "--filter", "status=paused")) == cid[:12]

    assert out(daemon.kobako("unpause", cid)) == cid
    assert freezer.read_text().strip() == "THAWED"
    st = state(daemon, cid)
    assert (st["Status"], st["Running"], st["Paused"]) == ("running", True, False)
    time.sleep(0.4)
    assert counter(daemon, cid) > before
    assert events(daemon, t0, cid)[-2:] == ["pause", "unpause"]


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        ("paused", ["pause"], "Container {id} is already paused"),
        ("paused", ["start"], "cannot start a paused container, try unpause instead"),
        ("paused", ["rm"], 'cannot remove container "{ref}": container is paused and must be unpaused first'),
        ("running", ["unpause"], "Container {id} is not paused"),
        ("running", ["rm"], 'cannot remove container "{ref}": container is running: stop the container '
                            "before removing or force remove"),
        ("created", ["pause"], "container {id} is not running"),
        ("created", ["unpause"], "Container {id} is not paused"),
        ("created", ["kill"], "container {id} is not running"),
        ("exited", ["kill"], "container {id} is not running"),
        ("exited", ["pause"], "container {id} is not running"),
    ],
)
def test_wrong_state_is_409_with_dockers_message(daemon: Daemon, setup: str, argv: list[str], message: str) -> None:
    if setup == "created":
        cid = out(daemon.kobako("create", "busybox", "sleep", "30"))
    else:
        cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "sleep 30" if setup != "exited" else "true"))
    try:
        if setup == "paused":
            daemon.kobako("pause", cid)
        if setup == "exited":
            daemon.kobako("wait", cid)
        ref = cid[:12]
        res = daemon.kobako(*argv, ref, check=False)
        assert res.returncode == 1
        assert res.stderr.decode().strip() == "Error response from daemon: " + message.format(id=cid, ref=ref)
        action = {"rm": ("DELETE", f"/containers/{ref}")}.get(argv[0], ("POST", f"/containers/{ref}/{argv[0]}"))
        status, _ = api(daemon, *action)
        assert status == 409
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_start_running_is_304_and_stop_stopped_is_304(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "30"))
    try:
        client = daemon.client()
        status, _, _ = client.request("POST", f"/containers/{cid}/start")
        assert status == 304
        daemon.kobako("kill", cid)
        status, _, _ = client.request("POST", f"/containers/{cid}/stop")
        assert status == 304
        client.close()
        assert daemon.kobako("start", cid).returncode == 0  # exited → running again
        assert state(daemon, cid)["Status"] == "running"
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_stop_of_paused_container_thaws_and_stops(daemon: Daemon, looper: str) -> None:
    daemon.kobako("pause", looper)
    t0 = time.monotonic()
    daemon.kobako("stop", "-t", "5", looper)
    # sh as PID 1 ignores SIGTERM: SIGKILL after the grace period; the freeze did not block it.
    assert time.monotonic() - t0 < 8
    st = state(daemon, looper)
    assert (st["Status"], st["Running"], st["Paused"], st["ExitCode"]) == ("exited", False, False, 137)


def test_stop_signal_and_timeout(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "trap 'exit 7' USR1; while true; do sleep 0.1; done"))
    try:
        t0 = time.monotonic()
        daemon.kobako("stop", "-s", "USR1", "-t", "5", cid)
        assert time.monotonic() - t0 < 3
        assert state(daemon, cid)["ExitCode"] == 7
        daemon.kobako("start", cid)
        t0 = time.monotonic()
        daemon.kobako("stop", "-t", "1", cid)  # SIGTERM is ignored by this PID 1: SIGKILL after 1 s
        assert 0.9 < time.monotonic() - t0 < 4
        assert state(daemon, cid)["ExitCode"] == 137
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_kill_of_paused_container_and_rm_force(daemon: Daemon) -> None:
    a = out(daemon.kobako("run", "-d", "busybox", "sleep", "30"))
    b = out(daemon.kobako("run", "-d", "busybox", "sleep", "30"))
    try:
        daemon.kobako("pause", a, b)
        daemon.kobako("kill", a)
        st = state(daemon, a)
        assert (st["Status"], st["ExitCode"], st["Paused"]) == ("exited", 137, False)
        assert out(daemon.kobako("rm", "-f", b)) == b
        assert daemon.kobako("inspect", b, check=False).returncode != 0
        assert not cgroup_dir(daemon, "freezer", b).exists() or not (cgroup_dir(daemon, "freezer", b) / "tasks").read_text()
    finally:
        daemon.kobako("rm", "-f", a, b, check=False)


def test_kill_with_signal(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "busybox", "sh", "-c", "trap 'exit 3' HUP; while true; do sleep 0.1; done"))
    try:
        daemon.kobako("kill", "-s", "HUP", cid)
        assert out(daemon.kobako("wait", cid)) == "3"
        res = daemon.kobako("kill", "-s", "NOPE", cid, check=False)
        assert res.returncode == 1
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_rename(daemon: Daemon) -> None:
    t0 = time.time()
    cid = out(daemon.kobako("run", "-d", "--name", "ren-a", "busybox", "sleep", "30"))
    other = out(daemon.kobako("create", "--name", "ren-taken", "busybox", "true"))
    try:
        res = daemon.kobako("rename", "ren-a", "ren-b")
        assert out(res) == ""
        assert inspect(daemon, cid)["Name"] == "/ren-b"
        assert daemon.kobako("inspect", "ren-a", check=False).returncode != 0
        res = daemon.kobako("rename", "ren-b", "ren-taken", check=False)
        assert res.returncode == 1
        assert res.stderr.decode().strip() == (
            'Error response from daemon: Error when allocating new name: Conflict. The container name '
            f'"/ren-taken" is already in use by container "{other}". You have to remove (or rename) that '
            "container to be able to reuse that name.")
        status, _ = api(daemon, "POST", f"/containers/{cid}/rename", query={"name": "ren-taken"})
        assert status == 409
        status, msg = api(daemon, "POST", f"/containers/{cid}/rename", query={"name": "ren-b"})
        assert (status, msg) == (400, "Renaming a container with the same name as its current name")
        # the old name is free again
        daemon.kobako("create", "--name", "ren-a", "busybox", "true")
        daemon.kobako("rm", "ren-a")
        evs = [e for e in events(daemon, t0, cid) if e == "rename"]
        assert evs == ["rename"]
    finally:
        daemon.kobako("rm", "-f", cid, other, check=False)


def test_rename_survives_daemon_restart_record(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "--name", "ren-disk", "busybox", "true"))
    try:
        daemon.kobako("rename", "ren-disk", "ren-disk2")
        rec = json.loads((daemon.data_root / "containers" / cid / "config.v2.json").read_text())
        assert rec["Name"] == "ren-disk2"
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_update_live_container(daemon: Daemon, looper: str) -> None:
    t0 = time.time()
    cid = looper
    res = daemon.kobako("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "40",
                        "--cpus", "0.5", "--restart", "on-failure:3", cid)
    assert out(res) == cid
    assert (cgroup_dir(daemon, "memory", cid) / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
    assert (cgroup_dir(daemon, "pids", cid) / "pids.max").read_text().strip() == "40"
    assert (cgroup_dir(daemon, "cpu", cid) / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (cgroup_dir(daemon, "cpu", cid) / "cpu.cfs_period_us").read_text().strip() == "100000"
    hc = inspect(daemon, cid)["HostConfig"]
    assert (hc["Memory"], hc["MemorySwap"], hc["PidsLimit"], hc["NanoCpus"]) == (64 << 20, 128 << 20, 40, 500_000_000)
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    # lower the memory within the swap limit, raise pids, via the API; the reply is Docker's
    status, body = api(daemon, "POST", f"/containers/{cid}/update", body={"Memory": 32 << 20, "PidsLimit": 100})
    assert (status, body) == (200, {"Warnings": []})
    assert (cgroup_dir(daemon, "memory", cid) / "memory.limit_in_bytes").read_text().strip() == str(32 << 20)
    assert (cgroup_dir(daemon, "pids", cid) / "pids.max").read_text().strip() == "100"
    # Docker's conflicts
    status, msg = api(daemon, "POST", f"/containers/{cid}/update", body={"Memory": 512 << 20})
    assert status == 409 and "Memory limit should be smaller than already set memoryswap limit" in msg
    status, msg = api(daemon, "POST", f"/containers/{cid}/update", body={"CpuQuota": 20000})
    assert status == 409 and "CPU Quota cannot be updated as NanoCPUs has already been set" in msg
    status, msg = api(daemon, "POST", f"/containers/{cid}/update", body={"Memory": 1024})
    assert status == 400 and "Minimum memory limit allowed is 6MB" in msg
    assert events(daemon, t0, cid).count("update") == 2


def test_update_created_container_applies_at_start(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "sleep", "30"))
    try:
        daemon.kobako("update", "--pids-limit", "33", cid)
        daemon.kobako("start", cid)
        assert (cgroup_dir(daemon, "pids", cid) / "pids.max").read_text().strip() == "33"
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_restart_command(daemon: Daemon) -> None:
    t0 = time.time()
    cid = out(daemon.kobako("run", "-d", "busybox", "sleep", "30"))
    try:
        pid = state(daemon, cid)["Pid"]
        assert out(daemon.kobako("restart", "-t", "0", cid)) == cid
        st = state(daemon, cid)
        assert st["Status"] == "running" and st["Pid"] != pid
        daemon.kobako("pause", cid)
        daemon.kobako("restart", "-t", "0", cid)  # a paused container restarts too
        assert state(daemon, cid)["Status"] == "running"
        daemon.kobako("kill", cid)
        daemon.kobako("restart", cid)  # a stopped one is started
        assert state(daemon, cid)["Status"] == "running"
        acts = events(daemon, t0, cid)
        assert acts.count("restart") == 3
        assert acts[:2] == ["create", "start"]
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_create_then_start_and_states(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "sh", "-c", "exit 5"))
    try:
        st = state(daemon, cid)
        assert (st["Status"], st["Running"], st["StartedAt"]) == ("created", False, "0001-01-01T00:00:00Z")
        assert out(daemon.kobako("ps", "-a", "--format", "{{.Status}}", "--filter", f"id={cid}")) == "Created"
        daemon.kobako("start", cid)
        assert out(daemon.kobako("wait", cid)) == "5"
        st = state(daemon, cid)
        assert (st["Status"], st["Running"], st["ExitCode"], st["Pid"]) == ("exited", False, 5, 0)
        assert st["FinishedAt"] >= st["StartedAt"]
        assert "Exited (5)" in out(daemon.kobako("ps", "-a", "--format", "{{.Status}}", "--filter", f"id={cid}"))
        assert out(daemon.kobako("rm", "-v", cid)) == cid
        assert daemon.kobako("inspect", cid, check=False).returncode != 0
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_wait_conditions(daemon: Daemon) -> None:
    cid = out(daemon.kobako("create", "busybox", "sh", "-c", "sleep 0.3; exit 4"))
    try:
        results: dict[str, Any] = {}

        def waiter(cond: str) -> None:
            client = daemon.client()
            try:
                body = b"".join(client.stream("POST", f"/containers/{cid}/wait", query={"condition": cond}))
                results[cond] = json.loads(body)
            finally:
                client.close()

        threads = [threading.Thread(target=waiter, args=(c,)) for c in ("next-exit", "removed")]
        for t in threads:
            t.start()
        time.sleep(0.2)
        # not-running on a created container answers at once
        waiter("not-running")
        assert results["not-running"] == {"StatusCode": 0, "Error": None}
        daemon.kobako("start", cid)
        threads[0].join(10)
        assert results["next-exit"]["StatusCode"] == 4
        assert "removed" not in results
        daemon.kobako("rm", cid)
        threads[1].join(10)
        assert results["removed"]["StatusCode"] == 4
        status, msg = api(daemon, "POST", "/containers/nope-no-such/wait")
        assert status == 404
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_info_counts_paused(daemon: Daemon, looper: str) -> None:
    daemon.kobako("pause", looper)
    _, info = api(daemon, "GET", "/info")
    assert info["ContainersPaused"] >= 1
    daemon.kobako("unpause", looper)
