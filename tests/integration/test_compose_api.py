"""Engine API behaviour that docker-compose 1.29 (docker-py) relies on, checked without compose.

Each test pins one fix found by running the real docker-compose against kobakod
(tests/e2e/test_docker_compose.py runs compose itself):

- a user-defined network's inspect shows only the options it was made with (compose compares them
  with its file and refuses to go on with "needs to be recreated" otherwise);
- image inspect carries ``Container``/``ContainerConfig`` (compose reads ``ContainerConfig`` on
  every recreate, at whatever API version it negotiated);
- links: ``EndpointSettings.Links`` of a user-defined network (what compose sends with
  ``POST /networks/{id}/connect``) and legacy ``HostConfig.Links`` on the default bridge;
- a start that fails before the process exists records its error, and an AutoRemove container
  is removed then (``docker run --rm`` waits for that removal);
- a RUN step's intermediate container takes its anonymous volumes (image ``VOLUME``) along.

Traffic: only between containers on this daemon's own bridges.
"""

from __future__ import annotations

import io
import secrets
import shutil
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kobako.client import DaemonError
from tests.daemon_fixture import Daemon


def uniq(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def api(daemon: Daemon) -> Iterator[Any]:
    client = daemon.client()
    made: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
    client.made = made
    yield client
    for cid in made["containers"]:
        client.request("DELETE", f"/containers/{cid}", query={"force": 1, "v": 1})
    for net in made["networks"]:
        client.request("DELETE", f"/networks/{net}")
    for vol in made["volumes"]:
        client.request("DELETE", f"/volumes/{vol}")
    client.close()


def create(api: Any, name: str, body: dict[str, Any]) -> str:
    cid = str(api.json("POST", "/containers/create", query={"name": name}, body={"Image": "busybox", **body})["Id"])
    api.made["containers"].append(cid)
    return cid


def run_sh(api: Any, name: str, script: str, host_config: dict[str, Any] | None = None,
           networking: dict[str, Any] | None = None) -> tuple[int, str]:
    """Create, start and wait for ``sh -c script``; (exit code, its output)."""
    body: dict[str, Any] = {"Cmd": ["sh", "-c", script], "HostConfig": host_config or {}}
    if networking:
        body["NetworkingConfig"] = networking
    cid = create(api, name, body)
    api.json("POST", f"/containers/{cid}/start")
    code = int(api.json("POST", f"/containers/{cid}/wait")["StatusCode"])
    _, _, raw = api.request("GET", f"/containers/{cid}/logs", query={"stdout": 1, "stderr": 1})
    return code, _demux(raw)


def _demux(raw: bytes) -> str:
    out, i = [], 0
    while i + 8 <= len(raw):
        n = int.from_bytes(raw[i + 4:i + 8], "big")
        out.append(raw[i + 8:i + 8 + n])
        i += 8 + n
    return b"".join(out).decode(errors="replace")


def server(api: Any, name: str, network: str) -> str:
    cid = create(api, name, {"Cmd": ["sh", "-c", "mkdir -p /www && echo served-by-" + name +
                                     " > /www/index.html && exec httpd -f -p 8080 -h /www"],
                             "HostConfig": {"NetworkMode": network}})
    api.json("POST", f"/containers/{cid}/start")
    return cid


def make_network(api: Any, name: str, **extra: Any) -> dict[str, Any]:
    api.json("POST", "/networks/create", body={"Name": name, "CheckDuplicate": True, **extra})
    api.made["networks"].append(name)
    return dict(api.json("GET", f"/networks/{name}"))


# -- networks ---------------------------------------------------------------------------------------
def test_user_network_inspect_shows_only_the_options_it_was_made_with(api: Any, daemon: Daemon) -> None:
    plain = make_network(api, uniq("cmp-plain"), Labels={"com.docker.compose.network": "default"})
    assert plain["Options"] == {}
    assert plain["Labels"] == {"com.docker.compose.network": "default"}
    opts = {"com.docker.network.driver.mtu": "1400"}
    given = make_network(api, uniq("cmp-opts"), Options=opts)
    assert given["Options"] == opts
    # The default bridge keeps the options it records for itself, as dockerd's does.
    assert api.json("GET", "/networks/bridge")["Options"]["com.docker.network.bridge.default_bridge"] == "true"


# -- image inspect ----------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["1.41", "1.44", None])
def test_image_inspect_has_container_config_at_every_version(api: Any, version: str | None) -> None:
    path = f"/v{version}/images/busybox/json" if version else "/images/busybox/json"
    img = api.json("GET", path)
    assert isinstance(img["Container"], str)
    cc = img["ContainerConfig"]
    # compose reads ContainerConfig["Volumes"]; the rest of the section has the image's config.
    assert "Volumes" in cc
    assert cc["Env"] == img["Config"]["Env"]
    assert cc["Cmd"] == img["Config"]["Cmd"]


def test_image_inspect_container_config_carries_image_volumes(api: Any, daemon: Daemon) -> None:
    tag = uniq("cmp-vol").lower() + ":t"
    buf = io.BytesIO()
    dockerfile = b"FROM busybox\nVOLUME /cache\nCMD [\"true\"]\n"
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    for _ in api.jsonlines("POST", "/build", query={"t": tag, "rm": 1},
                           body=buf.getvalue(), headers={"Content-Type": "application/x-tar"}):
        pass
    try:
        img = api.json("GET", f"/images/{tag}/json")
        assert img["ContainerConfig"]["Volumes"] == {"/cache": {}}
    finally:
        api.request("DELETE", f"/images/{tag}")


# -- links ------------------------------------------------------------------------------------------
def test_endpoint_links_on_a_user_network_resolve_for_that_container(api: Any) -> None:
    net = uniq("cmp-links")
    make_network(api, net)
    target = uniq("cmp-target")
    server(api, target, net)
    # As compose does: create on the network, then connect again with Links (the container not started).
    client = create(api, uniq("cmp-client"), {
        "Cmd": ["sh", "-c", "wget -qO- http://dbalias:8080/ && grep -w dbalias /etc/hosts"],
        "HostConfig": {"NetworkMode": net, "Links": [f"{target}:dbalias"]},
        "NetworkingConfig": {"EndpointsConfig": {net: {"Aliases": ["client"]}}}})
    api.json("POST", f"/networks/{net}/disconnect", body={"Container": client})
    api.json("POST", f"/networks/{net}/connect", body={
        "Container": client, "EndpointConfig": {"Aliases": ["client"], "Links": [f"{target}:dbalias"]}})
    settings = api.json("GET", f"/containers/{client}/json")["NetworkSettings"]["Networks"][net]
    assert settings["Links"] == [f"{target}:dbalias"]
    api.json("POST", f"/containers/{client}/start")
    assert api.json("POST", f"/containers/{client}/wait")["StatusCode"] == 0
    _, _, raw = api.request("GET", f"/containers/{client}/logs", query={"stdout": 1, "stderr": 1})
    out = _demux(raw)
    assert f"served-by-{target}" in out
    target_ip = api.json("GET", f"/containers/{target}/json")["NetworkSettings"]["Networks"][net]["IPAddress"]
    assert f"{target_ip}\tdbalias" in out
    # The alias is this container's only: another one on the network does not resolve it.
    code, other = run_sh(api, uniq("cmp-other"), "wget -qO- -T 2 http://dbalias:8080/ || echo unresolved",
                         host_config={"NetworkMode": net})
    assert "unresolved" in other and "served-by" not in other


def test_legacy_links_on_the_default_bridge(api: Any) -> None:
    target = uniq("cmp-legacy")
    server(api, target, "bridge")
    code, out = run_sh(api, uniq("cmp-linker"), "wget -qO- http://db:8080/ && grep -w db /etc/hosts",
                       host_config={"Links": [f"/{target}:/linker/db"]})
    assert code == 0, out
    assert f"served-by-{target}" in out
    info = api.json("GET", f"/containers/{target}/json")
    line = next(ln for ln in out.splitlines() if "\tdb " in ln)
    ip, names = line.split("\t")
    assert ip == info["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    assert names.split() == ["db", info["Config"]["Hostname"], target]


def test_link_errors(api: Any) -> None:
    missing = uniq("cmp-nosuch")
    with pytest.raises(DaemonError) as exc:
        create(api, uniq("cmp-bad"), {"Cmd": ["true"], "HostConfig": {"Links": [f"{missing}:db"]}})
    assert exc.value.status == 400  # not 404: the docker CLI would take that for a missing image
    assert f"could not get container for {missing}" in str(exc.value)
    with pytest.raises(DaemonError) as exc:
        create(api, uniq("cmp-bad"), {"Cmd": ["true"], "HostConfig": {"Links": ["x:db"], "NetworkMode": "host"}})
    assert exc.value.status == 400 and "host type networking can't be used with links" in str(exc.value)
    stopped = create(api, uniq("cmp-stopped"), {"Cmd": ["true"]})
    linker = create(api, uniq("cmp-linker"), {"Cmd": ["true"], "HostConfig": {"Links": [f"{stopped}:db"]}})
    with pytest.raises(DaemonError) as exc:
        api.json("POST", f"/containers/{linker}/start")
    assert exc.value.status == 409 and "Cannot link to a non running container" in str(exc.value)
    state = api.json("GET", f"/containers/{linker}/json")["State"]
    assert state["Status"] == "created" and state["ExitCode"] == 128
    assert "Cannot link to a non running container" in state["Error"]


def test_failed_start_removes_an_autoremove_container(api: Any) -> None:
    stopped = create(api, uniq("cmp-stopped"), {"Cmd": ["true"]})
    doomed = create(api, uniq("cmp-rm"), {"Cmd": ["true"],
                                          "HostConfig": {"AutoRemove": True, "Links": [f"{stopped}:db"]}})
    with pytest.raises(DaemonError):
        api.json("POST", f"/containers/{doomed}/start")
    deadline = time.monotonic() + 10
    while api.request("GET", f"/containers/{doomed}/json")[0] != 404:
        assert time.monotonic() < deadline, "the --rm container was not removed after its failed start"
        time.sleep(0.05)


# -- build ------------------------------------------------------------------------------------------
def test_run_step_takes_its_anonymous_volumes_along(api: Any) -> None:
    before = {v["Name"] for v in api.json("GET", "/volumes")["Volumes"] or []}
    tag = uniq("cmp-runvol").lower() + ":t"
    dockerfile = b"FROM busybox\nVOLUME /cache\nRUN echo built > /built\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    msgs = list(api.jsonlines("POST", "/build", query={"t": tag, "rm": 1, "nocache": 1},
                              body=buf.getvalue(), headers={"Content-Type": "application/x-tar"}))
    try:
        assert not [m for m in msgs if m.get("error")], msgs
        after = {v["Name"] for v in api.json("GET", "/volumes")["Volumes"] or []}
        assert after - before == set()
    finally:
        api.request("DELETE", f"/images/{tag}")


# -- HostConfig namespace modes compose sends (shm_size, init, pid/ipc "service:x") ---------------------
def test_shm_size_and_init(api: Any) -> None:
    if shutil.which("docker-init") is None:
        pytest.skip("no docker-init (tini) on PATH; scripts/test installs it with docker.io")
    code, out = run_sh(api, uniq("cmp-shm"), "df -k /dev/shm | tail -1; ps -o pid,args | sed -n 2p",
                       host_config={"ShmSize": 8 * 1024 * 1024, "Init": True})
    assert code == 0, out
    shm, init = out.strip().splitlines()
    assert shm.split()[1] == "8192"
    assert init.split()[:4] == ["1", "/sbin/docker-init", "--", "sh"]
    cid = create(api, uniq("cmp-shm-default"), {"Cmd": ["true"]})
    assert api.json("GET", f"/containers/{cid}/json")["HostConfig"]["ShmSize"] == 64 * 1024 * 1024
    with pytest.raises(DaemonError) as exc:
        create(api, uniq("cmp-shm-bad"), {"Cmd": ["true"], "HostConfig": {"ShmSize": -1}})
    assert exc.value.status == 400 and "SHM size can not be less than 0" in str(exc.value)


def test_pid_and_ipc_of_another_container(api: Any) -> None:
    target = create(api, uniq("cmp-pidtarget"), {"Cmd": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]})
    api.json("POST", f"/containers/{target}/start")
    target_ipc = None
    ex = api.json("POST", f"/containers/{target}/exec", body={"Cmd": ["readlink", "/proc/self/ns/ipc"],
                                                               "AttachStdout": True})
    _, _, raw = api.request("POST", f"/exec/{ex['Id']}/start", body={"Detach": False})
    target_ipc = _demux(raw).strip()
    code, out = run_sh(api, uniq("cmp-pidjoin"), "ps -o pid,args | sed -n 2p; readlink /proc/self/ns/ipc",
                       host_config={"PidMode": f"container:{target}", "IpcMode": f"container:{target}"})
    assert code == 0, out
    first, ipc = out.strip().splitlines()
    assert first.split()[:2] == ["1", "sh"] and "trap" in first  # the target's init is PID 1 here
    assert ipc == target_ipc and ipc.startswith("ipc:[")
    api.json("POST", f"/containers/{target}/stop", query={"t": 1})
    joiner = create(api, uniq("cmp-pidjoin2"), {"Cmd": ["true"], "HostConfig": {"PidMode": f"container:{target}"}})
    with pytest.raises(DaemonError) as exc:
        api.json("POST", f"/containers/{joiner}/start")
    assert exc.value.status == 409 and "cannot join PID of a non running container" in str(exc.value)
    with pytest.raises(DaemonError) as exc:
        create(api, uniq("cmp-badmode"), {"Cmd": ["true"], "HostConfig": {"PidMode": "bogus"}})
    assert exc.value.status == 400


def test_group_add_oom_score_adj_and_container_wide_mac(api: Any) -> None:
    code, out = run_sh(api, uniq("cmp-groups"), "id; cat /proc/self/oom_score_adj",
                       host_config={"GroupAdd": ["100", "nobody"], "OomScoreAdj": 250})
    assert code == 0, out
    ident, oom = out.strip().splitlines()
    assert "groups=100,65534(nobody)" in ident and oom == "250"
    # Config.MacAddress (docker-py, compose's mac_address) is the primary network endpoint's address.
    mac = "02:42:ac:11:fe:01"
    code, out = run_sh(api, uniq("cmp-mac"), "cat /sys/class/net/eth0/address", host_config={})
    assert code == 0 and out.strip() != mac
    cid = create(api, uniq("cmp-mac"), {"Cmd": ["cat", "/sys/class/net/eth0/address"], "MacAddress": mac})
    assert api.json("GET", f"/containers/{cid}/json")["NetworkSettings"]["Networks"]["bridge"]["MacAddress"] == mac
    api.json("POST", f"/containers/{cid}/start")
    assert api.json("POST", f"/containers/{cid}/wait")["StatusCode"] == 0
    _, _, raw = api.request("GET", f"/containers/{cid}/logs", query={"stdout": 1})
    assert _demux(raw).strip() == mac
    with pytest.raises(DaemonError) as exc:
        create(api, uniq("cmp-mac-bad"), {
            "Cmd": ["true"], "MacAddress": mac,
            "NetworkingConfig": {"EndpointsConfig": {"bridge": {"MacAddress": "02:42:ac:11:fe:02"}}}})
    assert exc.value.status == 400 and "must match the endpoint-specific MAC address" in str(exc.value)
    # an exec gets the container's added groups too (moby's exec user), after its own
    cid = create(api, uniq("cmp-groups-exec"), {"Cmd": ["sleep", "30"], "HostConfig": {"GroupAdd": ["100", "nobody"]}})
    api.json("POST", f"/containers/{cid}/start")
    try:
        for user, want in (("", "uid=0(root) gid=0(root) groups=100,65534(nobody)"),
                           ("nobody", "uid=65534(nobody) gid=65534(nobody) groups=100,65534(nobody)")):
            ex = api.json("POST", f"/containers/{cid}/exec", body={"Cmd": ["id"], "User": user,
                                                                 "AttachStdout": True, "AttachStderr": True})
            _, _, raw = api.request("POST", f"/exec/{ex['Id']}/start", body={"Detach": False, "Tty": False})
            assert _demux(raw).strip() == want, (user, _demux(raw))
    finally:
        api.json("POST", f"/containers/{cid}/kill")
    # A group name is looked up in the container's /etc/group when it starts.
    bad = create(api, uniq("cmp-groups-bad"), {"Cmd": ["true"], "HostConfig": {"GroupAdd": ["nosuch"]}})
    with pytest.raises(DaemonError) as exc:
        api.json("POST", f"/containers/{bad}/start")
    assert "unable to find group nosuch: no matching entries in group file" in str(exc.value)


def test_remove_leaves_no_shim_files(api: Any, daemon: Daemon) -> None:
    code, _ = run_sh(api, uniq("cmp-shimfiles"), "true")
    cid = api.made["containers"][-1]
    shims = daemon.exec_root / "shims"
    assert code == 0 and (shims / f"{cid}.log").exists()
    api.json("DELETE", f"/containers/{cid}")
    assert sorted(p.name for p in shims.glob(f"{cid}*")) == []
