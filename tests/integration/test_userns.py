"""--userns-remap on the real kernel: a private kobakod whose containers run in a user namespace, and the
runtime's own user-namespace path (kobako-runtime with OCI uid/gid mappings)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from kobako.runtime import default_spec
from kobako.runtime.caps import DEFAULT_MASK
from tests.daemon_fixture import KOBAKOD, Daemon
from tests.integration.runtime_helpers import (  # noqa: F401 - fixtures
    RUNTIME, bundle, mounts_mentioning, requires_busybox, requires_root, write_config,
)
from tests.integration.userns_fixture import HOST_GID, HOST_UID, REMAP_ID, SIZE, remapped, write_subid_files  # noqa: F401

pytestmark = [pytest.mark.root, requires_root, requires_busybox]


def sh(d: Daemon, script: str, *flags: str) -> str:
    return d.kobako("run", "--rm", *flags, "busybox", "sh", "-c", script).stdout.decode()


def _map(text: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in text.splitlines() if line.strip()]


def _inspect(d: Daemon, ref: str) -> dict:
    return json.loads(d.kobako("inspect", ref).stdout)[0]


# -- the daemon ----------------------------------------------------------------------------------------------
def test_image_files_are_root_inside_and_writes_land_unshifted_on_disk(remapped: Daemon) -> None:
    """The layers are idmapped, not chowned: /etc is root's inside, and what the container writes is
    stored with its own ids, so a commit gives an ordinary image."""
    d = remapped
    d.kobako("run", "--name", "ux-commit", "busybox", "sh", "-c",
             "stat -c '%u:%g' /etc /bin/busybox > /etc/owners; mkdir /home/app; chown 1000:1000 /home/app")
    try:
        snap = Path(_inspect(d, "ux-commit")["GraphDriver"]["Data"]["UpperDir"])
        assert (snap / "etc" / "owners").read_text().split() == ["0:0", "0:0"]
        st = (snap / "etc" / "owners").stat()
        assert (st.st_uid, st.st_gid) == (0, 0)  # on disk: the container's root is 0, not 100000
        st = (snap / "home" / "app").stat()
        assert (st.st_uid, st.st_gid) == (1000, 1000)
        d.kobako("commit", "ux-commit", "ux-committed:1")
        for flags in ((), ("--userns=host",)):  # the same ids seen remapped and not
            out = d.kobako("run", "--rm", *flags, "ux-committed:1", "stat", "-c", "%u:%g", "/etc/owners",
                           "/home/app").stdout.decode()
            assert out.split() == ["0:0", "1000:1000"]
    finally:
        d.kobako("rm", "-f", "ux-commit", check=False)
        d.kobako("rmi", "ux-committed:1", check=False)


def test_container_processes_run_as_the_remapped_ids_on_the_host(remapped: Daemon) -> None:
    d = remapped
    d.kobako("run", "-d", "--name", "ux-proc", "busybox", "sh", "-c", "adduser -D -u 1000 app; sleep 300")
    try:
        pid = _inspect(d, "ux-proc")["State"]["Pid"]
        status = Path(f"/proc/{pid}/status").read_text()
        uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
        gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
        assert set(uids) == {str(HOST_UID)} and set(gids) == {str(HOST_GID)}
        # exec joins the same user namespace, with the same capabilities
        out = d.kobako("exec", "ux-proc", "sh", "-c", "cat /proc/self/uid_map; grep CapEff /proc/self/status").stdout
        lines = out.decode().splitlines()
        assert _map(lines[0]) == [[0, HOST_UID, SIZE]]
        assert int(lines[1].split()[1], 16) == DEFAULT_MASK
        assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
        # a user of the container is the remapped uid + its id on the host
        exec_pid_out = d.kobako("exec", "-u", "1000", "ux-proc", "sh", "-c", "sleep 30 & echo $!").stdout
        assert exec_pid_out.strip()
        time.sleep(0.2)
        owners = set()
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if os.readlink(proc / "ns" / "pid") == os.readlink(f"/proc/{pid}/ns/pid"):
                        owners.add(int((proc / "status").read_text().split("Uid:")[1].split()[0]))
                except OSError:
                    continue
        assert owners == {HOST_UID, HOST_UID + 1000}
    finally:
        d.kobako("rm", "-f", "ux-proc", check=False)


def test_network_namespace_belongs_to_the_container(remapped: Daemon) -> None:
    """The sandbox's network namespace is owned by the container's user namespace, so its root binds
    port 80 and uses raw sockets (CAP_NET_BIND_SERVICE, CAP_NET_RAW count there); and two containers
    reach each other over the bridge."""
    d = remapped
    d.kobako("run", "-d", "--name", "ux-web", "busybox", "sh", "-c", "nc -ll -p 80 -e echo hello-from-80")
    try:
        ip = _inspect(d, "ux-web")["NetworkSettings"]["IPAddress"]
        assert ip and _inspect(d, "ux-web")["State"]["Running"]
        pid = _inspect(d, "ux-web")["State"]["Pid"]
        # the kernel's view: NS_GET_USERNS of the container's netns is the container's user namespace
        from kobako.linux.syscalls import ns_owner

        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        try:
            owner = ns_owner(fd)
            try:
                assert os.fstat(owner).st_ino == os.stat(f"/proc/{pid}/ns/user").st_ino
            finally:
                os.close(owner)
        finally:
            os.close(fd)
        out = sh(d, f"ping -c1 -W2 {ip} >/dev/null && echo ping-ok; nc {ip} 80 </dev/null")
        assert "ping-ok" in out and "hello-from-80" in out
    finally:
        d.kobako("rm", "-f", "ux-web", check=False)


def test_container_network_mode_joins_the_other_user_namespace(remapped: Daemon) -> None:
    """As moby does for --network container:X under remapping: the joiner shares X's user namespace too."""
    d = remapped
    d.kobako("run", "-d", "--name", "ux-net-a", "busybox", "sleep", "300")
    try:
        pid = _inspect(d, "ux-net-a")["State"]["Pid"]
        out = sh(d, "readlink /proc/self/ns/user; readlink /proc/self/ns/net; cat /proc/self/uid_map",
                 "--network", "container:ux-net-a")
        user_ns, net_ns, uid_map = out.splitlines()
        assert user_ns == os.readlink(f"/proc/{pid}/ns/user") and net_ns == os.readlink(f"/proc/{pid}/ns/net")
        assert _map(uid_map) == [[0, HOST_UID, SIZE]]
    finally:
        d.kobako("rm", "-f", "ux-net-a", check=False)


def test_tty_and_devices(remapped: Daemon) -> None:
    d = remapped
    out = d.kobako("run", "--rm", "-t", "busybox", "sh", "-c",
                   "tty; stat -c '%u:%g' $(tty) /dev /dev/shm; echo x > /dev/null && echo null-ok").stdout
    lines = out.decode().replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/")
    assert lines[1:4] == ["0:5", "0:0", "0:0"]  # the pty is root's, group tty, as without remapping
    assert lines[4] == "null-ok"
    d.kobako("run", "-d", "--name", "ux-tty", "busybox", "sleep", "300")
    try:
        out = d.kobako("exec", "-t", "-u", "1000", "ux-tty", "sh", "-c", "tty; stat -c '%u:%g' $(tty)").stdout
        lines = out.decode().replace("\r", "").splitlines()
        assert lines[0].startswith("/dev/pts/") and lines[1] == "1000:5"
    finally:
        d.kobako("rm", "-f", "ux-tty", check=False)


def test_no_namespace_file_is_left_after_rm(remapped: Daemon) -> None:
    d = remapped
    cid = d.kobako("run", "-d", "busybox", "sleep", "300").stdout.decode().strip()
    netns = Path(d.exec_root) / "netns" / cid
    assert netns.exists()
    d.kobako("rm", "-f", cid)
    assert not netns.exists()
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if cid in line]


def test_info_lists_userns(remapped: Daemon) -> None:
    info = json.loads(remapped.kobako("info", "--format", "{{json .SecurityOptions}}").stdout)
    assert "name=userns" in info


def test_bad_remap_value_stops_the_daemon(tmp_path: Path) -> None:
    subuid, subgid = write_subid_files(tmp_path)
    env = dict(os.environ, KOBAKO_SUBUID_FILE=str(subuid), KOBAKO_SUBGID_FILE=str(subgid))
    for value, message in ((f"{REMAP_ID + 1}:{REMAP_ID}", f"no subuid ranges found for user '{REMAP_ID + 1}'"),
                           ("no-such-user-kobako", "does not exist")):
        r = subprocess.run([KOBAKOD, "-H", f"unix://{tmp_path}/s.sock", "--data-root", str(tmp_path / "data"),
                            "--exec-root", str(tmp_path / "run"), "--userns-remap", value],
                           env=env, capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and message in r.stderr, r.stderr
        assert not (tmp_path / "s.sock").exists()


# -- the runtime on its own ----------------------------------------------------------------------------------
def _userns_spec(args: list[str]) -> dict:
    spec = default_spec(args)
    spec["linux"]["namespaces"].append({"type": "user"})
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": HOST_UID, "size": SIZE}]
    spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": HOST_GID, "size": SIZE}]
    return spec


def test_runtime_user_namespace_with_new_network_namespace(bundle: Path) -> None:
    """kobako-runtime makes the user namespace (maps written by the parent) and a network namespace
    owned by it; the bundle's rootfs is idmapped, so files the container writes keep unshifted ids."""
    write_config(bundle, _userns_spec(["sh", "-c",
                 "cat /proc/self/uid_map /proc/self/gid_map; stat -c %u:%g /etc/passwd; echo hi > /root/new; "
                 "nc -l -p 80 & p=$!; sleep 0.2; kill $p && echo bound-80"]))
    state = bundle.parent / "state"
    r = subprocess.run([str(RUNTIME), "--root", str(state), "run", "--bundle", str(bundle), "u1"],
                       capture_output=True, text=True, timeout=30)
    assert not mounts_mentioning(str(bundle))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert _map(lines[0]) == [[0, HOST_UID, SIZE]] and _map(lines[1]) == [[0, HOST_GID, SIZE]]
    assert lines[2] == "0:0"
    assert lines[3] == "bound-80"
    st = (bundle / "rootfs" / "root" / "new").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)


def test_runtime_user_namespace_by_path(bundle: Path) -> None:
    """``{"type": "user", "path": ...}``: the init joins that namespace (its maps are the owner's)."""
    holder = subprocess.Popen(["unshare", "--user", "--", "sleep", "60"])
    try:
        time.sleep(0.2)
        Path(f"/proc/{holder.pid}/uid_map").write_text(f"0 {HOST_UID + 5000} 1000\n")
        Path(f"/proc/{holder.pid}/gid_map").write_text(f"0 {HOST_GID + 5000} 1000\n")
        spec = default_spec(["sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/user"])
        spec["linux"]["namespaces"].append({"type": "user", "path": f"/proc/{holder.pid}/ns/user"})
        write_config(bundle, spec)
        r = subprocess.run([str(RUNTIME), "--root", str(bundle.parent / "state"), "run", "--bundle", str(bundle),
                            "u2"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        uid_map, ns = r.stdout.splitlines()
        assert _map(uid_map) == [[0, HOST_UID + 5000, 1000]]
        assert ns == os.readlink(f"/proc/{holder.pid}/ns/user")
    finally:
        holder.kill()
        holder.wait()


def test_cp_and_export_carry_the_containers_ids(remapped: Daemon, tmp_path: Path) -> None:
    """cp into a running remapped container writes through its idmapped rootfs as its root; cp out and
    export give the container's ids (0), not the host's (100000), running or stopped."""
    d = remapped
    src = tmp_path / "in.txt"
    src.write_text("data\n")
    d.kobako("run", "-d", "--name", "ux-cp", "busybox", "sh", "-c", "echo hi > /root/f; sleep 300")
    try:
        d.kobako("cp", str(src), "ux-cp:/root/in.txt")
        assert d.kobako("exec", "ux-cp", "stat", "-c", "%u:%g %s", "/root/in.txt").stdout.decode().strip() == "0:0 5"
        for step in ("running", "stopped"):
            out = d.kobako("cp", "ux-cp:/root/f", "-").stdout
            with tarfile.open(fileobj=io.BytesIO(out)) as t:
                m = t.getmember("f")
                assert (m.uid, m.gid) == (0, 0), step
            with tarfile.open(fileobj=io.BytesIO(d.kobako("export", "ux-cp").stdout)) as t:
                owners = {(m.uid, m.gid) for m in t.getmembers() if m.name in ("etc/passwd", "root/f", "root/in.txt")}
                assert owners == {(0, 0)}, step
            if step == "running":
                d.kobako("stop", "-t", "1", "ux-cp")
    finally:
        d.kobako("rm", "-f", "ux-cp", check=False)


def test_build_run_steps_are_remapped_and_layers_keep_container_ids(remapped: Daemon, tmp_path: Path) -> None:
    d = remapped
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox\nRUN cat /proc/self/uid_map > /uidmap && mkdir /app && chown 1000:1000 /app\n")
    d.kobako("build", "-q", "-t", "ux-built:1", str(tmp_path))
    try:
        out = d.kobako("run", "--rm", "--userns=host", "ux-built:1", "sh", "-c",
                       "cat /uidmap; stat -c %u:%g /app /uidmap").stdout.decode().split("\n")
        assert _map(out[0]) == [[0, HOST_UID, SIZE]]  # the RUN step ran remapped
        assert out[1:3] == ["1000:1000", "0:0"]       # and its layer holds the container's ids
    finally:
        d.kobako("rmi", "ux-built:1", check=False)


def test_live_restore_and_restart_keep_the_remapping(remapped: Daemon) -> None:
    """A remapped container outlives kobakod (its user namespace lives with its network namespace), and
    a restart gives it a new one with the same maps."""
    d = remapped
    d.kobako("run", "-d", "--name", "ux-lr", "busybox", "sleep", "300")
    try:
        pid = _inspect(d, "ux-lr")["State"]["Pid"]
        d.stop()
        env = {k: os.environ.get(k) for k in ("KOBAKO_SUBUID_FILE", "KOBAKO_SUBGID_FILE")}
        os.environ["KOBAKO_SUBUID_FILE"] = str(d.base.parent / "subid" / "subuid")
        os.environ["KOBAKO_SUBGID_FILE"] = str(d.base.parent / "subid" / "subgid")
        try:
            d.start()
        finally:
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        assert _inspect(d, "ux-lr")["State"]["Pid"] == pid
        assert _map(d.kobako("exec", "ux-lr", "cat", "/proc/self/uid_map").stdout.decode()) == [[0, HOST_UID, SIZE]]
        d.kobako("restart", "-t", "1", "ux-lr")
        assert _inspect(d, "ux-lr")["State"]["Pid"] != pid
        assert _map(d.kobako("exec", "ux-lr", "cat", "/proc/self/uid_map").stdout.decode()) == [[0, HOST_UID, SIZE]]
    finally:
        d.kobako("rm", "-f", "ux-lr", check=False)
