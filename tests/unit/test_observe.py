"""Observation, the pure parts: event filters and times, stats math, changes, df and prune arithmetic."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from kobako.cli._time import format_nano, get_timestamp, parse_duration
from kobako.cli.commands.events import event_line
from kobako.cli.commands.stats import block_io, bytes_size, cpu_percent, human_size, memory_usage, stats_row
from kobako.cli.commands.system import df_rows
from kobako.cli.commands.top import tabwrite
from kobako.daemon.observe._changes import (
    ADDED, DELETED, MODIFIED, apparent_size, changes_size, overlay_changes, tree_changes,
)
from kobako.daemon.observe._df import chain_of, layer_usage, parse_until, prune_match
from kobako.daemon.observe._eventfilter import matches, normalize_filters, parse_timestamp
from kobako.daemon.observe._stats import CgroupStatsReader, empty_stats, stats_response
from kobako.daemon.observe._top import parse_ps_output, validate_ps_args
from kobako.errors import InvalidArgument

CID = "ab" * 32


def ev(type_: str = "container", action: str = "start", aid: str = CID, **attrs: str) -> dict:
    return {"Type": type_, "Action": action, "Actor": {"ID": aid, "Attributes": attrs}, "scope": "local",
            "time": 1, "timeNano": 1_000_000_000}


# -- events ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "ns"), [
    ("1700000000", 1_700_000_000 * 10**9),
    ("1700000000.5", 1_700_000_000 * 10**9 + 500_000_000),
    ("1700000000.000000001", 1_700_000_000 * 10**9 + 1),
    ("2023-11-14T22:13:20Z", 1_700_000_000 * 10**9),
    ("2023-11-14T23:13:20.25+01:00", 1_700_000_000 * 10**9 + 250_000_000),
])
def test_parse_timestamp(value: str, ns: int) -> None:
    assert parse_timestamp(value) == ns


def test_parse_timestamp_rejects_garbage() -> None:
    assert parse_timestamp("") is None
    with pytest.raises(InvalidArgument):
        parse_timestamp("yesterday")


@pytest.mark.parametrize(("filters", "event", "ok"), [
    ({}, ev(), True),
    ({"type": ["container"]}, ev(), True),
    ({"type": ["image"]}, ev(), False),
    ({"container": [CID[:12]]}, ev(name="web"), True),
    ({"container": ["web"]}, ev(name="web"), True),
    ({"container": ["db"]}, ev(name="web"), False),
    ({"container": ["web"]}, ev("image", "tag", "sha256:" + "1" * 64, name="web"), False),
    ({"event": ["start", "die"]}, ev(), True),
    ({"event": ["die"]}, ev(), False),
    ({"event": ["exec_start"]}, ev(action="exec_start: sh -c true"), True),
    ({"image": ["busybox"]}, ev(image="busybox:latest"), True),
    ({"image": ["busybox:latest"]}, ev(image="busybox:latest"), True),
    ({"image": ["alpine"]}, ev(image="busybox"), False),
    ({"image": ["busybox"]}, ev("image", "tag", "sha256:" + "1" * 64, name="busybox:v1"), True),
    ({"label": ["app"]}, ev(app="x"), True),
    ({"label": ["app=x"]}, ev(app="x"), True),
    ({"label": ["app=y"]}, ev(app="x"), False),
    ({"type": ["container"], "event": ["start"], "container": ["web"]}, ev(name="web"), True),
])
def test_event_filters(filters: dict, event: dict, ok: bool) -> None:
    assert matches(event, filters) is ok


def test_filters_old_and_new_shapes() -> None:
    assert normalize_filters({"type": {"container": True, "image": False}}) == {"type": ["container"]}
    assert normalize_filters({"event": ["die"]}) == {"event": ["die"]}
    with pytest.raises(InvalidArgument):
        normalize_filters({"bogus": ["x"]})


def test_event_line_is_dockers(monkeypatch: pytest.MonkeyPatch) -> None:
    import calendar

    e = ev(name="x", image="busybox")
    e["timeNano"] = calendar.timegm((2026, 11, 28, 3, 34, 21, 0, 0, 0)) * 10**9 + 123_456_789
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    assert event_line(e) == f"2026-11-28T03:34:21.123456789Z container start {CID} (image=busybox, name=x)"
    assert format_nano(5) == "1970-01-01T00:00:00.000000005Z"


def test_cli_timestamps() -> None:
    now = 1_700_000_000.7
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("10") is None
    assert get_timestamp("10m", now) == "1699999400"
    assert get_timestamp("0s", now) == "1700000000"
    assert get_timestamp("1700000000.25", now) == "1700000000.25"
    assert get_timestamp("2023-11-14T22:13:20Z", now) == "1700000000.000000000"
    assert get_timestamp("2023-11-14T22:13:20.5+00:00", now) == "1700000000.500000000"
    with pytest.raises(ValueError):
        get_timestamp("soon", now)


# -- stats -------------------------------------------------------------------------------------
def _stats(total: int, pre_total: int, system: int, pre_system: int, cpus: int = 2) -> dict:
    return {"cpu_stats": {"cpu_usage": {"total_usage": total}, "system_cpu_usage": system, "online_cpus": cpus},
            "precpu_stats": {"cpu_usage": {"total_usage": pre_total}, "system_cpu_usage": pre_system}}


def test_cpu_percent_is_dockers_formula() -> None:
    # 0.5 s of CPU while the host (2 CPUs) spent 2 s: (0.5 / 2) * 2 * 100
    assert cpu_percent(_stats(1_500_000_000, 1_000_000_000, 12 * 10**9, 10 * 10**9)) == pytest.approx(50.0)
    assert cpu_percent(_stats(10, 10, 20, 10)) == 0.0          # no CPU used
    assert cpu_percent(_stats(20, 10, 10, 10)) == 0.0          # no system delta
    s = _stats(2, 1, 3, 1, cpus=0)
    s["cpu_stats"]["cpu_usage"]["percpu_usage"] = [0, 0, 0, 0]  # online_cpus missing: count percpu
    assert cpu_percent(s) == pytest.approx(200.0)


def test_memory_usage_without_cache() -> None:
    assert memory_usage({"usage": 1000, "stats": {"total_inactive_file": 300}}) == 700   # v1
    assert memory_usage({"usage": 1000, "stats": {"inactive_file": 100}}) == 900         # v2
    assert memory_usage({"usage": 1000, "stats": {"inactive_file": 5000}}) == 1000


def test_go_units() -> None:
    assert bytes_size(0) == "0B"
    assert bytes_size(1536) == "1.5KiB"
    assert bytes_size(64 * 1024 * 1024) == "64MiB"
    assert human_size(2129920) == "2.13MB"
    assert human_size(1234, 4) == "1.234kB"
    assert human_size(999) == "999B"
    assert block_io({"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "Read", "value": 10}, {"major": 8, "minor": 0, "op": "write", "value": 5},
        {"major": 8, "minor": 0, "op": "Total", "value": 15}]}) == (10, 5)


def test_stopped_container_row_is_zero() -> None:
    row = stats_row(empty_stats("x", CID), "x")
    assert row == {"Container": "x", "ID": CID[:12], "Name": "x", "CPUPerc": "0.00%", "MemUsage": "0B / 0B",
                   "MemPerc": "0.00%", "NetIO": "0B / 0B", "BlockIO": "0B / 0B", "PIDs": "0"}
    z = empty_stats("x", CID)
    assert z["read"] == "0001-01-01T00:00:00Z" and z["name"] == "/x" and z["memory_stats"] == {}


def _write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_stats_reader_v1(tmp_path: Path) -> None:
    root, rel = tmp_path / "cg", "kobako/" + CID
    for h in ("memory", "cpuacct", "cpu", "pids", "blkio"):
        (root / h / rel).mkdir(parents=True)
    _write(root / "memory" / rel / "memory.usage_in_bytes", "4096\n")
    _write(root / "memory" / rel / "memory.limit_in_bytes", "67108864\n")
    _write(root / "memory" / rel / "memory.stat", "cache 100\ntotal_inactive_file 50\n")
    _write(root / "cpuacct" / rel / "cpuacct.usage", "123456\n")
    _write(root / "cpuacct" / rel / "cpuacct.usage_percpu", "123000 456\n")
    _write(root / "cpuacct" / rel / "cpuacct.stat", "user 3\nsystem 1\n")
    _write(root / "cpu" / rel / "cpu.stat", "nr_periods 7\nnr_throttled 2\nthrottled_time 99\n")
    _write(root / "pids" / rel / "pids.current", "3\n")
    _write(root / "pids" / rel / "pids.max", "max\n")
    _write(root / "blkio" / rel / "blkio.throttle.io_service_bytes_recursive", "8:0 Read 512\n8:0 Write 0\nTotal 512\n")
    _write(tmp_path / "proc" / "stat", "cpu  100 0 50 1000 0 0 0 0 0 0\n")
    _write(tmp_path / "proc" / "meminfo", "MemTotal:       2048 kB\n")
    r = CgroupStatsReader("/" + rel, root, tmp_path / "proc")
    assert not r.v2 and r.exists()
    s = r.sample()
    assert s["memory_stats"]["usage"] == 4096 and s["memory_stats"]["limit"] == 2048 * 1024  # capped at host
    assert s["memory_stats"]["stats"]["total_inactive_file"] == 50
    cu = s["cpu_stats"]["cpu_usage"]
    assert cu["total_usage"] == 123456 and cu["percpu_usage"] == [123000, 456]
    assert s["cpu_stats"]["throttling_data"] == {"periods": 7, "throttled_periods": 2, "throttled_time": 99}
    assert s["cpu_stats"]["system_cpu_usage"] == 1150 * 10**9 // os.sysconf("SC_CLK_TCK")
    assert s["pids_stats"] == {"current": 3}
    assert s["blkio_stats"]["io_service_bytes_recursive"][0] == {"major": 8, "minor": 0, "op": "Read", "value": 512}
    resp = stats_response("x", CID, s, s)
    assert list(resp)[:4] == ["name", "id", "read", "preread"] and resp["precpu_stats"] == s["cpu_stats"]


def test_stats_reader_v2(tmp_path: Path) -> None:
    root, rel = tmp_path / "cg", "kobako/" + CID
    _write(root / "cgroup.controllers", "memory cpu pids io\n")
    d = root / rel
    _write(d / "memory.current", "8192\n")
    _write(d / "memory.max", "16777216\n")
    _write(d / "memory.stat", "anon 10\ninactive_file 20\n")
    _write(d / "cpu.stat", "usage_usec 5\nuser_usec 3\nsystem_usec 2\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
    _write(d / "pids.current", "1\n")
    _write(d / "pids.max", "100\n")
    _write(d / "io.stat", "8:0 rbytes=4096 wbytes=1024 rios=1 wios=1\n")
    r = CgroupStatsReader("/" + rel, root)
    s = r.sample()
    assert r.v2
    assert s["memory_stats"] == {"usage": 8192, "stats": {"anon": 10, "inactive_file": 20}, "limit": 16777216}
    assert s["cpu_stats"]["cpu_usage"] == {"total_usage": 5000, "usage_in_kernelmode": 2000, "usage_in_usermode": 3000}
    assert s["pids_stats"] == {"current": 1, "limit": 100}
    assert block_io(s["blkio_stats"]) == (4096, 1024)


# -- top ---------------------------------------------------------------------------------------
PS = """UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 03:33 ?        00:00:01 /sbin/init
root         450     449  0 04:02 ?        00:00:00 sh -c sleep 30; echo done
root         470     450  0 04:02 ?        00:00:00 sleep 30
"""


def test_parse_ps_output_filters_pids_and_keeps_command_spaces() -> None:
    res = parse_ps_output(PS, {450, 470})
    assert res["Titles"] == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert res["Processes"] == [["root", "450", "449", "0", "04:02", "?", "00:00:00", "sh -c sleep 30; echo done"],
                                ["root", "470", "450", "0", "04:02", "?", "00:00:00", "sleep 30"]]


def test_ps_args_validation() -> None:
    validate_ps_args("-o pid,comm")
    with pytest.raises(InvalidArgument):
        validate_ps_args("-o pid=X,comm")


def test_top_table_is_tabwriter_20() -> None:
    assert tabwrite([["UID", "PID", "CMD"], ["root", "1", "sleep 30"]]) == (
        "UID" + " " * 17 + "PID" + " " * 17 + "CMD\n" + "root" + " " * 16 + "1" + " " * 19 + "sleep 30")


# -- changes -----------------------------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith("/"):
            p.mkdir(exist_ok=True)
        else:
            p.write_text(text)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: whiteouts are 0/0 char devices, opaque is a trusted xattr")
def test_overlay_changes(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower, {"bin/ls": "x", "bin/sh": "x", "etc/passwd": "root", "etc/group": "g", "var/cache/a": "1",
                  "usr/lib/x": "1"})
    _tree(upper, {"etc/passwd": "root\nnew", "etc/new/file": "n", "tmp/x": "hi", "var/cache/b": "2"})
    (upper / "bin").mkdir()
    os.mknod(upper / "bin" / "ls", 0o600 | stat.S_IFCHR, os.makedev(0, 0))
    (upper / "usr").mkdir()
    # an unchanged copy of a lower directory (same mode, size, mtime) is only a parent
    st = os.stat(lower / "usr")
    os.chmod(upper / "usr", st.st_mode & 0o7777)
    (upper / "usr" / "lib").mkdir()
    os.setxattr(upper / "usr" / "lib", "trusted.overlay.opaque", b"y")
    (upper / "usr" / "lib" / "y").write_text("new")
    for d in ("var", "var/cache"):
        s = os.stat(lower / d)
        os.chmod(upper / d, s.st_mode & 0o7777)
        os.utime(upper / d, ns=(s.st_atime_ns, s.st_mtime_ns))
    os.utime(upper / "usr", ns=(st.st_atime_ns, st.st_mtime_ns))
    got = overlay_changes(upper, [lower])
    assert got == [
        ("/bin", MODIFIED), ("/bin/ls", DELETED),
        ("/etc", MODIFIED), ("/etc/new", ADDED), ("/etc/new/file", ADDED), ("/etc/passwd", MODIFIED),
        ("/tmp", ADDED), ("/tmp/x", ADDED),
        ("/usr", MODIFIED), ("/usr/lib", DELETED), ("/usr/lib/y", ADDED),
        ("/var/cache", MODIFIED), ("/var/cache/b", ADDED),
    ], got
    assert apparent_size(upper) == len("root\nnew") + 1 + 2 + 1 + 3


def test_tree_changes_copy_snapshotter(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _tree(old, {"bin/ls": "x", "bin/sh": "x", "etc/passwd": "root", "var/": ""})
    _tree(new, {"bin/sh": "x", "etc/passwd": "root\nme", "etc/new/f": "n", "var/": ""})
    for rel in ("bin/sh",):
        s = os.stat(old / rel)
        os.utime(new / rel, ns=(s.st_atime_ns, s.st_mtime_ns))
    got = tree_changes(new, old)
    assert got == [("/bin", MODIFIED), ("/bin/ls", DELETED), ("/etc", MODIFIED), ("/etc/new", ADDED),
                   ("/etc/new/f", ADDED), ("/etc/passwd", MODIFIED)]
    assert changes_size(new, got) == len("root\nme") + 1
    assert tree_changes(new, None)[0] == ("/bin", ADDED)


# -- df and prune ------------------------------------------------------------------------------
def test_layer_usage_counts_shared_layers_once() -> None:
    a, b, c = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
    sizes = {a: 100, b: 10, c: 1}
    total, shared = layer_usage([("img1", [a, b]), ("img2", [a, c]), ("img3", [b])], sizes)
    assert total == 100 + 10 + 1 + 10   # b on top of a and b alone are different layers
    assert shared == {"img1": 100, "img2": 100, "img3": 0}
    assert chain_of([a]) == [a] and len(chain_of([a, b])[1]) == 71


def test_prune_filters() -> None:
    now = 1_700_000_000.0
    assert prune_match(now - 7200, {}, {"until": ["1h"]}, now)
    assert not prune_match(now - 60, {}, {"until": ["1h"]}, now)
    assert prune_match(now - 60, {}, {"until": [str(int(now))]}, now)
    assert prune_match(0, {"a": "1"}, {"label": ["a=1"]}) and not prune_match(0, {"a": "1"}, {"label": ["a=2"]})
    assert not prune_match(0, {"a": "1"}, {"label!": ["a"]}) and prune_match(0, {}, {"label!": ["a"]})
    assert parse_until("1h30m", now) == now - 5400
    with pytest.raises(InvalidArgument):
        prune_match(0, {}, {"status": ["exited"]})


def test_df_rows_are_dockers_numbers() -> None:
    df = {"LayersSize": 2000, "Images": [{"Size": 2000, "SharedSize": 0, "Containers": 1},
                                         {"Size": 500, "SharedSize": 500, "Containers": 0}],
          "Containers": [{"State": "running", "SizeRw": 300}, {"State": "exited", "SizeRw": 100}],
          "Volumes": [], "BuildCache": []}
    rows = {r["Type"]: r for r in df_rows(df)}
    assert rows["Images"] == {"Type": "Images", "TotalCount": "2", "Active": "1", "Size": "2kB", "Reclaimable": "0B (0%)"}
    assert rows["Containers"] == {"Type": "Containers", "TotalCount": "2", "Active": "1", "Size": "400B",
                                  "Reclaimable": "100B (25%)"}
    assert rows["Local Volumes"]["Reclaimable"] == "0B" and rows["Build Cache"]["Size"] == "0B"
