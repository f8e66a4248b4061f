"""Debian's docker-compose 1.29.2 (Python, on docker-py), unchanged, against kobakod.

Every project gets a unique name and is taken down (``down -v --rmi local``) in a fixture, and
the tests check that nothing with its ``com.docker.compose.project`` label is left. Images come
only from the daemon itself (busybox is bootstrapped, the rest is built): compose pulls nothing
when the image is present. Published ports bind 127.0.0.1; the services talk over this daemon's
own bridges.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.daemon_fixture import Daemon

COMPOSE = shutil.which("docker-compose")
pytestmark = [
    pytest.mark.skipif(COMPOSE is None,
                       reason="docker-compose (Debian's 1.29.2) is not installed; scripts/test installs it"),
    # compose runs `docker start --attach` / `docker exec` for run and exec (and builds with it on request)
    pytest.mark.skipif(shutil.which("docker") is None,
                       reason="no docker CLI on PATH (docker-compose run/exec use it); scripts/test installs docker.io"),
]

WEB_DOCKERFILE = """\
FROM busybox
RUN mkdir -p /www && echo hello-from-build > /www/index.html
LABEL org.example.built=yes
CMD ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
"""

# web: built, published on 127.0.0.1, healthy once it answers; client: waits for that, then asks
# web by its service name; data: env, a named volume and a read-only bind. Commands trap TERM so
# that stop/restart do not wait out the grace period.
STACK = """\
version: "3.8"
services:
  web:
    build: ./web
    image: {project}-web:dev
    ports: ["127.0.0.1:{port}:8080"]
    networks: [default, back]
    labels:
      org.example.role: web
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 20
    restart: unless-stopped
    stop_grace_period: 1s
  data:
    image: busybox
    command: sh -c 'echo $$GREETING > /data/greeting; cat /bind/hello.txt; trap "exit 0" TERM; while :; do sleep 0.2; done'
    environment:
      GREETING: hi-there
    volumes:
      - dvol:/data
      - ./bind:/bind:ro
    networks: [back]
  client:
    image: busybox
    command: sh -c 'trap "exit 0" TERM; while :; do wget -qO- http://web:8080/; sleep 0.5; done'
    depends_on:
      web:
        condition: service_healthy
    networks: [back]
volumes:
  dvol:
    labels:
      org.example.vol: "1"
networks:
  back:
    labels:
      org.example.net: "1"
"""

JOB_DOCKERFILE = """\
FROM busybox
ARG GREETING=default
ENV GREETING=$GREETING
VOLUME /cache
WORKDIR /app
COPY run.sh /app/run.sh
RUN chmod +x /app/run.sh
CMD ["/app/run.sh"]
"""

JOB_SCRIPT = """\
#!/bin/sh
echo "greeting=$GREETING host=$(hostname) cwd=$(pwd) foo=$FOO"
echo "shared=$(cat /shared/note)"
echo "link=$(wget -qO- http://srvalias:8080/)"
echo "extra=$(grep -w somehost /etc/hosts | cut -f1)"
mount | grep -q ' /scratch type tmpfs' && echo scratch=tmpfs
exit 3
"""

# srv writes a note into its anonymous volume, then serves; job (built with a build arg) reads the
# note through volumes_from, reaches srv by a link alias, and exits 3.
JOBS = """\
version: "2.4"
services:
  srv:
    image: busybox
    command: ["sh", "-c", "mkdir -p /www && echo srv-ok > /www/index.html && echo note-from-srv > /shared/note && exec httpd -f -p 8080 -h /www"]
    volumes: ["/shared"]
    expose: ["8080"]
    stop_signal: SIGKILL
  job:
    build:
      context: ./app
      args:
        GREETING: howdy
    hostname: jobhost
    env_file: app.env
    links: ["srv:srvalias"]
    volumes_from: ["srv:ro"]
    extra_hosts: ["somehost:127.0.0.9"]
    tmpfs: ["/scratch"]
    depends_on: [srv]
    logging:
      driver: json-file
      options:
        max-size: "1m"
"""


@dataclass
class Project:
    name: str
    dir: Path
    run: Callable[..., "subprocess.CompletedProcess[str]"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project_objects(daemon: Daemon, name: str) -> dict[str, list[str]]:
    """Containers, networks and volumes still labelled with the project."""
    c = daemon.client()
    try:
        flt = json.dumps({"label": [f"com.docker.compose.project={name}"]})
        return {
            "containers": [x["Id"] for x in c.json("GET", "/containers/json", query={"all": 1, "filters": flt})],
            "networks": [x["Name"] for x in c.json("GET", "/networks", query={"filters": flt})],
            "volumes": [x["Name"] for x in (c.json("GET", "/volumes", query={"filters": flt})["Volumes"] or [])],
        }
    finally:
        c.close()


def volume_names(daemon: Daemon) -> set[str]:
    c = daemon.client()
    try:
        return {v["Name"] for v in c.json("GET", "/volumes")["Volumes"] or []}
    finally:
        c.close()


@pytest.fixture(scope="module")
def compose_env(daemon: Daemon, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_API_VERSION",
                        "COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_API_VERSION")}
    env["DOCKER_HOST"] = daemon.host
    env["DOCKER_CONFIG"] = str(tmp_path_factory.mktemp("compose-docker-config"))
    env["COMPOSE_DOCKER_CLI_BUILD"] = "0"  # build through the API's POST /build (one test uses the CLI)
    env.pop("COMPOSE_INTERACTIVE_NO_CLI", None)  # run and exec go through the docker CLI, as by default
    return env


def make_project(daemon: Daemon, env: dict[str, str], base: Path, prefix: str) -> Project:
    name = f"{prefix}{secrets.token_hex(3)}"
    base.mkdir(parents=True, exist_ok=True)

    def run(*args: str, check: bool = True, timeout: float = 180,
            extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        assert COMPOSE is not None
        res = subprocess.run([COMPOSE, "-p", name, *args], cwd=base, env={**env, **(extra_env or {})},
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {res.returncode}:\n"
                                 f"stdout: {res.stdout}\nstderr: {res.stderr}\n")
        return res

    return Project(name, base, run)


def take_down(daemon: Daemon, p: Project) -> None:
    p.run("down", "-v", "--rmi", "local", "--remove-orphans", "-t", "1", check=False)
    left = project_objects(daemon, p.name)
    c = daemon.client()
    try:  # whatever down could not take (a failed test's half-made state)
        for cid in left["containers"]:
            c.request("DELETE", f"/containers/{cid}", query={"force": 1, "v": 1})
        for net in left["networks"]:
            c.request("DELETE", f"/networks/{net}")
        for vol in left["volumes"]:
            c.request("DELETE", f"/volumes/{vol}")
        c.request("DELETE", f"/images/{p.name}-web:dev")
    finally:
        c.close()


def wait_until(pred: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met in {timeout}s")
        time.sleep(0.2)


def http_get(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:  # noqa: S310 (loopback)
        return str(resp.read().decode())


_STATE = re.compile(r"\s{2,}(Up(?: \([^)]*\))?|Paused|Exit -?\d+|Restarting|Created|Dead)(?:\s{2,}|\s*$)")


def states(p: Project) -> dict[str, str]:
    """service_N -> State column of ``docker-compose ps`` (the Command column may hold runs of spaces)."""
    out: dict[str, str] = {}
    for line in p.run("ps").stdout.splitlines()[2:]:
        if not line.strip():
            continue
        name, rest = line.split(None, 1)
        found = _STATE.findall(" " + rest)
        out[name[len(p.name) + 1:]] = found[-1] if found else "?"
    return out


# -- the web stack: one project for the module, taken down at the end ----------------------------------
@pytest.fixture(scope="module")
def stack(daemon: Daemon, compose_env: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, int]]:
    base = tmp_path_factory.mktemp("compose-stack")
    p = make_project(daemon, compose_env, base, "kbcs")
    port = free_port()
    (base / "web").mkdir()
    (base / "web" / "Dockerfile").write_text(WEB_DOCKERFILE)
    (base / "bind").mkdir()
    (base / "bind" / "hello.txt").write_text("bound-file\n")
    (base / "docker-compose.yml").write_text(STACK.format(project=p.name, port=port))
    try:
        up = p.run("up", "-d")
        assert "Building web" in up.stderr + up.stdout
        yield p, port
    finally:
        take_down(daemon, p)
        assert project_objects(daemon, p.name) == {"containers": [], "networks": [], "volumes": []}


def test_up_ps_published_port_and_health(stack: tuple[Project, int]) -> None:
    p, port = stack
    st = states(p)
    assert set(st) == {"web_1", "data_1", "client_1"}
    assert st["web_1"] == "Up (healthy)"
    assert st["data_1"] == st["client_1"] == "Up"
    assert f"127.0.0.1:{port}->8080/tcp" in p.run("ps").stdout
    assert http_get(port) == "hello-from-build\n"
    assert p.run("port", "web", "8080").stdout.strip() == f"127.0.0.1:{port}"
    assert sorted(p.run("ps", "--services").stdout.split()) == ["client", "data", "web"]
    assert len(p.run("ps", "-q").stdout.split()) == 3


def test_service_dns_after_healthy_dependency(stack: tuple[Project, int]) -> None:
    p, _ = stack
    logs = wait_until(lambda: (r := p.run("logs", "--no-color", "client").stdout).count("hello-from-build") >= 2
                      and r, what="client reaching web by service name")
    assert "client_1  | hello-from-build" in logs
    assert p.run("exec", "-T", "client", "wget", "-qO-", "http://web:8080/").stdout == "hello-from-build\n"


def test_exec_run_env_volumes_and_logs(stack: tuple[Project, int], daemon: Daemon) -> None:
    p, _ = stack
    assert p.run("exec", "-T", "data", "cat", "/data/greeting").stdout == "hi-there\n"
    assert p.run("exec", "-T", "data", "sh", "-c", "touch /bind/x 2>&1 || true").stdout.strip().endswith(
        "Read-only file system")
    assert "bound-file" in p.run("logs", "--no-color", "data").stdout
    assert p.run("exec", "-T", "-e", "X=42", "-w", "/data", "data", "sh", "-c", "echo $X $(pwd)").stdout == \
        "42 /data\n"
    # The same through docker-py's exec API instead of the docker CLI.
    res = p.run("exec", "-T", "data", "sh", "-c", "echo via-api; exit 4", check=False,
                extra_env={"COMPOSE_INTERACTIVE_NO_CLI": "1"})
    assert (res.returncode, res.stdout) == (4, "via-api\n")
    # run --rm: a one-off container with the service's config and volumes, removed afterwards.
    res = p.run("run", "--rm", "data", "sh", "-c", "cat /data/greeting /bind/hello.txt; exit 5", check=False)
    assert res.returncode == 5, res.stderr
    assert res.stdout.split() == ["hi-there", "bound-file"]
    assert res.stdout and not [c for c in project_objects(daemon, p.name)["containers"]
                               if daemon.client().json("GET", f"/containers/{c}/json")["Name"].endswith("_run_1")]
    assert p.run("run", "--rm", "--no-deps", "-e", "GREETING=over", "data", "sh", "-c", "echo $GREETING").stdout \
        == "over\n"


def test_config_top_images_and_labels(stack: tuple[Project, int], daemon: Daemon) -> None:
    p, _ = stack
    cfg = p.run("config").stdout
    assert "condition: service_healthy" in cfg and "GREETING: hi-there" in cfg
    assert sorted(p.run("config", "--services").stdout.split()) == ["client", "data", "web"]
    top = p.run("top", "web").stdout
    assert "httpd -f -p 8080 -h /www" in top
    images = p.run("images").stdout
    assert f"{p.name}-web" in images and "busybox" in images
    c = daemon.client()
    try:
        web = c.json("GET", f"/containers/{p.name}_web_1/json")
    finally:
        c.close()
    labels = web["Config"]["Labels"]
    assert labels["com.docker.compose.project"] == p.name and labels["com.docker.compose.service"] == "web"
    assert labels["org.example.role"] == "web" and labels["org.example.built"] == "yes"
    assert web["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert {f"{p.name}_default", f"{p.name}_back"} == set(web["NetworkSettings"]["Networks"])
    assert "web" in (web["NetworkSettings"]["Networks"][f"{p.name}_back"]["Aliases"] or [])


def test_pause_stop_start_restart_kill(stack: tuple[Project, int]) -> None:
    p, port = stack
    p.run("pause", "data")
    assert states(p)["data_1"] == "Paused"
    p.run("unpause", "data")
    assert states(p)["data_1"] == "Up"
    p.run("stop", "-t", "2", "client")
    assert states(p)["client_1"].startswith("Exit 0")
    p.run("start", "client")
    assert states(p)["client_1"] == "Up"
    p.run("restart", "-t", "2", "data")
    assert states(p)["data_1"] == "Up"
    p.run("kill", "-s", "SIGKILL", "client")
    assert states(p)["client_1"].startswith("Exit 137")
    p.run("start", "client")
    wait_until(lambda: states(p)["web_1"] == "Up (healthy)", what="web healthy")
    assert http_get(port) == "hello-from-build\n"


def test_up_again_converges(stack: tuple[Project, int], daemon: Daemon) -> None:
    p, port = stack

    def ids() -> dict[str, str]:
        c = daemon.client()
        try:
            return {n: c.json("GET", f"/containers/{p.name}_{n}_1/json")["Id"] for n in ("web", "data", "client")}
        finally:
            c.close()

    before = ids()
    again = p.run("up", "-d")
    for n in ("web", "data", "client"):
        assert f"{p.name}_{n}_1 is up-to-date" in again.stderr
    assert ids() == before
    # A changed command recreates that service only, keeping its named volume.
    compose_file = p.dir / "docker-compose.yml"
    compose_file.write_text(compose_file.read_text().replace("while :; do sleep 0.2; done'",
                                                             "while :; do sleep 0.3; done'"))
    changed = p.run("up", "-d")
    assert f"Recreating {p.name}_data_1" in changed.stderr
    after = ids()
    assert after["data"] != before["data"]
    assert after["web"] == before["web"]
    assert p.run("exec", "-T", "data", "cat", "/data/greeting").stdout == "hi-there\n"
    # build: a rebuilt image recreates web (compose reads ContainerConfig of the old one).
    p.run("build", "--no-cache", "web")
    rebuilt = p.run("up", "-d", "web")
    assert f"Recreating {p.name}_web_1" in rebuilt.stderr
    wait_until(lambda: states(p)["web_1"] == "Up (healthy)", what="recreated web healthy")
    assert http_get(port) == "hello-from-build\n"


# -- a project whose services exit, attached -----------------------------------------------------------
@pytest.fixture
def jobs(daemon: Daemon, compose_env: dict[str, str], tmp_path: Path) -> Iterator[Project]:
    p = make_project(daemon, compose_env, tmp_path / "jobs", "kbcj")
    (p.dir / "app").mkdir()
    (p.dir / "app" / "Dockerfile").write_text(JOB_DOCKERFILE)
    (p.dir / "app" / "run.sh").write_text(JOB_SCRIPT)
    (p.dir / "app.env").write_text("FOO=bar\n")
    (p.dir / "docker-compose.yml").write_text(JOBS)
    try:
        yield p
    finally:
        take_down(daemon, p)
        assert project_objects(daemon, p.name) == {"containers": [], "networks": [], "volumes": []}


def test_up_attached_exit_code_from(jobs: Project, daemon: Daemon) -> None:
    volumes_before = volume_names(daemon)
    res = jobs.run("up", "--no-color", "--exit-code-from", "job", check=False)
    assert res.returncode == 3, res.stdout + res.stderr
    lines = [ln.split("|", 1)[1].strip() for ln in res.stdout.splitlines() if ln.startswith("job_1")]
    assert lines == ["greeting=howdy host=jobhost cwd=/app foo=bar", "shared=note-from-srv", "link=srv-ok",
                     "extra=127.0.0.9", "scratch=tmpfs"]
    assert f"{jobs.name}_job_1 exited with code 3" in res.stdout
    # --exit-code-from implies --abort-on-container-exit: srv was stopped.
    c = daemon.client()
    try:
        srv = c.json("GET", f"/containers/{jobs.name}_srv_1/json")["State"]
    finally:
        c.close()
    assert srv["Running"] is False
    # The build's RUN step took its anonymous /cache volume along: only srv's and job's remain.
    assert len(volume_names(daemon) - volumes_before) == 2
    down = jobs.run("down", "-v", "--rmi", "local")
    assert f"Removing image {jobs.name}_job" in down.stderr
    assert volume_names(daemon) == volumes_before


def test_run_one_off_with_links_and_exit_code(jobs: Project) -> None:
    jobs.run("up", "-d", "srv")
    res = jobs.run("run", "--rm", "job", "sh", "-c", "wget -qO- http://srvalias:8080/; exit 7", check=False)
    assert res.returncode == 7, res.stderr
    assert res.stdout.endswith("Successfully tagged %s_job:latest\nsrv-ok\n" % jobs.name)  # built first


def test_build_through_the_docker_cli(jobs: Project, daemon: Daemon) -> None:
    res = jobs.run("build", "job", extra_env={"COMPOSE_DOCKER_CLI_BUILD": "1", "DOCKER_BUILDKIT": "0"})
    assert f"Successfully tagged {jobs.name}_job:latest" in res.stdout + res.stderr
    c = daemon.client()
    try:
        img = c.json("GET", f"/images/{jobs.name}_job/json")
    finally:
        c.close()
    assert "GREETING=howdy" in img["Config"]["Env"]
    assert img["ContainerConfig"]["Volumes"] == {"/cache": {}}


# -- service options that map to HostConfig fields ------------------------------------------------------
MODES = """\
version: "3.8"
services:
  a:
    image: busybox
    command: sh -c 'id; cat /proc/self/oom_score_adj; trap "echo got-usr1" USR1; trap "exit 0" TERM; while :; do sleep 0.2; done'
    init: true
    group_add: ["100", "nobody"]
    oom_score_adj: 200
    read_only: true
    shm_size: 8m
    tmpfs: [/tmp]
    user: "1000:1000"
    working_dir: /tmp
    cap_drop: [NET_RAW]
    security_opt: ["no-new-privileges:true"]
    ulimits:
      nofile: {{soft: 1024, hard: 2048}}
    sysctls:
      net.ipv4.ip_unprivileged_port_start: "80"
    secrets: [token]
    healthcheck:
      disable: true
  b:
    image: busybox
    command: sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done'
    network_mode: "service:a"
    pid: "service:a"
    ipc: "service:a"
    depends_on: [a]
    profiles: [extra]
  d:
    image: busybox
    command: sh -c 'trap "exit 0" TERM; while :; do sleep 0.2; done'
    volumes:
      - type: tmpfs
        target: /t
      - type: volume
        source: ext
        target: /ext
        read_only: true
      - type: bind
        source: ./token.txt
        target: /token.txt
volumes:
  ext:
    external: true
    name: {external}
secrets:
  token:
    file: ./token.txt
"""


@pytest.fixture
def modes(daemon: Daemon, compose_env: dict[str, str], tmp_path: Path) -> Iterator[Project]:
    p = make_project(daemon, compose_env, tmp_path / "modes", "kbcm")
    external = f"{p.name}-external"
    (p.dir / "token.txt").write_text("s3cret\n")
    (p.dir / "docker-compose.yml").write_text(MODES.format(external=external))
    c = daemon.client()
    c.json("POST", "/volumes/create", body={"Name": external})
    try:
        yield p
    finally:
        take_down(daemon, p)
        c.request("DELETE", f"/volumes/{external}")
        c.close()
        assert project_objects(daemon, p.name) == {"containers": [], "networks": [], "volumes": []}


def test_service_options_and_shared_namespaces(modes: Project) -> None:
    p = modes
    p.run("--profile", "extra", "up", "-d")
    assert set(states(p)) == {"a_1", "b_1", "d_1"}
    a = p.run("exec", "-T", "a", "sh", "-c",
              "id -u; pwd; cat /run/secrets/token; ulimit -n; cat /proc/sys/net/ipv4/ip_unprivileged_port_start;"
              " touch /x 2>&1; df -k /dev/shm | tail -1; ps -o pid,args | sed -n 2p;"
              " grep -E '^(CapEff|NoNewPrivs)' /proc/self/status").stdout.splitlines()
    assert a[:5] == ["1000", "/tmp", "s3cret", "1024", "80"]
    assert a[5].endswith("Read-only file system")
    assert a[6].split()[1] == "8192"
    assert a[7].split()[:3] == ["1", "/sbin/docker-init", "--"]
    assert a[8].split() == ["CapEff:", "0000000000000000"] and a[9].split() == ["NoNewPrivs:", "1"]
    # b shares a's network, pid and ipc namespaces.
    same = "readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; ps -o args | grep -c got-usr1"
    na = p.run("exec", "-T", "a", "sh", "-c", same).stdout.split()
    nb = p.run("exec", "-T", "b", "sh", "-c", same).stdout.split()
    assert na[:2] == nb[:2]
    assert int(nb[2]) >= 1  # a's command is visible from b
    d = p.run("exec", "-T", "d", "sh", "-c",
              "mount | grep -c ' /t type tmpfs'; cat /token.txt; touch /ext/x 2>&1; true").stdout.splitlines()
    assert d[0] == "1" and d[1] == "s3cret" and d[2].endswith("Read-only file system")
    first = p.run("logs", "--no-color", "a").stdout.splitlines()
    assert "uid=1000 gid=1000 groups=100,65534(nobody)" in first[1] and first[2].endswith("| 200")
    p.run("kill", "-s", "SIGUSR1", "a")
    wait_until(lambda: "got-usr1" in p.run("logs", "--no-color", "a").stdout, what="a got SIGUSR1")
    p.run("--profile", "extra", "stop", "-t", "2")
    assert set(states(p).values()) == {"Exit 0"}
