"""Loading compose files: discovery, project names, .env, merging, canonical forms, validation errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kobako.compose import ComposeError
from kobako.compose._load import LoadOptions, load_project, parse_port, parse_volume
from kobako.compose.model import Project


def load(d: Path, *files: str, env: dict[str, str] | None = None, **kw: Any) -> Project:
    warnings: list[str] = []
    p = load_project(LoadOptions(files=list(files), cwd=str(d), environ=env or {}, warn=warnings.append, **kw))
    p.warnings = warnings  # type: ignore[attr-defined]
    return p


def write(d: Path, name: str, text: str) -> Path:
    path = d / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error(d: Path, *files: str, **kw: Any) -> str:
    with pytest.raises(ComposeError) as exc:
        load(d, *files, **kw)
    return exc.value.message


# -- discovery and names ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"])
def test_default_file_names(tmp_path: Path, name: str) -> None:
    d = tmp_path / "My.Project_X-1"
    write(d, name, "services: {web: {image: busybox}}\n")
    p = load(d)
    assert p.config_files == [str(d / name)]
    assert p.name == "myproject_x-1"  # lower-cased, only [a-z0-9_-]
    assert p.working_dir == str(d)


def test_compose_yaml_preferred_and_override_file_merged(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "services: {web: {image: a}}\n")
    write(tmp_path, "docker-compose.yml", "services: {web: {image: b}}\n")
    write(tmp_path, "compose.override.yaml", "services: {web: {environment: [X=1]}}\n")
    p = load(tmp_path)
    assert p.services["web"]["image"] == "a"
    assert p.services["web"]["environment"] == {"X": "1"}
    assert p.config_files == [str(tmp_path / "compose.yaml"), str(tmp_path / "compose.override.yaml")]


def test_file_found_in_parent_directory(tmp_path: Path) -> None:
    write(tmp_path / "top", "compose.yaml", "services: {web: {image: a}}\n")
    sub = tmp_path / "top" / "a" / "b"
    sub.mkdir(parents=True)
    p = load(sub)
    assert p.name == "top" and p.working_dir == str(tmp_path / "top")


def test_no_file(tmp_path: Path) -> None:
    assert error(tmp_path) == "no configuration file provided: not found"


def test_project_name_sources(tmp_path: Path) -> None:
    write(tmp_path / "dir", "compose.yaml", "name: fromfile\nservices: {web: {image: a}}\n")
    d = tmp_path / "dir"
    assert load(d).name == "fromfile"
    assert load(d, env={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load(d, env={"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="fromflag").name == "fromflag"
    write(d, ".env", "COMPOSE_PROJECT_NAME=fromdotenv\n")
    assert load(d).name == "fromdotenv"
    assert "invalid project name" in error(d, project_name="Bad Name")


def test_compose_file_env_and_project_directory(tmp_path: Path) -> None:
    write(tmp_path / "cfg", "one.yml", "services: {web: {image: a, build: ./ctx}}\n")
    write(tmp_path / "cfg", "two.yml", "services: {web: {image: b}}\n")
    p = load(tmp_path, env={"COMPOSE_FILE": "cfg/one.yml:cfg/two.yml"})
    assert p.services["web"]["image"] == "b"
    assert p.working_dir == str(tmp_path / "cfg")
    assert p.services["web"]["build"]["context"] == str(tmp_path / "cfg" / "ctx")
    other = tmp_path / "elsewhere"
    other.mkdir()
    p = load(tmp_path, "cfg/one.yml", project_directory=str(other))
    assert p.working_dir == str(other) and p.name == "elsewhere"
    assert p.services["web"]["build"]["context"] == str(other / "ctx")


# -- .env and interpolation ------------------------------------------------------------------------
def test_dotenv_and_shell_precedence(tmp_path: Path) -> None:
    write(tmp_path, ".env", "TAG=fromdotenv\nPORT=81\n")
    write(tmp_path, "compose.yaml", "services: {web: {image: 'busybox:${TAG}', ports: ['${PORT}:80'],"
                                    " environment: {A: $$literal, B: '${NOPE}'}}}\n")
    p = load(tmp_path, env={"PORT": "82"})
    web = p.services["web"]
    assert web["image"] == "busybox:fromdotenv"
    assert web["ports"][0]["published"] == "82"  # the process environment wins over .env
    assert web["environment"] == {"A": "$literal", "B": ""}
    assert p.warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']  # type: ignore[attr-defined]


def test_env_file_option(tmp_path: Path) -> None:
    write(tmp_path, "custom.env", "TAG=custom\n")
    write(tmp_path, ".env", "TAG=default\n")
    write(tmp_path, "compose.yaml", "services: {web: {image: 'busybox:${TAG}'}}\n")
    assert load(tmp_path, env_files=["custom.env"]).services["web"]["image"] == "busybox:custom"
    assert "couldn't find env file" in error(tmp_path, env_files=["missing.env"])


def test_service_env_file_and_bare_keys(tmp_path: Path) -> None:
    write(tmp_path, "app.env", "FROM_FILE=1\nOVERRIDDEN=file\n")
    write(tmp_path, "compose.yaml", "services:\n  web:\n    image: a\n    env_file: app.env\n"
                                    "    environment: [OVERRIDDEN=inline, FROM_SHELL, NOT_ANYWHERE]\n")
    p = load(tmp_path, env={"FROM_SHELL": "sh"})
    assert p.services["web"]["environment"] == {"FROM_FILE": "1", "OVERRIDDEN": "inline", "FROM_SHELL": "sh",
                                                "NOT_ANYWHERE": None}
    write(tmp_path, "compose.yaml", "services: {web: {image: a, env_file: nope.env}}\n")
    assert "nope.env not found" in error(tmp_path)


# -- merging ---------------------------------------------------------------------------------------
def test_merge_rules(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", """
services:
  web:
    image: a
    command: echo one
    entrypoint: [sh, -c]
    environment: {A: "1", B: "1"}
    labels: [x=1]
    ports: ["8080:80", "9090:90"]
    volumes: ["data:/data", "./src:/src"]
    dns: [1.1.1.1]
    healthcheck: {test: [CMD, a], interval: 5s}
volumes: {data: {}}
""")
    write(tmp_path, "b.yml", """
services:
  web:
    command: [echo, two]
    environment: [B=2, C=3]
    labels: {y: "2"}
    ports: ["8080:80", "7070:70"]
    volumes: ["./other:/src:ro"]
    dns: 8.8.8.8
    healthcheck: {test: [CMD, b]}
  db:
    image: db
""")
    p = load(tmp_path, "a.yml", "b.yml")
    web = p.services["web"]
    assert web["command"] == ["echo", "two"]  # replaced
    assert web["entrypoint"] == ["sh", "-c"]
    assert web["environment"] == {"A": "1", "B": "2", "C": "3"}  # maps merged
    assert web["labels"] == {"x": "1", "y": "2"}
    assert [(x["published"], x["target"]) for x in web["ports"]] == [("8080", 80), ("9090", 90), ("7070", 70)]
    assert [(v["target"], v.get("source"), v.get("read_only")) for v in web["volumes"]] == [
        ("/data", "data", None), ("/src", str(tmp_path / "other"), True)]  # unique by target
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]  # sequences appended
    assert web["healthcheck"] == {"test": ["CMD", "b"], "interval": "5s"}
    assert set(p.services) == {"web", "db"}


# -- canonical forms -------------------------------------------------------------------------------
@pytest.mark.parametrize(("spec", "expected"), [
    ("80", [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
    (80, [{"mode": "ingress", "target": 80, "protocol": "tcp"}]),
    ("8080:80", [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]),
    ("127.0.0.1:8080:80/udp", [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "8080",
                                "protocol": "udp"}]),
    ("127.0.0.1::80", [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "protocol": "tcp"}]),
    ("[::1]:8080:80", [{"mode": "ingress", "host_ip": "::1", "target": 80, "published": "8080", "protocol": "tcp"}]),
    ("9000-9001:80-81", [{"mode": "ingress", "target": 80, "published": "9000", "protocol": "tcp"},
                         {"mode": "ingress", "target": 81, "published": "9001", "protocol": "tcp"}]),
    ("9000-9010:80", [{"mode": "ingress", "target": 80, "published": "9000-9010", "protocol": "tcp"}]),
    ({"target": 80, "published": 8080, "host_ip": "127.0.0.1"},
     [{"mode": "ingress", "target": 80, "host_ip": "127.0.0.1", "published": "8080", "protocol": "tcp"}]),
])
def test_ports(spec: Any, expected: list[dict[str, Any]]) -> None:
    assert parse_port(spec, "p") == expected


@pytest.mark.parametrize("spec", ["80/xyz", "a:b", "1:2:3:4", "70000", "80:90-91"])
def test_bad_ports(spec: str) -> None:
    with pytest.raises(ComposeError) as exc:
        parse_port(spec, "services.web.ports[0]")
    assert exc.value.message.startswith("services.web.ports[0]")


def test_volumes_short_and_long() -> None:
    env = {"HOME": "/home/u"}
    assert parse_volume("/data", "v", "/p", env) == {"type": "volume", "target": "/data"}
    assert parse_volume("named:/data:ro,nocopy", "v", "/p", env) == {
        "type": "volume", "source": "named", "target": "/data", "read_only": True, "volume": {"nocopy": True}}
    assert parse_volume("./rel:/x", "v", "/p", env) == {
        "type": "bind", "source": "/p/rel", "target": "/x", "bind": {"create_host_path": True}}
    assert parse_volume("~/h:/x:rw", "v", "/p", env)["source"] == "/home/u/h"
    assert parse_volume({"type": "bind", "source": "../up", "target": "/u"}, "v", "/p/q", env)["source"] == "/p/up"
    assert parse_volume({"type": "tmpfs", "target": "/t", "tmpfs": {"size": 1000}}, "v", "/p", env)["type"] == "tmpfs"
    for bad in ("a:relative", "a:/b:bogus", {"type": "weird", "target": "/x"}, {"type": "bind", "target": "/x"}):
        with pytest.raises(ComposeError):
            parse_volume(bad, "v", "/p", env)


def test_canonical_service_forms(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", """
services:
  web:
    image: a
    command: echo "two words" three
    entrypoint: /bin/sh -c
    tty: "true"
    init: "${INIT:-false}"
    extra_hosts: ["db:10.0.0.2", "other=10.0.0.3"]
    sysctls: [net.core.somaxconn=1024]
    ulimits: {nofile: 1024, nproc: {soft: 10, hard: 20}}
    healthcheck: {test: "curl -f localhost"}
    tmpfs: /run
    expose: [80, "90/udp"]
    depends_on: [db]
    networks: [front]
  db:
    image: b
    networks:
      front: {aliases: [database], ipv4_address: 10.1.0.5}
networks: {front: {}}
""")
    p = load(tmp_path)
    web, db = p.services["web"], p.services["db"]
    assert web["command"] == ["echo", "two words", "three"]
    assert web["entrypoint"] == ["/bin/sh", "-c"]
    assert web["tty"] is True and web["init"] is False
    assert web["extra_hosts"] == {"db": "10.0.0.2", "other": "10.0.0.3"}
    assert web["sysctls"] == {"net.core.somaxconn": "1024"}
    assert web["ulimits"] == {"nofile": {"soft": 1024, "hard": 1024}, "nproc": {"soft": 10, "hard": 20}}
    assert web["healthcheck"]["test"] == ["CMD-SHELL", "curl -f localhost"]
    assert web["tmpfs"] == ["/run"] and web["expose"] == ["80", "90/udp"]
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True}}
    assert web["networks"] == {"front": None}
    assert db["networks"] == {"front": {"aliases": ["database"], "ipv4_address": "10.1.0.5"}}
    assert p.networks == {"front": {"name": f"{p.name}_front"}}  # no default network: nobody uses it


def test_top_level_networks_and_volumes(tmp_path: Path) -> None:
    write(tmp_path / "proj", "compose.yaml", """
services:
  web: {image: a, volumes: [data:/d, ext:/e], networks: [default, custom, outside, legacy]}
networks:
  custom: {name: exact-name, driver: bridge, internal: true, labels: [a=b]}
  outside: {external: true}
  legacy: {external: {name: old-style}}
volumes:
  data: {driver_opts: {type: tmpfs}}
  ext: {external: true, name: shared-data}
""")
    p = load(tmp_path / "proj")
    assert p.networks["default"]["name"] == "proj_default"
    assert p.networks["custom"]["name"] == "exact-name" and p.networks["custom"]["labels"] == {"a": "b"}
    assert p.networks["outside"] == {"external": True, "name": "outside"}
    assert p.networks["legacy"] == {"external": True, "name": "old-style"}
    assert p.volumes["data"]["name"] == "proj_data"
    assert p.volumes["ext"]["name"] == "shared-data"


def test_x_extensions_ignored(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "x-common: &c {image: busybox}\nservices:\n  web:\n    <<: *c\n"
                                    "    x-note: anything\n")
    p = load(tmp_path)
    assert p.services["web"] == {"image": "busybox", "networks": {"default": None}}


# -- profiles --------------------------------------------------------------------------------------
def test_profiles(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", """
services:
  web: {image: a}
  debug: {image: b, profiles: [dev]}
  tool: {image: c, profiles: [tools], depends_on: [helper]}
  helper: {image: d, profiles: [other]}
""")
    assert set(load(tmp_path).services) == {"web"}
    assert set(load(tmp_path, profiles=["dev"]).services) == {"web", "debug"}
    assert set(load(tmp_path, env={"COMPOSE_PROFILES": "dev,tools"}).services) == {"web", "debug", "tool", "helper"}
    p = load(tmp_path, services=["tool"])  # naming a service enables it (and what it needs)
    assert set(p.services) == {"web", "tool", "helper"}
    assert set(p.disabled) == {"debug"}


# -- validation errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "message"), [
    ("services: {web: {image: a, colour: red}}", "services.web additional properties 'colour' not allowed"),
    ("services: {web: {image: a, ports: ['80', [1]]}}", "services.web.ports[1] must be a string, a number or a mapping"),
    ("services: {web: {image: a, ports: [{target: x}]}}", "services.web.ports[0].target must be an integer"),
    ("services: {web: {image: [a]}}", "services.web.image must be a string"),
    ("services: {web: {image: a, tty: maybe}}", "services.web.tty must be a boolean"),
    ("services: {web: {image: a, environment: 5}}", "services.web.environment must be a mapping or a list"),
    ("services:\n  web: {image: a, depends_on: {db: {condition: whenever}}}\n  db: {image: b}\n",
     "services.web.depends_on.db.condition must be one of"),
    ("services: {web: {image: a, volumes: ['a:b:c:d']}}", "services.web.volumes[0]: invalid volume specification"),
    ("services: {web: {image: a, restart: sometimes}}", "services.web.restart: invalid restart policy"),
    ("networks: {n: {driver: 5}}\nservices: {web: {image: a}}", "networks.n.driver must be a string"),
    ("services: {web: {image: a}}\ncolours: {}", "(root) additional properties 'colours' not allowed"),
    ("- a\n- b", "top-level object must be a mapping"),
])
def test_validation_errors_name_file_and_path(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, "compose.yaml", text)
    msg = error(tmp_path)
    assert msg.startswith(f"validating {tmp_path / 'compose.yaml'}: "), msg
    assert message in msg, msg


@pytest.mark.parametrize(("text", "message"), [
    ("services: {web: {build: {}}}", None),
    ("services: {web: {environment: {A: b}}}", 'service "web" has neither an image nor a build context'),
    ("services: {web: {image: a, networks: [nope]}}", 'service "web" refers to undefined network nope'),
    ("services: {web: {image: a, volumes: ['nope:/x']}}", 'service "web" refers to undefined volume nope'),
    ("services: {web: {image: a, depends_on: [db]}}", 'service "web" depends on undefined service "db"'),
    ("services: {a: {image: a, depends_on: [b]}, b: {image: b, depends_on: [a]}}", "dependency cycle detected"),
    ("services: {a: {image: a, network_mode: 'service:zz'}}", "undefined service zz in network_mode"),
    ("services: {a: {image: a, network_mode: host, networks: [x]}}\nnetworks: {x: {}}", "mutually exclusive"),
    ("services: {a: {image: a, container_name: same}, b: {image: a, container_name: same}}", "same container_name"),
    ("services: {}", "no service"),
    ("services: {web: {image: 'x${'}}", "invalid interpolation format"),
    ("services: {web: {image: a\n", "yaml:"),
])
def test_semantic_errors(tmp_path: Path, text: str, message: str | None) -> None:
    write(tmp_path, "compose.yaml", text)
    if message is None:  # build: {} means context "."
        assert load(tmp_path).services["web"]["build"]["context"] == str(tmp_path)
        return
    assert message in error(tmp_path)


# -- extends and version ---------------------------------------------------------------------------
def test_extends_same_file_other_file_and_chains(tmp_path: Path) -> None:
    write(tmp_path / "common", "base.yml", """
services:
  root:
    image: busybox
    environment: {LEVEL: root, KEEP: "1"}
    volumes: ["./data:/data"]
    depends_on: [elsewhere]
  webapp:
    extends: root
    ports: ["8000:80"]
    environment: {LEVEL: webapp}
""")
    write(tmp_path / "app", "compose.yaml", """
services:
  base:
    image: alpine
    command: [echo, base]
    labels: {a: "1"}
  child:
    extends: base
    labels: {b: "2"}
  web:
    extends:
      file: ../common/base.yml
      service: webapp
    environment: {LEVEL: web}
""")
    p = load(tmp_path / "app")
    child, web = p.services["child"], p.services["web"]
    assert child["image"] == "alpine" and child["command"] == ["echo", "base"]
    assert child["labels"] == {"a": "1", "b": "2"} and "extends" not in child
    assert web["image"] == "busybox" and web["environment"] == {"LEVEL": "web", "KEEP": "1"}
    assert web["ports"][0]["published"] == "8000"
    # paths of a service from another file are that file's; depends_on is never inherited
    assert web["volumes"][0]["source"] == str(tmp_path / "common" / "data")
    assert "depends_on" not in web
    assert set(p.services) == {"base", "child", "web"}


def test_extends_errors(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "services:\n  a: {extends: b}\n  b: {extends: a}\n")
    assert "circular reference with extends" in error(tmp_path)
    write(tmp_path, "compose.yaml", "services:\n  a: {extends: nope, image: x}\n")
    assert 'service "nope" not found' in error(tmp_path)
    write(tmp_path, "compose.yaml", "services:\n  a: {image: x, extends: {file: missing.yml, service: s}}\n")
    assert "missing.yml" in error(tmp_path)


def test_version_is_obsolete_but_accepted(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "version: '3.8'\nservices: {web: {image: a}}\n")
    p = load(tmp_path)
    assert any("the attribute `version` is obsolete" in w for w in p.warnings)  # type: ignore[attr-defined]


def test_secrets_and_configs(tmp_path: Path) -> None:
    write(tmp_path, "token.txt", "s3cret\n")
    write(tmp_path, "compose.yaml", """
services:
  web:
    image: a
    secrets: [token, {source: api_key, target: key, mode: 0400, uid: "1000"}]
    configs: [{source: site, target: /etc/site.conf}, plain]
secrets:
  token: {file: ./token.txt}
  api_key: {environment: API_KEY}
  unused: {file: ./nope}
configs:
  site: {content: "listen 80"}
  plain: {file: token.txt}
""")
    p = load(tmp_path, env={"API_KEY": "k-123"})
    assert set(p.secrets) == {"token", "api_key"}  # what no service uses is left out
    assert p.file_mounts("web") == [
        {"target": "/run/secrets/token", "mode": 0o444, "uid": "0", "gid": "0", "file": str(tmp_path / "token.txt")},
        {"target": "/run/secrets/key", "mode": 0o400, "uid": "1000", "gid": "0", "data": b"k-123"},
        {"target": "/etc/site.conf", "mode": 0o444, "uid": "0", "gid": "0", "data": b"listen 80"},
        {"target": "/plain", "mode": 0o444, "uid": "0", "gid": "0", "file": str(tmp_path / "token.txt")},
    ]
    assert "environment variable \"API_KEY\"" in error(tmp_path)
    write(tmp_path, "compose.yaml", "services: {web: {image: a, secrets: [nope]}}\n")
    assert 'refers to undefined secret nope' in error(tmp_path)
    write(tmp_path, "compose.yaml", "services: {web: {image: a}}\nsecrets: {s: {file: a, content: b}}\n")
    assert "needs exactly one of" in error(tmp_path)


def test_include(tmp_path: Path) -> None:
    write(tmp_path / "db", "compose.yaml", """
services:
  db:
    image: postgres
    volumes: ["./init:/init", "dbdata:/var/lib/data"]
volumes: {dbdata: {}}
""")
    write(tmp_path / "cache", "cache.yml", "services: {cache: {image: 'redis:${REDIS_TAG}', env_file: cache.env}}\n")
    write(tmp_path / "cache", "vars.env", "REDIS_TAG=7\n")
    write(tmp_path / "cache", "cache.env", "SIZE=1\n")
    write(tmp_path / "app", "compose.yaml", """
include:
  - ../db/compose.yaml
  - path: ../cache/cache.yml
    env_file: ../cache/vars.env
services:
  web:
    image: busybox
    depends_on: [db, cache]
""")
    p = load(tmp_path / "app")
    assert set(p.services) == {"web", "db", "cache"}
    assert p.services["db"]["volumes"][0]["source"] == str(tmp_path / "db" / "init")  # the included file's dir
    assert p.volumes["dbdata"]["name"] == "app_dbdata"
    assert p.services["cache"]["environment"] == {"SIZE": "1"}
    assert p.services["cache"]["image"] == "redis:7"  # the include's env_file feeds its interpolation
    write(tmp_path / "app", "compose.yaml", "include: [../db/compose.yaml]\nservices: {db: {image: other}}\n")
    assert "services.db conflicts with imported resource" in error(tmp_path / "app")
    write(tmp_path / "loop", "a.yml", "include: [b.yml]\nservices: {a: {image: x}}\n")
    write(tmp_path / "loop", "b.yml", "include: [a.yml]\nservices: {b: {image: x}}\n")
    assert "include cycle" in error(tmp_path / "loop", "a.yml")


def test_yaml_1_2_scalars_as_compose_reads_them(tmp_path: Path) -> None:
    # YAML 1.1 (PyYAML's default) reads 22:22 as the base-60 integer 1342 and yes/on as booleans
    write(tmp_path, "compose.yaml", """
services:
  web:
    image: a
    ports: [22:22, 2222:22]
    environment: {DEBUG: yes, FEATURE: off, REAL: true, OCT: 0o17, PLAIN: 017}
    labels: {when: 2001-12-14}
""")
    web = load(tmp_path).services["web"]
    assert [(p["published"], p["target"]) for p in web["ports"]] == [("22", 22), ("2222", 22)]
    assert web["environment"] == {"DEBUG": "yes", "FEATURE": "off", "REAL": "true", "OCT": "15", "PLAIN": "15"}
    assert web["labels"] == {"when": "2001-12-14"}


def test_optional_dependency_on_a_missing_service(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "services:\n  web:\n    image: a\n    depends_on:\n"
                                    "      cache: {condition: service_started, required: false}\n")
    p = load(tmp_path)
    assert p.services["web"]["depends_on"] == {}
    assert any('undefined service "cache"' in w for w in p.warnings)  # type: ignore[attr-defined]
