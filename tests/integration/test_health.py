"""Healthchecks: --health-* flags and the image's HEALTHCHECK; State.Health, ps, events."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.daemon_fixture import Daemon


def out(res: Any) -> str:
    return str(res.stdout.decode()).strip()


def health(daemon: Daemon, ref: str) -> dict[str, Any] | None:
    info = json.loads(out(daemon.kobako("inspect", "--type", "container", ref)))[0]
    h: dict[str, Any] | None = info["State"].get("Health")
    return h


def wait_for(pred: Any, timeout: float = 15.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("condition not met in time")


def events(daemon: Daemon, since: float, cid: str) -> list[str]:
    client = daemon.client()
    try:
        evs = list(client.jsonlines("GET", "/events", query={"since": f"{since:.3f}", "until": f"{time.time():.3f}"}))
    finally:
        client.close()
    return [e["Action"] for e in evs if e.get("Actor", {}).get("ID") == cid]


def test_starting_healthy_unhealthy_with_events(daemon: Daemon) -> None:
    t0 = time.time()
    cid = out(daemon.kobako(
        "run", "-d", "--health-cmd", "cat /tmp/ok", "--health-interval", "200ms", "--health-retries", "2",
        "--health-timeout", "2s", "busybox", "sh", "-c",
        "sleep 3; echo fine > /tmp/ok; sleep 3; rm /tmp/ok; sleep 60"))
    try:
        h = health(daemon, cid)
        assert h is not None and h["Status"] in ("starting", "unhealthy")  # failed probes for the first 3 s
        ps = out(daemon.kobako("ps", "--format", "{{.Status}}", "--filter", f"id={cid}"))
        assert ps.endswith("(health: starting)") or ps.endswith("(unhealthy)"), ps
        h = wait_for(lambda: (x := health(daemon, cid)) and x["Status"] == "healthy" and x)
        assert h["FailingStreak"] == 0
        last = h["Log"][-1]
        assert (last["ExitCode"], last["Output"]) == (0, "fine\n")
        assert set(last) == {"Start", "End", "ExitCode", "Output"}
        assert out(daemon.kobako("ps", "--format", "{{.Status}}", "--filter", f"id={cid}")).endswith("(healthy)")
        h = wait_for(lambda: (x := health(daemon, cid)) and x["Status"] == "unhealthy" and x)
        assert h["FailingStreak"] >= 2
        assert len(h["Log"]) <= 5
        assert "No such file" in h["Log"][-1]["Output"]
        acts = events(daemon, t0, cid)
        statuses = [a for a in acts if a.startswith("health_status")]
        assert "health_status: healthy" in statuses and statuses[-1] == "health_status: unhealthy"
        assert any(a.startswith("exec_create: /bin/sh -c cat /tmp/ok") for a in acts)
        # a stopped container keeps its last health for inspect; a start begins "starting" again
        daemon.kobako("kill", cid)
        assert health(daemon, cid)["Status"] == "unhealthy"  # type: ignore[index]
        daemon.kobako("start", cid)
        assert health(daemon, cid)["Status"] == "starting"  # type: ignore[index]
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_timeout_and_start_period(daemon: Daemon) -> None:
    cid = out(daemon.kobako(
        "run", "-d", "--health-cmd", "sleep 5", "--health-interval", "100ms", "--health-timeout", "200ms",
        "--health-retries", "1", "--health-start-period", "3s", "busybox", "sleep", "60"))
    try:
        time.sleep(1.5)
        h = health(daemon, cid)
        assert h is not None and h["Status"] == "starting"  # failures inside the start period don't count
        assert h["FailingStreak"] == 0
        h = wait_for(lambda: (x := health(daemon, cid)) and x["Status"] == "unhealthy" and x)
        assert h["Log"][-1]["ExitCode"] == -1
        assert h["Log"][-1]["Output"] == "Health check exceeded timeout (200ms)"
        # timed-out probes are killed: the container's own sleep, and at most the probe in flight
        time.sleep(1.0)
        top = out(daemon.kobako("exec", cid, "ps", "-o", "comm")).split()
        assert 1 <= top.count("sleep") <= 2, top
    finally:
        daemon.kobako("rm", "-f", cid, check=False)


def test_pause_stops_probes_and_no_healthcheck(daemon: Daemon) -> None:
    cid = out(daemon.kobako("run", "-d", "--health-cmd", "true", "--health-interval", "100ms", "busybox", "sleep", "60"))
    try:
        wait_for(lambda: (x := health(daemon, cid)) and x["Status"] == "healthy")
        daemon.kobako("pause", cid)
        time.sleep(0.2)
        before = health(daemon, cid)["Log"][-1]["Start"]  # type: ignore[index]
        time.sleep(0.5)
        assert health(daemon, cid)["Log"][-1]["Start"] == before  # type: ignore[index]
        daemon.kobako("unpause", cid)
        wait_for(lambda: health(daemon, cid)["Log"][-1]["Start"] != before)  # type: ignore[index]
    finally:
        daemon.kobako("rm", "-f", cid, check=False)
    res = daemon.kobako("create", "--no-healthcheck", "--health-cmd", "true", "busybox", "true", check=False)
    assert res.returncode == 125
    assert "--no-healthcheck conflicts with --health-* options" in res.stderr.decode()


def test_image_healthcheck_and_no_healthcheck(daemon: Daemon) -> None:
    base = out(daemon.kobako("create", "busybox", "true"))
    client = daemon.client()
    try:
        # docker commit's body is the new image's config (what a Dockerfile HEALTHCHECK would set)
        status, _, body = client.request("POST", "/commit", query={
            "container": base, "repo": "kobako-health-test", "tag": "v1", "pause": "0"}, body={
            "Healthcheck": {"Test": ["CMD", "sh", "-c", "echo from-image"], "Interval": 200_000_000,
                            "Retries": 1}})
        if status == 404:
            pytest.skip("POST /commit is not available")
        assert status == 201, body
        cid = out(daemon.kobako("run", "-d", "kobako-health-test:v1", "sleep", "60"))
        try:
            info = json.loads(out(daemon.kobako("inspect", cid)))[0]
            assert info["Config"]["Healthcheck"]["Test"] == ["CMD", "sh", "-c", "echo from-image"]
            h = wait_for(lambda: (x := health(daemon, cid)) and x["Status"] == "healthy" and x)
            assert h["Log"][-1]["Output"] == "from-image\n"
        finally:
            daemon.kobako("rm", "-f", cid, check=False)
        cid = out(daemon.kobako("run", "-d", "--no-healthcheck", "kobako-health-test:v1", "sleep", "60"))
        try:
            info = json.loads(out(daemon.kobako("inspect", cid)))[0]
            assert info["Config"]["Healthcheck"]["Test"] == ["NONE"]
            time.sleep(0.5)
            assert "Health" not in info["State"] and health(daemon, cid) is None
        finally:
            daemon.kobako("rm", "-f", cid, check=False)
        # the user's interval over the image's test
        cid = out(daemon.kobako("run", "-d", "--health-interval", "150ms", "kobako-health-test:v1", "sleep", "60"))
        try:
            info = json.loads(out(daemon.kobako("inspect", cid)))[0]
            hc = info["Config"]["Healthcheck"]
            assert hc["Test"] == ["CMD", "sh", "-c", "echo from-image"] and hc["Interval"] == 150_000_000
        finally:
            daemon.kobako("rm", "-f", cid, check=False)
    finally:
        client.close()
        daemon.kobako("rm", "-f", base, check=False)
        daemon.kobako("rmi", "kobako-health-test:v1", check=False)


def test_healthcheck_validation(daemon: Daemon) -> None:
    client = daemon.client()
    from kobako.client import DaemonError

    try:
        with pytest.raises(DaemonError) as exc:
            client.json("POST", "/containers/create", body={
                "Image": "busybox", "Cmd": ["true"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000}})
        assert exc.value.status == 400
        assert exc.value.message == "Interval in Healthcheck cannot be less than 1ms"
    finally:
        client.close()
