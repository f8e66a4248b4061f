"""kobako build against a real kobakod: images from busybox that run, the cache, and bad input."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.daemon_fixture import Daemon, daemon_session


def write(ctx: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = ctx / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return ctx


def snapshots(d: Daemon) -> set[str]:
    return {str(p) for p in d.data_root.glob("snapshots/*/snapshots/*")}


def build(d: Daemon, ctx: Path, *args: str, check: bool = True) -> tuple[int, str, str]:
    res = d.kobako("build", *args, str(ctx), check=check, timeout=120)
    return res.returncode, res.stdout.decode(), res.stderr.decode()


def test_build_and_run_multistage(daemon: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path, {
        "Dockerfile": (
            "ARG BASE=busybox\n"
            "FROM $BASE AS builder\n"
            "ARG WHO=world\n"
            "ENV GREETING=\"hello $WHO\" DIR=/out\n"
            "WORKDIR $DIR\n"
            "COPY src/ ./src/\n"
            "RUN echo \"$GREETING\" > greeting && cat src/input.txt >> greeting && echo built\n"
            "FROM busybox AS unused\n"
            "RUN echo THIS-STAGE-IS-NOT-NEEDED\n"
            "FROM busybox\n"
            "COPY --from=builder /out/greeting /app/greeting\n"
            "RUN [\"sh\", \"-c\", \"echo exec-form > /app/exec\"]\n"
            "USER 1000:1000\n"
            "EXPOSE 8080\n"
            "LABEL org.example=yes\n"
            "CMD [\"cat\", \"/app/greeting\", \"/app/exec\"]\n"),
        "src/input.txt": "from the context\n",
    })
    _, out, _ = build(daemon, ctx, "-t", "kb-multi", "--build-arg", "WHO=kobako", "--label", "extra=1")
    assert "THIS-STAGE-IS-NOT-NEEDED" not in out
    assert " ---> Running in " in out and "built\n" in out and "Removing intermediate container" in out
    assert "Successfully tagged kb-multi:latest" in out
    run = daemon.kobako("run", "--rm", "kb-multi")
    assert run.stdout.decode() == "hello kobako\nfrom the context\nexec-form\n"
    cfg = json.loads(daemon.kobako("image", "inspect", "kb-multi").stdout)[0]["Config"]
    assert cfg["User"] == "1000:1000" and "8080/tcp" in cfg["ExposedPorts"]
    assert cfg["Labels"] == {"org.example": "yes", "extra": "1"}
    hist = daemon.kobako("history", "kb-multi").stdout.decode()
    assert hist.splitlines()[0].split() == ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"]
    assert "exec-form" in hist
    assert daemon.kobako("ps", "-aq").stdout.strip() == b""
    daemon.kobako("rmi", "kb-multi")


def test_cached_rebuild_runs_nothing_and_survives_restart(daemon: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path, {
        "Dockerfile": ("FROM busybox\nCOPY a.txt /a.txt\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n"
                       "COPY b.txt /b.txt\nRUN cat /proc/sys/kernel/random/uuid > /stamp2\n"),
        "a.txt": "a\n", "b.txt": "b\n",
    })
    _, first, _ = build(daemon, ctx, "-t", "kb-cache")
    stamp = daemon.kobako("run", "--rm", "kb-cache", "cat", "/stamp", "/stamp2").stdout
    _, again, _ = build(daemon, ctx, "-t", "kb-cache")
    assert again.count(" ---> Using cache") == 4 and "Running in" not in again
    assert first.splitlines()[-2] == again.splitlines()[-2]  # "Successfully built <same id>"
    daemon.stop()
    daemon.start()
    _, restarted, _ = build(daemon, ctx, "-t", "kb-cache")
    assert restarted.count(" ---> Using cache") == 4 and "Running in" not in restarted
    assert daemon.kobako("run", "--rm", "kb-cache", "cat", "/stamp", "/stamp2").stdout == stamp
    # a changed file invalidates its step and the later ones only
    (ctx / "b.txt").write_text("changed\n")
    _, changed, _ = build(daemon, ctx, "-t", "kb-cache")
    steps = changed.split("Step ")[1:]
    assert [" ---> Using cache" in s for s in steps] == [False, True, True, False, False]
    assert changed.count("Running in") == 1
    new = daemon.kobako("run", "--rm", "kb-cache", "cat", "/stamp", "/stamp2").stdout.split()
    assert new[0] == stamp.split()[0] and new[1] != stamp.split()[1]
    _, nocache, _ = build(daemon, ctx, "-t", "kb-cache", "--no-cache")
    assert "Using cache" not in nocache and nocache.count("Running in") == 2
    prune = daemon.kobako("builder", "prune", "-f").stdout.decode()
    assert "Total reclaimed space" in prune
    _, pruned, _ = build(daemon, ctx, "-t", "kb-cache")
    assert "Using cache" not in pruned
    daemon.kobako("rmi", "kb-cache")


def test_cache_from_an_image_after_prune(daemon: Daemon, tmp_path: Path) -> None:
    """docker's legacy --cache-from: with the local cache gone, a step is taken from an image whose
    history and layers match the chain so far (nothing saved or pulled: the image itself is the cache)."""
    ctx = write(tmp_path, {
        "Dockerfile": ("FROM busybox\nENV A=1\nCOPY a.txt /a.txt\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n"
                       "COPY --chown=1:2 a.txt /b.txt\nLABEL x=y\nCMD [\"cat\", \"/stamp\"]\n"),
        "a.txt": "a\n",
    })
    _, first, _ = build(daemon, ctx, "-t", "kb-cf")
    built = first.split("Successfully built ")[1].split()[0]
    stamp = daemon.kobako("run", "--rm", "kb-cf").stdout
    daemon.kobako("builder", "prune", "-f")
    _, again, _ = build(daemon, ctx, "-t", "kb-cf2", "--cache-from", "kb-cf", "--cache-from", "kb-nonexistent")
    assert again.count(" ---> Using cache") == 6 and "Running in" not in again, again
    assert f"Successfully built {built}" in again
    assert daemon.kobako("run", "--rm", "kb-cf2").stdout == stamp
    ls = daemon.kobako("run", "--rm", "kb-cf2", "ls", "-n", "/b.txt").stdout.split()
    assert ls[2:4] == [b"1", b"2"]
    # a changed file: the steps before it come from the image, the rest run again
    daemon.kobako("builder", "prune", "-f")
    (ctx / "a.txt").write_text("changed\n")
    _, changed, _ = build(daemon, ctx, "-t", "kb-cf3", "--cache-from", "kb-cf")
    steps = changed.split("Step ")[1:]
    assert [" ---> Using cache" in s for s in steps] == [False, True, False, False, False, False, False]
    assert daemon.kobako("run", "--rm", "kb-cf3").stdout != stamp
    # --no-cache ignores --cache-from too
    _, nocache, _ = build(daemon, ctx, "-t", "kb-cf3", "--cache-from", "kb-cf", "--no-cache")
    assert "Using cache" not in nocache
    daemon.kobako("rmi", "kb-cf", "kb-cf2", "kb-cf3")


def test_run_on_the_copy_storage_driver(tmp_path: Path) -> None:
    """RUN's layer on the copy driver comes from the files backend's tree diff: added, changed and
    deleted files (whiteouts), also across steps; the rebuild is cached; nothing is left behind."""
    for d in daemon_session(tmp_path / "copyd", extra_args=("--storage-driver", "copy")):
        d.kobako("image", "bootstrap", "busybox")
        ctx = write(tmp_path / "ctx", {
            "Dockerfile": ("FROM busybox\nCOPY a.txt /data/a.txt\n"
                           "RUN mkdir -p /data/sub && echo new > /data/sub/new && echo more >> /data/a.txt"
                           " && rm /etc/group && echo gone > /data/gone && ln -s a.txt /data/link\n"
                           "RUN rm /data/gone && chmod 600 /data/a.txt\n"
                           "CMD [\"sh\", \"-c\", \"cat /data/a.txt /data/sub/new /data/link; ls /etc/group /data/gone 2>&1;"
                           " stat -c %a /data/a.txt\"]\n"),
            "a.txt": "a\n",
        })
        cid = d.kobako("create", "busybox", "true").stdout.decode().strip()
        d.kobako("rm", cid)  # busybox's own snapshot exists before the build (rm removes synchronously)
        snaps_before = snapshots(d)
        _, out, _ = build(d, ctx, "-t", "kb-copy")
        assert out.count("Running in") == 2
        res = d.kobako("run", "--rm", "kb-copy").stdout.decode().splitlines()
        assert res[:5] == ["a", "more", "new", "a", "more"]
        assert "No such file" in res[5] and "No such file" in res[6] and res[7] == "600", res
        _, again, _ = build(d, ctx, "-t", "kb-copy")
        assert again.count(" ---> Using cache") == 4 and "Running in" not in again
        assert d.kobako("ps", "-aq").stdout.strip() == b""
        d.kobako("rmi", "kb-copy")
        deadline = time.monotonic() + 10  # `run --rm` returns before the daemon has removed the container
        while snapshots(d) != snaps_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert snapshots(d) == snaps_before
        assert list((d.data_root / "build" / "tmp").iterdir()) == []


@pytest.mark.parametrize(("dockerfile", "message"), [
    ("FROM busybox\nRUN true\nRUNN echo\n", "Dockerfile:3: unknown instruction: RUNN"),
    ("FROM busybox\nENV A=\"unclosed\n", "Dockerfile:2: unexpected end of statement while looking for matching"),
    ("FROM busybox\nRUN echo one\nCOPY missing.txt /x\n", "Dockerfile:3: COPY failed: file not found in build context"),
    ("FROM busybox\nRUN echo partial > /p\nRUN false\n",
     "Dockerfile:3: The command '/bin/sh -c false' returned a non-zero code: 1"),
    ("ARG VERSION\nFROM busybox:$VERSION\n", "Dockerfile:2: invalid reference format: busybox:"),
    ("ARG BASE\nFROM $BASE\n", "Dockerfile:2: base name ($BASE) should not be blank"),
    ("FROM busybox\nCOPY ../outside /x\n", "Dockerfile:2: COPY failed: file not found in build context"),
    ("FROM busybox\nCOPY link /x\n", "Dockerfile:2: COPY failed: file not found in build context"),
])
def test_bad_input(daemon: Daemon, tmp_path: Path, dockerfile: str, message: str) -> None:
    ctx = tmp_path / "ctx"
    write(ctx, {"Dockerfile": dockerfile})
    (tmp_path / "outside").write_text("secret")
    (ctx / "link").symlink_to("/etc/hostname")
    images_before = daemon.kobako("images", "-aq", "--no-trunc").stdout
    snaps_before = snapshots(daemon)
    code, _, err = build(daemon, ctx, "-t", "kb-bad", check=False)
    assert code != 0
    assert message in err, err
    assert daemon.kobako("images", "-aq", "--no-trunc").stdout == images_before
    assert snapshots(daemon) == snaps_before
    assert daemon.kobako("ps", "-aq").stdout.strip() == b""
    assert list((daemon.data_root / "build" / "tmp").iterdir()) == []


def test_cli_options(daemon: Daemon, tmp_path: Path) -> None:
    ctx = write(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\nCMD [\"ls\", \"/ctx\"]\n",
        ".dockerignore": "secret*\n!secret-ok\n",
        "secret.key": "no", "secret-ok": "yes", "keep": "yes",
    })
    other = write(tmp_path / "elsewhere", {"My.Dockerfile": "FROM busybox\nCOPY keep /k\nCMD [\"cat\", \"/k\"]\n"})
    iid = tmp_path / "iid"
    res = daemon.kobako("build", "-q", "--iidfile", str(iid), "-t", "kb-a", "-t", "kb-b:v1", str(ctx))
    image_id = res.stdout.decode().strip()
    assert image_id.startswith("sha256:") and iid.read_text() == image_id
    listing = daemon.kobako("run", "--rm", "kb-b:v1").stdout.decode().split()
    assert listing == ["Dockerfile", "keep", "secret-ok"]  # .dockerignore applied (ls hides dotfiles)
    res = daemon.kobako("build", "-f", str(other / "My.Dockerfile"), "-t", "kb-f", str(ctx))
    assert daemon.kobako("run", "--rm", "kb-f").stdout == b"yes"
    res = daemon.kobako("build", "-t", "kb-stdin", "-", input=b"FROM busybox\nCMD [\"echo\", \"from stdin\"]\n")
    assert daemon.kobako("run", "--rm", "kb-stdin").stdout == b"from stdin\n"
    daemon.kobako("rmi", "kb-a", "kb-b:v1", "kb-f", "kb-stdin")
