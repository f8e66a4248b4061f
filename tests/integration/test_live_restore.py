"""Live restore: kobakod is SIGKILLed and restarted while containers run; nothing is lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, daemon_session

COUNTER = "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done"


def _ids(d: Daemon, *args: str) -> list[str]:
    return d.kobako("ps", "-q", "--no-trunc", *args).stdout.decode().split()


def _assert_no_gaps(d: Daemon, cid: str) -> int:
    lines = d.kobako("logs", cid).stdout.decode().split()
    numbers = [int(x) for x in lines]
    assert numbers == list(range(len(numbers))), f"{cid[:12]}: log lines lost or repeated"
    return len(numbers)


@pytest.mark.slow
def test_twenty_containers_survive_five_daemon_kills(tmp_path: Path) -> None:
    for d in daemon_session(tmp_path / "live"):
        d.kobako("image", "bootstrap", "busybox")
        counters = [d.kobako("run", "-d", "--name", f"live-{i}", "busybox", "sh", "-c", COUNTER).stdout.decode().strip()
                    for i in range(20)]
        seen = dict.fromkeys(counters, 0)
        for round_ in range(5):
            # one container that exits while kobakod is down, with a code of its own
            code = 10 + round_
            quitter = d.kobako("run", "-d", "busybox", "sh", "-c", f"sleep 0.5; exit {code}").stdout.decode().strip()
            d.kill9()
            time.sleep(1.2)
            d.start()
            running = set(_ids(d))
            assert set(counters) <= running, f"round {round_}: lost {set(counters) - running}"
            state = json.loads(d.kobako("inspect", "-f", "{{json .State}}", quitter).stdout)
            assert (state["Status"], state["ExitCode"]) == ("exited", code)
            for cid in counters:
                n = _assert_no_gaps(d, cid)
                assert n > seen[cid], f"{cid[:12]} stopped logging"
                seen[cid] = n
            d.kobako("rm", quitter)
        # still fully controllable after the last restart
        d.kobako("stop", "-t", "1", *counters[:5])
        for cid in counters[:5]:
            state = json.loads(d.kobako("inspect", "-f", "{{json .State}}", cid).stdout)
            assert (state["Status"], state["ExitCode"]) == ("exited", 137)
        d.kobako("rm", "-f", *counters)
        assert _ids(d, "-a") == []


def test_logs_follow_resumes_after_restart(tmp_path: Path) -> None:
    """A follower loses its connection with kobakod, but the shim kept every line meanwhile."""
    for d in daemon_session(tmp_path / "follow"):
        d.kobako("image", "bootstrap", "busybox")
        cid = d.kobako("run", "-d", "busybox", "sh", "-c", "for i in $(seq 0 29); do echo $i; sleep 0.1; done").stdout.decode().strip()
        time.sleep(0.5)
        d.kill9()
        time.sleep(1.0)
        d.start()
        res = d.kobako("logs", "-f", cid, timeout=30)
        assert [int(x) for x in res.stdout.decode().split()] == list(range(30))
        assert json.loads(d.kobako("inspect", "-f", "{{json .State.ExitCode}}", cid).stdout) == 0
        d.kobako("rm", cid)
