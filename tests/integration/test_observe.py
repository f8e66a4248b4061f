"""Observation on the real kernel: events, stats, top, diff, logs flags, container prune, system df."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.daemon_fixture import Daemon


def out(res: Any) -> str:
    return res.stdout.decode()  # type: ignore[no-any-return]


def run_d(daemon: Daemon, *args: str) -> str:
    return out(daemon.kobako("run", "-d", *args)).strip()


@pytest.fixture
def cleanup(daemon: Daemon) -> Any:
    ids: list[str] = []
    yield ids
    if ids:
        daemon.kobako("rm", "-f", *ids, check=False)


# -- events ------------------------------------------------------------------------------------
def test_events_replay_with_since_and_until_ends(daemon: Daemon) -> None:
    t0 = time.time()
    daemon.kobako("run", "--rm", "--name", "ev-replay", "-l", "suite=observe", "busybox", "true")
    time.sleep(0.1)
    t1 = time.time()
    with daemon.client() as c:
        evs = list(c.jsonlines("GET", "/events", query={
            "since": f"{t0:.9f}", "until": f"{t1:.9f}", "filters": json.dumps({"container": ["ev-replay"]})}))
    actions = [e["Action"] for e in evs]
    assert actions[:3] == ["create", "start", "die"] and actions[-1] == "destroy", actions
    assert all(e["Type"] == "container" and e["Actor"]["Attributes"]["name"] == "ev-replay" for e in evs)
    assert evs[0]["Actor"]["Attributes"]["suite"] == "observe" and evs[0]["from"] == "busybox"
    die = next(e for e in evs if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "0"
    # filters: event and label
    with daemon.client() as c:
        only = list(c.jsonlines("GET", "/events", query={
            "since": f"{t0:.9f}", "until": f"{t1:.9f}",
            "filters": json.dumps({"event": ["die"], "label": ["suite=observe"]})}))
    assert [e["Action"] for e in only] == ["die"]


def test_events_cli_lines(daemon: Daemon) -> None:
    t0 = time.time()
    cid = out(daemon.kobako("create", "--name", "ev-cli", "busybox", "true")).strip()
    daemon.kobako("rm", cid)
    time.sleep(0.05)
    res = daemon.kobako("events", "--since", f"{t0:.9f}", "--until", f"{time.time():.9f}", "-f", "container=ev-cli")
    lines = out(res).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].split(" ", 1)[1] == f"container create {cid} (image=busybox, name=ev-cli)"
    assert lines[1].split()[2] == "destroy"
    assert lines[0][:4].isdigit() and lines[0][29] in "Z+-"  # 2026-11-28T03:34:21.123456789Z
    res = daemon.kobako("events", "--since", f"{t0:.9f}", "--until", f"{time.time():.9f}",
                        "-f", "container=ev-cli", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    assert out(res).splitlines() == ["create ev-cli", "destroy ev-cli"]


def test_events_stream_live_and_until_in_future(daemon: Daemon, cleanup: list[str]) -> None:
    got: list[dict[str, Any]] = []
    ended = threading.Event()
    until = time.time() + 3

    def listen() -> None:
        with daemon.client() as c:
            for e in c.jsonlines("GET", "/events", query={
                    "until": f"{until:.9f}", "filters": json.dumps({"type": ["container"], "event": ["start"]})}):
                got.append(e)
        ended.set()

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    time.sleep(0.3)
    cid = run_d(daemon, "--name", "ev-live", "busybox", "sleep", "30")
    cleanup.append(cid)
    assert ended.wait(10), "the stream did not end at `until`"
    assert [(e["Action"], e["id"]) for e in got if e["id"] == cid] == [("start", cid)]
    assert time.time() >= until - 0.1


# -- stats -------------------------------------------------------------------------------------
def test_stats_of_running_container(daemon: Daemon, cleanup: list[str]) -> None:
    cid = run_d(daemon, "--name", "st-run", "-m", "64m", "busybox", "sh", "-c", "sleep 60")
    cleanup.append(cid)
    with daemon.client() as c:
        t = time.monotonic()
        s = next(iter(c.jsonlines("GET", f"/containers/{cid}/stats", query={"stream": 0})))
        took = time.monotonic() - t
    assert 0.8 < took < 5, took  # two samples ~1 s apart, as docker takes them
    assert s["id"] == cid and s["name"] == "/st-run"
    assert s["pids_stats"]["current"] >= 1
    assert s["memory_stats"]["usage"] > 0 and s["memory_stats"]["limit"] == 64 * 1024 * 1024
    assert s["cpu_stats"]["system_cpu_usage"] > s["precpu_stats"]["system_cpu_usage"] > 0
    assert s["cpu_stats"]["online_cpus"] >= 1 and s["preread"] < s["read"]
    with daemon.client() as c:
        one = next(iter(c.jsonlines("GET", f"/containers/{cid}/stats", query={"stream": 0, "one-shot": 1})))
    assert one["preread"] == "0001-01-01T00:00:00Z" and one["pids_stats"]["current"] >= 1
    with daemon.client() as c:
        it = c.jsonlines("GET", f"/containers/{cid}/stats")
        a, b = next(it), next(it)
    assert b["precpu_stats"] == a["cpu_stats"]
    res = out(daemon.kobako("stats", "--no-stream", "st-run")).splitlines()
    assert res[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                              "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    row = res[1].split()
    assert row[0] == cid[:12] and row[1] == "st-run" and row[2].endswith("%") and row[5] == "64MiB"


def test_stats_of_stopped_container_is_zero(daemon: Daemon, cleanup: list[str]) -> None:
    cid = out(daemon.kobako("create", "--name", "st-stopped", "busybox", "true")).strip()
    cleanup.append(cid)
    with daemon.client() as c:
        s = next(iter(c.jsonlines("GET", f"/containers/{cid}/stats", query={"stream": 0})))
    assert s["read"] == "0001-01-01T00:00:00Z" and s["memory_stats"] == {} and s["pids_stats"] == {}
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0 and s["name"] == "/st-stopped"


# -- top ---------------------------------------------------------------------------------------
def test_top_lists_host_pids(daemon: Daemon, cleanup: list[str]) -> None:
    cid = run_d(daemon, "--name", "top1", "busybox", "sleep", "61")
    cleanup.append(cid)
    pid = json.loads(out(daemon.kobako("inspect", cid)))[0]["State"]["Pid"]
    with daemon.client() as c:
        top = c.json("GET", f"/containers/{cid}/top")
        aux = c.json("GET", f"/containers/{cid}/top", query={"ps_args": "aux"})
    assert top["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert [p[7] for p in top["Processes"]] == ["sleep 61"] and top["Processes"][0][1] == str(pid)
    assert "%CPU" in aux["Titles"] and aux["Processes"][0][-1] == "sleep 61"
    lines = out(daemon.kobako("top", "top1")).splitlines()
    assert lines[0].startswith("UID                 PID") and lines[1].endswith("sleep 61")
    res = daemon.kobako("top", out(daemon.kobako("create", "busybox", "true")).strip(), check=False)
    cleanup.append(res.args[-1])
    assert res.returncode == 1 and "is not running" in res.stderr.decode()


# -- diff --------------------------------------------------------------------------------------
def test_diff_shows_changed_added_deleted(daemon: Daemon, cleanup: list[str]) -> None:
    daemon.kobako("run", "--name", "diff1", "busybox", "sh", "-c",
                  "echo x >> /etc/passwd; mkdir /etc/new; echo n > /etc/new/f; rm /bin/ls; touch /root-file")
    cleanup.append("diff1")
    lines = out(daemon.kobako("diff", "diff1")).splitlines()
    assert lines == ["C /bin", "D /bin/ls", "C /etc", "A /etc/new", "A /etc/new/f", "C /etc/passwd",
                     "A /root-file"], lines
    with daemon.client() as c:
        changes = c.json("GET", "/containers/diff1/changes")
    assert {"Path": "/bin/ls", "Kind": 2} in changes and {"Path": "/root-file", "Kind": 1} in changes


# -- logs --------------------------------------------------------------------------------------
def test_logs_tail_timestamps_since_until(daemon: Daemon, cleanup: list[str]) -> None:
    daemon.kobako("run", "--name", "logs1", "busybox", "sh", "-c", "echo one; echo two >&2; sleep 1.2; echo three")
    cleanup.append("logs1")
    assert out(daemon.kobako("logs", "logs1")) == "one\nthree\n"
    res = daemon.kobako("logs", "--tail", "1", "-t", "logs1")
    ts, _, text = out(res).partition(" ")
    assert text == "three\n" and ts.endswith("Z") and len(ts) == 30
    assert out(daemon.kobako("logs", "--tail", "0", "logs1")) == ""
    res = daemon.kobako("logs", "--tail", "2", "logs1")
    assert out(res) == "three\n" and res.stderr.decode() == "two\n"
    stamps = [line.split(" ", 1) for line in out(daemon.kobako("logs", "-t", "logs1")).splitlines()]
    third = stamps[-1][0]
    assert out(daemon.kobako("logs", "--since", third, "logs1")) == "three\n"
    assert out(daemon.kobako("logs", "--until", stamps[0][0], "logs1")) == "one\n"
    assert out(daemon.kobako("logs", "--since", "1h", "logs1")) == "one\nthree\n"


def test_logs_follow_and_rotation_in_order(daemon: Daemon, cleanup: list[str]) -> None:
    # each entry is ~70 bytes: 150 lines in 5 bursts rotate the 2 kB file several times; 3 files keep ~6 kB
    script = ("sleep 1; i=0; while [ $i -lt 150 ]; do echo line$i; i=$((i+1)); "
              "[ $((i % 30)) = 0 ] && sleep 0.3; done; sleep 1; echo end")
    cid = run_d(daemon, "--name", "logs-rot", "--log-opt", "max-size=2k", "--log-opt", "max-file=3",
                "busybox", "sh", "-c", script)
    cleanup.append(cid)
    followed = out(daemon.kobako("logs", "-f", cid, timeout=30)).splitlines()  # across the rotations
    assert followed == [f"line{i}" for i in range(150)] + ["end"]
    lines = out(daemon.kobako("logs", cid)).splitlines()
    assert lines[-1] == "end"
    nums = [int(x[4:]) for x in lines[:-1]]
    assert nums == list(range(nums[0], 150)) and nums[0] > 0, nums  # oldest rotated away, no gap, in order
    import glob
    root = json.loads(out(daemon.kobako("inspect", cid)))[0]["LogPath"]
    assert len(glob.glob(root + ".*")) >= 2


# -- prune and df ------------------------------------------------------------------------------
def test_container_prune_removes_only_stopped(daemon: Daemon, cleanup: list[str]) -> None:
    running = run_d(daemon, "--name", "pr-run", "busybox", "sleep", "60")
    cleanup.append(running)
    stopped = out(daemon.kobako("run", "-d", "--name", "pr-stop", "-l", "prune=me", "busybox", "sh", "-c",
                                "echo data > /f; echo logged")).strip()
    kept = out(daemon.kobako("create", "--name", "pr-keep", "-l", "prune=no", "busybox", "true")).strip()
    cleanup.append(kept)
    daemon.kobako("wait", stopped)
    with daemon.client() as c:
        rep = c.json("POST", "/containers/prune", query={"filters": json.dumps({"label": ["prune=me"]})})
    assert rep["ContainersDeleted"] == [stopped]
    assert rep["SpaceReclaimed"] >= len("data\n") + len('{"log":"logged\\n"')
    ids = out(daemon.kobako("ps", "-aq", "--no-trunc")).split()
    assert running in ids and kept in ids and stopped not in ids
    res = out(daemon.kobako("container", "prune", "-f", "--filter", "label=prune=no"))
    assert res.startswith(f"Deleted Containers:\n{kept}\n\nTotal reclaimed space: ")
    assert running in out(daemon.kobako("ps", "-q", "--no-trunc")).split()


def test_system_df_counts_rw_layers_and_logs(daemon: Daemon, cleanup: list[str]) -> None:
    cid = out(daemon.kobako("run", "-d", "--name", "df1", "busybox", "sh", "-c",
                            "head -c 5000 /dev/zero > /blob; echo hello")).strip()
    cleanup.append(cid)
    daemon.kobako("wait", cid)
    with daemon.client() as c:
        df = c.json("GET", "/system/df")
        inspect = c.json("GET", f"/containers/{cid}/json", query={"size": 1})
    mine = next(x for x in df["Containers"] if x["Id"] == cid)
    assert mine["SizeRwLayer"] == 5000 and mine["SizeLogs"] > 0
    assert mine["SizeRw"] == 5000 + mine["SizeLogs"]
    assert inspect["SizeRw"] == 5000 and inspect["SizeRootFs"] > 5000
    busybox = next(i for i in df["Images"] if "busybox:latest" in i["RepoTags"])
    assert df["LayersSize"] >= busybox["Size"] > 0 and busybox["Containers"] >= 1
    assert df["Volumes"] == [] and df["BuildCache"] == []
    text = out(daemon.kobako("system", "df")).splitlines()
    assert text[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in text[1:]] == ["Images", "Containers", "Local", "Build"]
    ps = out(daemon.kobako("ps", "-a", "-s", "--filter", "name=df1")).splitlines()
    assert ps[0].endswith("SIZE") and ps[1].endswith("5kB (virtual " + ps[1].split("(virtual ")[1])


def test_image_events_tag_untag(daemon: Daemon) -> None:
    t0 = time.time()
    daemon.kobako("tag", "busybox", "obs-events:v1")
    daemon.kobako("rmi", "obs-events:v1")
    time.sleep(0.05)
    with daemon.client() as c:
        evs = list(c.jsonlines("GET", "/events", query={
            "since": f"{t0:.9f}", "until": f"{time.time():.9f}", "filters": json.dumps({"type": ["image"]})}))
    assert [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in evs] == [
        ("tag", "obs-events:v1"), ("untag", "obs-events:v1")]
    assert evs[0]["Actor"]["ID"].startswith("sha256:")
    with daemon.client() as c:
        only = list(c.jsonlines("GET", "/events", query={
            "since": f"{t0:.9f}", "until": f"{time.time():.9f}", "filters": json.dumps({"image": ["obs-events"]})}))
    assert len(only) == 2
