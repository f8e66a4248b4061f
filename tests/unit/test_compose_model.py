"""The project model: names, labels, the config hash, dependency order, and the create body."""

from __future__ import annotations

from pathlib import Path

import pytest

from kobako.compose import ComposeError
from kobako.compose._convert import create_body, endpoint, healthcheck, restart_policy
from kobako.compose._load import LoadOptions, load_project
from kobako.compose._units import format_duration, parse_bytes, parse_duration
from kobako.compose.model import Project, config_hash, normalize_project_name


def project(tmp_path: Path, text: str, name: str = "app") -> Project:
    (tmp_path / "compose.yaml").write_text(text)
    return load_project(LoadOptions(cwd=str(tmp_path), environ={}, project_name=name, warn=lambda m: None))


@pytest.mark.parametrize(("raw", "name"), [("My App", "myapp"), ("_x.Y-z", "xy-z"), ("été2", "t2"), ("--", "")])
def test_normalize_project_name(raw: str, name: str) -> None:
    assert normalize_project_name(raw) == name


def test_names(tmp_path: Path) -> None:
    p = project(tmp_path, """
services:
  web: {image: busybox, networks: [default, front, fixed], volumes: ["data:/d", "ext:/e"]}
  named: {image: busybox, container_name: exactly-this}
  built: {build: .}
networks: {front: {}, fixed: {name: fixed-net}, unused: {}}
volumes: {data: {}, ext: {external: true}, unused: {}}
""")
    assert p.container_name("web", 1) == "app-web-1" and p.container_name("web", 3) == "app-web-3"
    assert p.container_name("named", 1) == "exactly-this"
    assert p.network_name("default") == "app_default" and p.network_name("front") == "app_front"
    assert p.network_name("fixed") == "fixed-net"
    assert p.volume_name("data") == "app_data" and p.volume_name("ext") == "ext"
    assert p.image_name("web") == "busybox" and p.image_name("built") == "app-built"
    assert "unused" not in p.networks and "unused" not in p.volumes  # as compose: only what services use


def test_labels(tmp_path: Path) -> None:
    p = project(tmp_path, """
services:
  db: {image: db}
  web:
    image: busybox
    labels: {team: a, com.docker.compose.project: spoofed}
    depends_on:
      db: {condition: service_healthy, restart: true}
""")
    labels = p.container_labels("web", 2, image_id="sha256:abc")
    assert labels == {
        "team": "a",
        "com.docker.compose.project": "app",
        "com.docker.compose.service": "web",
        "com.docker.compose.container-number": "2",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.project.working_dir": str(tmp_path),
        "com.docker.compose.project.config_files": str(tmp_path / "compose.yaml"),
        "com.docker.compose.config-hash": p.config_hash("web"),
        "com.docker.compose.depends_on": "db:service_healthy:true",
        "com.docker.compose.image": "sha256:abc",
        "com.docker.compose.version": labels["com.docker.compose.version"],
    }
    assert p.container_labels("web", 1, oneoff=True)["com.docker.compose.oneoff"] == "True"


def test_config_hash_changes_with_what_shapes_the_container() -> None:
    base = {"image": "busybox", "command": ["a"], "networks": {"default": None}}
    h = config_hash(base)
    assert len(h) == 64 and h == config_hash(dict(reversed(list(base.items()))))  # key order does not matter
    assert config_hash({**base, "command": ["b"]}) != h
    assert config_hash({**base, "environment": {"A": "1"}}) != h
    # not part of the container: build, profiles, depends_on, replicas
    assert config_hash({**base, "build": {"context": "/x"}}) == h
    assert config_hash({**base, "profiles": ["x"], "depends_on": {"db": {}}}) == h
    assert config_hash({**base, "deploy": {"replicas": 3}}) == config_hash({**base, "deploy": {}})


def test_dependency_order(tmp_path: Path) -> None:
    p = project(tmp_path, """
services:
  front: {image: a, depends_on: [api]}
  api: {image: a, depends_on: [db, cache]}
  db: {image: a}
  cache: {image: a}
  sidecar: {image: a, network_mode: "service:api"}
  lone: {image: a}
""")
    order = p.ordered()
    for before, after in (("db", "api"), ("cache", "api"), ("api", "front"), ("api", "sidecar")):
        assert order.index(before) < order.index(after)
    assert sorted(order) == sorted(p.services)
    assert p.ordered(["front"]) == ["db", "cache", "api", "front"]  # dependencies in declared order
    assert p.ordered(["lone"]) == ["lone"]


def test_units() -> None:
    assert parse_duration("1m30s", "x") == 90 and parse_duration("500ms", "x") == 0.5
    assert parse_duration("1h", "x") == 3600 and parse_duration(10, "x") == 10 and parse_duration("0", "x") == 0
    assert parse_bytes("512m", "x") == 512 * 1024 ** 2 and parse_bytes("1g", "x") == 1024 ** 3
    assert parse_bytes(1000, "x") == 1000 and parse_bytes("64kb", "x") == 65536
    assert format_duration(90) == "1m30s" and format_duration(0.5) == "500ms" and format_duration(10) == "10s"
    for bad in ("10 parsecs", "", "5x"):
        with pytest.raises(ComposeError):
            parse_duration(bad, "services.web.healthcheck.interval")
    with pytest.raises(ComposeError):
        parse_bytes("lots", "services.web.mem_limit")


def test_healthcheck_and_restart() -> None:
    assert healthcheck({"test": ["CMD", "true"], "interval": "1s", "timeout": "500ms", "retries": 3,
                        "start_period": "2s"}, "h") == {
        "Test": ["CMD", "true"], "Interval": 10 ** 9, "Timeout": 5 * 10 ** 8, "StartPeriod": 2 * 10 ** 9, "Retries": 3}
    assert healthcheck({"disable": True}, "h") == {"Test": ["NONE"]}
    assert healthcheck({"test": "exit 0"}, "h") == {"Test": ["CMD-SHELL", "exit 0"]}
    with pytest.raises(ComposeError):
        healthcheck({"test": ["RUN", "x"]}, "h")
    assert restart_policy("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert restart_policy(None) == {"Name": "no"} and restart_policy("always") == {"Name": "always"}


def test_create_body(tmp_path: Path) -> None:
    p = project(tmp_path, """
services:
  web:
    image: busybox
    command: httpd -f
    entrypoint: [/bin/sh, -c]
    environment: {A: "1", B: null}
    ports: ["127.0.0.1:8080:80", "9000:90/udp"]
    expose: ["70"]
    volumes: ["data:/data:ro", "./site:/www", {type: tmpfs, target: /cache, tmpfs: {size: 1m}}]
    tmpfs: ["/run:size=64k"]
    working_dir: /w
    user: "1000:1000"
    hostname: h
    domainname: example.test
    tty: true
    stdin_open: true
    init: true
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    privileged: false
    read_only: true
    extra_hosts: ["db:10.0.0.2"]
    dns: [10.0.0.53]
    stop_signal: SIGINT
    stop_grace_period: 1m
    ulimits: {nofile: {soft: 100, hard: 200}}
    sysctls: {net.core.somaxconn: 1024}
    shm_size: 64m
    restart: unless-stopped
    deploy: {resources: {limits: {memory: 256m, cpus: "0.5", pids: 50}}}
    healthcheck: {test: [CMD, "true"], interval: 2s}
    networks:
      front: {aliases: [www], ipv4_address: 10.1.2.3}
      back: {priority: 10}
networks: {front: {}, back: {}}
volumes: {data: {}}
""")
    mode, first = "app_back", ("app_back", endpoint("web", {"priority": 10}))
    body = create_body(p, "web", 1, labels={"l": "v"}, network_mode=mode, first_network=first)
    assert body["Image"] == "busybox" and body["Cmd"] == ["httpd", "-f"] and body["Entrypoint"] == ["/bin/sh", "-c"]
    assert body["Env"] == ["A=1"]
    assert body["Labels"] == {"l": "v"}
    assert body["ExposedPorts"] == {"80/tcp": {}, "90/udp": {}, "70/tcp": {}}
    assert (body["WorkingDir"], body["User"], body["Hostname"], body["Domainname"]) == ("/w", "1000:1000", "h",
                                                                                      "example.test")
    assert body["Tty"] and body["OpenStdin"] and body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 60
    assert body["Healthcheck"] == {"Test": ["CMD", "true"], "Interval": 2 * 10 ** 9}
    host = body["HostConfig"]
    assert host["NetworkMode"] == "app_back"
    assert host["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
                                    "90/udp": [{"HostIp": "", "HostPort": "9000"}]}
    assert host["Binds"] == [f"{tmp_path}/site:/www:rw"]
    assert host["Mounts"] == [{"Type": "volume", "Target": "/data", "ReadOnly": True, "Source": "app_data"},
                              {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1024 ** 2}}]
    assert host["Tmpfs"] == {"/run": "size=64k"}
    assert host["Init"] is True and host["ReadonlyRootfs"] is True and host["Privileged"] is False
    assert host["CapAdd"] == ["NET_ADMIN"] and host["CapDrop"] == ["ALL"]
    assert host["ExtraHosts"] == ["db:10.0.0.2"] and host["Dns"] == ["10.0.0.53"]
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 100, "Hard": 200}]
    assert host["Sysctls"] == {"net.core.somaxconn": "1024"}
    assert host["ShmSize"] == 64 * 1024 ** 2 and host["Memory"] == 256 * 1024 ** 2
    assert host["NanoCpus"] == 500_000_000 and host["PidsLimit"] == 50
    assert host["RestartPolicy"] == {"Name": "unless-stopped"}
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"app_back": {"Aliases": ["web"]}}}
    assert endpoint("web", {"aliases": ["www", "web"], "ipv4_address": "10.1.2.3"}) == {
        "Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "10.1.2.3"}}
    assert endpoint("web", None, oneoff=True) == {"Aliases": []}
    # one-off overrides: no restart policy, no ports, a new command
    one = create_body(p, "web", 2, labels={}, network_mode=mode, first_network=None,
                      overrides={"oneoff": True, "no_ports": True, "command": ["echo"], "env": ["X=1"]})
    assert one["HostConfig"]["RestartPolicy"] == {"Name": "no"} and one["HostConfig"]["PortBindings"] == {}
    assert one["Cmd"] == ["echo"] and one["Env"] == ["A=1", "X=1"] and "NetworkingConfig" not in one


def test_compatibility_names(tmp_path: Path) -> None:
    from kobako.compose._logs import display_name

    (tmp_path / "compose.yaml").write_text("services: {web: {image: busybox}, built: {build: .}}\n")
    p = load_project(LoadOptions(cwd=str(tmp_path), environ={}, project_name="app", warn=lambda m: None,
                                 compatibility=True))
    assert p.container_name("web", 1) == "app_web_1" and p.image_name("built") == "app_built"
    assert p.network_name("default") == "app_default"
    assert display_name("app", "app_web_1") == "web_1" and display_name("app", "app-web-1") == "web-1"
    assert display_name("app", "custom") == "custom"
