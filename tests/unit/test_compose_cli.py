"""``kobako compose`` through the CLI entry point, for what needs no daemon: config, errors, flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kobako.cli.main import main


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(["-H", "unix:///nonexistent/kobako.sock", "compose", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "TAG"):
        monkeypatch.delenv(var, raising=False)
    d = tmp_path / "shop"
    d.mkdir()
    (d / "compose.yaml").write_text("""
services:
  web:
    image: "busybox:${TAG:-1.36}"
    ports: ["8080:80"]
    volumes: [data:/data]
  worker:
    image: busybox
    profiles: [jobs]
volumes: {data: {}}
""")
    (d / "override.yaml").write_text("services:\n  web:\n    environment: [MODE=prod]\n")
    return d


def test_config_prints_the_normalised_model(capsys: Any, proj: Path) -> None:
    code, out, _ = run(capsys, "--project-directory", str(proj), "config")
    assert code == 0
    model = yaml.safe_load(out)
    assert model["name"] == "shop"
    assert model["services"]["web"]["image"] == "busybox:1.36"
    assert model["services"]["web"]["ports"] == [{"mode": "ingress", "target": 80, "published": "8080",
                                                  "protocol": "tcp"}]
    assert model["volumes"] == {"data": {"name": "shop_data"}}
    assert "worker" not in model["services"]


def test_config_flags(capsys: Any, proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["-f", str(proj / "compose.yaml"), "-f", str(proj / "override.yaml")]
    assert run(capsys, *base, "config", "--services")[1].split() == ["web"]
    assert run(capsys, *base, "--profile", "jobs", "config", "--services")[1].split() == ["web", "worker"]
    assert run(capsys, *base, "config", "--volumes")[1].split() == ["data"]
    assert run(capsys, *base, "config", "--images")[1].split() == ["busybox:1.36"]
    assert run(capsys, *base, "config", "--profiles")[1].split() == ["jobs"]
    code, out, _ = run(capsys, *base, "config", "--hash", "web")
    assert code == 0 and out.split()[0] == "web" and len(out.split()[1]) == 64
    model = yaml.safe_load(run(capsys, *base, "-p", "other", "config")[1])
    assert model["name"] == "other" and model["services"]["web"]["environment"] == {"MODE": "prod"}
    monkeypatch.setenv("TAG", "musl")
    assert "busybox:musl" in run(capsys, *base, "config")[1]
    code, out, _ = run(capsys, *base, "config", "--format", "json")
    assert code == 0 and '"busybox:musl"' in out
    assert run(capsys, *base, "config", "-q") == (0, "", "")


def test_bad_file_exits_1_with_the_path(capsys: Any, proj: Path) -> None:
    (proj / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n    ports: [[80]]\n")
    code, out, err = run(capsys, "--project-directory", str(proj), "up", "-d")
    assert code == 1 and out == ""
    assert f"validating {proj / 'compose.yaml'}: services.web.ports[0] must be a string, a number or a mapping" in err


def test_usage_errors(capsys: Any, proj: Path) -> None:
    code, _, err = run(capsys, "--project-directory", str(proj), "frobnicate")
    assert code != 0
    code, _, err = run(capsys, "--project-directory", str(proj), "up", "--no-such-flag")
    assert code == 125 and "unknown flag: --no-such-flag" in err
    code, _, err = run(capsys, "--project-directory", str(proj), "up", "--build", "--no-build")
    assert code == 1 and "incompatible" in err
    empty = proj.parent / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "--project-directory", str(empty), "config")
    assert code == 1 and "no configuration file provided: not found" in err


def test_unreachable_daemon_is_reported(capsys: Any, proj: Path) -> None:
    code, _, err = run(capsys, "--project-directory", str(proj), "ps")
    assert code == 1 and "Cannot connect to the kobako daemon" in err


def test_version(capsys: Any) -> None:
    code, out, _ = run(capsys, "version", "--short")
    assert code == 0 and out.startswith("2.")
