"""kobako compose against a real kobakod: objects, names and labels, DNS by service name, convergence
(nothing recreated without a change, only the changed service recreated), dependency conditions,
attached up, one-off runs, exec, build, and down leaving nothing.

Traffic goes only to 127.0.0.1 (published ports) and between containers on kobako's own bridges.
"""

from __future__ import annotations

import json
import secrets
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import KOBAKO, Daemon

pytestmark = pytest.mark.root

WEB = ("echo hello-compose > /www/index.html && exec httpd -f -p 8080 -h /www")
CLIENT = ("for i in $(seq 1 50); do wget -qO- http://web:8080/ && exit 0; sleep 0.2; done; exit 1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def out(res: Any) -> str:
    return str(res.stdout.decode())


def err(res: Any) -> str:
    return str(res.stderr.decode())


class Proj:
    def __init__(self, daemon: Daemon, base: Path, yaml_text: str) -> None:
        self.daemon = daemon
        self.name = "it" + secrets.token_hex(3)
        self.dir = base / self.name
        self.dir.mkdir()
        self.write(yaml_text)

    def write(self, yaml_text: str) -> None:
        (self.dir / "compose.yaml").write_text(yaml_text)

    def run(self, *args: str, check: bool = True, timeout: float = 90, input: bytes | None = None) -> Any:
        return self.daemon.kobako("compose", "--project-directory", str(self.dir), "-p", self.name, *args,
                                  check=check, timeout=timeout, input=input)

    def containers(self, all: bool = True) -> list[dict[str, Any]]:
        with self.daemon.client() as c:
            found = c.json("GET", "/containers/json", query={
                "all": all, "filters": {"label": [f"com.docker.compose.project={self.name}"]}})
        return sorted(found, key=lambda x: x["Names"][0])

    def inspect(self, name: str) -> dict[str, Any]:
        with self.daemon.client() as c:
            info: dict[str, Any] = c.json("GET", f"/containers/{name}/json")
        return info

    def wait_exited(self, name: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.inspect(name)
            if info["State"]["Status"] == "exited":
                return info
            time.sleep(0.1)
        raise AssertionError(f"{name} did not exit")


@pytest.fixture
def project(daemon: Daemon, tmp_path: Path) -> Any:
    made: list[Proj] = []

    def make(yaml_text: str) -> Proj:
        p = Proj(daemon, tmp_path, yaml_text)
        made.append(p)
        return p

    yield make
    for p in made:
        p.run("down", "-v", "--remove-orphans", "-t", "1", check=False)


def _networks(daemon: Daemon) -> dict[str, dict[str, Any]]:
    with daemon.client() as c:
        return {n["Name"]: n for n in c.json("GET", "/networks")}


def _volumes(daemon: Daemon) -> dict[str, dict[str, Any]]:
    with daemon.client() as c:
        return {v["Name"]: v for v in (c.json("GET", "/volumes")["Volumes"] or [])}


def test_up_names_labels_dns_convergence_down(daemon: Daemon, project: Any) -> None:
    port = free_port()
    text = f"""
services:
  web:
    image: busybox
    command: ["sh", "-c", "{WEB}"]
    volumes: ["site:/www"]
    ports: ["127.0.0.1:{port}:8080"]
    networks: [back, default]
    labels: {{tier: front}}
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "{CLIENT}"]
    networks: [back]
volumes:
  site: {{}}
networks:
  back:
    ipam: {{config: [{{subnet: 10.213.250.0/24}}]}}
"""
    p = project(text)
    res = p.run("up", "-d")
    e = err(res)
    for line in (f" Network {p.name}_back  Created", f" Network {p.name}_default  Created",
                 f' Volume "{p.name}_site"  Created', f" Container {p.name}-web-1  Started",
                 f" Container {p.name}-client-1  Started"):
        assert line in e, e
    assert e.index(f"{p.name}-web-1  Started") < e.index(f"{p.name}-client-1  Started")

    names = [c["Names"][0].lstrip("/") for c in p.containers()]
    assert names == [f"{p.name}-client-1", f"{p.name}-web-1"]
    web = p.inspect(f"{p.name}-web-1")
    labels = web["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == p.name
    assert labels["com.docker.compose.service"] == "web"
    assert labels["com.docker.compose.container-number"] == "1"
    assert labels["com.docker.compose.oneoff"] == "False"
    assert labels["com.docker.compose.project.working_dir"] == str(p.dir)
    assert labels["com.docker.compose.project.config_files"] == str(p.dir / "compose.yaml")
    assert len(labels["com.docker.compose.config-hash"]) == 64
    assert labels["com.docker.compose.image"].startswith("sha256:")
    assert labels["com.docker.compose.version"]
    assert labels["tier"] == "front"
    client_labels = p.inspect(f"{p.name}-client-1")["Config"]["Labels"]
    assert client_labels["com.docker.compose.depends_on"] == "web:service_started:false"
    nets = web["NetworkSettings"]["Networks"]
    assert set(nets) == {f"{p.name}_back", f"{p.name}_default"}
    assert "web" in nets[f"{p.name}_back"]["Aliases"]
    assert nets[f"{p.name}_back"]["IPAddress"].startswith("10.213.250.")

    networks = _networks(daemon)
    assert networks[f"{p.name}_back"]["Labels"]["com.docker.compose.network"] == "back"
    assert networks[f"{p.name}_back"]["Labels"]["com.docker.compose.project"] == p.name
    assert networks[f"{p.name}_default"]["Labels"]["com.docker.compose.network"] == "default"
    volumes = _volumes(daemon)
    assert volumes[f"{p.name}_site"]["Labels"]["com.docker.compose.volume"] == "site"
    assert volumes[f"{p.name}_site"]["Labels"]["com.docker.compose.project"] == p.name

    # DNS by service name: the client fetched the page from http://web:8080/ and exited 0
    info = p.wait_exited(f"{p.name}-client-1")
    assert info["State"]["ExitCode"] == 0
    logs = out(p.run("logs", "client"))
    assert "client-1  | hello-compose" in logs, logs
    assert out(p.run("logs", "--no-log-prefix", "client")).strip() == "hello-compose"
    # published on 127.0.0.1 only
    assert web["HostConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                assert r.read().decode().strip() == "hello-compose"
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

    ps = out(p.run("ps"))
    assert ps.splitlines()[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]
    assert f"{p.name}-web-1" in ps and f"127.0.0.1:{port}->8080/tcp" in ps
    assert f"{p.name}-client-1" not in ps  # exited: only with -a
    assert f"{p.name}-client-1" in out(p.run("ps", "-a"))
    rows = [json.loads(line) for line in out(p.run("ps", "-a", "--format", "json")).splitlines()]
    assert {r["Service"]: r["State"] for r in rows} == {"web": "running", "client": "exited"}
    assert {r["Project"] for r in rows} == {p.name}
    assert out(p.run("ps", "-a", "--services")).split() == ["client", "web"]
    assert set(out(p.run("ps", "-aq")).split()) == {c["Id"] for c in p.containers()}

    # up again without a change: nothing recreated
    before = {c["Names"][0]: c["Id"] for c in p.containers()}
    e2 = err(p.run("up", "-d"))
    assert "Recreate" not in e2 and "Creating" not in e2, e2
    assert f" Container {p.name}-web-1  Running" in e2
    assert {c["Names"][0]: c["Id"] for c in p.containers()} == before

    # a changed command recreates only that service
    p.write(text.replace("hello-compose", "hello-again"))
    e3 = err(p.run("up", "-d"))
    assert f" Container {p.name}-web-1  Recreate" in e3 and f" Container {p.name}-web-1  Recreated" in e3, e3
    assert f"{p.name}-client-1  Recreate" not in e3
    after = {c["Names"][0]: c["Id"] for c in p.containers()}
    assert after[f"/{p.name}-client-1"] == before[f"/{p.name}-client-1"]
    assert after[f"/{p.name}-web-1"] != before[f"/{p.name}-web-1"]
    assert len(after) == 2

    # ls lists the project
    assert p.name in out(p.run("ls"))
    ls = json.loads(out(p.run("ls", "--format", "json", "-a")))
    assert any(x["Name"] == p.name and "running(1)" in x["Status"] for x in ls)

    # down -v removes containers, networks and the volume
    e4 = err(p.run("down", "-v", "-t", "1"))
    assert f" Container {p.name}-web-1  Removed" in e4 and f" Network {p.name}_back  Removed" in e4
    assert f" Volume {p.name}_site  Removed" in e4, e4
    assert p.containers() == []
    assert not [n for n in _networks(daemon) if n.startswith(p.name)]
    assert not [v for v in _volumes(daemon) if v.startswith(p.name)]


def test_invalid_files_create_nothing(daemon: Daemon, project: Any) -> None:
    p = project("services:\n  web:\n    image: busybox\n    ports: ['80:80', {target: [1]}]\n")
    res = p.run("up", "-d", check=False)
    assert res.returncode == 1
    assert "services.web.ports[1]" in err(res) and str(p.dir / "compose.yaml") in err(res), err(res)
    p.write("services:\n  web:\n    image: busybox\n    colour: blue\n")
    res = p.run("up", "-d", check=False)
    assert res.returncode == 1 and "services.web additional properties 'colour' not allowed" in err(res)
    p.write("services:\n  web:\n    image: busybox\n    networks: [nowhere]\n")
    res = p.run("up", "-d", check=False)
    assert res.returncode == 1 and "undefined network nowhere" in err(res)
    p.write("services:\n  web:\n    image: ${IMAGE:?set IMAGE please}\n")
    res = p.run("up", "-d", check=False)
    assert res.returncode == 1 and "required variable IMAGE is missing a value: set IMAGE please" in err(res)
    assert p.containers() == []
    assert not [n for n in _networks(daemon) if n.startswith(p.name)]


def test_attached_up_prefixes_and_exit(daemon: Daemon, project: Any) -> None:
    p = project("""
services:
  one:
    image: busybox
    command: ["sh", "-c", "echo first line; echo second line"]
  two:
    image: busybox
    command: ["sh", "-c", "echo from two; exit 3"]
""")
    res = p.run("up", timeout=60)
    text = out(res)
    assert "Attaching to one-1, two-1" in text, text
    assert "one-1  | first line" in text and "one-1  | second line" in text
    assert "two-1  | from two" in text
    assert "two-1 exited with code 3" in text and "one-1 exited with code 0" in text
    res = p.run("up", "--abort-on-container-exit", "--exit-code-from", "two", check=False, timeout=60)
    assert res.returncode == 3, (out(res), err(res))


def test_conditions_run_exec_lifecycle(daemon: Daemon, project: Any) -> None:
    p = project("""
services:
  db:
    image: busybox
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 300"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 300ms
      retries: 20
  init:
    image: busybox
    command: ["true"]
  app:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
    environment:
      GREETING: ${GREETING:-hi}
    depends_on:
      db: {condition: service_healthy}
      init: {condition: service_completed_successfully}
  extra:
    image: busybox
    profiles: [debug]
    command: ["sleep", "300"]
""")
    e = err(p.run("up", "-d", timeout=120))
    assert f" Container {p.name}-db-1  Healthy" in e, e
    assert f" Container {p.name}-init-1  Exited" in e
    assert e.index("db-1  Healthy") < e.index(f"{p.name}-app-1  Started")
    assert p.inspect(f"{p.name}-db-1")["State"]["Health"]["Status"] == "healthy"
    assert all("extra" not in c["Names"][0] for c in p.containers())  # profile not enabled

    # exec in the running service
    assert out(p.run("exec", "-T", "app", "sh", "-c", "echo $GREETING-exec")).strip() == "hi-exec"
    res = p.run("exec", "-T", "app", "sh", "-c", "exit 7", check=False)
    assert res.returncode == 7
    # one-off run: own name, oneoff label, removed with --rm
    assert out(p.run("run", "--rm", "-T", "--no-deps", "app", "echo", "one-off")).strip() == "one-off"
    assert [c for c in p.containers() if c["Labels"]["com.docker.compose.oneoff"] == "True"] == []
    name = out(p.run("run", "-d", "--no-deps", "app", "sleep", "30")).strip()
    assert name.startswith(f"{p.name}-app-run-")
    assert p.inspect(name)["Config"]["Labels"]["com.docker.compose.oneoff"] == "True"
    assert name not in out(p.run("ps")) and name in out(p.run("ps", "-a"))  # one-offs only with --all
    # port / top / images
    top = out(p.run("top", "app"))
    assert f"{p.name}-app-1" in top and "sleep 300" in top
    images = out(p.run("images"))
    assert f"{p.name}-app-1" in images and "busybox" in images
    # stop / start / restart / pause / unpause / kill / rm
    p.run("stop", "-t", "1", "app")
    assert p.inspect(f"{p.name}-app-1")["State"]["Status"] == "exited"
    e = err(p.run("start", "app"))
    assert f" Container {p.name}-app-1  Started" in e
    p.run("pause", "app")
    assert p.inspect(f"{p.name}-app-1")["State"]["Status"] == "paused"
    p.run("unpause", "app")
    assert p.inspect(f"{p.name}-app-1")["State"]["Status"] == "running"
    started = p.inspect(f"{p.name}-app-1")["State"]["StartedAt"]
    p.run("restart", "-t", "1", "app")
    assert p.inspect(f"{p.name}-app-1")["State"]["StartedAt"] != started
    p.run("kill", "app")
    assert p.inspect(f"{p.name}-app-1")["State"]["Status"] == "exited"
    p.run("rm", "-f", "app")
    assert all(c["Names"][0] != f"/{p.name}-app-1" for c in p.containers())
    p.run("rm", "-f", "-s", "db")
    assert all(c["Names"][0] != f"/{p.name}-db-1" for c in p.containers())
    # the profile's service comes up with --profile
    p.daemon.kobako("compose", "--project-directory", str(p.dir), "-p", p.name, "--profile", "debug",
                    "up", "-d", "extra")
    assert p.inspect(f"{p.name}-extra-1")["State"]["Status"] == "running"
    # down removes the one-off container too
    p.run("down", "-t", "1")
    assert p.containers() == []


def test_build_and_remove_orphans(daemon: Daemon, project: Any) -> None:
    p = project("""
services:
  app:
    build:
      context: ./app
      args: {MESSAGE: built-by-compose}
    command: ["cat", "/message"]
  side:
    image: busybox
    command: ["sleep", "300"]
""")
    (p.dir / "app").mkdir()
    (p.dir / "app" / "Dockerfile").write_text("FROM busybox\nARG MESSAGE\nRUN echo $MESSAGE > /message\n")
    p.run("build", timeout=120)
    with daemon.client() as c:
        img = c.json("GET", f"/images/{p.name}-app/json")
    assert img["Config"]["Labels"]["com.docker.compose.service"] == "app"
    p.run("up", "-d", timeout=120)
    p.wait_exited(f"{p.name}-app-1")
    assert "app-1  | built-by-compose" in out(p.run("logs", "app"))
    # up --build with a changed Dockerfile: a new image, so the container is recreated
    first_id = p.inspect(f"{p.name}-app-1")["Id"]
    (p.dir / "app" / "Dockerfile").write_text("FROM busybox\nARG MESSAGE\nRUN echo $MESSAGE v2 > /message\n")
    e = err(p.run("up", "-d", "--build", timeout=120))
    assert f" Container {p.name}-app-1  Recreate" in e, e
    p.wait_exited(f"{p.name}-app-1")
    assert p.inspect(f"{p.name}-app-1")["Id"] != first_id
    assert "app-1  | built-by-compose v2" in out(p.run("logs", "app"))
    # --no-recreate keeps it, --force-recreate replaces it though nothing changed
    second_id = p.inspect(f"{p.name}-app-1")["Id"]
    p.run("up", "-d", "--no-recreate", "app")
    assert p.inspect(f"{p.name}-app-1")["Id"] == second_id
    p.run("up", "-d", "--force-recreate", "--no-build", "app")
    assert p.inspect(f"{p.name}-app-1")["Id"] != second_id
    # `side` removed from the file: an orphan, warned about, then removed with --remove-orphans
    p.write("""
services:
  app:
    build:
      context: ./app
      args: {MESSAGE: built-by-compose}
    command: ["cat", "/message"]
""")
    e = err(p.run("up", "-d"))
    assert "Found orphan containers" in e and f"{p.name}-side-1" in e
    p.run("up", "-d", "--remove-orphans")
    assert [c["Names"][0] for c in p.containers()] == [f"/{p.name}-app-1"]
    p.run("down", "--rmi", "local")
    with daemon.client() as c:
        status, _, _ = c.request("GET", f"/images/{p.name}-app/json")
    assert status == 404


def test_bind_port_wait_follow_and_interrupt(daemon: Daemon, project: Any) -> None:
    import signal
    import subprocess

    port = free_port()
    p = project(f"""
services:
  web:
    image: busybox
    command: ["httpd", "-f", "-p", "8080", "-h", "/site"]
    volumes: ["./site:/site:ro"]
    ports: ["127.0.0.1:{port}:8080"]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1:8080/"]
      interval: 200ms
      retries: 30
  ticker:
    image: busybox
    command: ["sh", "-c", "for i in 1 2 3; do echo tick $$i; sleep 0.3; done"]
""")
    (p.dir / "site").mkdir()
    (p.dir / "site" / "index.html").write_text("from-a-bind\n")
    e = err(p.run("up", "-d", "--wait", "web"))
    assert f" Container {p.name}-web-1  Healthy" in e, e
    assert p.inspect(f"{p.name}-web-1")["State"]["Health"]["Status"] == "healthy"
    assert all("ticker" not in c["Names"][0] for c in p.containers())  # only the named service
    assert out(p.run("port", "web", "8080")).strip() == f"127.0.0.1:{port}"
    res = p.run("port", "web", "9999", check=False)
    assert res.returncode == 1
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.read() == b"from-a-bind\n"
    # logs -f returns when the container's output ends
    p.run("up", "-d", "ticker")
    follow = out(p.run("logs", "-f", "ticker", timeout=30))
    assert [ln for ln in follow.splitlines() if "tick" in ln] == ["ticker-1  | tick 1", "ticker-1  | tick 2",
                                                                 "ticker-1  | tick 3"]
    assert out(p.run("logs", "--tail", "1", "ticker")).strip() == "ticker-1  | tick 3"
    assert out(p.run("logs", "-t", "ticker")).splitlines()[0].split("| ")[1][:2] == "20"  # a timestamp first
    # attached up, interrupted: containers stopped, exit 130
    proc = subprocess.Popen([KOBAKO, "compose", "--project-directory", str(p.dir), "-p", p.name, "up", "web"],
                            env=daemon.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().decode()
        assert first.startswith("Attaching to web-1"), first
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stderr
    assert b"Gracefully stopping..." in stderr
    assert p.inspect(f"{p.name}-web-1")["State"]["Status"] == "exited"


def test_service_keys_reach_the_container(daemon: Daemon, project: Any) -> None:
    p = project("""
services:
  box:
    image: busybox
    command: ["sleep", "300"]
    entrypoint: ["/bin/sh", "-c", "exec \\"$$@\\"", "--"]
    environment: [FROM_LIST=1]
    env_file: [box.env]
    working_dir: /tmp
    user: "1000:1000"
    hostname: boxhost
    domainname: example.test
    init: true
    cap_add: [NET_ADMIN]
    cap_drop: [MKNOD]
    read_only: true
    tmpfs: ["/scratch:size=1m"]
    extra_hosts: ["db.local:10.0.0.2"]
    dns: [10.213.251.53]
    stop_signal: SIGTERM
    stop_grace_period: 2s
    ulimits: {nofile: {soft: 1000, hard: 2000}}
    sysctls: {net.core.somaxconn: 512}
    shm_size: 32m
    mem_limit: 64m
    cpus: 0.5
    restart: unless-stopped
    labels: [owner=tests]
    expose: ["7000"]
    networks:
      fixed:
        ipv4_address: 10.213.251.10
        aliases: [boxy]
networks:
  fixed:
    internal: true
    labels: {purpose: tests}
    ipam:
      config: [{subnet: 10.213.251.0/24, gateway: 10.213.251.1}]
""")
    (p.dir / "box.env").write_text("FROM_FILE=yes\n")
    p.run("up", "-d")
    info = p.inspect(f"{p.name}-box-1")
    cfg, host = info["Config"], info["HostConfig"]
    assert cfg["Cmd"] == ["sleep", "300"] and cfg["Entrypoint"] == ["/bin/sh", "-c", 'exec "$@"', "--"]
    assert "FROM_LIST=1" in cfg["Env"] and "FROM_FILE=yes" in cfg["Env"]
    assert (cfg["WorkingDir"], cfg["User"], cfg["Hostname"], cfg["Domainname"]) == ("/tmp", "1000:1000", "boxhost",
                                                                                  "example.test")
    assert cfg["StopSignal"] == "SIGTERM" and cfg["StopTimeout"] == 2
    assert cfg["Labels"]["owner"] == "tests" and "7000/tcp" in cfg["ExposedPorts"]
    assert host["Init"] is True and host["ReadonlyRootfs"] is True
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["MKNOD"]
    assert host["Tmpfs"] == {"/scratch": "size=1m"}
    assert host["ExtraHosts"] == ["db.local:10.0.0.2"] and host["Dns"] == ["10.213.251.53"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 1000, "Hard": 2000}]
    assert host["Sysctls"]["net.core.somaxconn"] == "512"
    assert host["ShmSize"] == 32 * 1024 ** 2 and host["Memory"] == 64 * 1024 ** 2 and host["NanoCpus"] == 5 * 10 ** 8
    assert host["RestartPolicy"]["Name"] == "unless-stopped"
    ep = info["NetworkSettings"]["Networks"][f"{p.name}_fixed"]
    assert ep["IPAddress"] == "10.213.251.10"
    assert {"box", "boxy"} <= set(ep["Aliases"])
    net = _networks(daemon)[f"{p.name}_fixed"]
    assert net["Internal"] is True and net["Labels"]["purpose"] == "tests"
    # inside the container
    ex = out(p.run("exec", "-T", "box", "sh", "-c",
                   "id -u; hostname; cat /proc/sys/net/core/somaxconn; ulimit -n; grep db.local /etc/hosts; "
                   "touch /ro 2>/dev/null || echo read-only; echo $FROM_FILE"))
    lines = ex.split()
    assert lines[0] == "1000" and lines[1] == "boxhost" and lines[2] == "512" and lines[3] == "1000"
    assert "10.0.0.2" in ex and "read-only" in ex and lines[-1] == "yes"


def test_pull_from_a_loopback_registry(daemon: Daemon, project: Any, tmp_path: Path) -> None:
    from tests.integration.test_registry import RegistryProc

    reg = RegistryProc(tmp_path / "registry")
    try:
        ref = f"{reg.addr}/compose/bb:v1"
        daemon.kobako("tag", "busybox", ref)
        daemon.kobako("push", ref)
        daemon.kobako("rmi", ref)
        p = project(f"""
services:
  app:
    image: {ref}
    command: ["echo", "pulled-and-ran"]
  missing:
    image: {reg.addr}/compose/nothing:here
    profiles: [broken]
""")
        e = err(p.run("pull"))
        assert f" Image {ref}  Pulling" in e and f" Image {ref}  Pulled" in e, e
        with daemon.client() as c:
            assert c.json("GET", f"/images/{ref}/json")["Id"].startswith("sha256:")
        res = p.run("--profile", "broken", "pull", check=False)
        assert res.returncode == 1 and "Error response from daemon" in err(res)
        assert p.run("--profile", "broken", "pull", "--ignore-pull-failures", "missing").returncode == 0
        # up pulls what is missing
        daemon.kobako("rmi", ref)
        e = err(p.run("up", "-d"))
        assert f" Image {ref}  Pulled" in e
        p.wait_exited(f"{p.name}-app-1")
        assert "app-1  | pulled-and-ran" in out(p.run("logs"))
        p.run("down", "--rmi", "all")
        with daemon.client() as c:
            assert c.request("GET", f"/images/{ref}/json")[0] == 404
        # push: the images of services that are built and named
        built_ref = f"{reg.addr}/compose/built:v1"
        q = project(f"""
services:
  made:
    image: {built_ref}
    build: ./ctx
  plain:
    image: busybox
""")
        (q.dir / "ctx").mkdir()
        (q.dir / "ctx" / "Dockerfile").write_text("FROM busybox\nRUN echo pushed > /f\n")
        q.run("build", timeout=120)
        e = err(q.run("push", timeout=120))
        assert f" Image {built_ref}  Pushed" in e and "busybox" not in e, e
        daemon.kobako("rmi", built_ref)
        q.run("pull", "made")
        assert daemon.kobako("run", "--rm", built_ref, "cat", "/f").stdout == b"pushed\n"
        daemon.kobako("rmi", built_ref)
    finally:
        reg.stop()


def test_down_by_project_name_alone(daemon: Daemon, project: Any, tmp_path: Path) -> None:
    import subprocess

    p = project("""
services:
  db:
    image: busybox
    command: ["sleep", "300"]
    volumes: [store:/store]
  app:
    image: busybox
    command: ["sleep", "300"]
    depends_on: [db]
    networks: [inner]
networks: {inner: {}}
volumes: {store: {}}
""")
    p.run("up", "-d")
    elsewhere = tmp_path / "no-compose-file-here"
    elsewhere.mkdir()

    def bare(*args: str) -> Any:
        return subprocess.run([KOBAKO, "compose", "-p", p.name, *args], cwd=elsewhere, env=daemon.env(),
                              capture_output=True, timeout=60)

    ps = bare("ps", "--format", "json")
    assert ps.returncode == 0 and {json.loads(x)["Service"] for x in ps.stdout.decode().splitlines()} == {"db", "app"}
    res = bare("down", "-v", "-t", "1")
    e = res.stderr.decode()
    assert res.returncode == 0, e
    assert e.index(f"Container {p.name}-app-1  Stopping") < e.index(f"Container {p.name}-db-1  Stopping")
    assert f" Network {p.name}_inner  Removed" in e and f" Volume {p.name}_store  Removed" in e, e
    assert p.containers() == []
    assert not [n for n in _networks(daemon) if n.startswith(p.name)]
    assert not [v for v in _volumes(daemon) if v.startswith(p.name)]


def test_secrets_and_configs_in_the_container(daemon: Daemon, project: Any) -> None:
    p = project("""
services:
  app:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
    secrets: [token, {source: api_key, target: key, mode: 0400, uid: "1000"}]
    configs: [{source: site, target: /etc/site.conf}]
secrets:
  token: {file: ./token.txt}
  api_key: {environment: API_KEY}
configs:
  site: {content: "listen 80"}
""")
    (p.dir / "token.txt").write_text("from-a-file\n")
    (p.dir / ".env").write_text("API_KEY=k-123\n")
    p.run("up", "-d")
    got = out(p.run("exec", "-T", "app", "sh", "-c",
                    "cat /run/secrets/token /run/secrets/key; echo; cat /etc/site.conf; echo; "
                    "stat -c '%a %u' /run/secrets/key; touch /run/secrets/token 2>/dev/null || echo ro"))
    assert got.splitlines() == ["from-a-file", "k-123", "listen 80", "400 1000", "ro"], got


def test_scale_wait_cp_no_deps(daemon: Daemon, project: Any, tmp_path: Path) -> None:
    p = project("""
services:
  worker:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
  job:
    image: busybox
    command: ["sh", "-c", "sleep 0.5; echo done > /tmp/result; exit 4"]
    depends_on: [worker]
""")
    e = err(p.run("up", "-d", "--no-deps", "job"))
    assert f"{p.name}-worker-1" not in e and all("worker" not in c["Names"][0] for c in p.containers())
    assert p.run("wait", "job", check=False, timeout=30).returncode == 4
    # cp out of a (stopped) service container, and into one
    dest = tmp_path / "result.txt"
    p.run("cp", "job:/tmp/result", str(dest))
    assert dest.read_text() == "done\n"
    p.run("scale", "worker=3")
    assert {c["Names"][0] for c in p.containers() if "worker" in c["Names"][0]} == {
        f"/{p.name}-worker-{i}" for i in (1, 2, 3)}
    p.run("cp", str(dest), "worker:/tmp/copied")
    assert out(p.run("exec", "-T", "worker", "cat", "/tmp/copied")) == "done\n"
    p.run("up", "-d", "--scale", "worker=1", "worker")
    assert [c["Names"][0] for c in p.containers() if "worker" in c["Names"][0]] == [f"/{p.name}-worker-1"]


def test_attach_to_a_service(daemon: Daemon, project: Any) -> None:
    p = project("""
services:
  talker:
    image: busybox
    command: ["sh", "-c", "sleep 1; echo attached-out; exit 5"]
""")
    p.run("up", "-d")
    res = p.run("attach", "--no-stdin", "talker", check=False, timeout=30)
    assert res.returncode == 5 and out(res) == "attached-out\n", (out(res), err(res))


def test_events_of_the_project(daemon: Daemon, project: Any) -> None:
    import subprocess

    p = project("""
services:
  svc:
    image: busybox
    command: ["sleep", "300"]
    stop_grace_period: 1s
""")
    p.run("up", "-d")
    proc = subprocess.Popen([KOBAKO, "compose", "--project-directory", str(p.dir), "-p", p.name, "events", "--json"],
                            env=daemon.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)  # subscribed before the restart
        p.run("restart", "-t", "1")
        actions = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while "start" not in actions and time.monotonic() < deadline:
            ev = json.loads(proc.stdout.readline())
            assert ev["service"] == "svc" and ev["type"] == "container"
            assert ev["attributes"]["name"] == f"{p.name}-svc-1"
            actions.append(ev["action"])
        assert "start" in actions and ("die" in actions or "stop" in actions or "restart" in actions), actions
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()


def test_network_modes_container_name_and_externals(daemon: Daemon, project: Any) -> None:
    ext_net, ext_vol = "ext-net-" + secrets.token_hex(3), "ext-vol-" + secrets.token_hex(3)
    daemon.kobako("network", "create", ext_net)
    daemon.kobako("volume", "create", ext_vol)
    try:
        p = project(f"""
services:
  main:
    image: busybox
    container_name: {ext_net}-main
    command: ["sh", "-c", "echo shared > /data/file; exec httpd -f -p 8080 -h /data"]
    stop_grace_period: 1s
    networks: [outside]
    volumes: [shared:/data]
    deploy: {{resources: {{limits: {{memory: 48m, cpus: "0.25"}}}}}}
  sidecar:
    image: busybox
    network_mode: "service:main"
    command: ["sleep", "300"]
    stop_grace_period: 1s
  isolated:
    image: busybox
    network_mode: none
    command: ["sleep", "300"]
    stop_grace_period: 1s
networks:
  outside: {{external: true, name: {ext_net}}}
volumes:
  shared: {{external: true, name: {ext_vol}}}
""")
        p.run("up", "-d")
        main = p.inspect(f"{ext_net}-main")
        assert main["Config"]["Labels"]["com.docker.compose.service"] == "main"
        assert main["HostConfig"]["Memory"] == 48 * 1024 ** 2 and main["HostConfig"]["NanoCpus"] == 25 * 10 ** 7
        assert main["HostConfig"]["NetworkMode"] == ext_net
        side = p.inspect(f"{p.name}-sidecar-1")
        assert side["HostConfig"]["NetworkMode"] == f"container:{main['Id']}"
        # the sidecar shares main's network namespace: main's server is on its localhost
        assert out(p.run("exec", "-T", "sidecar", "wget", "-qO-", "http://127.0.0.1:8080/file")) == "shared\n"
        # main recreated: the sidecar, joined to the old container, is recreated with it
        p.run("up", "-d", "--force-recreate", "--no-deps", "main")
        main2 = p.inspect(f"{ext_net}-main")
        assert main2["Id"] != main["Id"]
        e = err(p.run("up", "-d"))
        assert f" Container {p.name}-sidecar-1  Recreate" in e, e
        assert p.inspect(f"{p.name}-sidecar-1")["HostConfig"]["NetworkMode"] == f"container:{main2['Id']}"
        iso = out(p.run("exec", "-T", "isolated", "sh", "-c", "ls /sys/class/net"))
        assert iso.split() == ["lo"]
        assert not [n for n in _networks(daemon) if n.startswith(p.name)]  # nothing but the external one
        p.run("down", "-v", "-t", "1")
        assert ext_net in _networks(daemon) and ext_vol in _volumes(daemon)  # externals are left alone
    finally:
        daemon.kobako("network", "rm", ext_net, check=False)
        daemon.kobako("volume", "rm", "-f", ext_vol, check=False)
