"""Observation through the real docker CLI and the Python docker SDK: events, stats, top, diff,
system df, container prune, logs flags, inspect formats."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator

import pytest

from tests.daemon_fixture import Daemon
from tests.e2e.conftest import DockerRun


def out(res: object) -> str:
    return res.stdout.decode()  # type: ignore[attr-defined]


@pytest.fixture
def name(docker: DockerRun) -> Iterator[str]:
    n = "obs-" + secrets.token_hex(4)
    yield n
    docker("rm", "-f", n, check=False)


def test_docker_events_since_until(docker: DockerRun, name: str) -> None:
    t0 = int(time.time()) - 1
    docker("run", "--name", name, "busybox", "true")
    docker("rm", name)
    time.sleep(1.1)  # the CLI sends whole seconds for a duration
    res = docker("events", "--since", str(t0), "--until", "0s", "--filter", f"container={name}", timeout=20)
    lines = out(res).splitlines()
    actions = [line.split()[2] for line in lines]
    assert actions[:3] == ["create", "start", "die"] and actions[-1] == "destroy", lines
    assert lines[0].endswith(f"(image=busybox, name={name})")
    fmt = docker("events", "--since", str(t0), "--until", "0s", "--filter", f"container={name}",
                 "--filter", "event=die", "--format", "{{json .}}")
    ev = json.loads(out(fmt).splitlines()[0])
    assert ev["Action"] == "die" and ev["Actor"]["Attributes"]["exitCode"] == "0"


def test_docker_stats_no_stream(docker: DockerRun, name: str) -> None:
    docker("run", "-d", "--name", name, "-m", "32m", "busybox", "sleep", "60")
    res = docker("stats", "--no-stream", name)
    lines = out(res).splitlines()
    assert lines[0].split()[:4] == ["CONTAINER", "ID", "NAME", "CPU"]
    row = lines[1].split()
    assert row[1] == name and row[2].endswith("%") and row[3].endswith("iB") and row[5] == "32MiB"
    assert row[-1] != "0"  # PIDS
    js = json.loads(out(docker("stats", "--no-stream", "--format", "{{json .}}", name)))
    assert js["Name"] == name and js["MemUsage"].endswith("/ 32MiB")


def test_docker_top_and_diff(docker: DockerRun, name: str) -> None:
    docker("run", "-d", "--name", name, "busybox", "sh", "-c", "echo x > /new-file; rm /bin/cat; exec sleep 62")
    time.sleep(0.3)
    lines = out(docker("top", name)).splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert lines[1].endswith("sleep 62")
    aux = out(docker("top", name, "aux")).splitlines()
    assert "%CPU" in aux[0] and aux[1].endswith("sleep 62")
    assert out(docker("diff", name)).splitlines() == ["C /bin", "D /bin/cat", "A /new-file"]


def test_docker_system_df_and_container_prune(docker: DockerRun, name: str) -> None:
    docker("run", "--name", name, "-l", "obs-prune=1", "busybox", "sh", "-c", "head -c 3000 /dev/zero > /f")
    lines = out(docker("system", "df")).splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]
    verbose = out(docker("system", "df", "-v"))
    assert "Images space usage:" in verbose and name in verbose
    res = out(docker("container", "prune", "-f", "--filter", "label=obs-prune=1"))
    assert res.startswith("Deleted Containers:\n") and "Total reclaimed space: 3" in res
    assert name not in out(docker("ps", "-a", "--format", "{{.Names}}")).split()


def test_docker_logs_tail_timestamps(docker: DockerRun, name: str) -> None:
    docker("run", "--name", name, "busybox", "sh", "-c", "echo a; echo b; echo c")
    res = out(docker("logs", "--tail", "1", "-t", name))
    ts, _, text = res.partition(" ")
    assert text == "c\n" and ts.endswith("Z")
    assert out(docker("logs", "--since", "1h", "--tail", "2", name)) == "b\nc\n"


def test_docker_inspect_formats(docker: DockerRun, name: str) -> None:
    docker("run", "-d", "--name", name, "busybox", "sleep", "60")
    fmt = ("{{.State.Status}} {{.State.Running}} {{.Config.Image}} {{.HostConfig.NetworkMode}} "
           "{{.Name}} {{json .NetworkSettings.Ports}} {{len .Mounts}} {{.Driver}} {{.Platform}}")
    fields = out(docker("inspect", "-f", fmt, name)).split()
    assert fields[:7] == ["running", "true", "busybox", "bridge", f"/{name}", "{}", "0"]
    assert fields[7] in ("overlay", "copy") and fields[8] == "linux"
    hc = json.loads(out(docker("inspect", "-f", "{{json .HostConfig}}", name)))
    assert hc["LogConfig"]["Type"] == "json-file" and hc["RestartPolicy"]["Name"] == "no" and "ShmSize" in hc
    if fields[7] == "overlay":
        data = json.loads(out(docker("inspect", "-f", "{{json .GraphDriver.Data}}", name)))
        assert set(data) == {"LowerDir", "MergedDir", "UpperDir", "WorkDir"}
        assert data["MergedDir"].startswith("/proc/")
    sized = json.loads(out(docker("inspect", "-s", name)))[0]
    assert "SizeRw" in sized and sized["SizeRootFs"] > 0
    assert out(docker("port", name)) == ""
    res = docker("port", name, "80/tcp", check=False)
    assert res.returncode == 1 and f"No public port '80/tcp' published for {name}" in res.stderr.decode()


# -- the Python docker SDK ------------------------------------------------------------------------
@pytest.fixture
def sdk(daemon: Daemon) -> Iterator[object]:
    docker_sdk = pytest.importorskip("docker", reason="the Python docker SDK is not installed in the venv")
    client = docker_sdk.DockerClient(base_url=daemon.host)
    yield client
    client.close()


def test_sdk_observation(sdk: object, name: str) -> None:
    since = int(time.time()) - 1
    c = sdk.containers.run("busybox", ["sh", "-c", "touch /sdk; exec sleep 63"], name=name,  # type: ignore[attr-defined]
                           detach=True, mem_limit="48m")
    time.sleep(0.3)
    s = c.stats(stream=False)
    assert s["memory_stats"]["limit"] == 48 * 1024 * 1024 and s["pids_stats"]["current"] >= 1
    top = c.top()
    assert top["Processes"][0][-1] == "sleep 63"
    assert {"Path": "/sdk", "Kind": 1} in c.diff()
    until = int(time.time()) + 1
    evs = list(sdk.events(decode=True, since=since, until=until,  # type: ignore[attr-defined]
                          filters={"container": name}))
    assert [e["Action"] for e in evs][:2] == ["create", "start"]
    df = sdk.df()  # type: ignore[attr-defined]
    assert any(x["Id"] == c.id for x in df["Containers"]) and df["LayersSize"] > 0
    c.remove(force=True)
