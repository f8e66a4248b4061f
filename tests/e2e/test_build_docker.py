"""The real ``docker build`` (legacy builder, ``DOCKER_BUILDKIT=0``) against kobakod."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import DockerRun


def _ctx(tmp_path: Path) -> Path:
    (tmp_path / "Dockerfile").write_text(
        "FROM busybox AS b\nARG MSG=default\nRUN echo \"$MSG\" > /msg\n"
        "FROM busybox\nCOPY --from=b /msg /msg\nCOPY data/ /data/\nCMD [\"cat\", \"/msg\", \"/data/f\"]\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").write_text("file\n")
    (tmp_path / ".dockerignore").write_text("ignored\n")
    (tmp_path / "ignored").write_text("x")
    return tmp_path


def test_docker_build_run_and_cache(docker: DockerRun, docker_env: dict[str, str], tmp_path: Path) -> None:
    docker_env["DOCKER_BUILDKIT"] = "0"
    try:
        ctx = _ctx(tmp_path)
        res = docker("build", "-t", "kb-e2e:1", "--build-arg", "MSG=hi", str(ctx), timeout=180)
        out = res.stdout.decode()
        assert "Step 1/7 : FROM busybox AS b" in out and " ---> Running in " in out
        assert "Successfully tagged kb-e2e:1" in out
        assert docker("run", "--rm", "kb-e2e:1").stdout == b"hi\nfile\n"
        again = docker("build", "-t", "kb-e2e:1", "--build-arg", "MSG=hi", str(ctx)).stdout.decode()
        assert again.count(" ---> Using cache") == 5 and "Running in" not in again
        # --cache-from after the local cache is gone: the final stage's steps come from the image
        docker("builder", "prune", "-f")
        cf = docker("build", "-t", "kb-e2e:2", "--cache-from", "kb-e2e:1", "--build-arg", "MSG=hi", str(ctx),
                    timeout=180).stdout.decode()
        assert cf.count(" ---> Using cache") == 3 and cf.count("Running in") == 1, cf
        assert docker("run", "--rm", "kb-e2e:2").stdout == b"hi\nfile\n"
        docker("rmi", "kb-e2e:2")
        quiet = docker("build", "-q", "--build-arg", "MSG=hi", str(ctx)).stdout.decode().strip()
        assert quiet.startswith("sha256:")
        history = docker("history", "kb-e2e:1").stdout.decode()
        assert "COPY" in history and "IMAGE" in history
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
        bad = docker("build", str(ctx), check=False)
        assert bad.returncode != 0
        assert b"The command '/bin/sh -c exit 3' returned a non-zero code: 3" in bad.stderr + bad.stdout
        docker("rmi", "kb-e2e:1")
    finally:
        docker_env.pop("DOCKER_BUILDKIT", None)
